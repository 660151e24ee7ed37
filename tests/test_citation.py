"""'Cite this record' on every public detail page: plain text and BibTeX."""

import html
import re
from datetime import date, datetime
from http import HTTPStatus
from zoneinfo import ZoneInfo

import pytest
from django.test import RequestFactory
from django.utils import timezone, translation

from clusters import citation
from clusters.models import City, PlannedBase, PolicyDocument, Province, PublicationStatus, Sector
from tests import factories

pytestmark = pytest.mark.django_db

ACCESSED_ON = date(2025, 3, 14)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def cite(record, path="/"):
    request = RequestFactory().get(path)
    return citation.cite(record, request=request, accessed_on=ACCESSED_ON)


def page_citation(client, url):
    """(plain text, BibTeX) shown on the page at `url`."""
    response = client.get(url)
    assert response.status_code == HTTPStatus.OK
    content = response.content.decode()
    plain = re.search(r'<pre class="citation-text"[^>]*>(.*?)</pre>', content, re.S)
    bibtex = re.search(r'<pre class="citation-bibtex"[^>]*>(.*?)</pre>', content, re.S)
    assert plain and bibtex, "no citation block"
    return html.unescape(plain.group(1)), html.unescape(bibtex.group(1))


def bibtex_fields(entry):
    """{field: raw value} of a one-field-per-line entry, as bibtex_entry writes it."""
    return dict(re.findall(r"^  (\w+) = (.*),$", entry, re.M))


def braces_balance(text):
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


# ---------------------------------------------------------------------------
# On every detail page
# ---------------------------------------------------------------------------

DETAIL_PAGES = [
    (PolicyDocument, "middle-yangtze-city-cluster-plan-2015", "/documents/", "document"),
    (PlannedBase, "middle-reaches-rail-transit-equipment-bases", "/bases/", "base"),
    (Sector, "rail-transit-equipment", "/sectors/", "sector"),
    (City, "wuhan", "/cities/", "city"),
    (Province, "hunan", "/provinces/", "province"),
]


@pytest.mark.parametrize(("model", "slug", "prefix", "entity"), DETAIL_PAGES)
def test_every_detail_page_type_offers_a_citation(client, reference_data, model, slug, prefix, entity):
    record = model.objects.get(slug=slug)
    url = f"http://testserver{prefix}{slug}/"
    today = timezone.localdate().isoformat()
    updated = timezone.localdate(record.updated_at).isoformat()

    plain, bibtex = page_citation(client, f"{prefix}{slug}/")

    assert bibtex.startswith(f"@misc{{yangtze-{entity}-{slug},")
    for text in (plain, bibtex):
        assert "Yangtze Clusters" in text
        assert record.name in text
        assert url in text
        assert updated in text
        assert today in text
        if record.name_zh:
            assert record.name_zh in text


@pytest.mark.parametrize(("model", "slug", "prefix", "entity"), DETAIL_PAGES)
def test_chinese_page_cites_the_same_canonical_url_and_entry(
    client, reference_data, model, slug, prefix, entity
):
    english_plain, english_bibtex = page_citation(client, f"{prefix}{slug}/")
    chinese_plain, chinese_bibtex = page_citation(client, f"/zh-hans{prefix}{slug}/")

    assert chinese_bibtex == english_bibtex
    assert f"http://testserver{prefix}{slug}/" in chinese_plain
    assert "/zh-hans/" not in chinese_plain + chinese_bibtex
    assert chinese_plain != english_plain  # its connecting words are in Chinese


def test_citation_shows_the_stable_address_as_a_link(client, reference_data):
    content = client.get("/zh-hans/cities/wuhan/").content.decode()

    assert '<a href="http://testserver/cities/wuhan/">' in content


def test_draft_preview_has_no_citation(admin_client, reference_data):
    draft = factories.PolicyDocumentFactory(status=PublicationStatus.DRAFT)

    response = admin_client.get(draft.get_absolute_url())

    assert response.status_code == HTTPStatus.OK
    assert "cite-record" not in response.content.decode()


@pytest.mark.parametrize(("model", "slug", "prefix", "entity"), DETAIL_PAGES)
def test_citing_adds_no_queries_to_a_page(
    reference_data, django_assert_num_queries, model, slug, prefix, entity
):
    record = model.objects.get(slug=slug)

    # Only fields the detail page has already fetched.
    with django_assert_num_queries(0):
        cite(record)


