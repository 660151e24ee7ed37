"""Public pages."""

import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse
from django.utils import translation
from django.utils.html import escape

from clusters.middleware import MAX_PARAMETER_CHARS
from clusters.models import MembershipRole
from tests import factories

pytestmark = pytest.mark.django_db


def test_home_url_resolves_both_ways():
    assert reverse("clusters:home") == "/"
    assert resolve("/").view_name == "clusters:home"


def test_home_page_says_what_the_site_is_and_links_to_the_admin(client, reference_data):
    response = client.get("/")

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "Yangtze River Economic Belt" in html
    assert reverse("admin:index") in html
    assert {str(label): count for label, count, _url in response.context["counts"]} == {
        "policy documents": 3,
        "planned bases": 16,
        "sectors": 35,
        "cities": 15,
        "provinces": 11,
    }


def test_home_page_in_chinese(client, reference_data):
    response = client.get("/zh-hans/")

    assert response.status_code == HTTPStatus.OK
    assert 'lang="zh-hans"' in response.content.decode()


def test_home_page_lists_the_newest_dated_documents_before_undated_ones(client):
    undated = factories.PolicyDocumentFactory(published_on=None, status="published")
    dated = [
        factories.PolicyDocumentFactory(published_on=date(2040, 1, day), status="published")
        for day in range(1, 6)
    ]

    latest = list(client.get("/").context["latest_documents"])

    assert latest == dated[::-1]
    assert undated not in latest


def test_home_page_query_count_is_constant(client, reference_data, django_assert_max_num_queries):
    with django_assert_max_num_queries(10):
        client.get("/")


# ---------------------------------------------------------------------------
# The shipped fixtures, read straight from fixtures/*.json so that every
# object gets its own parametrised test.
# ---------------------------------------------------------------------------

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_records(model_label):
    return [
        record["fields"]
        for path in sorted(FIXTURES_DIR.glob("*.json"))
        for record in json.loads(path.read_text(encoding="utf-8"))
        if record["model"] == model_label
    ]


# URL segment -> (model label, list route, detail route)
ENTITIES = {
    "documents": ("clusters.policydocument", "clusters:document-list", "clusters:document-detail"),
    "bases": ("clusters.plannedbase", "clusters:base-list", "clusters:base-detail"),
    "sectors": ("clusters.sector", "clusters:sector-list", "clusters:sector-detail"),
    "cities": ("clusters.city", "clusters:city-list", "clusters:city-detail"),
    "provinces": ("clusters.province", "clusters:province-list", "clusters:province-detail"),
}
FIXTURE_OBJECTS = [
    (segment, fields["slug"], fields["name"], fields.get("name_zh", ""))
    for segment, (label, _list, _detail) in ENTITIES.items()
    for fields in fixture_records(label)
]
MEMBERSHIPS = fixture_records("clusters.basemembership")
SOURCES = fixture_records("clusters.basesource")
BASES = fixture_records("clusters.plannedbase")
CITIES = fixture_records("clusters.city")
SECTORS = fixture_records("clusters.sector")
DOCUMENTS = fixture_records("clusters.policydocument")

# (language code, URL prefix)
LANGUAGES = [("en", ""), ("zh-hans", "/zh-hans")]
LANGUAGE_IDS = ["en", "zh-hans"]


def detail_path(segment, slug):
    return f"/{segment}/{slug}/"


def main_html(response):
    """The page's <main> element, without the header, navigation and footer."""
    html = response.content.decode()
    return html[html.index("<main") : html.index("</main>")]


def heading(response):
    return re.search(r"<h1[^>]*>(.*?)</h1>", response.content.decode(), re.S).group(1)


def items_linking(html, href):
    """The <li> elements (flat lists only) that contain a link to href."""
    return [item for item in re.findall(r"<li\b[^>]*>(.*?)</li>", html, re.S) if f'href="{href}"' in item]


def url_of(obj):
    """The object's English URL, whatever language an earlier request left active."""
    with translation.override("en"):
        return obj.get_absolute_url()


def links(html):
    return re.findall(r'<a\b[^>]*\bhref="([^"]*)"', html)


class Pages(dict):
    """GETs each URL once and keeps its <main> HTML; every page must be 200."""

    def __init__(self, client):
        super().__init__()
        self.client = client

    def __missing__(self, url):
        response = self.client.get(url)
        assert response.status_code == HTTPStatus.OK, url
        self[url] = main_html(response)
        return self[url]


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

ROUTES = [
    ("clusters:home", {}, "/"),
    ("clusters:document-list", {}, "/documents/"),
    (
        "clusters:document-detail",
        {"slug": "china-daily-2019-middle-reaches-clusters"},
        "/documents/china-daily-2019-middle-reaches-clusters/",
    ),
    ("clusters:base-list", {}, "/bases/"),
    (
        "clusters:base-detail",
        {"slug": "middle-reaches-shipbuilding-supporting-system"},
        "/bases/middle-reaches-shipbuilding-supporting-system/",
    ),
    ("clusters:sector-list", {}, "/sectors/"),
    ("clusters:sector-detail", {"slug": "shipbuilding"}, "/sectors/shipbuilding/"),
    ("clusters:city-list", {}, "/cities/"),
    ("clusters:city-detail", {"slug": "wuhan"}, "/cities/wuhan/"),
    ("clusters:province-list", {}, "/provinces/"),
    ("clusters:province-detail", {"slug": "hubei"}, "/provinces/hubei/"),
    ("clusters:map", {}, "/map/"),
    ("clusters:map-cities", {}, "/map/cities.geojson"),
    ("clusters:map-bases", {}, "/map/bases.geojson"),
    ("clusters:search", {}, "/search/"),
]


