"""The benchmark's baselines, beside every URL of the site: the least
Django can do to answer with the same rows. Served only with
yangtze.settings_bench."""

import orjson
from django.http import HttpResponse, JsonResponse
from django.template import engines
from django.urls import path

from clusters.models import City, PlannedBase, PublicationStatus
from yangtze.urls import handler404
from yangtze.urls import urlpatterns as site_urlpatterns

CITY_FIELDS = ("id", "slug", "name", "name_zh", "level", "province__slug", "parent__slug")
BASE_FIELDS = ("id", "slug", "name", "name_zh", "kind", "stage", "reach", "status")
ROWS = 50

CITY_ROWS_TEMPLATE = engines["django"].from_string(
    "<!doctype html><title>Cities</title><ul>"
    "{% for city in cities %}"
    "<li>{{ city.name }} ({{ city.name_zh }}), {{ city.province__slug }}</li>"
    "{% endfor %}"
    "</ul>"
)


def hello(request):
    return HttpResponse("Hello")


def province_cities(request):
    """The first page of the API's city list filtered by ?province=."""
    cities = City.objects.filter(province__slug=request.GET.get("province")).order_by("name", "pk")
    return cities.values(*CITY_FIELDS)[:ROWS]


def cities_json(request):
    return JsonResponse({"results": list(province_cities(request))})


def cities_html(request):
    return HttpResponse(CITY_ROWS_TEMPLATE.render({"cities": province_cities(request)}))


def bases_json(request):
    """The first page of the API's base list."""
    bases = PlannedBase.objects.filter(status=PublicationStatus.PUBLISHED).order_by("name", "pk")
    return JsonResponse({"results": list(bases.values(*BASE_FIELDS)[:ROWS])})


def city_coordinates(request):
    rows = City.objects.filter(location__isnull=False).values_list("slug", "location")
    coordinates = [(slug, location.x, location.y) for slug, location in rows]
    return HttpResponse(orjson.dumps(coordinates), content_type="application/json")


urlpatterns = [
    path("bench/hello", hello),
    path("bench/cities.json", cities_json),
    path("bench/cities.html", cities_html),
    path("bench/bases.json", bases_json),
    path("bench/coordinates.json", city_coordinates),
    *site_urlpatterns,
]

__all__ = ["handler404", "urlpatterns"]