# ---------------------------------------------------------------------------
# BibTeX: keys, escaping, fields
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "key"),
    [
        (lambda: factories.PolicyDocumentFactory(slug="plan-x"), "yangtze-document-plan-x"),
        (lambda: factories.PlannedBaseFactory(slug="base-x"), "yangtze-base-base-x"),
        (lambda: factories.SectorFactory(slug="sector-x"), "yangtze-sector-sector-x"),
        (lambda: factories.CityFactory(slug="city-x"), "yangtze-city-city-x"),
        (lambda: factories.ProvinceFactory(slug="province-x"), "yangtze-province-province-x"),
    ],
)
def test_bibtex_key_is_entity_and_slug(factory, key):
    record = factory()

    assert citation.bibtex_key(record) == key
    assert cite(record).bibtex.splitlines()[0].endswith(f"{{{key},")


def test_bibtex_key_survives_renaming_and_language():
    city = factories.CityFactory(slug="wuhan-x", name="Wuhan")
    before = citation.bibtex_key(city)
    city.name, city.name_zh = "Wuhan City", "武汉市"
    city.save()

    with translation.override("zh-hans"):
        assert citation.bibtex_key(city) == before == "yangtze-city-wuhan-x"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("R&D", r"R\&D"),
        ("100%", r"100\%"),
        ("a_b", r"a\_b"),
        ("{x}", r"\textbraceleft{}x\textbraceright{}"),
        ("$5 #1", r"\$5 \#1"),
        ("a\\b", r"a\textbackslash{}b"),
        ("~^", r"\textasciitilde{}\textasciicircum{}"),
        ("two\n\nlines", "two lines"),
        ("武汉 (Wuhan)", "武汉 (Wuhan)"),
    ],
)
def test_escape_bibtex(text, escaped):
    assert citation.escape_bibtex(text) == escaped


def test_special_characters_are_escaped_in_the_entry_and_braces_stay_balanced():
    document = factories.PolicyDocumentFactory(
        name="R&D {plan} for 100% of a_b }{",
        name_zh="",
        authors="Zhang_San & Co",
        publisher="Press #1 {x",
        issuer="Bureau $ ~",
    )

    bibtex = cite(document).bibtex
    fields = bibtex_fields(bibtex)

    assert fields["title"] == (
        r"{{R\&D \textbraceleft{}plan\textbraceright{} for 100\% of a\_b "
        r"\textbraceright{}\textbraceleft{}}}"
    )
    assert fields["author"] == r"{{Zhang\_San \& Co}}"
    assert fields["howpublished"] == r"{Press \#1 \textbraceleft{}x}"
    assert fields["organization"] == r"{Bureau \$ \textasciitilde{}}"
    assert braces_balance(bibtex)


def test_special_characters_are_escaped_on_the_page(client, reference_data):
    document = factories.PolicyDocumentFactory(name="R&D_plan {100%}", name_zh="")

    _plain, bibtex = page_citation(client, document.get_absolute_url())

    assert r"title = {{R\&D\_plan \textbraceleft{}100\%\textbraceright{}}}," in bibtex


def test_document_without_authors_or_known_facts_has_no_invented_fields():
    document = factories.PolicyDocumentFactory(
        kind="plan", authors="", publisher="", issuer="", published_on=None, approved_on=None, source_url=""
    )

    fields = bibtex_fields(cite(document).bibtex)

    assert set(fields) == {"title", "note"}
    assert "author" not in cite(document).plain_text.lower()


def test_document_authors_publisher_and_date_are_all_given():
    document = factories.PolicyDocumentFactory(
        kind="research",
        name="Clusters",
        name_zh="集群",
        authors="LI Jin-hua (李金华); WANG Wu",
        publisher="Journal of Shenzhen University",
        published_on=date(2020, 3, 1),
        published_on_precision="month",
        source_url="https://example.org/paper?id=1&lang=zh#abs",
    )

    entry = cite(document).bibtex
    fields = bibtex_fields(entry)

    assert entry.startswith("@article{yangtze-document-")
    assert fields["author"] == "{{LI Jin-hua (李金华)} and {WANG Wu}}"
    assert fields["title"] == "{{Clusters (集群)}}"
    assert fields["journal"] == "{Journal of Shenzhen University}"
    assert fields["year"] == "{2020}"
    assert fields["month"] == "mar"
    assert fields["url"] == "{https://example.org/paper?id=1&lang=zh#abs}"
    assert "organization" not in fields
    assert fields["note"].startswith(r"{Record in Yangtze Clusters: \url{http://testserver/documents/")