@pytest.mark.parametrize(("language", "prefix"), LANGUAGES, ids=LANGUAGE_IDS)
@pytest.mark.parametrize(("name", "kwargs", "path"), ROUTES, ids=[route[0] for route in ROUTES])
def test_route_reverses_and_resolves_both_ways(name, kwargs, path, language, prefix):
    with translation.override(language):
        assert reverse(name, kwargs=kwargs) == prefix + path
        match = resolve(prefix + path)
    assert match.view_name == name
    assert match.kwargs == kwargs


@pytest.mark.parametrize(("name", "path"), [("sitemap", "/sitemap.xml"), ("robots", "/robots.txt")])
def test_unprefixed_route_reverses_and_resolves_both_ways(name, path):
    assert reverse(name) == path
    assert resolve(path).view_name == name


# ---------------------------------------------------------------------------
# Every page opens
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "prefix"), LANGUAGES, ids=LANGUAGE_IDS)
@pytest.mark.parametrize("segment", list(ENTITIES))
def test_list_page_opens_and_links_every_fixture_object(client, reference_data, segment, language, prefix):
    expected = {prefix + detail_path(s, slug) for s, slug, _name, _zh in FIXTURE_OBJECTS if s == segment}

    response = client.get(f"{prefix}/{segment}/")

    assert response.status_code == HTTPStatus.OK
    assert f'lang="{language}"' in response.content.decode()
    assert response.context["result_count"] == len(expected)
    linked = set(links(main_html(response)))
    for page in range(2, response.context["paginator"].num_pages + 1):
        next_page = client.get(f"{prefix}/{segment}/", {"page": page})
        assert next_page.status_code == HTTPStatus.OK
        linked |= set(links(main_html(next_page)))
    assert expected <= linked


@pytest.mark.parametrize(("language", "prefix"), LANGUAGES, ids=LANGUAGE_IDS)
@pytest.mark.parametrize("path", ["/", "/map/", "/search/", "/search/?q=Wuhan"])
def test_home_map_and_search_pages_open(client, reference_data, path, language, prefix):
    response = client.get(prefix + path)

    assert response.status_code == HTTPStatus.OK
    assert f'lang="{language}"' in response.content.decode()


@pytest.mark.parametrize(("language", "prefix"), LANGUAGES, ids=LANGUAGE_IDS)
@pytest.mark.parametrize(
    ("segment", "slug", "name", "name_zh"),
    FIXTURE_OBJECTS,
    ids=[f"{segment}/{slug}" for segment, slug, _name, _zh in FIXTURE_OBJECTS],
)
def test_detail_page_of_every_fixture_object_opens(
    client, reference_data, segment, slug, name, name_zh, language, prefix
):
    response = client.get(prefix + detail_path(segment, slug))

    assert response.status_code == HTTPStatus.OK
    assert f'lang="{language}"' in response.content.decode()
    # The heading gives both names, the reader's language first.
    title = heading(response).strip()
    names = [name_zh, name] if language.startswith("zh") else [name, name_zh]
    positions = [title.index(escape(shown)) for shown in names if shown]
    assert positions == sorted(positions), title
    assert title.startswith(escape(names[0] or names[1]))


def test_chinese_city_page_shows_the_chinese_name_first(client, reference_data):
    response = client.get("/zh-hans/cities/wuhan/")

    title = heading(response)
    assert "武汉" in title
    assert "Wuhan" in title
    assert title.index("武汉") < title.index("Wuhan")


def test_english_city_page_shows_the_english_name_first(client, reference_data):
    title = heading(client.get("/cities/wuhan/"))

    assert title.index("Wuhan") < title.index("武汉")


def test_chinese_list_page_shows_chinese_names_first(client, reference_data):
    html = main_html(client.get("/zh-hans/cities/"))

    anchor = re.search(r'<a href="/zh-hans/cities/wuhan/">(.*?)</a>', html, re.S).group(1)
    assert anchor.index("武汉") < anchor.index("Wuhan")
    # Links to the province read in Chinese too.
    assert re.search(r'<a href="/zh-hans/provinces/hubei/">\s*湖北\s*</a>', html)


def test_document_without_a_chinese_name_shows_its_english_name_on_chinese_pages(client, reference_data):
    title = heading(client.get("/zh-hans/documents/china-daily-2019-middle-reaches-clusters/"))

    assert "Yangtze River middle reaches: Building competitive industrial clusters" in title


# ---------------------------------------------------------------------------
# Not found
# ---------------------------------------------------------------------------

UNKNOWN_PATHS = [
    "/cities/atlantis/",
    "/bases/atlantis/",
    "/sectors/atlantis/",
    "/documents/atlantis/",
    "/provinces/atlantis/",
    "/cities/WUHAN/",
    "/cities/" + "a" * 300 + "/",
    "/no-such-page/",
    "/cities/wuhan/extra/",
]


