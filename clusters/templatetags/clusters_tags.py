"""Template helpers: names in the reader's language, sanitised Markdown and
its plain text, feed links that keep a list's filters, "cite this record"."""

import html

import markdown as markdown_lib
import nh3
from django import template
from django.urls import reverse, translate_url
from django.utils.html import strip_tags
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from clusters import citation

register = template.Library()

# What Markdown may produce; anything else (scripts, event handlers, styles,
# javascript: URLs) is removed by nh3.
ALLOWED_TAGS = {
    "a", "abbr", "blockquote", "br", "code", "em", "h2", "h3", "h4", "hr", "li",
    "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}


def reading_chinese():
    return (get_language() or "").lower().startswith("zh")


@register.filter
def local_name(obj):
    """The name to show first: Chinese on Chinese pages where there is one."""
    return names_in_order(obj.name, getattr(obj, "name_zh", ""), reading_chinese())[0]


def names_in_order(name, name_zh, chinese):
    """(name to show first, the other name or "")."""
    if chinese:
        return (name_zh, name) if name_zh else (name, "")
    return name, name_zh or ""


_choice_labels = {}


def choice_labels(model, field_name, language):
    """{stored value: label} of a field's choices in a language, built once
    per field and language (Django rebuilds its choices dict on every
    get_FOO_display() call)."""
    key = (model, field_name, language)
    labels = _choice_labels.get(key)
    if labels is None:
        choices = model._meta.get_field(field_name).flatchoices
        labels = _choice_labels[key] = {value: str(label) for value, label in choices}
    return labels


@register.filter
def display(obj, field_name):
    """obj.get_<field_name>_display(), from the table of labels."""
    value = getattr(obj, field_name)
    return choice_labels(type(obj), field_name, get_language()).get(value, value)


@register.filter
def other_name(obj):
    """The name in the other language, if it has one."""
    return names_in_order(obj.name, getattr(obj, "name_zh", ""), reading_chinese())[1]


@register.simple_tag
def entity_name(obj):
    """Both names, the reader's language first: `Wuhan <span lang=zh>武汉</span>`."""
    return both_names(obj.name, getattr(obj, "name_zh", ""), reading_chinese())


def both_names(name, name_zh, chinese):
    first, other = names_in_order(name, name_zh, chinese)
    if not other:
        return first
    other_lang = "en" if chinese else "zh-Hans"
    # Both names escaped (html.escape, as Django's escape() does, without
    # its lazy-string wrapper: this runs for every row of a list).
    first, other = html.escape(first), html.escape(other)
    return mark_safe(f'{first} <span class="alt-name" lang="{other_lang}">{other}</span>')  # nosec B308 B703


@register.filter
def render_markdown(text):
    if not text:
        return ""
    html = markdown_lib.markdown(text, extensions=["tables", "sane_lists"])
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener",
    )
    # nh3 has removed every tag, attribute and URL scheme not allowed above.
    return mark_safe(clean)  # nosec B308 B703


@register.filter
def markdown_text(text):
    """The words a reader sees of Markdown, as plain text: no tags, no
    entities, and not marked safe, so that wherever it is written (an
    attribute, a title, a feed) it is escaped there, once. Tags stripped
    from sanitised HTML alone would leave its quotes raw, marked safe: a
    description could then close <meta content="..."> and add attributes."""
    return html.unescape(strip_tags(render_markdown(text))).strip()


# Parameters that arrange a list page rather than choose its records; a feed
# keeps its own order (newest first) and length.
LIST_ARRANGEMENT_PARAMETERS = ("page", "ordering")


def filter_parameters(query):
    """A copy of the query with only the filters left in it."""
    parameters = query.copy()
    for name in LIST_ARRANGEMENT_PARAMETERS:
        parameters.pop(name, None)
    return parameters


@register.simple_tag(takes_context=True)
def translated_url(context, language):
    """This page in another language: a plain link (the language is in the
    URL), so pages carry no per-visitor form token and can be cached."""
    return translate_url(context["request"].get_full_path(), language)


@register.simple_tag(takes_context=True)
def feed_url(context, route_name):
    """The URL of a list's Atom feed, following the filters the list shows."""
    parameters = filter_parameters(context["request"].GET)
    url = reverse(route_name)
    return f"{url}?{parameters.urlencode()}" if parameters else url


@register.inclusion_tag("includes/cite_record.html", takes_context=True)
def cite_record(context, record):
    """A plain-text citation and a BibTeX entry for a published record."""
    if not citation.is_citable(record):
        return {}
    return {"citation": citation.cite(record, request=context["request"])}
