"""Stored text stays text on every public page.

A corpus of attribute-breaking and markup payloads goes into every text
field of every entity; each public page is then parsed as a browser would
(html.parser) and checked twice: nothing was injected (no attribute, element,
comment or URL the templates did not write), and the payload comes back as
the text it was (the parsed title, meta description, filter label, search
box and map data equal what should be shown).
"""

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from functools import partial
from html.parser import HTMLParser
from http import HTTPStatus
from urllib.parse import quote_plus

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.utils import translation
from django.utils.safestring import SafeData
from django.utils.translation import gettext

from clusters.models import PublicationStatus
from clusters.templatetags.clusters_tags import markdown_text, render_markdown
from tests import factories

pytestmark = pytest.mark.django_db

# Each payload goes into every text field. Injected attribute names are taken
# from FORBIDDEN_ATTRIBUTES (or start with "on"), so that a payload breaking
# out of an attribute always leaves a name the test recognises.
PAYLOADS = [
    '0;url=https://evil.example/" http-equiv="refresh',
    "0;url=https://evil.example/' http-equiv='refresh",
    '" onmouseover="alert(1)" data-injected="1',
    "' onfocus='alert(1)' autofocus='",
    "'><script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</title><script>alert(1)</script>",
    "--><script>alert(1)</script><!--",
    "&quot; onload=&quot;alert(1)",
    "&#34; onerror=&#34;alert(1)&#34; data-injected=&#34;",
    "`onmouseover=alert(1)` `data-injected",
    'line one\n" onclick="alert(1)\nline three',
    "javascript:alert(1)",
    '[link" onclick="alert(1)](javascript:alert(1) "t\\" onmouseover=\\"x")',
    '![x" onerror="alert(1)](javascript:alert(1) "t\\"")',
    "<a href=\"javascript:alert(1)\" onclick='alert(1)'>a</a>",
    "R&D &amp; &lt;b&gt; &copy; 5 < 6 > 4",
    '长江" onmouseover="alert(1) 经济带 \u202e \u2018引号\u2019 “quotes”\u00a0end',
    "</script><script>alert(1)</script>",
    "<style>*{x:y}</style><meta http-equiv=refresh content=0>",
    "<svg onload=alert(1)>",
    '{"label": "</script>", "x": "\\u003c"}',
]

# A source URL that a URL field accepts (no spaces) and that carries quotes.
SOURCE_URL = "https://evil.example/?a=\"onmouseover='alert(1)'&b=</script>"

FORBIDDEN_ATTRIBUTES = {"http-equiv", "data-injected", "autofocus", "style", "srcdoc", "formaction"}
FORBIDDEN_ELEMENTS = {"img", "svg", "style", "iframe", "object", "embed", "base", "math", "frame"}
SITE_META_NAMES = {"viewport", "description", "robots"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data-sources", "data-suggest"}
ACTIVE_SCHEMES = ("javascript:", "vbscript:", "data:")
LANGUAGES = {"en": "", "zh-hans": "/zh-hans"}


# ---------------------------------------------------------------------------
# Pages as a browser reads them
# ---------------------------------------------------------------------------


@dataclass
class Capture:
    tag: str
    attrs: dict
    depth: int = 1
    text: str = ""


class Page(HTMLParser):
    """Every element with its attributes, every comment, and the text of the
    elements worth reading whole (title, scripts, headings, prose)."""

    CAPTURED = {"title", "script", "h1", "div", "a", "p", "option"}

    def __init__(self, markup):
        super().__init__(convert_charrefs=True)
        self.elements, self.comments, self.captures, self.text = [], [], [], []
        self._open = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))
        for capture in self._open:
            capture.depth += capture.tag == tag
        if tag in self.CAPTURED:
            capture = Capture(tag, dict(attrs))
            self._open.append(capture)
            self.captures.append(capture)

    def handle_endtag(self, tag):
        for capture in list(self._open):
            if capture.tag == tag:
                capture.depth -= 1
                if not capture.depth:
                    self._open.remove(capture)

    def handle_data(self, data):
        self.text.append(data)
        for capture in self._open:
            capture.text += data

    def handle_comment(self, data):
        self.comments.append(data)

    def all_text(self):
        return "".join(self.text)

    def texts(self, tag, **attrs):
        return [
            c.text
            for c in self.captures
            if c.tag == tag and all(c.attrs.get(k) == v for k, v in attrs.items())
        ]

    def links(self):
        """(href, text) of every link."""
        return [(c.attrs.get("href"), c.text) for c in self.captures if c.tag == "a"]

    def attribute_values(self, name):
        return [value for _tag, attrs in self.elements for key, value in attrs if key == name]

    def meta_description(self):
        [content] = [
            dict(attrs)["content"]
            for tag, attrs in self.elements
            if tag == "meta" and ("name", "description") in attrs
        ]
        return content

    def json_data(self, element_id=None):
        return [
            json.loads(c.text)
            for c in self.captures
            if c.tag == "script"
            and c.attrs.get("type") == "application/json"
            and element_id in (None, c.attrs.get("id"))
        ]