@pytest.mark.parametrize(("language", "prefix"), LANGUAGES, ids=LANGUAGE_IDS)
@pytest.mark.parametrize("path", UNKNOWN_PATHS, ids=lambda path: path[:40])
def test_unknown_page_is_a_helpful_404(client, reference_data, path, language, prefix):
    response = client.get(prefix + path)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "404.html" in [template.name for template in response.templates]
    html = response.content.decode()
    assert f'lang="{language}"' in html
    main = main_html(response)
    # A search form and links to every list, in the reader's language.
    form = re.search(r"<form\b[^>]*>.*?</form>", main, re.S).group(0)
    assert f'action="{prefix}/search/"' in form
    assert 'name="q"' in form
    for segment in [*ENTITIES, "map"]:
        assert f"{prefix}/{segment}/" in links(main)
    if language == "en":
        assert "Page not found" in html


# A NUL anywhere in the query is refused before the view (a 400, see
# tests/test_pages_bad_input.py).
BAD_PAGES = ["999", "abc", "0", "-1", "1.5", "9" * 40]


@pytest.mark.parametrize("page", BAD_PAGES, ids=repr)
@pytest.mark.parametrize("segment", list(ENTITIES))
def test_a_page_number_out_of_range_or_not_a_number_is_a_404(client, reference_data, segment, page):
    response = client.get(f"/{segment}/", {"page": page})

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "404.html" in [template.name for template in response.templates]


@pytest.mark.parametrize("page", ["999", "abc"])
def test_a_bad_page_number_is_a_404_in_chinese_too(client, reference_data, page):
    response = client.get("/zh-hans/cities/", {"page": page})

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert 'action="/zh-hans/search/"' in response.content.decode()


def test_second_page_of_sectors_holds_the_rest(client, reference_data, settings):
    first = client.get("/sectors/")
    second = client.get("/sectors/", {"page": 2})
    last = client.get("/sectors/", {"page": "last"})

    assert second.status_code == HTTPStatus.OK
    assert len(first.context["object_list"]) == settings.PAGE_SIZE
    assert len(second.context["object_list"]) == 35 - settings.PAGE_SIZE
    assert list(last.context["object_list"]) == list(second.context["object_list"])
    assert not set(first.context["object_list"]) & set(second.context["object_list"])
    assert 'rel="next"' in first.content.decode()
    assert 'rel="prev"' in second.content.decode()


# ---------------------------------------------------------------------------
# Detail pages link both ways
# ---------------------------------------------------------------------------


def role_label(role):
    with translation.override("en"):
        return str(MembershipRole(role).label)


def test_wuhan_links_its_province_its_bases_with_roles_and_its_documents(client, reference_data):
    html = main_html(client.get("/cities/wuhan/"))

    assert "/provinces/hubei/" in links(html)
    wuhan_bases = {m["base"][0]: m["role"] for m in MEMBERSHIPS if m["city"] == ["wuhan"]}
    assert len(wuhan_bases) == 7
    for base, role in wuhan_bases.items():
        [item] = items_linking(html, f"/bases/{base}/")
        assert f"role-{role}" in item
        assert role_label(role) in item
    [appliances] = items_linking(html, "/bases/central-china-home-appliance-base/")
    assert "Leading" in appliances
    for document in ["middle-yangtze-city-cluster-plan-2015", "china-daily-2019-middle-reaches-clusters"]:
        assert f"/documents/{document}/" in links(html)
    # The 2020 paper names neither Wuhan nor any of its bases.
    assert "/documents/li-2020-advanced-manufacturing-clusters/" not in links(html)


def test_ningxiang_links_the_city_that_administers_it_and_back(client, reference_data):
    ningxiang = main_html(client.get("/cities/ningxiang/"))
    changsha = main_html(client.get("/cities/changsha/"))

    assert "/cities/changsha/" in links(ningxiang)
    assert "/cities/ningxiang/" in links(changsha)


def test_shipbuilding_sector_links_its_parents_its_base_and_its_cities(client, reference_data):
    html = main_html(client.get("/sectors/shipbuilding/"))

    assert "/sectors/transport-equipment/" in links(html)
    assert "/sectors/equipment-manufacturing/" in links(html)
    assert "/bases/middle-reaches-shipbuilding-supporting-system/" in links(html)
    for city in ["wuhan", "yichang", "huanggang", "jingzhou", "yueyang", "yiyang", "jiujiang", "nanchang"]:
        assert f"/cities/{city}/" in links(html)
    assert "/cities/changsha/" not in links(html)


def test_transport_equipment_sector_links_its_sub_sectors(client, reference_data):
    html = main_html(client.get("/sectors/transport-equipment/"))

    for child in ["automobiles", "shipbuilding", "rail-transit-equipment", "aviation"]:
        assert f"/sectors/{child}/" in links(html)


def test_china_daily_page_cites_reports_on_the_plan_and_lists_its_bases_with_sections(client, reference_data):
    [china_daily] = [d for d in DOCUMENTS if d["slug"] == "china-daily-2019-middle-reaches-clusters"]

    html = main_html(client.get("/documents/china-daily-2019-middle-reaches-clusters/"))

    assert escape(china_daily["citation"]) in html
    assert "/documents/middle-yangtze-city-cluster-plan-2015/" in links(html)
    sources = [s for s in SOURCES if s["document"] == ["china-daily-2019-middle-reaches-clusters"]]
    assert len(sources) == 13
    for source in sources:
        [item] = items_linking(html, f"/bases/{source['base'][0]}/")
        assert escape(source["section"]) in item


