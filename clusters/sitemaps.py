"""/sitemap.xml: every public page, in English and Chinese."""

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.urls import reverse

from clusters.models import City, PlannedBase, PolicyDocument, Province, Sector


class SiteSitemap(Sitemap):
    """Locations on the site's origin (SITE_URL), not the request's Host."""

    def get_urls(self, page=1, site=None, protocol=None):
        scheme, _slashes, domain = settings.SITE_URL.partition("://")
        return self._urls(page, scheme, domain)


class PageSitemap(SiteSitemap):
    i18n = True
    alternates = True
    x_default = True
    names = [
        "home",
        "document-list",
        "base-list",
        "sector-list",
        "city-list",
        "province-list",
        "map",
    ]

    def items(self):
        return self.names

    def location(self, item):
        return reverse(f"clusters:{item}")


class EntitySitemap(SiteSitemap):
    i18n = True
    alternates = True
    x_default = True
    model = None

    def items(self):
        return self.model.objects.public().order_by("pk").only("slug", "updated_at")

    def lastmod(self, obj):
        return obj.updated_at


def entity_sitemap(model):
    return type(f"{model.__name__}Sitemap", (EntitySitemap,), {"model": model})


SITEMAPS = {
    "pages": PageSitemap,
    "documents": entity_sitemap(PolicyDocument),
    "bases": entity_sitemap(PlannedBase),
    "sectors": entity_sitemap(Sector),
    "cities": entity_sitemap(City),
    "provinces": entity_sitemap(Province),
}
