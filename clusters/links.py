"""URLs by slug without reversing each one: a list of 50 rows names a few
hundred URLs, and Django's reverse() was a large part of its cost."""

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
    """`scheme://host` of the request, worked out once per request."""
    if request is None:
        return ""
    if "site_origin" not in request.__dict__:
        request.__dict__["site_origin"] = request.build_absolute_uri("/").rstrip("/")
    return request.__dict__["site_origin"]
