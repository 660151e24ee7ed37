"""Filters on the public lists, checked through the pages against the shipped fixtures."""

from http import HTTPStatus
from urllib.parse import parse_qsl

import pytest
from django.utils.html import escape

pytestmark = pytest.mark.django_db


SHIPBUILDING_CITIES = {
    "wuhan",
    "yichang",
    "huanggang",
    "jingzhou",
    "yueyang",
    "yiyang",
    "jiujiang",
    "nanchang",
}
HUBEI = {"wuhan", "xiangyang", "yichang", "huanggang", "jingzhou", "jingmen"}
HUNAN = {"changsha", "zhuzhou", "xiangtan", "yueyang", "yiyang", "ningxiang"}
JIANGXI = {"nanchang", "jingdezhen", "jiujiang"}
ALL_CITIES = HUBEI | HUNAN | JIANGXI

PROPOSED_BASES = {
    "downstream-advanced-manufacturing-clusters",
    "middle-reach-advanced-manufacturing-clusters",
    "upstream-advanced-manufacturing-clusters",
}
PLANNED_BASES = {
    "middle-reaches-equipment-manufacturing-base",
    "middle-reaches-automobile-alliance",
    "middle-reaches-vehicle-and-parts-chain",
    "middle-reaches-shipbuilding-supporting-system",
    "middle-reaches-rail-transit-equipment-bases",
    "middle-reaches-steel-cluster",
    "middle-reaches-non-ferrous-metals-rare-earths",
    "middle-reaches-green-petrochemical-cluster",
    "central-china-home-appliance-base",
    "middle-reaches-home-appliance-rd-alliance",
    "middle-reaches-comprehensive-high-tech-bases",
    "nanchang-aviation-and-biology-bases",
    "middle-reaches-strategic-emerging-industries",
}
WUHAN_BASES = {
    "middle-reaches-equipment-manufacturing-base",
    "middle-reaches-automobile-alliance",
    "middle-reaches-shipbuilding-supporting-system",
    "middle-reaches-rail-transit-equipment-bases",
    "middle-reaches-green-petrochemical-cluster",
    "central-china-home-appliance-base",
    "middle-reaches-comprehensive-high-tech-bases",
}
HOME_APPLIANCE_BASES = {"central-china-home-appliance-base", "middle-reaches-home-appliance-rd-alliance"}

PLAN = "middle-yangtze-city-cluster-plan-2015"
CHINA_DAILY = "china-daily-2019-middle-reaches-clusters"
PAPER = "li-2020-advanced-manufacturing-clusters"

TOP_LEVEL_SECTORS = {
    "equipment-manufacturing",
    "metallurgy",
    "petrochemicals",
    "home-appliances",
    "strategic-emerging-industries",
}


def get(client, url, params=None):
    response = client.get(url, params or {})
    assert response.status_code == HTTPStatus.OK
    return response


def slugs(response):
    """Every result, across all pages, in order."""
    return [obj.slug for obj in response.context["paginator"].object_list]


def page_slugs(response):
    return [obj.slug for obj in response.context["object_list"]]


def assert_lists(response, expected):
    found = slugs(response)
    assert set(found) == set(expected)
    assert len(found) == len(set(found)), "a result is listed twice"
    assert response.context["result_count"] == len(expected)
    assert not response.context["filterset"].form.errors


