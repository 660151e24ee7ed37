"""How to cite a record of this site: a plain-text citation and a BibTeX entry.

Both point at the record's canonical URL: the English one, without a language
prefix, whichever language the reader is viewing. One record then has one
URL and one BibTeX entry, so citations made from the English and the Chinese
page agree and a reference manager does not keep two copies.

The BibTeX entry is data for reference managers, not page text, so it stays
in English; the plain-text citation's connecting words follow the page.
"""

from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from clusters.links import absolute_url
from clusters.models import DatePrecision, DocumentKind, PolicyDocument

SITE_NAME = "Yangtze Clusters"

# Balanced replacements only: BibTeX counts braces even after a backslash,
# so `\{` in a value with a lone brace would break the whole entry.
BIBTEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}

BIBTEX_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

FULLWIDTH_SEMICOLON = "\uff1b"  # as Chinese text types a semicolon

# Kinds of document whose publisher is the periodical they appeared in.
PERIODICAL_KINDS = {DocumentKind.NEWS, DocumentKind.RESEARCH}


@dataclass(frozen=True)
class Citation:
    url: str
    plain_text: str
    bibtex: str


def cite(record, *, request, accessed_on=None):
    """How to cite `record`, as seen through `request`, on `accessed_on` (today).
    The URL names the configured site origin, never the request's Host."""
    url = record_url(record)
    accessed_on = accessed_on or timezone.localdate()
    return Citation(
        url=url,
        plain_text=plain_citation(record, url=url, accessed_on=accessed_on),
        bibtex=bibtex_entry(record, url=url, accessed_on=accessed_on),
    )


def record_url(record):
    with translation.override(settings.LANGUAGE_CODE):
        return absolute_url(record.get_absolute_url())


def bibtex_key(record):
    """`yangtze-<entity>-<slug>`: as stable as the slug, which editors keep stable."""
    entity = record.url_name.removesuffix("-detail")
    return f"yangtze-{entity}-{record.slug}"


def both_names(record):
    """'Wuhan (武汉)', or just the English name when there is no Chinese one."""
    return f"{record.name} ({record.name_zh})" if record.name_zh else record.name


def last_updated_on(record):
    return timezone.localdate(record.updated_at)


def document_date(document):
    """(date, precision) of publication, else of approval; (None, None) if neither is known."""
    if document.published_on:
        return document.published_on, document.published_on_precision
    if document.approved_on:
        return document.approved_on, document.approved_on_precision
    return None, None


def document_authors(document):
    """The authors, one per item; editors separate several with semicolons."""
    authors = document.authors.replace(FULLWIDTH_SEMICOLON, ";")
    return [name.strip() for name in authors.split(";") if name.strip()]


# ---------------------------------------------------------------------------
# Plain text
# ---------------------------------------------------------------------------


def plain_citation(record, *, url, accessed_on):
    if isinstance(record, PolicyDocument):
        described = document_description(record)
    else:
        described = [both_names(record), str(record._meta.verbose_name).capitalize()]
    updated = _("last updated %(date)s") % {"date": last_updated_on(record).isoformat()}
    accessed = _("accessed %(date)s") % {"date": accessed_on.isoformat()}
    return sentences([*described, f"{SITE_NAME}, {updated}", f"{url} ({accessed})"])


def document_description(document):
    """Authors, title, issuer, publisher, year: those that are known."""
    published, _precision = document_date(document)
    parts = [
        "; ".join(document_authors(document)),
        both_names(document),
        document.issuer,
        document.publisher,
        str(published.year) if published else "",
    ]
    return [part for part in parts if part]


def sentences(parts):
    """Parts joined as sentences, without doubling a full stop a part already has."""
    return " ".join(part if part.endswith(".") else f"{part}." for part in parts)


# ---------------------------------------------------------------------------
# BibTeX
# ---------------------------------------------------------------------------


def escape_bibtex(text):
    """Text safe inside a braced BibTeX value: specials escaped, whitespace
    (line breaks included, which LaTeX could read as paragraphs) collapsed."""
    return "".join(BIBTEX_ESCAPES.get(char, char) for char in " ".join(str(text).split()))


def bibtex_url(url):
    """A URL for a verbatim `url` field, as written (IRIs too, which biber reads
    as UTF-8) except for spaces, braces and backslashes, which are
    percent-encoded: they would end or unbalance the value."""
    return "".join(quote(char) if char.isspace() or char in "{}\\" else char for char in url)


def url_in_text(url):
    """A URL inside running text (`note`), where `%` and `#` need escaping for \\url."""
    return r"\url{" + bibtex_url(url).replace("%", r"\%").replace("#", r"\#") + "}"


def bibtex_entry(record, *, url, accessed_on):
    if isinstance(record, PolicyDocument):
        entry_type, fields = document_fields(record, url=url, accessed_on=accessed_on)
    else:
        entry_type, fields = "misc", record_fields(record, url=url, accessed_on=accessed_on)
    lines = [f"  {name} = {value}," for name, value in fields if value]
    return "\n".join([f"@{entry_type}{{{bibtex_key(record)},", *lines, "}"])


def braced(text, *, protect_case=False):
    """`{text}`, escaped; `{{text}}` keeps styles from lowercasing names in titles."""
    if not text:
        return ""
    value = escape_bibtex(text)
    return "{{" + value + "}}" if protect_case else "{" + value + "}"


def record_fields(record, *, url, accessed_on):
    updated_on = last_updated_on(record)
    with translation.override("en"):
        kind = str(record._meta.verbose_name).capitalize()
    return [
        ("title", braced(both_names(record), protect_case=True)),
        ("howpublished", braced(SITE_NAME)),
        ("year", braced(str(updated_on.year))),
        ("note", braced(f"{kind} record, last updated {updated_on.isoformat()}")),
        ("url", "{" + bibtex_url(url) + "}"),
        ("urldate", braced(accessed_on.isoformat())),
    ]


def document_fields(document, *, url, accessed_on):
    """The document itself is cited; this site's record of it goes in `note`.
    Fields the record does not know are left out, never guessed."""
    in_periodical = document.kind in PERIODICAL_KINDS and bool(document.publisher)
    published, precision = document_date(document)
    authors = document_authors(document)
    return "article" if in_periodical else "misc", [
        ("author", "{" + " and ".join(braced(name) for name in authors) + "}" if authors else ""),
        ("title", braced(both_names(document), protect_case=True)),
        ("journal" if in_periodical else "howpublished", braced(document.publisher)),
        ("organization", braced(document.issuer)),
        ("year", braced(str(published.year)) if published else ""),
        (
            "month",
            BIBTEX_MONTHS[published.month - 1] if published and precision != DatePrecision.YEAR else "",
        ),
        ("url", "{" + bibtex_url(document.source_url) + "}" if document.source_url else ""),
        ("note", record_note(document, url=url, accessed_on=accessed_on)),
    ]


def record_note(record, *, url, accessed_on):
    """`{Record in Yangtze Clusters: \\url{...}, last updated ..., accessed ...}`."""
    site = escape_bibtex(f"Record in {SITE_NAME}:")
    updated_on = last_updated_on(record)
    dates = escape_bibtex(f", last updated {updated_on.isoformat()}, accessed {accessed_on.isoformat()}")
    return "{" + f"{site} {url_in_text(url)}{dates}" + "}"


def is_citable(record):
    """Drafts (seen only by editors in preview) have no public page to cite."""
    return getattr(record, "is_published", True)
