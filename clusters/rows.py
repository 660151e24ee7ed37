"""What a table list shows in each row, rendered in one pass per page.

A page of 50 rows rendered by a template loop, with `{% entity_name %}`,
`|display` and `get_absolute_url` per cell, cost more than its queries: each
helper looks up the reader's language and URL prefix again, and each
template variable and `format_html()` argument goes through Django's
lazy-string checks. A `PageRows` looks those up once per page and fills the
view's row markup (`row_html`), escaping every value, as the admin builds
its change list cells in Python.
"""

import html

from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from clusters.links import SLUG_MARK, view_path
from clusters.templatetags.clusters_tags import choice_labels, entity_name_in, local_name_in


def escaped(value):
    """conditional_escape(value) as a plain str (markup stays as it is)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


class PageRows:
    """Names, links and labels for one page, in the reader's language."""

    def __init__(self):
        self.language = get_language()
        self.chinese = (self.language or "").lower().startswith("zh")
        self._url_templates = {}

    def url(self, obj):
        """obj.get_absolute_url()"""
        template = self._url_templates.get(obj.url_name)
        if template is None:
            template = view_path(f"clusters:{obj.url_name}", slug=SLUG_MARK)
            self._url_templates[obj.url_name] = template
        return template.replace(SLUG_MARK, obj.slug, 1)

    def name(self, obj):
        """The name in the reader's language (`|local_name`)."""
        return local_name_in(obj, self.chinese)

    def both_names(self, obj):
        """Both names, the reader's first (`{% entity_name %}`)."""
        return entity_name_in(obj, self.chinese)

    def link(self, obj):
        """A link to obj's page, named in the reader's language."""
        return mark_safe(f'<a href="{escaped(self.url(obj))}">{escaped(self.name(obj))}</a>')  # nosec B308 B703

    def label(self, obj, field_name):
        """The label of a choice field's value (`|display`)."""
        value = getattr(obj, field_name)
        return choice_labels(type(obj), field_name, self.language).get(value, value)

    def render(self, row_html, rows):
        """`row_html` filled with each row's values, all escaped."""
        filled = (row_html.format_map({key: escaped(value) for key, value in row.items()}) for row in rows)
        # Every value is escaped above; row_html is the view's own markup.
        return mark_safe("".join(filled))  # nosec B308 B703