FILTER_CASES = [
    # Cities
    ("/cities/", {"base": "middle-reaches-shipbuilding-supporting-system"}, SHIPBUILDING_CITIES),
    ("/cities/", {"sector": "shipbuilding"}, SHIPBUILDING_CITIES),
    ("/cities/", {"province": "hubei"}, HUBEI),
    ("/cities/", {"province": ["hubei", "jiangxi"]}, HUBEI | JIANGXI),
    ("/cities/", {"province": "sichuan"}, set()),
    ("/cities/", {"reach": "middle"}, ALL_CITIES),
    ("/cities/", {"reach": "upstream"}, set()),
    ("/cities/", {"reach": ["upstream", "downstream"]}, set()),
    ("/cities/", {"level": "county"}, {"ningxiang"}),
    ("/cities/", {"level": "sub_provincial"}, {"wuhan"}),
    ("/cities/", {"level": ["county", "sub_provincial"]}, {"ningxiang", "wuhan"}),
    (
        "/cities/",
        {"base": ["middle-reaches-home-appliance-rd-alliance", "nanchang-aviation-and-biology-bases"]},
        {"ningxiang", "jingmen", "nanchang"},
    ),
    (
        "/cities/",
        {"sector": "home-appliances"},
        {"wuhan", "changsha", "nanchang", "jingzhou", "ningxiang", "jingmen"},
    ),
    ("/cities/", {"sector": "steel"}, set()),
    ("/cities/", {"province": "hunan", "sector": "shipbuilding"}, {"yueyang", "yiyang"}),
    # Bases
    (
        "/bases/",
        {"kind": "alliance"},
        {"middle-reaches-automobile-alliance", "middle-reaches-home-appliance-rd-alliance"},
    ),
    (
        "/bases/",
        {"kind": ["system", "chain"]},
        {"middle-reaches-shipbuilding-supporting-system", "middle-reaches-vehicle-and-parts-chain"},
    ),
    ("/bases/", {"stage": "proposed"}, PROPOSED_BASES),
    ("/bases/", {"stage": "planned"}, PLANNED_BASES),
    ("/bases/", {"stage": "operating"}, set()),
    ("/bases/", {"sector": "home-appliances"}, HOME_APPLIANCE_BASES),
    ("/bases/", {"sector": "shipbuilding"}, {"middle-reaches-shipbuilding-supporting-system"}),
    (
        "/bases/",
        {"sector": "new-energy-vehicles"},
        {
            "middle-reaches-automobile-alliance",
            "middle-reaches-strategic-emerging-industries",
            "middle-reach-advanced-manufacturing-clusters",
        },
    ),
    (
        "/bases/",
        {"sector_all": ["automobiles", "new-energy-vehicles"]},
        {"middle-reaches-automobile-alliance"},
    ),
    ("/bases/", {"city": "wuhan"}, WUHAN_BASES),
    (
        "/bases/",
        {"city": ["wuhan", "ningxiang"]},
        WUHAN_BASES | {"middle-reaches-home-appliance-rd-alliance"},
    ),
    ("/bases/", {"city_all": ["ningxiang", "jingmen"]}, HOME_APPLIANCE_BASES),
    (
        "/bases/",
        {"city_all": ["wuhan", "jingmen"]},
        {"central-china-home-appliance-base", "middle-reaches-green-petrochemical-cluster"},
    ),
    (
        "/bases/",
        {"province": "jiangxi"},
        {
            "middle-reaches-equipment-manufacturing-base",
            "middle-reaches-automobile-alliance",
            "middle-reaches-shipbuilding-supporting-system",
            "middle-reaches-rail-transit-equipment-bases",
            "middle-reaches-green-petrochemical-cluster",
            "central-china-home-appliance-base",
            "nanchang-aviation-and-biology-bases",
        },
    ),
    ("/bases/", {"province": "sichuan"}, set()),
    ("/bases/", {"reach": "upstream"}, {"upstream-advanced-manufacturing-clusters"}),
    ("/bases/", {"reach": "downstream"}, {"downstream-advanced-manufacturing-clusters"}),
    ("/bases/", {"reach": "middle"}, PLANNED_BASES | {"middle-reach-advanced-manufacturing-clusters"}),
    (
        "/bases/",
        {"reach": ["upstream", "downstream"]},
        PROPOSED_BASES - {"middle-reach-advanced-manufacturing-clusters"},
    ),
    ("/bases/", {"document": PAPER}, PROPOSED_BASES),
    ("/bases/", {"document": CHINA_DAILY}, PLANNED_BASES),
    ("/bases/", {"document": [PLAN, PAPER]}, PLANNED_BASES | PROPOSED_BASES),
    (
        "/bases/",
        {"kind": "base", "city": "wuhan"},
        {
            "middle-reaches-equipment-manufacturing-base",
            "middle-reaches-rail-transit-equipment-bases",
            "central-china-home-appliance-base",
            "middle-reaches-comprehensive-high-tech-bases",
        },
    ),
    # Documents
    ("/documents/", {"kind": "news"}, {CHINA_DAILY}),
    ("/documents/", {"kind": "plan"}, {PLAN}),
    ("/documents/", {"kind": ["plan", "research"]}, {PLAN, PAPER}),
    ("/documents/", {"kind": "policy"}, set()),
    ("/documents/", {"language": "en"}, {CHINA_DAILY}),
    ("/documents/", {"year_from": "2019", "year_to": "2019"}, {CHINA_DAILY}),
    ("/documents/", {"year_from": "2020"}, {PAPER}),
    ("/documents/", {"year_to": "2019"}, {CHINA_DAILY}),
    ("/documents/", {"year_from": "2019"}, {CHINA_DAILY, PAPER}),
    ("/documents/", {"year_from": "2021"}, set()),
    ("/documents/", {"year_from": "2020", "year_to": "2019"}, set()),
    ("/documents/", {"sector": "shipbuilding"}, {PLAN, CHINA_DAILY}),
    ("/documents/", {"sector": "mechatronics"}, {PAPER}),
    ("/documents/", {"sector": ["mechatronics", "shipbuilding"]}, {PLAN, CHINA_DAILY, PAPER}),
    ("/documents/", {"city": "wuhan"}, {PLAN, CHINA_DAILY}),
    ("/documents/", {"reach": "upstream"}, {PAPER}),
    ("/documents/", {"reach": "downstream"}, {PAPER}),
    ("/documents/", {"reach": "middle"}, {PLAN, CHINA_DAILY, PAPER}),
    ("/documents/", {"kind": "news", "reach": "upstream"}, set()),
    # Sectors
    (
        "/sectors/",
        {"parent": "non-ferrous-metals"},
        {"copper", "aluminium", "tungsten", "lead", "antimony", "lithium"},
    ),
    ("/sectors/", {"parent": "automobiles"}, {"automobile-parts", "new-energy-vehicles"}),
    (
        "/sectors/",
        {"parent": ["automobiles", "biology"]},
        {"automobile-parts", "new-energy-vehicles", "biomedicine"},
    ),
    ("/sectors/", {"parent": "copper"}, set()),
    (
        "/sectors/",
        {"intensity": "labour"},
        {
            "mechatronics",
            "clean-energy-equipment",
            "clean-energy-chemicals",
            "energy-saving-environmental-protection",
        },
    ),
    (
        "/sectors/",
        {"intensity": "capital_technology"},
        {
            "high-end-equipment",
            "computers-electronic-equipment",
            "integrated-circuits",
            "artificial-intelligence",
            "biomedicine",
        },
    ),
    ("/sectors/", {"intensity": "mixed"}, set()),
    ("/sectors/", {"top_level": "true"}, TOP_LEVEL_SECTORS),
    ("/sectors/", {"top_level": "true", "intensity": "labour"}, set()),
    (
        "/sectors/",
        {"parent": "equipment-manufacturing", "intensity": "labour"},
        {"mechatronics", "clean-energy-equipment"},
    ),
    # Provinces
    ("/provinces/", {"reach": "upstream"}, {"chongqing", "sichuan", "guizhou", "yunnan"}),
    ("/provinces/", {"reach": "middle"}, {"hubei", "hunan", "jiangxi"}),
    ("/provinces/", {"kind": "municipality"}, {"chongqing", "shanghai"}),
    ("/provinces/", {"reach": "downstream", "kind": "municipality"}, {"shanghai"}),
]


