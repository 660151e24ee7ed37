"""The table lists (cities, sectors, provinces): each row's cells, escaping,
both languages; and the filters behind them."""

import re
from http import HTTPStatus

import pytest

from clusters.filters import CityFilter, SectorFilter
from clusters.models import City, PublicationStatus
from tests import factories

pytestmark = pytest.mark.django_db

MARKUP = "<b onclick=\"x()\">Bold & 'quoted'</b>"
ESCAPED = "&lt;b onclick=&quot;x()&quot;&gt;Bold &amp; &#x27;quoted&#x27;&lt;/b&gt;"


def table_rows(response):
    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    tbody = body[body.index("<tbody>") : body.index("</tbody>")]
    return re.findall(r"<tr>(.*?)</tr>", tbody, re.S)


def row_of(response, href):
    """The row whose first cell links to href."""
    rows = [row for row in table_rows(response) if row.startswith(f'<th scope="row"><a href="{href}">')]
    assert len(rows) == 1, rows
    return rows[0]


def cells(row):
    return re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)


def test_city_row_links_the_city_and_its_province_with_labels_and_published_bases(client, empty_database):
    province = factories.ProvinceFactory(slug="hubei", name="Hubei", name_zh="湖北", reach="middle")
    city = factories.CityFactory(
        slug="wuhan", name="Wuhan", name_zh="武汉", province=province, level="prefecture"
    )
    for status in (PublicationStatus.PUBLISHED, PublicationStatus.PUBLISHED, PublicationStatus.DRAFT):
        factories.BaseMembershipFactory(city=city, base=factories.PlannedBaseFactory(status=status))

    english = cells(row_of(client.get("/cities/"), "/cities/wuhan/"))
    chinese = cells(row_of(client.get("/zh-hans/cities/"), "/zh-hans/cities/wuhan/"))

    assert english == [
        '<a href="/cities/wuhan/">Wuhan <span class="alt-name" lang="zh-Hans">武汉</span></a>',
        '<a href="/provinces/hubei/">Hubei</a>',
        "Middle reaches",
        "Prefecture-level city",
        "2",
    ]
    assert chinese[0] == (
        '<a href="/zh-hans/cities/wuhan/">武汉 <span class="alt-name" lang="en">Wuhan</span></a>'
    )
    assert chinese[1] == '<a href="/zh-hans/provinces/hubei/">湖北</a>'
    assert chinese[2] == "中游"
    assert chinese[4] == "2"


def test_a_name_without_a_chinese_form_stands_alone_in_both_languages(client, empty_database):
    factories.CityFactory(slug="plain", name="Plain", name_zh="")

    for prefix in ("", "/zh-hans"):
        name_cell = cells(row_of(client.get(f"{prefix}/cities/"), f"{prefix}/cities/plain/"))[0]
        assert name_cell == f'<a href="{prefix}/cities/plain/">Plain</a>'


@pytest.mark.parametrize("prefix", ["", "/zh-hans"])
def test_markup_in_names_is_shown_as_text_in_every_table_list(client, empty_database, prefix):
    province = factories.ProvinceFactory(slug="p", name=MARKUP, name_zh=MARKUP + "省")
    factories.CityFactory(slug="c", name=MARKUP, name_zh=MARKUP + "市", province=province)
    parent = factories.SectorFactory(slug="parent", name=MARKUP, name_zh=MARKUP + "业")
    factories.SectorFactory(slug="child", parent=parent)

    for segment in ("cities", "provinces", "sectors"):
        body = client.get(f"{prefix}/{segment}/").content.decode()
        tbody = body[body.index("<tbody>") : body.index("</tbody>")]
        assert "<b " not in tbody and 'onclick="' not in tbody, segment
        assert ESCAPED in tbody, segment


def test_sector_row_links_its_parent_and_a_top_sector_has_an_empty_cell(client, empty_database):
    parent = factories.SectorFactory(slug="transport", name="Transport", name_zh="交通", intensity="")
    factories.SectorFactory(
        slug="rail", name="Rail", name_zh="轨道", parent=parent, intensity="capital_technology"
    )

    child = cells(row_of(client.get("/sectors/"), "/sectors/rail/"))
    top = cells(row_of(client.get("/sectors/"), "/sectors/transport/"))

    assert child[1] == '<a href="/sectors/transport/">Transport</a>'
    assert child[2] == "Capital- and technology-intensive"
    assert top[1] == "" and top[2] == ""


def test_province_row_shows_reach_kind_and_its_city_count(client, empty_database):
    province = factories.ProvinceFactory(
        slug="chongqing", name="Chongqing", reach="upstream", kind="municipality"
    )
    factories.CityFactory.create_batch(3, province=province)

    row = cells(row_of(client.get("/provinces/"), "/provinces/chongqing/"))

    assert row[1:] == ["Upstream", "Municipality directly under the central government", "3"]


def test_filter_form_class_is_built_once_and_still_speaks_the_readers_language(client, reference_data):
    assert CityFilter().get_form_class() is CityFilter().get_form_class()
    assert CityFilter().get_form_class() is not SectorFilter().get_form_class()

    english = client.get("/cities/").content.decode()
    chinese = client.get("/zh-hans/cities/").content.decode()

    assert ">Province<" in english and ">省份<" not in english
    assert ">省份<" in chinese


def test_a_foreign_key_filter_is_a_plain_condition_and_a_many_to_many_one_keeps_rows_whole(reference_data):
    by_province = CityFilter({"province": ["hubei"]}, queryset=City.objects.all()).qs
    by_sector = CityFilter({"sector": ["shipbuilding"]}, queryset=City.objects.all()).qs

    assert "IN (SELECT" not in str(by_province.query)
    assert set(by_province.values_list("slug", flat=True)) == set(
        City.objects.filter(province__slug="hubei").values_list("slug", flat=True)
    )
    # Through bases: a city with several bases in the sector is listed once.
    slugs = list(by_sector.values_list("slug", flat=True))
    assert slugs and len(slugs) == len(set(slugs))