def test_the_plan_lists_the_news_report_on_it(client, reference_data):
    html = main_html(client.get("/documents/middle-yangtze-city-cluster-plan-2015/"))

    assert "/documents/china-daily-2019-middle-reaches-clusters/" in links(html)


def test_base_page_lists_member_cities_in_order_with_roles_and_its_sources(client, reference_data):
    slug = "middle-reaches-shipbuilding-supporting-system"

    html = main_html(client.get(f"/bases/{slug}/"))

    members = sorted((m for m in MEMBERSHIPS if m["base"] == [slug]), key=lambda m: m["position"])
    city_urls = [f"/cities/{m['city'][0]}/" for m in members]
    assert [url for url in links(html) if url in city_urls] == city_urls
    for member in members:
        [item] = items_linking(html, f"/cities/{member['city'][0]}/")
        assert "role-member" in item
        assert "Member" in item
    [china_daily] = items_linking(html, "/documents/china-daily-2019-middle-reaches-clusters/")
    assert "Automobile and transport equipment manufacturing" in china_daily
    assert "/documents/middle-yangtze-city-cluster-plan-2015/" in links(html)
    for document in DOCUMENTS[:2]:
        assert escape(document["citation"]) in html
    assert "/sectors/shipbuilding/" in links(html)


def test_home_appliance_base_shows_leading_and_upgrading_roles(client, reference_data):
    html = main_html(client.get("/bases/central-china-home-appliance-base/"))

    [wuhan] = items_linking(html, "/cities/wuhan/")
    [ningxiang] = items_linking(html, "/cities/ningxiang/")
    assert "role-leading" in wuhan
    assert "Leading" in wuhan
    assert "role-upgrading" in ningxiang
    assert "Upgrading" in ningxiang


def test_hubei_links_its_six_cities_and_their_bases(client, reference_data):
    html = main_html(client.get("/provinces/hubei/"))

    for city in ["wuhan", "xiangyang", "yichang", "huanggang", "jingzhou", "jingmen"]:
        assert f"/cities/{city}/" in links(html)
    assert "/cities/changsha/" not in links(html)
    assert "/bases/middle-reaches-shipbuilding-supporting-system/" in links(html)
    # Its only member city is in Jiangxi.
    assert "/bases/nanchang-aviation-and-biology-bases/" not in links(html)


def test_every_membership_is_linked_both_ways_with_its_role(client, reference_data):
    pages = Pages(client)
    for membership in MEMBERSHIPS:
        base_url = f"/bases/{membership['base'][0]}/"
        city_url = f"/cities/{membership['city'][0]}/"
        role = membership["role"]
        [on_base_page] = items_linking(pages[base_url], city_url)
        [on_city_page] = items_linking(pages[city_url], base_url)
        for item in (on_base_page, on_city_page):
            assert f"role-{role}" in item, (base_url, city_url)
            assert role_label(role) in item, (base_url, city_url)


def test_every_source_is_linked_both_ways_with_its_section(client, reference_data):
    pages = Pages(client)
    for source in SOURCES:
        base_url = f"/bases/{source['base'][0]}/"
        document_url = f"/documents/{source['document'][0]}/"
        [on_base_page] = items_linking(pages[base_url], document_url)
        [on_document_page] = items_linking(pages[document_url], base_url)
        if source["section"]:
            assert escape(source["section"]) in on_base_page
            assert escape(source["section"]) in on_document_page


def test_every_base_and_its_sectors_link_each_other(client, reference_data):
    pages = Pages(client)
    for base in BASES:
        base_url = f"/bases/{base['slug']}/"
        for [sector] in base["sectors"]:
            assert f"/sectors/{sector}/" in links(pages[base_url])
            assert base_url in links(pages[f"/sectors/{sector}/"])


def test_every_sector_and_its_parent_link_each_other(client, reference_data):
    pages = Pages(client)
    for sector in SECTORS:
        if sector["parent"]:
            child_url = f"/sectors/{sector['slug']}/"
            parent_url = f"/sectors/{sector['parent'][0]}/"
            assert parent_url in links(pages[child_url])
            assert child_url in links(pages[parent_url])


def test_every_city_and_its_province_link_each_other(client, reference_data):
    pages = Pages(client)
    for city in CITIES:
        city_url = f"/cities/{city['slug']}/"
        province_url = f"/provinces/{city['province'][0]}/"
        assert province_url in links(pages[city_url])
        assert city_url in links(pages[province_url])


def test_every_document_and_the_cities_and_sectors_it_names_link_each_other(client, reference_data):
    pages = Pages(client)
    for document in DOCUMENTS:
        document_url = f"/documents/{document['slug']}/"
        for [city] in document["cities"]:
            assert f"/cities/{city}/" in links(pages[document_url])
            assert document_url in links(pages[f"/cities/{city}/"])
        for [sector] in document["sectors"]:
            assert f"/sectors/{sector}/" in links(pages[document_url])
            assert document_url in links(pages[f"/sectors/{sector}/"])


def test_chinese_detail_pages_link_to_chinese_pages(client, reference_data):
    html = main_html(client.get("/zh-hans/cities/wuhan/"))

    assert "/zh-hans/provinces/hubei/" in links(html)
    assert "/zh-hans/bases/middle-reaches-shipbuilding-supporting-system/" in links(html)
    assert not [url for url in links(html) if url.startswith(("/cities/", "/bases/", "/documents/"))]


# ---------------------------------------------------------------------------
# Query counts stay the same however many rows there are
# ---------------------------------------------------------------------------