def case_id(case):
    url, params, _expected = case
    return url.strip("/") + "?" + "&".join(f"{k}={v}" for k, v in params.items())


@pytest.mark.parametrize(("url", "params", "expected"), FILTER_CASES, ids=[case_id(c) for c in FILTER_CASES])
def test_filter_narrows_the_list(client, reference_data, url, params, expected):
    assert_lists(get(client, url, params), expected)


def test_top_level_false_lists_the_sub_sectors(client, reference_data):
    response = get(client, "/sectors/", {"top_level": "false"})

    found = set(slugs(response))
    assert len(found) == 30
    assert not found & TOP_LEVEL_SECTORS


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        ("/zh-hans/cities/", {"base": "middle-reaches-shipbuilding-supporting-system"}, SHIPBUILDING_CITIES),
        ("/zh-hans/bases/", {"city_all": ["ningxiang", "jingmen"]}, HOME_APPLIANCE_BASES),
        ("/zh-hans/documents/", {"year_from": "2019", "year_to": "2019"}, {CHINA_DAILY}),
    ],
)
def test_filters_work_on_chinese_pages(client, reference_data, url, params, expected):
    assert_lists(get(client, url, params), expected)


def test_unknown_parameters_are_ignored(client, reference_data):
    response = get(client, "/cities/", {"utm_source": "newsletter", "province": "hubei"})

    assert_lists(response, HUBEI)