def test_year_only_date_gives_no_month():
    document = factories.PolicyDocumentFactory(published_on=date(2020, 1, 1), published_on_precision="year")

    fields = bibtex_fields(cite(document).bibtex)

    assert fields["year"] == "{2020}"
    assert "month" not in fields


def test_approval_date_stands_in_when_publication_is_unknown():
    document = factories.PolicyDocumentFactory(
        kind="plan",
        issuer="State Council",
        published_on=None,
        approved_on=date(2015, 4, 1),
        approved_on_precision="month",
    )

    entry = cite(document).bibtex
    fields = bibtex_fields(entry)

    assert entry.startswith("@misc{")
    assert fields["organization"] == "{State Council}"
    assert (fields["year"], fields["month"]) == ("{2015}", "apr")
    assert "2015" in cite(document).plain_text


def test_news_with_publisher_is_an_article_in_that_periodical():
    document = factories.PolicyDocumentFactory(kind="news", publisher="China Daily")

    entry = cite(document).bibtex

    assert entry.startswith("@article{")
    assert bibtex_fields(entry)["journal"] == "{China Daily}"


def test_research_without_publisher_is_not_called_an_article():
    document = factories.PolicyDocumentFactory(kind="research", publisher="")

    assert cite(document).bibtex.startswith("@misc{")


def test_other_records_are_misc_pointing_at_their_page():
    sector = factories.SectorFactory(slug="rail-x", name="Rail_transit", name_zh="轨道交通")
    sector.updated_at = datetime(2024, 12, 31, 20, 0, tzinfo=ZoneInfo("UTC"))  # 1 Jan 2025 in Shanghai

    entry = cite(sector, path="/zh-hans/sectors/rail-x/").bibtex
    fields = bibtex_fields(entry)

    assert entry.startswith("@misc{yangtze-sector-rail-x,")
    assert fields == {
        "title": r"{{Rail\_transit (轨道交通)}}",
        "howpublished": "{Yangtze Clusters}",
        "year": "{2025}",
        "note": "{Sector record, last updated 2025-01-01}",
        "url": "{http://testserver/sectors/rail-x/}",
        "urldate": "{2025-03-14}",
    }
    assert braces_balance(entry)


def test_url_field_keeps_a_url_usable_and_the_entry_balanced():
    assert citation.bibtex_url("https://example.org/a b/{x}\\y?q=%41") == (
        "https://example.org/a%20b/%7Bx%7D%5Cy?q=%41"
    )
    assert citation.bibtex_url("https://例子.cn/路径") == "https://例子.cn/路径"


# ---------------------------------------------------------------------------
# Plain text
# ---------------------------------------------------------------------------


def test_plain_citation_of_a_city():
    city = factories.CityFactory(slug="wuhan-x", name="Wuhan", name_zh="武汉")
    city.updated_at = datetime(2025, 1, 2, 9, 0, tzinfo=SHANGHAI)

    assert cite(city).plain_text == (
        "Wuhan (武汉). City. Yangtze Clusters, last updated 2025-01-02. "
        "http://testserver/cities/wuhan-x/ (accessed 2025-03-14)."
    )


def test_plain_citation_of_a_document_names_what_is_known():
    document = factories.PolicyDocumentFactory(
        slug="li-x",
        name="Roadmap",
        name_zh="路径",
        authors="LI Jin-hua",
        publisher="Journal of Shenzhen University",
        published_on=date(2020, 1, 1),
    )
    document.updated_at = datetime(2025, 1, 2, 9, 0, tzinfo=SHANGHAI)

    assert cite(document).plain_text == (
        "LI Jin-hua. Roadmap (路径). Journal of Shenzhen University. 2020. "
        "Yangtze Clusters, last updated 2025-01-02. "
        "http://testserver/documents/li-x/ (accessed 2025-03-14)."
    )


def test_plain_citation_without_chinese_name_or_authors():
    document = factories.PolicyDocumentFactory(name="Plan.", name_zh="", authors="", publisher="", issuer="")

    plain = cite(document).plain_text

    assert plain.startswith("Plan. Yangtze Clusters, last updated ")
    assert "()" not in plain


def test_plain_citation_follows_the_page_language():
    city = factories.CityFactory(name="Wuhan", name_zh="武汉")

    with translation.override("zh-hans"):
        plain = cite(city).plain_text

    assert plain.startswith("Wuhan (武汉). 城市. Yangtze Clusters")
    assert "last updated" not in plain
    assert "accessed" not in plain
