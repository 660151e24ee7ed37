from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("Yangtze Clusters — editors")
admin.site.site_title = _("Yangtze Clusters")
admin.site.index_title = _("Reference data")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]
# English pages at /, Simplified Chinese at /zh-hans/.
urlpatterns += i18n_patterns(
    path("", include("clusters.urls")),
    prefix_default_language=False,
)