def seed_list(segment, count):
    """`count` more rows for a list page, with the relations its rows show."""
    if segment == "documents":
        factories.PolicyDocumentFactory.create_batch(
            count, published_on=date(2020, 1, 1), publisher="Press", summary="Summary."
        )
    elif segment == "bases":
        cities = factories.CityFactory.create_batch(3)
        sectors = factories.SectorFactory.create_batch(2)
        for base in factories.PlannedBaseFactory.create_batch(count):
            for position, city in enumerate(cities):
                factories.BaseMembershipFactory(base=base, city=city, position=position)
            base.sectors.add(*sectors)
    elif segment == "sectors":
        parent = factories.SectorFactory()
        children = factories.SectorFactory.create_batch(count, parent=parent)
        factories.PlannedBaseFactory().sectors.add(*children)
    elif segment == "cities":
        province = factories.ProvinceFactory()
        base = factories.PlannedBaseFactory()
        for city in factories.CityFactory.create_batch(count, province=province):
            factories.BaseMembershipFactory(base=base, city=city)
    elif segment == "provinces":
        for province in factories.ProvinceFactory.create_batch(count):
            factories.CityFactory(province=province)


def assert_same_query_count(client, url, grow, django_assert_max_num_queries, few=10, many=200):
    """Seed `few` rows, count the page's queries, seed up to `many`, count again."""
    grow(few)
    assert client.get(url).status_code == HTTPStatus.OK  # warm any per-process caches
    with CaptureQueriesContext(connection) as few_rows:
        client.get(url)
    grow(many - few)
    with django_assert_max_num_queries(len(few_rows)) as many_rows:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK
    assert len(many_rows) == len(few_rows)
    print(f"\nqueries {url}: {len(few_rows)} with {few} rows, {len(many_rows)} with {many}")
    return len(many_rows)


@pytest.mark.parametrize("segment", list(ENTITIES))
def test_list_page_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries, segment):
    count = assert_same_query_count(
        client, f"/{segment}/", lambda n: seed_list(segment, n), django_assert_max_num_queries
    )
    assert count <= 15


def test_filtered_list_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries):
    city = factories.CityFactory(slug="hub")

    def grow(n):
        for base in factories.PlannedBaseFactory.create_batch(n, kind="cluster"):
            factories.BaseMembershipFactory(base=base, city=city)
            factories.BaseMembershipFactory(base=base)
            base.sectors.add(factories.SectorFactory())

    assert_same_query_count(
        client, "/bases/?city=hub&kind=cluster&ordering=-name", grow, django_assert_max_num_queries
    )


def grow_city(city):
    def grow(n):
        for base in factories.PlannedBaseFactory.create_batch(n):
            factories.BaseMembershipFactory(base=base, city=city, role="leading")
            base.sectors.add(factories.SectorFactory())
        city.documents.add(*factories.PolicyDocumentFactory.create_batch(n))
        factories.CityFactory.create_batch(n, parent=city, province=city.province)

    return grow


def grow_base(base):
    def grow(n):
        for _ in range(n):
            factories.BaseMembershipFactory(base=base, position=base.memberships.count())
        base.sectors.add(*factories.SectorFactory.create_batch(n))
        factories.BaseSourceFactory.create_batch(n, base=base)

    return grow


def grow_sector(sector):
    def grow(n):
        for base in factories.PlannedBaseFactory.create_batch(n):
            base.sectors.add(sector)
            factories.BaseMembershipFactory(base=base)
        factories.SectorFactory.create_batch(n, parent=sector)
        sector.documents.add(*factories.PolicyDocumentFactory.create_batch(n))

    return grow


def grow_document(document):
    def grow(n):
        factories.BaseSourceFactory.create_batch(n, document=document)
        document.cities.add(*factories.CityFactory.create_batch(n))
        document.sectors.add(*factories.SectorFactory.create_batch(n))
        factories.PolicyDocumentFactory.create_batch(n, reports_on=document)

    return grow


def grow_province(province):
    def grow(n):
        for city in factories.CityFactory.create_batch(n, province=province):
            factories.BaseMembershipFactory(city=city)

    return grow


def detail_subject(segment):
    if segment == "cities":
        city = factories.CityFactory(parent=factories.CityFactory())
        return city, grow_city(city)
    if segment == "bases":
        base = factories.PlannedBaseFactory()
        return base, grow_base(base)
    if segment == "sectors":
        sector = factories.SectorFactory(parent=factories.SectorFactory(parent=factories.SectorFactory()))
        return sector, grow_sector(sector)
    if segment == "documents":
        document = factories.PolicyDocumentFactory(
            reports_on=factories.PolicyDocumentFactory(), published_on=date(2020, 5, 1)
        )
        return document, grow_document(document)
    province = factories.ProvinceFactory()
    return province, grow_province(province)


@pytest.mark.parametrize("segment", list(ENTITIES))
def test_detail_page_query_count_does_not_grow_with_related_rows(
    client, django_assert_max_num_queries, segment
):
    subject, grow = detail_subject(segment)

    count = assert_same_query_count(client, url_of(subject), grow, django_assert_max_num_queries)
    assert count <= 15


