"""URLs by slug without reversing each one: a list of 50 rows names a few
hundred URLs, and Django's reverse() was a large part of its cost."""

from django.urls import get_script_prefix, reverse
from django.utils.translation import get_language

# Stands for the slug in a reversed URL (a valid slug, so converters accept it).
SLUG_MARK = "slug-mark-0c9f1e"

_templates = {}


def slug_path(view_name, slug):
    """reverse(view_name, kwargs={"slug": slug}), from a template reversed
    once per view, language and script prefix in each process."""
    key = (view_name, get_language(), get_script_prefix())
    template = _templates.get(key)
    if template is None:
        template = _templates[key] = reverse(view_name, kwargs={"slug": SLUG_MARK})
    return template.replace(SLUG_MARK, slug, 1)
