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
from clusters.templatetags.clusters_tags import both_names, choice_labels, names_in_order, reading_chinese


def escaped(value):
    """conditional_escape(value) as a plain str (markup stays as it is)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


class PageRows:
    """Names, links and labels for one page, in the reader's language."""

    def __init__(self):
        self.language = get_language()
        self.chinese = reading_chinese()
        self._url_templates = {}

    def url(self, url_name, slug):
        """The page of the record with this slug (a `clusters:` URL name)."""
        template = self._url_templates.get(url_name)
        if template is None:
            template = self._url_templates[url_name] = view_path(f"clusters:{url_name}", slug=SLUG_MARK)
        return template.replace(SLUG_MARK, slug, 1)

    def both_names(self, name, name_zh):
        """Both names, the reader's first (`{% entity_name %}`)."""
        return both_names(name, name_zh, self.chinese)

    def link(self, url_name, slug, name, name_zh):
        """A link to a record's page, named in the reader's language."""
        url = escaped(self.url(url_name, slug))
        shown = escaped(names_in_order(name, name_zh, self.chinese)[0])
        return mark_safe(f'<a href="{url}">{shown}</a>')  # nosec B308 B703

    def label(self, model, field_name, value):
        """The label of a choice field's value (`|display`)."""
        return choice_labels(model, field_name, self.language).get(value, value)

    def render(self, row_html, rows):
        """`row_html` filled with each row's values, all escaped."""
        filled = (row_html.format_map({key: escaped(value) for key, value in row.items()}) for row in rows)
        # Every value is escaped above; row_html is the view's own markup.
        return mark_safe("".join(filled))  # nosec B308 B703
