"""Atom feeds of the document and base lists: /feeds/documents/, /feeds/bases/."""

import html
import xml.etree.ElementTree as ET
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.http import QueryDict
from django.urls import resolve, reverse
from django.utils import timezone, translation

from clusters.filters import PlannedBaseFilter
from clusters.models import PlannedBase, PolicyDocument, PublicationStatus, Sector
from tests import factories

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
FEEDS = ["/feeds/documents/", "/feeds/bases/"]


def get_feed(client, url):
    response = client.get(url)
    assert response.status_code == HTTPStatus.OK, response.content
    assert response["Content-Type"].startswith("application/atom+xml")
    return ET.fromstring(response.content)


def entries(feed):
    return feed.findall(f"{ATOM}entry")


def entry_links(feed):
    return [entry.find(f"{ATOM}link[@rel='alternate']").get("href") for entry in entries(feed)]


def entry_titles(feed):
    return [entry.findtext(f"{ATOM}title") for entry in entries(feed)]


def linked_slugs(feed):
    return {href.rstrip("/").rsplit("/", 1)[-1] for href in entry_links(feed)}


# ---------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path"),
    [("clusters:document-feed", "/feeds/documents/"), ("clusters:base-feed", "/feeds/bases/")],
)
def test_feed_urls_resolve_both_ways_in_both_languages(name, path):
    assert reverse(name) == path
    assert resolve(path).view_name == name
    with translation.override("zh-hans"):
        assert reverse(name) == f"/zh-hans{path}"
        assert resolve(f"/zh-hans{path}").view_name == name


# ---------------------------------------------------------------------------
# Valid Atom, published records only
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", FEEDS)
def test_feed_is_valid_atom(client, reference_data, url):
    feed = get_feed(client, url)

    assert feed.tag == f"{ATOM}feed"
    for required in ("title", "id", "updated"):
        assert feed.findtext(f"{ATOM}{required}"), required
    assert feed.find(f"{ATOM}author/{ATOM}name").text == "Yangtze Clusters"
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == f"http://testserver{url}"
    for entry in entries(feed):
        for required in ("title", "id", "updated"):
            assert entry.findtext(f"{ATOM}{required}"), required
        assert entry.find(f"{ATOM}link[@rel='alternate']").get("href").startswith("http://testserver/")
        assert entry.find(f"{ATOM}summary").get("type") == "html"


@pytest.mark.parametrize(("url", "model"), [(FEEDS[0], PolicyDocument), (FEEDS[1], PlannedBase)])
def test_feed_lists_every_published_record(client, reference_data, url, model):
    feed = get_feed(client, url)

    assert len(entries(feed)) == model.objects.public().count()
    assert linked_slugs(feed) == set(model.objects.public().values_list("slug", flat=True))


def test_item_link_is_the_public_page(client, reference_data):
    feed = get_feed(client, "/feeds/bases/?sector=rail-transit-equipment&province=hunan")

    assert entry_links(feed) == ["http://testserver/bases/middle-reaches-rail-transit-equipment-bases/"]
    assert client.get(entry_links(feed)[0]).status_code == HTTPStatus.OK


def test_drafts_never_appear_in_any_feed(client, reference_data):
    sector = Sector.objects.get(slug="rail-transit-equipment")
    draft_document = factories.PolicyDocumentFactory(name="Draft plan", status=PublicationStatus.DRAFT)
    draft_document.sectors.add(sector)
    draft_base = factories.PlannedBaseFactory(name="Draft base", status=PublicationStatus.DRAFT)
    draft_base.sectors.add(sector)

    for url in [
        *FEEDS,
        *(f"{feed}?sector=rail-transit-equipment" for feed in FEEDS),
        *(f"/zh-hans{feed}" for feed in FEEDS),
    ]:
        slugs = linked_slugs(get_feed(client, url))
        assert draft_document.slug not in slugs, url
        assert draft_base.slug not in slugs, url


def test_a_draft_document_cannot_be_followed_as_a_source(client, reference_data):
    draft = factories.PolicyDocumentFactory(status=PublicationStatus.DRAFT)

    assert client.get(f"/feeds/bases/?document={draft.slug}").status_code == HTTPStatus.BAD_REQUEST


