"""Template helpers: names in the reader's language, sanitised Markdown."""

import markdown as markdown_lib
import nh3
from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

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
    if reading_chinese() and getattr(obj, "name_zh", ""):
        return obj.name_zh
    return obj.name


@register.filter
def other_name(obj):
    """The name in the other language, if it has one."""
    if reading_chinese():
        return obj.name if obj.name_zh else ""
    return getattr(obj, "name_zh", "")


@register.simple_tag
def entity_name(obj):
    """Both names, the reader's language first: `Wuhan <span lang=zh>武汉</span>`."""
    other = other_name(obj)
    if not other:
        return local_name(obj)
    other_lang = "en" if reading_chinese() else "zh-Hans"
    return format_html('{} <span class="alt-name" lang="{}">{}</span>', local_name(obj), other_lang, other)


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
    return mark_safe(clean)
