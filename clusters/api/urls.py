from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from clusters.api import views

app_name = "api"

router = DefaultRouter()
router.register("documents", views.PolicyDocumentViewSet, basename="document")
router.register("sectors", views.SectorViewSet, basename="sector")
router.register("cities", views.CityViewSet, basename="city")
router.register("provinces", views.ProvinceViewSet, basename="province")
router.register("bases", views.PlannedBaseViewSet, basename="base")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]