def assert_inert(page, where):
    """Nothing on the page but what the templates wrote."""
    for tag, attrs in page.elements:
        names = [name for name, _value in attrs]
        assert len(names) == len(set(names)), f"{where}: repeated attribute on <{tag}>: {attrs}"
        for name, value in attrs:
            assert not name.startswith("on"), f"{where}: event handler on <{tag}>: {attrs}"
            assert name not in FORBIDDEN_ATTRIBUTES, f"{where}: injected {name} on <{tag}>: {attrs}"
            if name in URL_ATTRIBUTES and value:
                url = "".join(value.split()).lower()
                assert not url.startswith(ACTIVE_SCHEMES), f"{where}: active URL on <{tag}>: {attrs}"
        assert tag not in FORBIDDEN_ELEMENTS, f"{where}: injected <{tag}>: {attrs}"
        if tag == "meta":
            assert_site_meta(dict(attrs), where)
        if tag == "script":
            assert_site_script(dict(attrs), where)
    for capture in page.captures:
        if capture.tag == "script" and "src" in capture.attrs:
            assert not capture.text.strip(), f"{where}: a site script with content: {capture.text!r}"
    page.json_data()  # every JSON block parses: nothing broke out of it
    assert not page.comments, f"{where}: comments the templates never write: {page.comments}"
    assert len(page.texts("title")) == 1, f"{where}: {page.texts('title')}"


def assert_site_meta(attrs, where):
    if set(attrs) == {"charset"}:
        return
    assert set(attrs) == {"name", "content"}, f"{where}: a <meta> the templates did not write: {attrs}"
    assert attrs["name"] in SITE_META_NAMES, f"{where}: {attrs}"


def assert_site_script(attrs, where):
    """Only the site's own static scripts and inert JSON data."""
    if "src" in attrs:
        assert attrs["src"].startswith("/static/"), f"{where}: {attrs}"
    else:
        assert attrs.get("type") == "application/json" and attrs.get("id"), (
            f"{where}: a script the templates did not write: {attrs}"
        )


def words(text, limit=30):
    """As Django's truncatewords shows `text`."""
    shown = text.split()
    return " ".join(shown[:limit]) + (" …" if len(shown) > limit else "")


def get_page(client, url, *, status=HTTPStatus.OK):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    page = Page(response.content.decode())
    assert_inert(page, url)
    return page


# ---------------------------------------------------------------------------
# Hostile records
# ---------------------------------------------------------------------------


@dataclass
class Hostile:
    """One payload in every text field of one record of each entity."""

    text: str
    province: object
    city: object
    sector: object
    document: object
    base: object


def names(text):
    return {"name": text, "name_zh": f"{text}\uff08中\uff09", "description": text}