def test_filtered_results_link_to_their_pages(client, reference_data):
    response = get(client, "/cities/", {"base": "middle-reaches-shipbuilding-supporting-system"})

    html = response.content.decode()
    for city in SHIPBUILDING_CITIES:
        assert f'href="/cities/{city}/"' in html
    assert 'href="/cities/changsha/"' not in html


@pytest.mark.parametrize(
    "params",
    [{"base": "middle-reaches-shipbuilding-supporting-system"}, {"sector": "shipbuilding"}],
    ids=["base", "sector"],
)
def test_filtered_city_list_still_counts_all_bases_of_each_city(client, reference_data, params):
    unfiltered = {city.slug: city.base_total for city in get(client, "/cities/").context["object_list"]}
    assert unfiltered["wuhan"] == 7

    response = get(client, "/cities/", params)

    assert {city.slug: city.base_total for city in response.context["object_list"]} == {
        slug: unfiltered[slug] for slug in SHIPBUILDING_CITIES
    }


# ---------------------------------------------------------------------------
# Ordering
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("segment", ["cities", "provinces", "documents", "bases", "sectors"])
def test_ordering_by_name_in_both_directions(client, reference_data, segment):
    ascending = slugs(get(client, f"/{segment}/", {"ordering": "name"}))
    descending = slugs(get(client, f"/{segment}/", {"ordering": "-name"}))

    assert descending == list(reversed(ascending))
    names = [obj.name for obj in get(client, f"/{segment}/", {"ordering": "name"}).context["object_list"]]
    if segment in ("cities", "provinces", "documents"):
        # Plain capitalised names: the same order under any collation.
        assert names == sorted(names)


def test_cities_ordered_by_name(client, reference_data):
    ascending = page_slugs(get(client, "/cities/", {"ordering": "name"}))
    descending = page_slugs(get(client, "/cities/", {"ordering": "-name"}))

    assert ascending[:3] == ["changsha", "huanggang", "jingdezhen"]
    assert descending[:3] == ["zhuzhou", "yueyang", "yiyang"]


def test_documents_ordered_by_name(client, reference_data):
    assert page_slugs(get(client, "/documents/", {"ordering": "name"})) == [PAPER, PLAN, CHINA_DAILY]
    assert page_slugs(get(client, "/documents/", {"ordering": "-name"})) == [CHINA_DAILY, PLAN, PAPER]


def test_documents_ordered_by_date_in_both_directions(client, reference_data):
    oldest_first = page_slugs(get(client, "/documents/", {"ordering": "date"}))
    newest_first = page_slugs(get(client, "/documents/", {"ordering": "-date"}))

    # The plan has no publication date; where undated rows go depends on the database.
    assert [slug for slug in oldest_first if slug != PLAN] == [CHINA_DAILY, PAPER]
    assert [slug for slug in newest_first if slug != PLAN] == [PAPER, CHINA_DAILY]
    assert sorted(oldest_first) == sorted(newest_first) == sorted([PLAN, CHINA_DAILY, PAPER])


def test_ordering_combines_with_filters(client, reference_data):
    response = get(client, "/cities/", {"province": "jiangxi", "ordering": "-name"})

    assert page_slugs(response) == ["nanchang", "jiujiang", "jingdezhen"]


def test_default_order_of_documents_is_newest_first(client, reference_data):
    found = page_slugs(get(client, "/documents/"))

    assert [slug for slug in found if slug != PLAN] == [PAPER, CHINA_DAILY]


def test_ordering_is_stable_across_pages(client, reference_data):
    first = page_slugs(get(client, "/sectors/", {"ordering": "-name"}))
    second = page_slugs(get(client, "/sectors/", {"ordering": "-name", "page": 2}))

    assert len(first) + len(second) == 35
    assert first + second == slugs(get(client, "/sectors/", {"ordering": "-name"}))


# ---------------------------------------------------------------------------
# Invalid values: a form error and no results, never a 500
# ---------------------------------------------------------------------------