# ---------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------


def test_filters_narrow_the_feed_as_they_narrow_the_list(client, reference_data):
    query = QueryDict("sector=rail-transit-equipment&province=hunan")
    expected = PlannedBaseFilter(query, queryset=PlannedBase.objects.public()).qs

    feed = get_feed(client, "/feeds/bases/?sector=rail-transit-equipment&province=hunan")

    assert 0 < len(entries(feed)) < PlannedBase.objects.public().count()
    assert linked_slugs(feed) == set(expected.values_list("slug", flat=True))
    list_page = client.get("/bases/?sector=rail-transit-equipment&province=hunan")
    assert {base.slug for base in list_page.context["object_list"]} == linked_slugs(feed)


def test_sector_and_province_narrow_more_than_sector_alone(client, reference_data):
    hunan = factories.ProvinceFactory(slug="hunan-test")
    elsewhere_city = factories.CityFactory()
    hunan_city = factories.CityFactory(province=hunan)
    sector = factories.SectorFactory()
    in_hunan = factories.PlannedBaseFactory()
    elsewhere = factories.PlannedBaseFactory()
    for base, city in ((in_hunan, hunan_city), (elsewhere, elsewhere_city)):
        base.sectors.add(sector)
        factories.BaseMembershipFactory(base=base, city=city)

    by_sector = get_feed(client, f"/feeds/bases/?sector={sector.slug}")
    by_both = get_feed(client, f"/feeds/bases/?sector={sector.slug}&province={hunan.slug}")

    assert linked_slugs(by_sector) == {in_hunan.slug, elsewhere.slug}
    assert linked_slugs(by_both) == {in_hunan.slug}


def test_document_feed_follows_its_filters(client, reference_data):
    feed = get_feed(client, "/feeds/documents/?kind=research")

    assert linked_slugs(feed) == {"li-2020-advanced-manufacturing-clusters"}


def test_feed_title_names_the_active_filters(client, reference_data):
    feed = get_feed(client, "/feeds/bases/?sector=rail-transit-equipment&province=hunan")

    title = feed.findtext(f"{ATOM}title")
    assert "Planned bases" in title
    assert "Rail transit equipment" in title
    assert "Hunan" in title
    assert "Yangtze Clusters" in title
    alternate = feed.find(f"{ATOM}link[@rel='alternate']").get("href")
    assert alternate == "http://testserver/bases/?sector=rail-transit-equipment&province=hunan"


def test_unfiltered_feed_title_is_the_list_title(client, reference_data):
    feed = get_feed(client, "/feeds/documents/")

    assert feed.findtext(f"{ATOM}title") == "Policy documents · Yangtze Clusters"


def test_feed_ignores_the_lists_page_and_sort_order(client, reference_data):
    plain = get_feed(client, "/feeds/bases/?kind=base")
    arranged = get_feed(client, "/feeds/bases/?kind=base&page=7&ordering=-name")

    assert entry_links(arranged) == entry_links(plain)
    assert arranged.find(f"{ATOM}link[@rel='self']").get("href") == "http://testserver/feeds/bases/?kind=base"


@pytest.mark.parametrize(
    "query",
    [
        "sector=no-such-sector",
        "sector=rail-transit-equipment&province=atlantis",
        "kind=spaceport",
        "stage=finished",
        "reach=sideways",
        "city_all=wuhan&city_all=nowhere",
    ],
)
def test_invalid_base_filter_is_a_plain_400(client, reference_data, query):
    response = client.get(f"/feeds/bases/?{query}")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Content-Type"].startswith("text/plain")
    assert "not valid" in response.content.decode()


@pytest.mark.parametrize("query", ["year_from=abc", "year_to=2019.5", "year_from=1800", "language=xx"])
def test_invalid_document_filter_is_a_plain_400(client, reference_data, query):
    response = client.get(f"/feeds/documents/?{query}")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Content-Type"].startswith("text/plain")
    assert query.split("=")[0] in response.content.decode()