def make_hostile(text, *, first=None, status=PublicationStatus.PUBLISHED):
    """Records tied to each other (and to the `first` set's, as parent,
    administering city and reported document) so that each shows the others."""
    province = factories.ProvinceFactory(**names(text))
    city = factories.CityFactory(province=province, parent=first and first.city, **names(text))
    sector = factories.SectorFactory(parent=first and first.sector, **names(text))
    document = factories.PolicyDocumentFactory(
        **names(text),
        **dict.fromkeys(("summary", "citation", "issuer", "publisher", "authors"), text),
        source_url=SOURCE_URL,
        published_on=date(2030, 1, 1),
        reports_on=first and first.document,
        status=status,
    )
    document.sectors.add(sector)
    document.cities.add(city)
    base = factories.PlannedBaseFactory(
        **names(text), status=status, source__document=document, source__section=text, source__note=text
    )
    base.sectors.add(sector)
    factories.BaseMembershipFactory(base=base, city=city)
    return Hostile(text, province, city, sector, document, base)


def make_hostile_sets(*, status=PublicationStatus.PUBLISHED):
    """One set of records per payload, each tied to the first set."""
    first = make_hostile(PAYLOADS[0], status=status)
    return [first, *(make_hostile(text, first=first, status=status) for text in PAYLOADS[1:])]


@pytest.fixture
def hostile(db):
    return make_hostile_sets()


def local(obj, language):
    return obj.name_zh if language == "zh-hans" and obj.name_zh else obj.name


def both_names(obj, language):
    """What `{% entity_name %}` shows: the reader's name first, then the other."""
    other = obj.name if language == "zh-hans" else obj.name_zh
    return f"{local(obj, language)} {other}"


def site_name(language):
    with translation.override(language):
        return gettext("Yangtze Clusters")


def url_of(obj, language="en"):
    with translation.override(language):
        return obj.get_absolute_url()


# ---------------------------------------------------------------------------
# The helper: Markdown as plain text
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        (
            '0;url=https://evil.example/" http-equiv="refresh',
            '0;url=https://evil.example/" http-equiv="refresh',
        ),
        ("R&D &amp; &lt;b&gt; **bold**", "R&D & <b> bold"),
        ("&#34; onload=&#34;x", '" onload="x'),
        ('[a link](https://example.org "t") and <script>alert(1)</script>', "a link and"),
        ("", ""),
    ],
)
def test_markdown_text_is_plain_text_not_markup(markdown, text):
    shown = markdown_text(markdown)

    assert shown == text
    assert not isinstance(shown, SafeData)  # escaped where it is written


def test_markdown_text_is_the_text_the_rendered_markdown_shows():
    for text in PAYLOADS:
        shown = Page(f"<div>{render_markdown(text)}</div>").texts("div")[0]
        assert markdown_text(text) == shown.strip(), text


# ---------------------------------------------------------------------------
# Detail pages
# ---------------------------------------------------------------------------


def meta_description_expected(entity, obj, page):
    """The meta description a detail page should carry, or None where it is
    a translated sentence that only has to contain the name."""
    if entity == "base":
        [prose] = page.texts("div", **{"class": "prose"})
        return words(prose)
    if entity == "document":
        return words(obj.summary)
    return None


def map_names(page):
    shown = set()
    for collection in page.json_data("map-data"):
        for feature in collection["features"]:
            shown |= {feature["properties"]["label"], feature["properties"]["name"]}
            shown |= set(feature["properties"].get("members", []))
    return shown


def assert_detail_page_shows_text_as_text(page, entity, obj, item, language, where):
    name = local(obj, language)
    assert page.texts("title") == [f"{name} · {site_name(language)}"], where
    assert page.texts("h1") == [both_names(obj, language)], where
    expected = meta_description_expected(entity, obj, page)
    if expected is None:
        assert name in page.meta_description(), where
    else:
        assert page.meta_description() == expected, where
    assert local(item.city, language) in map_names(page), where
    if entity == "document":
        for shown in (obj.issuer, obj.publisher, obj.authors, obj.citation, obj.summary):
            assert shown in page.all_text(), where
        assert SOURCE_URL in page.attribute_values("href"), where
    if entity == "base":
        assert local(obj, language) in map_names(page), where
    if entity == "base" and item.document.is_published:  # a draft document's sources are not shown
        assert item.text in page.texts("p", **{"class": "note"}), where
        assert f"§ {item.text}" in page.all_text(), where