def test_home_page_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries):
    def grow(n):
        factories.PolicyDocumentFactory.create_batch(n, published_on=date(2021, 1, 1))
        for parent in factories.SectorFactory.create_batch(n):
            factories.SectorFactory(parent=parent)
        for city in factories.CityFactory.create_batch(n):
            factories.BaseMembershipFactory(city=city)

    assert assert_same_query_count(client, "/", grow, django_assert_max_num_queries) <= 10


@pytest.mark.parametrize(
    "url", ["/map/cities.geojson", "/map/bases.geojson", "/map/bases.geojson?reach=middle"]
)
def test_geojson_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries, url):
    def grow(n):
        for base in factories.PlannedBaseFactory.create_batch(n):
            factories.BaseMembershipFactory(base=base, position=1)
            factories.BaseMembershipFactory(base=base, position=2)

    assert assert_same_query_count(client, url, grow, django_assert_max_num_queries) <= 5


def test_map_page_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries):
    def grow(n):
        for base in factories.PlannedBaseFactory.create_batch(n):
            factories.BaseMembershipFactory(base=base)
            base.sectors.add(factories.SectorFactory())

    assert_same_query_count(client, "/map/", grow, django_assert_max_num_queries)


def test_search_query_count_does_not_grow_with_matches(client, django_assert_max_num_queries):
    def grow(n):
        province = factories.ProvinceFactory(name="Needle province")
        factories.CityFactory.create_batch(n, description="A needle in the haystack.", province=province)
        factories.SectorFactory.create_batch(n, description="needle")
        factories.PlannedBaseFactory.create_batch(n, description="needle")

    assert assert_same_query_count(client, "/search/?q=needle", grow, django_assert_max_num_queries) <= 12


def test_sitemap_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries):
    def grow(n):
        for city in factories.CityFactory.create_batch(n):
            factories.BaseMembershipFactory(city=city)

    assert_same_query_count(client, "/sitemap.xml", grow, django_assert_max_num_queries)


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------

HOSTILE_MARKDOWN = """**bold** text and [a link](https://example.org/page).

<script>alert(1)</script>

<img src=x onerror=alert(1)>

[click](javascript:alert(1))
"""


def hostile_subject(segment):
    """An object of the entity with the hostile description and nothing to map."""
    if segment == "cities":
        return factories.CityFactory(description=HOSTILE_MARKDOWN, location=None)
    if segment == "bases":
        return factories.PlannedBaseFactory(description=HOSTILE_MARKDOWN)
    if segment == "sectors":
        return factories.SectorFactory(description=HOSTILE_MARKDOWN)
    if segment == "documents":
        return factories.PolicyDocumentFactory(description=HOSTILE_MARKDOWN)
    return factories.ProvinceFactory(description=HOSTILE_MARKDOWN)


def assert_no_active_content(html):
    lowered = html.lower()
    assert "onerror" not in lowered
    assert "javascript:" not in lowered
    assert "alert(1)" not in lowered
    for tag in re.findall(r"<script\b[^>]*>", lowered):
        # Only the site's own scripts and inert JSON data may appear.
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag


@pytest.mark.parametrize(("language", "prefix"), LANGUAGES, ids=LANGUAGE_IDS)
@pytest.mark.parametrize(
    "segment",
    [
        "cities",
        "bases",
        "sectors",
        "documents",
        "provinces",
    ],
)
def test_description_markdown_is_rendered_and_sanitised(client, segment, language, prefix):
    subject = hostile_subject(segment)

    response = client.get(prefix + url_of(subject))

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "<strong>bold</strong>" in html
    assert re.search(r'<a href="https://example\.org/page"[^>]*>a link</a>', html)
    assert "<script" not in main_html(response)
    assert_no_active_content(html)


def test_sanitised_markdown_of_a_base_keeps_the_prose_safe(client):
    # The rendered description is clean, and so is every attribute taken from it.
    base = factories.PlannedBaseFactory(description=HOSTILE_MARKDOWN)

    response = client.get(url_of(base))

    prose = re.search(r'<div class="prose">(.*?)</div>', response.content.decode(), re.S).group(1)
    assert "<strong>bold</strong>" in prose
    assert_no_active_content(prose)
    assert "<script" not in prose
    assert "<img" not in prose


# ---------------------------------------------------------------------------
# Sitemap and robots.txt
# ---------------------------------------------------------------------------

SITEMAP_NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "xhtml": "http://www.w3.org/1999/xhtml"}


def test_sitemap_lists_every_fixture_object_in_both_languages(client, reference_data):
    response = client.get("/sitemap.xml")

    assert response.status_code == HTTPStatus.OK
    root = ET.fromstring(response.content)
    entries = {}
    for url in root.findall("s:url", SITEMAP_NS):
        location = urlsplit(url.find("s:loc", SITEMAP_NS).text).path
        entries[location] = {
            link.get("hreflang"): urlsplit(link.get("href")).path
            for link in url.findall("xhtml:link", SITEMAP_NS)
        }
    pages = [detail_path(segment, slug) for segment, slug, _name, _zh in FIXTURE_OBJECTS]
    pages += ["/", "/map/", *(f"/{segment}/" for segment in ENTITIES)]
    for path in pages:
        assert path in entries, path
        assert f"/zh-hans{path}" in entries, path
        assert entries[path]["zh-hans"] == f"/zh-hans{path}"
        assert entries[path]["en"] == path
        assert entries[f"/zh-hans{path}"]["en"] == path
    assert len(entries) == 2 * len(pages)


