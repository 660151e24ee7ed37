from csp.constants import NONCE, SELF
from csp.decorators import csp_update
from django.urls import include, path
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from clusters.api import views

app_name = "api"


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI, started by static/js/swagger-ui.js (see its template)."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        # drf-spectacular relaxes the opener policy for Swagger UI's OAuth2
        # popup; this API has no OAuth2, so the site's same-origin policy stays.
        del response["Cross-Origin-Opener-Policy"]
        return response


# What Redoc needs beyond the site's policy: its <style> elements, allowed by
# a per-request nonce that static/js/redoc.js hands to Redoc (so the page must
# never be served again from a cache), except the scrollbar stylesheet its
# bundle injects before it can know the nonce, allowed by its hash (and the
# hash of the empty element it starts as; a new drf-spectacular-sidecar may
# change it, which tests/browser/test_csp.py reports); and a search worker
# made from a blob: URL. Its "Redocly" logo from cdn.redoc.ly stays blocked
# (Redoc then hides it): the docs load nothing from other sites.
REDOC_CSP = {
    "style-src": [
        NONCE,
        "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    ],
    "worker-src": [SELF, "blob:"],
}
redoc_view = never_cache(csp_update(REDOC_CSP)(SpectacularRedocView.as_view(url_name="api:schema")))

router = DefaultRouter()
router.register("documents", views.PolicyDocumentViewSet, basename="document")
router.register("sectors", views.SectorViewSet, basename="sector")
router.register("cities", views.CityViewSet, basename="city")
router.register("provinces", views.ProvinceViewSet, basename="province")
router.register("bases", views.PlannedBaseViewSet, basename="base")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", redoc_view, name="redoc"),
]