BAD_VALUES = [
    "",
    "\x00",
    "a\x00b",
    "x" * 10_000,
    "-1",
    "1e309",
    "NaN",
    "2019.5",
    "🦆",
    "'; DROP TABLE x;--",
    "%",
]
FEED_PARAMETERS = {
    "/feeds/documents/": ["kind", "language", "year_from", "year_to", "sector", "city", "reach"],
    "/feeds/bases/": [
        "kind",
        "stage",
        "sector",
        "sector_all",
        "city",
        "city_all",
        "province",
        "reach",
        "document",
    ],
}


@pytest.mark.parametrize(
    ("url", "parameter", "value"),
    [
        (url, parameter, value)
        for url, parameters in FEED_PARAMETERS.items()
        for parameter in parameters
        for value in BAD_VALUES
    ],
)
def test_a_bad_value_is_never_a_server_error(client, reference_data, url, parameter, value):
    response = client.get(url, {parameter: value})

    assert response.status_code in {HTTPStatus.OK, HTTPStatus.BAD_REQUEST}
    if response.status_code == HTTPStatus.BAD_REQUEST:
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert response.content.strip()


@pytest.mark.parametrize("url", FEEDS)
def test_a_nul_anywhere_is_refused_before_querying(client, reference_data, django_assert_num_queries, url):
    with django_assert_num_queries(0):
        response = client.get(url, {"sec\x00tor": "x", "kind": ["plan", "\x00"]})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "NUL" in response.content.decode()


# ---------------------------------------------------------------------------
# Order, length, content
# ---------------------------------------------------------------------------


def test_newest_first_by_publication(client, reference_data):
    now = timezone.now()
    older, newest, middle = (factories.PolicyDocumentFactory(kind="policy") for _ in range(3))
    for document, age in ((older, 3), (newest, 1), (middle, 2)):
        PolicyDocument.objects.filter(pk=document.pk).update(published_at=now - timedelta(days=age))

    feed = get_feed(client, "/feeds/documents/?kind=policy")

    assert [link.split("/")[-2] for link in entry_links(feed)] == [newest.slug, middle.slug, older.slug]
    published = [entry.findtext(f"{ATOM}published") for entry in entries(feed)]
    assert all(published)


def test_records_without_published_at_fall_back_to_their_update(client, reference_data):
    now = timezone.now()
    recently_updated, published_earlier = factories.PlannedBaseFactory(), factories.PlannedBaseFactory()
    PlannedBase.objects.filter(pk=recently_updated.pk).update(published_at=None, updated_at=now)
    PlannedBase.objects.filter(pk=published_earlier.pk).update(published_at=now - timedelta(days=1))

    feed = get_feed(client, "/feeds/bases/?stage=planned")

    links = entry_links(feed)
    assert links.index(f"http://testserver/bases/{recently_updated.slug}/") < links.index(
        f"http://testserver/bases/{published_earlier.slug}/"
    )


def test_feed_holds_at_most_50_items(client, reference_data):
    factories.PolicyDocumentFactory.create_batch(55, kind="news")

    feed = get_feed(client, "/feeds/documents/?kind=news")

    assert PolicyDocument.objects.public().filter(kind="news").count() > 50
    assert len(entries(feed)) == 50


def test_entry_has_updated_date_of_the_record(client, reference_data):
    base = factories.PlannedBaseFactory(stage="operating")
    feed = get_feed(client, "/feeds/bases/?stage=operating")

    [entry] = [e for e in entries(feed) if base.slug in e.find(f"{ATOM}link").get("href")]
    assert entry.findtext(f"{ATOM}updated") == base.updated_at.isoformat()


def test_summary_is_the_plain_text_summary(client, reference_data):
    summary = 'R&D of "chips" <b>for</b> 5% of output'
    document = factories.PolicyDocumentFactory(kind="research", summary=summary, description="*Not* this")

    feed = get_feed(client, "/feeds/documents/?kind=research")

    [entry] = [e for e in entries(feed) if document.slug in e.find(f"{ATOM}link").get("href")]
    # type="html": escaped once, so a reader shows the text as written, no bold.
    assert html.unescape(entry.findtext(f"{ATOM}summary")) == summary
    assert "<b>" not in entry.findtext(f"{ATOM}summary")