LONG = "x" * 5000
SLUG_FILTERS = {
    "documents": ["sector", "city"],
    "bases": ["sector", "sector_all", "city", "city_all", "province", "document"],
    "sectors": ["parent"],
    "cities": ["province", "sector", "base"],
    "provinces": [],
}
CHOICE_FILTERS = {
    "documents": ["kind", "language", "reach"],
    "bases": ["kind", "stage", "reach"],
    "sectors": ["intensity"],
    "cities": ["reach", "level"],
    "provinces": ["reach", "kind"],
}
VALID_SLUG = {
    "sector": "shipbuilding",
    "sector_all": "shipbuilding",
    "city": "wuhan",
    "city_all": "wuhan",
    "province": "hubei",
    "document": PLAN,
    "parent": "metallurgy",
    "base": "middle-reaches-steel-cluster",
}


def bad_queries(segment):
    """(id, params) of values the page must refuse."""
    cases = [
        ("ordering-unknown", {"ordering": "bogus"}),
        ("ordering-unknown-field", {"ordering": "description"}),
        ("ordering-partly-unknown", {"ordering": "name,bogus"}),
        ("ordering-nul", {"ordering": "na\x00me"}),
        ("ordering-long", {"ordering": LONG}),
        ("ordering-repeated", {"ordering": ["name", "bogus"]}),
    ]
    for name in SLUG_FILTERS[segment]:
        cases.append((f"{name}-unknown-slug", {name: "atlantis"}))
    for name in SLUG_FILTERS[segment][:1]:
        cases += [
            (f"{name}-nul", {name: VALID_SLUG[name] + "\x00"}),
            (f"{name}-long", {name: LONG}),
            (f"{name}-not-a-slug", {name: "../../etc/passwd"}),
            (f"{name}-sql", {name: "' OR 1=1 --"}),
            (f"{name}-repeated-weird", {name: [VALID_SLUG[name], "", "\x00", VALID_SLUG[name], "atlantis"]}),
        ]
    for name in CHOICE_FILTERS[segment]:
        cases.append((f"{name}-unknown-choice", {name: "bogus"}))
    for name in CHOICE_FILTERS[segment][:1]:
        cases += [
            (f"{name}-nul", {name: "\x00"}),
            (f"{name}-long", {name: LONG}),
            (f"{name}-wrong-case", {name: "MIDDLE" if name == "reach" else "PLAN"}),
            (
                f"{name}-repeated-weird",
                {name: ["middle" if name == "reach" else "bogus", "sideways", "", "\x00"]},
            ),
        ]
    if segment == "documents":
        cases += [
            ("year_from-letters", {"year_from": "abc"}),
            ("year_from-too-late", {"year_from": "99999"}),
            ("year_to-too-early", {"year_to": "1800"}),
            ("year_from-negative", {"year_from": "-2019"}),
            ("year_from-nan", {"year_from": "NaN"}),
            ("year_from-infinity", {"year_from": "Infinity"}),
            ("year_from-huge-exponent", {"year_from": "1e400"}),
            ("year_from-nul", {"year_from": "2019\x00"}),
            ("year_to-long", {"year_to": "9" * 5000}),
            ("year_from-repeated-weird", {"year_from": ["2019", "abc"]}),
            ("mixed-valid-and-invalid", {"kind": "news", "year_to": "abc"}),
        ]
    return cases


BAD_CASES = [
    pytest.param(segment, params, id=f"{segment}-{case_id}")
    for segment in SLUG_FILTERS
    for case_id, params in bad_queries(segment)
]


def assert_refused(response):
    assert response.status_code == HTTPStatus.BAD_REQUEST
    if "400.html" in [template.name for template in response.templates]:
        return  # NUL or over-long: refused before the view, by clusters.middleware
    form = response.context["filterset"].form
    assert form.errors
    assert list(response.context["object_list"]) == []
    assert response.context["result_count"] == 0
    assert response.context["active_filters"] == []
    html = response.content.decode()
    for errors in form.errors.values():
        for error in errors:
            assert escape(error) in html, error


@pytest.mark.parametrize(("segment", "params"), BAD_CASES)
def test_invalid_filter_value_is_a_form_error_with_no_results(client, reference_data, segment, params):
    assert_refused(client.get(f"/{segment}/", params))


@pytest.mark.parametrize("segment", list(SLUG_FILTERS))
def test_invalid_filter_value_is_a_form_error_in_chinese_too(client, reference_data, segment):
    assert_refused(client.get(f"/zh-hans/{segment}/", {"ordering": "bogus"}))