def test_robots_txt_points_at_the_sitemap_and_keeps_crawlers_out_of_the_admin(client):
    response = client.get("/robots.txt")

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert "Disallow: /admin/" in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines


# ---------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------


def found(response):
    """{entity label: [slugs]} of the search results."""
    return {
        str(label): [obj.slug for obj in results] for label, _total, results in response.context["groups"]
    }


@pytest.mark.parametrize("query", ["Wuhan", "wuhan", "武汉"])
def test_search_finds_wuhan_in_either_language(client, reference_data, query):
    response = client.get("/search/", {"q": query})

    assert response.status_code == HTTPStatus.OK
    assert "wuhan" in found(response)["cities"]
    assert "/cities/wuhan/" in links(main_html(response))


def test_chinese_search_links_chinese_pages(client, reference_data):
    response = client.get("/zh-hans/search/", {"q": "武汉"})

    html = main_html(response)
    assert "/zh-hans/cities/wuhan/" in links(html)
    anchor = re.search(r'<a href="/zh-hans/cities/wuhan/">(.*?)</a>', html, re.S).group(1)
    assert anchor.index("武汉") < anchor.index("Wuhan")


def test_search_finds_a_base_by_a_word_of_its_description(client, reference_data):
    response = client.get("/search/", {"q": "shipyard"})

    assert found(response)["planned bases"] == ["middle-reaches-shipbuilding-supporting-system"]


def test_search_groups_results_by_entity(client, reference_data):
    response = client.get("/search/", {"q": "middle"})

    groups = response.context["groups"]
    assert len(groups) >= 2
    models = []
    for _label, total, results in groups:
        kinds = {type(obj) for obj in results}
        assert len(kinds) == 1
        models.append(kinds.pop())
        assert total >= len(results) > 0
    assert len(set(models)) == len(models)
    html = main_html(response)
    assert html.count("<section") == len(groups)
    # Each group's results sit in its own section.
    for section, (_label, _total, results) in zip(
        re.findall(r"<section\b.*?</section>", html, re.S), groups, strict=True
    ):
        assert {url_of(obj) for obj in results} <= set(links(section))


def test_search_counts_all_matches_but_lists_a_limited_number(client):
    factories.CityFactory.create_batch(25, description="needle")

    response = client.get("/search/", {"q": "needle"})

    [(_label, total, results)] = response.context["groups"]
    assert total == 25
    assert len(results) == 20


@pytest.mark.parametrize(
    "query",
    ["wu\x00han", "\x00", "x" * 1000, "武" * 201, "x" * 201],
    ids=["nul-inside", "nul-only", "1000-chars", "201-chinese-chars", "201-chars"],
)
def test_an_unsearchable_query_is_an_error_message_not_a_500(client, reference_data, query):
    response = client.get("/search/", {"q": query})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    if "\x00" in query or len(query) > MAX_PARAMETER_CHARS:
        return  # refused before the view, by clusters.middleware
    error = str(response.context["error"])
    assert error
    assert escape(error) in response.content.decode()
    assert response.context["groups"] == []


def test_a_query_of_200_characters_is_still_searched(client, reference_data):
    response = client.get("/search/", {"q": "x" * 200})

    assert response.status_code == HTTPStatus.OK
    assert not response.context["error"]


@pytest.mark.parametrize("query", ["%", "_", "'", '"', "\\", "a' OR '1'='1", "( )", "*"])
def test_search_with_special_characters_works(client, reference_data, query):
    response = client.get("/search/", {"q": query})

    assert response.status_code == HTTPStatus.OK
    if query in ("%", "_"):
        # Wildcards are taken literally, not as "match anything".
        assert sum(total for _label, total, _results in response.context["groups"]) < len(FIXTURE_OBJECTS)


def test_search_echoes_the_query_escaped(client, reference_data):
    response = client.get("/search/", {"q": "<script>alert(1)</script>"})

    assert response.status_code == HTTPStatus.OK
    assert "<script>alert(1)" not in response.content.decode()


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}], ids=["no-q", "empty", "blank"])
def test_empty_search_shows_the_form(client, reference_data, params):
    response = client.get("/search/", params)

    assert response.status_code == HTTPStatus.OK
    html = main_html(response)
    assert re.search(r'<form\b[^>]*role="search"', html)
    assert 'name="q"' in html
    assert response.context["groups"] == []
    assert not response.context["error"]


# ---------------------------------------------------------------------------
# GeoJSON
# ---------------------------------------------------------------------------


def geojson(client, url, params=None):
    response = client.get(url, params or {})
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("application/geo+json")
    data = json.loads(response.content)
    assert data["type"] == "FeatureCollection"
    for feature in data["features"]:
        assert feature["type"] == "Feature"
        assert set(feature) >= {"type", "id", "geometry", "properties"}
    return data


def by_slug(data):
    return {feature["properties"]["slug"]: feature for feature in data["features"]}


def test_cities_geojson_has_one_point_per_city_in_lon_lat_order(client, reference_data):
    data = geojson(client, "/map/cities.geojson")

    features = by_slug(data)
    assert set(features) == {city["slug"] for city in CITIES}
    assert len(data["features"]) == len(CITIES)
    for feature in data["features"]:
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        assert 97 < lon < 123
        assert 21 < lat < 35
    assert features["wuhan"]["geometry"]["coordinates"] == pytest.approx([114.31, 30.59])
    assert features["wuhan"]["properties"]["url"] == "/cities/wuhan/"
    assert features["wuhan"]["properties"]["province"] == "hubei"