def test_markdown_description_becomes_plain_text(client, reference_data):
    base = factories.PlannedBaseFactory(
        stage="operating",
        description="A **big** base. <script>alert(1)</script>\n\nSee [here](https://x.test).",
    )

    feed = get_feed(client, "/feeds/bases/?stage=operating")

    [entry] = [e for e in entries(feed) if base.slug in e.find(f"{ATOM}link").get("href")]
    text = entry.findtext(f"{ATOM}summary")
    assert "A big base." in text
    assert "See here." in text
    assert "**" not in text
    assert "script" not in text


def test_record_without_text_has_no_summary(client, reference_data):
    base = factories.PlannedBaseFactory(stage="operating", description="")

    feed = get_feed(client, "/feeds/bases/?stage=operating")

    [entry] = [e for e in entries(feed) if base.slug in e.find(f"{ATOM}link").get("href")]
    assert entry.find(f"{ATOM}summary") is None


def test_chinese_feed_has_chinese_titles_and_links(client, reference_data):
    feed = get_feed(client, "/zh-hans/feeds/documents/?kind=plan")

    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "zh-hans"
    assert entry_titles(feed) == ["长江中游城市群发展规划"]
    assert entry_links(feed) == ["http://testserver/zh-hans/documents/middle-yangtze-city-cluster-plan-2015/"]
    assert "政策文件" in feed.findtext(f"{ATOM}title")


def test_item_without_chinese_name_keeps_its_english_title_in_chinese(client, reference_data):
    feed = get_feed(client, "/zh-hans/feeds/documents/?kind=news")

    assert entry_titles(feed) == ["Yangtze River middle reaches: Building competitive industrial clusters"]


# ---------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------


def seed_records(count):
    """`count` published bases and documents, each with a sector and a city."""
    sector, province = factories.SectorFactory(slug="seeded-sector"), factories.ProvinceFactory(slug="seeded")
    for _ in range(count):
        city = factories.CityFactory(province=province)
        base = factories.PlannedBaseFactory(description="Seeded.")
        base.sectors.add(sector)
        factories.BaseMembershipFactory(base=base, city=city)
        document = factories.PolicyDocumentFactory(summary="Seeded.", published_on="2020-01-01")
        document.sectors.add(sector)
        document.cities.add(city)


REVISION = 1


@pytest.mark.parametrize(
    ("url", "queries"),
    [
        ("/feeds/bases/", REVISION + 1),
        ("/feeds/bases/?sector=seeded-sector&province=seeded&reach=middle", REVISION + 3),
        ("/zh-hans/feeds/bases/?sector=seeded-sector", REVISION + 2),
        ("/feeds/documents/?sector=seeded-sector&reach=middle&year_from=2000", REVISION + 2),
    ],
)
def test_feed_query_count_does_not_grow_with_items(
    client, reference_data, django_assert_max_num_queries, url, queries
):
    seed_records(60)

    # The site revision (clusters/caching.py), one for the items, and one per
    # slug filter to check its values.
    with django_assert_max_num_queries(queries):
        feed = get_feed(client, url)

    assert len(entries(feed)) == 50


# ---------------------------------------------------------------------------
# Links from the list pages
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "feed"), [("/documents/", "/feeds/documents/"), ("/bases/", "/feeds/bases/")]
)
def test_list_page_links_to_its_feed(client, reference_data, page, feed):
    content = client.get(page).content.decode()

    assert '<link rel="alternate" type="application/atom+xml" title="' in content
    assert f'href="{feed}"' in content
    assert "Follow this list (Atom)" in content


def test_list_page_feed_link_carries_the_filters_but_not_the_page(client, reference_data):
    content = client.get("/bases/?sector=rail-transit-equipment&province=hunan&page=1&ordering=name").content
    expected = 'href="/feeds/bases/?sector=rail-transit-equipment&amp;province=hunan"'

    assert content.decode().count(expected) == 2  # <link rel="alternate"> and the visible link


def test_chinese_list_page_links_to_the_chinese_feed(client, reference_data):
    content = client.get("/zh-hans/documents/?kind=plan").content.decode()

    assert 'href="/zh-hans/feeds/documents/?kind=plan"' in content


def test_list_page_with_invalid_filters_offers_no_feed(client, reference_data):
    content = client.get("/bases/?sector=no-such-sector").content.decode()

    assert "application/atom+xml" not in content