@pytest.mark.parametrize("value", ["2019.5", "2019.999"])
def test_a_fractional_year_is_refused(client, reference_data, value):
    assert_refused(client.get("/documents/", {"year_from": value}))


@pytest.mark.parametrize("value", ["maybe", "\x00", "yes please"])
def test_an_unknown_top_level_value_is_refused(client, reference_data, value):
    assert_refused(client.get("/sectors/", {"top_level": value}))


def test_invalid_filter_with_a_page_number_is_not_a_500(client, reference_data):
    response = client.get("/bases/", {"city": "atlantis", "page": "2"})

    assert response.status_code == HTTPStatus.NOT_FOUND


# ---------------------------------------------------------------------------
# Active filter chips
# ---------------------------------------------------------------------------


def pairs(query):
    return sorted(parse_qsl(query.lstrip("?"), keep_blank_values=True))


CHIP_CASES = [
    "/cities/?province=hubei&province=hunan&level=prefecture",
    "/cities/?base=middle-reaches-shipbuilding-supporting-system&reach=middle&ordering=-name",
    "/bases/?city=wuhan&city=ningxiang&kind=base&ordering=name&page=1",
    "/bases/?city_all=ningxiang&city_all=jingmen&stage=planned",
    "/bases/?sector=home-appliances&sector_all=home-appliances&document=" + PLAN,
    "/documents/?year_from=2019&year_to=2020&kind=news",
    "/documents/?reach=upstream&reach=downstream&sector=mechatronics&language=zh",
    "/sectors/?parent=non-ferrous-metals&parent=automobiles&intensity=labour",
    "/provinces/?reach=upstream&kind=municipality&kind=province",
    "/zh-hans/cities/?province=hubei&level=prefecture",
]


def assert_each_chip_removes_exactly_its_own_value(client, url):
    path, _, query = url.partition("?")
    given = [(key, value) for key, value in pairs(query) if key != "page"]
    filter_values = [(key, value) for key, value in given if key != "ordering"]

    response = get(client, path + "?" + query)

    chips = response.context["active_filters"]
    assert len(chips) == len(filter_values)
    html = response.content.decode()
    removed = []
    for label, shown, remove_url in chips:
        assert remove_url.startswith("?")
        remaining = pairs(remove_url)
        dropped = list(given)
        for pair in remaining:
            dropped.remove(pair)  # everything left was in the original query
        assert len(dropped) == 1, (label, shown, remove_url)
        removed.append(dropped[0])
        assert f'href="{escape(remove_url)}"' in html
        assert escape(f"{label}: {shown}") in html
        assert get(client, path + remove_url).status_code == HTTPStatus.OK
    assert sorted(removed) == sorted(filter_values)


@pytest.mark.parametrize("url", CHIP_CASES)
def test_each_chip_removes_exactly_its_own_value(client, reference_data, url):
    assert_each_chip_removes_exactly_its_own_value(client, url)


def test_chip_for_a_city_shows_its_name_and_its_remove_link_widens_the_results(client, reference_data):
    response = get(client, "/bases/", {"city": ["wuhan", "ningxiang"], "kind": "base"})

    chips = {shown: remove_url for _label, shown, remove_url in response.context["active_filters"]}
    assert set(chips) == {"Wuhan", "Ningxiang", "Industrial base"}
    assert pairs(chips["Wuhan"]) == [("city", "ningxiang"), ("kind", "base")]
    assert slugs(get(client, "/bases/" + chips["Wuhan"])) == ["central-china-home-appliance-base"]
    assert set(slugs(get(client, "/bases/" + chips["Industrial base"]))) == WUHAN_BASES | {
        "middle-reaches-home-appliance-rd-alliance"
    }


def test_chips_name_things_in_chinese_on_chinese_pages(client, reference_data):
    response = get(client, "/zh-hans/cities/", {"province": "hubei"})

    [(_label, shown, _url)] = response.context["active_filters"]
    assert shown == "湖北"


def test_no_chips_without_filters_or_for_ordering_alone(client, reference_data):
    assert get(client, "/cities/").context["active_filters"] == []
    assert get(client, "/cities/", {"ordering": "-name"}).context["active_filters"] == []


@pytest.mark.parametrize("value", ["true", "false"])
def test_top_level_chip_removes_the_top_level_filter(client, reference_data, value):
    assert_each_chip_removes_exactly_its_own_value(client, f"/sectors/?top_level={value}&intensity=labour")
