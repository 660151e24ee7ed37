from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

from clusters.admin_quality import data_quality
from clusters.sitemaps import SITEMAPS

admin.site.site_header = _("Yangtze Clusters — editors")
admin.site.site_title = _("Yangtze Clusters")
admin.site.index_title = _("Reference data")

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("clusters.api.urls")),
    path("sitemap.xml", sitemap, {"sitemaps": SITEMAPS}, name="sitemap"),
    path(
        "robots.txt",
        TemplateView.as_view(template_name="robots.txt", content_type="text/plain"),
        name="robots",
    ),
]
# English pages at /, Simplified Chinese at /zh-hans/ (the admin too).
urlpatterns += i18n_patterns(
    path("admin/data-quality/", data_quality, name="data-quality"),
    path("admin/", admin.site.urls),
    path("", include("clusters.urls")),
    prefix_default_language=False,
)

# JSON under /api/, the site's pages elsewhere.
handler400 = "clusters.api.errors.bad_request"
handler403 = "clusters.api.errors.permission_denied"
handler404 = "clusters.api.errors.not_found"
handler500 = "clusters.api.errors.server_error"
