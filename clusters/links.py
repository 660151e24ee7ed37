"""URLs by slug without reversing each one (a list of 50 rows names a few
hundred URLs, and Django's reverse() was a large part of its cost), and
absolute URLs on the configured site origin."""

from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils.translation import get_language

# Stands for the slug in a reversed URL (a valid slug, so converters accept it).
SLUG_MARK = "slug-mark-0c9f1e"

_reversed = {}


def view_path(view_name, **kwargs):
    """reverse(view_name, kwargs=kwargs), remembered per view, arguments,
    language and script prefix in each process."""
    key = (view_name, tuple(sorted(kwargs.items())), get_language(), get_script_prefix())
    if key not in _reversed:
        _reversed[key] = reverse(view_name, kwargs=kwargs or None)
    return _reversed[key]


def slug_path(view_name, slug):
    """reverse(view_name, kwargs={"slug": slug}), filled into a template
    reversed once."""
    return view_path(view_name, slug=SLUG_MARK).replace(SLUG_MARK, slug, 1)


def site_origin(request):
    """The site's origin (SITE_URL) for URLs in an answer to `request`; ""
    without a request, where paths stay relative. Never the request's Host:
    a client chooses it, and the answer cache shares what it names."""
    if request is None:
        return ""
    return settings.SITE_URL


def absolute_url(path):
    """`path` (as reverse() gives it) on the site's origin."""
    return settings.SITE_URL + path


def site_url(request):
    """Template context: `{{ site_url }}` for absolute URLs in templates."""
    return {"site_url": settings.SITE_URL}


class SiteOriginMiddleware:
    """request.build_absolute_uri() names SITE_URL too, for the code that
    builds URLs with it (DRF's reverse(): the API root, the browsable API)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Django's build_absolute_uri() reads the origin from this cached property.
        request.__dict__["_current_scheme_host"] = settings.SITE_URL
        return self.get_response(request)