def test_bases_geojson_joins_member_cities_and_leaves_out_bases_without_cities(client, reference_data):
    cities = geojson(client, "/map/cities.geojson")
    points = {slug: feature["geometry"]["coordinates"] for slug, feature in by_slug(cities).items()}

    data = geojson(client, "/map/bases.geojson")

    with_cities = {m["base"][0] for m in MEMBERSHIPS}
    features = by_slug(data)
    assert set(features) == with_cities
    assert "upstream-advanced-manufacturing-clusters" not in features
    assert "middle-reaches-steel-cluster" not in features
    for slug, feature in features.items():
        assert feature["geometry"]["type"] == "MultiPoint"
        members = sorted((m for m in MEMBERSHIPS if m["base"] == [slug]), key=lambda m: m["position"])
        assert feature["geometry"]["coordinates"] == [points[m["city"][0]] for m in members], slug


@pytest.mark.usefixtures("empty_database")
def test_a_base_with_an_area_is_a_multipolygon(client):
    ring = ((113.0, 29.0), (114.0, 29.0), (114.0, 30.0), (113.0, 29.0))
    base = factories.PlannedBaseFactory(slug="outlined", area=MultiPolygon(Polygon(ring), srid=4326))
    factories.BaseMembershipFactory(base=base)

    [feature] = geojson(client, "/map/bases.geojson")["features"]

    assert feature["geometry"]["type"] == "MultiPolygon"
    assert feature["geometry"]["coordinates"] == [[[list(point) for point in ring]]]


@pytest.mark.usefixtures("empty_database")
def test_a_city_without_a_location_is_left_off_the_map(client):
    factories.CityFactory(slug="nowhere", location=None)
    factories.CityFactory(slug="somewhere")

    assert set(by_slug(geojson(client, "/map/cities.geojson"))) == {"somewhere"}


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        ("/map/cities.geojson", {"reach": "upstream"}, set()),
        ("/map/cities.geojson", {"province": "jiangxi"}, {"nanchang", "jingdezhen", "jiujiang"}),
        (
            "/map/cities.geojson",
            {"sector": "shipbuilding"},
            {"wuhan", "yichang", "huanggang", "jingzhou", "yueyang", "yiyang", "jiujiang", "nanchang"},
        ),
        ("/map/cities.geojson", {"level": "county"}, {"ningxiang"}),
        ("/map/bases.geojson", {"reach": "upstream"}, set()),
        ("/map/bases.geojson", {"sector": "shipbuilding"}, {"middle-reaches-shipbuilding-supporting-system"}),
        (
            "/map/bases.geojson",
            {"city": "ningxiang"},
            {"central-china-home-appliance-base", "middle-reaches-home-appliance-rd-alliance"},
        ),
        (
            "/map/bases.geojson",
            {"province": "jiangxi", "kind": "alliance"},
            {"middle-reaches-automobile-alliance"},
        ),
        ("/map/bases.geojson", {"stage": "proposed"}, set()),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_geojson_filters_apply(client, reference_data, url, params, expected):
    assert set(by_slug(geojson(client, url, params))) == expected


def test_chinese_geojson_labels_are_chinese(client, reference_data):
    features = by_slug(geojson(client, "/zh-hans/map/cities.geojson"))

    assert features["wuhan"]["properties"]["label"] == "武汉"
    assert features["wuhan"]["properties"]["url"] == "/zh-hans/cities/wuhan/"


GEOJSON_BAD_PARAMS = [
    {"reach": "sideways"},
    {"province": "atlantis"},
    {"sector": "atlantis"},
    {"sector": "ship\x00building"},
    {"province": "x" * 5000},
    {"reach": ["middle", "sideways", "\x00"]},
    {"ordering": "bogus"},
]


@pytest.mark.parametrize("params", GEOJSON_BAD_PARAMS, ids=lambda params: repr(params)[:40])
@pytest.mark.parametrize("url", ["/map/cities.geojson", "/map/bases.geojson"])
def test_invalid_geojson_filters_are_a_400_with_json_errors(client, reference_data, url, params):
    response = client.get(url, params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Content-Type"].startswith("application/json")
    errors = json.loads(response.content)["errors"]
    assert set(errors) == set(params)


@pytest.mark.parametrize(
    "params", [{"kind": "bogus"}, {"stage": "bogus"}, {"document": "atlantis"}], ids=lambda p: next(iter(p))
)
def test_invalid_base_only_filters_are_a_400_on_the_bases_layer(client, reference_data, params):
    response = client.get("/map/bases.geojson", params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(json.loads(response.content)["errors"]) == set(params)


@pytest.mark.parametrize("params", [{"reach": "bogus"}, {"sector": "atlantis"}, {"kind": "nuclear"}])
def test_map_page_with_invalid_filters_shows_the_errors(client, reference_data, params):
    response = client.get("/map/", params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    fields = response.context["filter_fields"]
    errors = [error for field in fields for error in field.errors]
    assert errors
    for error in errors:
        assert escape(error) in response.content.decode()


def test_map_offers_only_the_filters_both_layers_understand(client, reference_data):
    response = client.get("/map/")

    names = [field.name for field in response.context["filter_fields"]]
    assert names == ["sector", "reach", "province", "kind"]
    html = response.content.decode()
    assert 'name="stage"' not in html
    assert 'name="city_all"' not in html