@pytest.mark.parametrize("entity", ["province", "city", "sector", "document", "base"])
def test_detail_pages_show_stored_text_as_text(client, hostile, entity):
    for item in hostile:
        obj = getattr(item, entity)
        for language, prefix in LANGUAGES.items():
            where = f"{prefix}{url_of(obj)} ({item.text!r})"
            page = get_page(client, prefix + url_of(obj))
            assert_detail_page_shows_text_as_text(page, entity, obj, item, language, where)


@pytest.fixture
def editor(db):
    call_command("setup_groups", verbosity=0)
    user = User.objects.create_user("escaping-editor", password="not-used", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    return User.objects.get(pk=user.pk)


@pytest.mark.parametrize("entity", ["document", "base"])
def test_draft_previews_show_stored_text_as_text(client, editor, entity):
    client.force_login(editor)
    for item in make_hostile_sets(status=PublicationStatus.DRAFT):
        obj = getattr(item, entity)
        for language, prefix in LANGUAGES.items():
            where = f"draft {prefix}{url_of(obj)} ({item.text!r})"
            page = get_page(client, prefix + url_of(obj))
            assert "draft-flag" in page.attribute_values("class"), where
            assert_detail_page_shows_text_as_text(page, entity, obj, item, language, where)


# ---------------------------------------------------------------------------
# Lists, home, map, search
# ---------------------------------------------------------------------------


def slugs(hostile, entity):
    """The slugs of every hostile record of an entity."""
    return [getattr(item, entity).slug for item in hostile]


def query(hostile, **entities):
    """A query string naming every hostile record of each entity, e.g.
    query(hostile, parent="sector") is parent=<slug>&parent=<slug>…"""
    return "&".join(f"{name}={slug}" for name, entity in entities.items() for slug in slugs(hostile, entity))


def list_filters(hostile):
    """Each list filtered by the hostile records it can be filtered by: the
    active-filter labels then carry their names."""
    pick = partial(slugs, hostile)
    return {
        "/documents/": {"sector": pick("sector"), "city": pick("city")},
        "/bases/": {
            "sector": pick("sector"),
            "city": pick("city"),
            "province": pick("province"),
            "document": pick("document"),
        },
        "/cities/": {"province": pick("province"), "sector": pick("sector"), "base": pick("base")},
        "/sectors/": {"parent": [hostile[0].sector.slug]},
        "/provinces/": {"reach": ["middle"]},
    }


LISTED = {
    "/documents/": "document",
    "/bases/": "base",
    "/cities/": "city",
    "/sectors/": "sector",
    "/provinces/": "province",
}
FILTERED_BY = {
    "sector": "sector",
    "city": "city",
    "province": "province",
    "document": "document",
    "base": "base",
    "parent": "sector",
}


def list_pages(client, url):
    """Every page of a list, following its "next" links."""
    pages = [get_page(client, url)]
    while next_links := [
        dict(attrs)["href"] for tag, attrs in pages[-1].elements if ("rel", "next") in attrs
    ]:
        pages.append(get_page(client, url.split("?")[0] + next_links[0]))
    return pages


def filter_label_names(label, name):
    """Whether an active filter's label ("Remove filter Sector: …") ends with `name`."""
    return label.endswith(name) and label.removesuffix(name).rstrip().endswith((":", "\uff1a"))


@pytest.mark.parametrize("path", LISTED)
def test_list_pages_show_stored_text_as_text(client, hostile, path):
    entity = LISTED[path]
    filters = list_filters(hostile)[path]
    filtered = "&".join(f"{name}={value}" for name, values in filters.items() for value in values)
    for language, prefix in LANGUAGES.items():
        get_page(client, prefix + path)
        pages = list_pages(client, f"{prefix}{path}?{filtered}")
        links = [link for page in pages for link in page.links()]
        for item in hostile[1:] if path == "/sectors/" else hostile:
            obj = getattr(item, entity)
            assert (url_of(obj, language), both_names(obj, language)) in links, (language, path, item.text)
        labels = pages[0].attribute_values("aria-label")
        for parameter in filters.keys() & FILTERED_BY.keys():
            for item in hostile[:1] if parameter == "parent" else hostile:
                name = local(getattr(item, FILTERED_BY[parameter]), language)
                assert any(filter_label_names(label, name) for label in labels), (
                    language,
                    path,
                    parameter,
                    name,
                )


def test_home_page_shows_stored_text_as_text(client, hostile):
    for language, prefix in LANGUAGES.items():
        page = get_page(client, prefix + "/")
        links = page.links()
        for item in hostile:
            assert (url_of(item.sector, language), local(item.sector, language)) in links
        # The latest documents are hostile ones (dated after every other).
        documents = {url_of(item.document, language): local(item.document, language) for item in hostile}
        latest = [(url, text) for url, text in links if url in documents]
        assert len(latest) == 5, latest
        assert all(documents[url] == text for url, text in latest), latest


def test_map_page_shows_stored_text_as_text(client, hostile):
    filters = query(hostile, sector="sector", province="province")
    for language, prefix in LANGUAGES.items():
        get_page(client, prefix + "/map/")
        page = get_page(client, f"{prefix}/map/?{filters}")
        [sources] = page.attribute_values("data-sources")
        assert [url.split("?", 1)[1] for url in sources.split()] == [filters, filters], sources
        options = page.texts("option")
        assert all(local(item.sector, language) in options for item in hostile), options


def test_map_layers_carry_names_as_json_text(client, hostile):
    cities = client.get(f"/map/cities.geojson?{query(hostile, province='province')}").json()
    bases = client.get(f"/map/bases.geojson?{query(hostile, sector='sector')}").json()

    assert {f["properties"]["name"] for f in cities["features"]} == {item.city.name for item in hostile}
    assert {f["properties"]["name"] for f in bases["features"]} == {item.base.name for item in hostile}


def test_search_pages_echo_the_query_and_results_as_text(client, hostile):
    for item in hostile:
        for language, prefix in LANGUAGES.items():
            page = get_page(client, f"{prefix}/search/?q={quote_plus(item.text)}")
            searched = item.text.strip()
            [box] = [
                dict(attrs) for tag, attrs in page.elements if tag == "input" and ("id", "search-q") in attrs
            ]
            assert box["value"] == searched
            [title] = page.texts("title")
            assert searched in title
            if language == "en":
                assert title == f"Search: {searched} · {site_name(language)}"
            assert (url_of(item.base, language), both_names(item.base, language)) in page.links()


# ---------------------------------------------------------------------------
# Feeds
# ---------------------------------------------------------------------------

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.mark.parametrize(("path", "entity"), [("/feeds/documents/", "document"), ("/feeds/bases/", "base")])
def test_feeds_carry_stored_text_as_text(client, hostile, path, entity):
    response = client.get(f"{path}?{query(hostile, sector='sector')}")
    assert response.status_code == HTTPStatus.OK

    entries = {
        entry.findtext(f"{ATOM}title"): entry
        for entry in ET.fromstring(response.content).findall(f"{ATOM}entry")
    }
    for item in hostile:
        obj = getattr(item, entity)
        summary = entries[obj.name].find(f"{ATOM}summary")
        source_text = (
            obj.summary
            if entity == "document"
            else Page(f"<div>{render_markdown(obj.description)}</div>").texts("div")[0]
        )
        if summary is None:
            assert not source_text.strip()
            continue
        assert summary.get("type") == "html"
        html = Page(summary.text)
        assert not html.elements, (item.text, summary.text)
        assert " ".join(html.all_text().split()) == " ".join(source_text.split())
