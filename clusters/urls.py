from django.urls import path

from clusters import feeds, views

app_name = "clusters"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("documents/", views.PolicyDocumentListView.as_view(), name="document-list"),
    path("documents/<slug:slug>/", views.PolicyDocumentDetailView.as_view(), name="document-detail"),
    path("bases/", views.PlannedBaseListView.as_view(), name="base-list"),
    path("bases/<slug:slug>/", views.PlannedBaseDetailView.as_view(), name="base-detail"),
    path("sectors/", views.SectorListView.as_view(), name="sector-list"),
    path("sectors/<slug:slug>/", views.SectorDetailView.as_view(), name="sector-detail"),
    path("cities/", views.CityListView.as_view(), name="city-list"),
    path("cities/<slug:slug>/", views.CityDetailView.as_view(), name="city-detail"),
    path("provinces/", views.ProvinceListView.as_view(), name="province-list"),
    path("provinces/<slug:slug>/", views.ProvinceDetailView.as_view(), name="province-detail"),
    path("map/", views.MapView.as_view(), name="map"),
    path("map/cities.geojson", views.cities_geojson, name="map-cities"),
    path("map/bases.geojson", views.bases_geojson, name="map-bases"),
    path("search/", views.SearchView.as_view(), name="search"),
    path("feeds/documents/", feeds.PolicyDocumentFeed(), name="document-feed"),
    path("feeds/bases/", feeds.PlannedBaseFeed(), name="base-feed"),
]
