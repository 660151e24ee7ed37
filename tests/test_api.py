"""The read API: lists, details, filters, search, pagination, CSV, GeoJSON,
query counts, throttling and errors.

Expected results come from independent ORM queries (or plain Python over the
rows), never from the FilterSets the API itself uses.
"""

import csv
import io
import json
import math
from datetime import date
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.core.cache import cache
from django.db import connection
from django.db.models import F, Q
from rest_framework.throttling import AnonRateThrottle

from clusters.filters import (
    CityApiFilter,
    PlannedBaseApiFilter,
    PolicyDocumentApiFilter,
    ProvinceApiFilter,
    SectorApiFilter,
)
from clusters.models import City, PlannedBase, PolicyDocument, Province, Sector
from tests import factories

pytestmark = pytest.mark.django_db

API = "/api/v1"
SERVER = "http://testserver"

MODELS = {
    "documents": PolicyDocument,
    "sectors": Sector,
    "cities": City,
    "provinces": Province,
    "bases": PlannedBase,
}
ENDPOINTS = list(MODELS)
GEO_ENDPOINTS = ["cities", "provinces", "bases"]
FILTERSETS = {
    "documents": PolicyDocumentApiFilter,
    "sectors": SectorApiFilter,
    "cities": CityApiFilter,
    "provinces": ProvinceApiFilter,
    "bases": PlannedBaseApiFilter,
}
# What fixtures/*.json holds.
FIXTURE_COUNTS = {"documents": 3, "sectors": 35, "cities": 15, "provinces": 11, "bases": 16}

PLAN = "middle-yangtze-city-cluster-plan-2015"
CHINA_DAILY = "china-daily-2019-middle-reaches-clusters"
LI_2020 = "li-2020-advanced-manufacturing-clusters"
HOME_APPLIANCE_BASE = "central-china-home-appliance-base"

WUHAN_LON_LAT = (114.31, 30.59)
AROUND_WUHAN = "113.7,30.2,114.8,31.0"
# The Belt's extent; longitudes and latitudes do not overlap, so a position
# inside it is necessarily [longitude, latitude].
BELT_LONGITUDES = (97.0, 123.0)
BELT_LATITUDES = (21.0, 35.0)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def url(endpoint, suffix=""):
    return f"{API}/{endpoint}/{suffix}"


def get_json(client, path, params=None, status=HTTPStatus.OK):
    response = client.get(path, params or {})
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    return response.json()


def listed(client, endpoint, params=None):
    """The slugs an endpoint lists for these parameters, in order (one page of up to 100)."""
    data = get_json(client, url(endpoint), {**(params or {}), "page_size": 100})
    assert data["next"] is None, "more than one page; the helper expects at most 100 rows"
    assert data["count"] == len(data["results"])
    return [row["slug"] for row in data["results"]]


def slugs(rows):
    """Slugs of a queryset (or an iterable of objects or slugs), as a set."""
    if hasattr(rows, "values_list"):
        return set(rows.values_list("slug", flat=True))
    return {getattr(row, "slug", row) for row in rows}


def local_path(absolute_url):
    assert absolute_url.startswith(SERVER), absolute_url
    return absolute_url.removeprefix(SERVER)


def get_csv(client, endpoint, params=None):
    response = client.get(url(endpoint), {**(params or {}), "format": "csv"})
    assert response.status_code == HTTPStatus.OK, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return response


def csv_rows(response):
    """(header, rows as dicts) of a CSV response."""
    reader = csv.DictReader(io.StringIO(response.content.decode("utf-8")))
    rows = list(reader)
    return reader.fieldnames, rows


def get_geojson(client, endpoint, params=None):
    response = client.get(url(endpoint, "geojson/"), params or {})
    assert response.status_code == HTTPStatus.OK, response.content
    assert response["Content-Type"] == "application/geo+json"
    data = response.json()
    assert_feature_collection(data)
    return data


def positions(coordinates):
    """Every [lon, lat] position in a GeoJSON coordinates array, however nested."""
    if coordinates and isinstance(coordinates[0], int | float):
        yield coordinates
        return
    for item in coordinates:
        yield from positions(item)


def assert_feature_collection(data):
    """RFC 7946: a FeatureCollection of Features, each with a geometry and
    properties, positions as [longitude, latitude] in WGS84 and no `crs`."""
    assert data["type"] == "FeatureCollection"
    assert "crs" not in data
    assert isinstance(data["features"], list)
    for feature in data["features"]:
        assert feature["type"] == "Feature"
        assert isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        assert geometry["type"] in {"Point", "MultiPoint", "Polygon", "MultiPolygon"}
        points = list(positions(geometry["coordinates"]))
        assert points, feature
        for position in points:
            assert len(position) == 2
            lon, lat = position
            assert BELT_LONGITUDES[0] <= lon <= BELT_LONGITUDES[1], position
            assert BELT_LATITUDES[0] <= lat <= BELT_LATITUDES[1], position


def features_by_id(data):
    return {feature["id"]: feature for feature in data["features"]}


def kilometres(a, b):
    """Great-circle distance between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def cities_near(lon, lat, radius_km):
    """Slugs of the located cities within radius_km, computed in Python.
    Refuses a radius that passes within 5 km of a city, where the database's
    ellipsoid and this sphere could disagree."""
    near = set()
    for city in City.objects.exclude(location=None):
        distance = kilometres((lon, lat), (city.location.x, city.location.y))
        assert abs(distance - radius_km) > 5, f"{city.slug} lies on the circle's edge"
        if distance <= radius_km:
            near.add(city.slug)
    return near


def cities_in_box(box):
    west, south, east, north = map(float, box.split(","))
    return {
        city.slug
        for city in City.objects.exclude(location=None)
        if west <= city.location.x <= east and south <= city.location.y <= north
    }


def located(city):
    return city.location is not None


def mapped_bases():
    """Bases with an area or a located member city, computed in Python."""
    return {
        base.slug
        for base in PlannedBase.objects.prefetch_related("memberships__city")
        if base.area is not None or any(located(m.city) for m in base.memberships.all())
    }


def mapped_provinces():
    return {
        province.slug
        for province in Province.objects.prefetch_related("cities")
        if any(located(city) for city in province.cities.all())
    }


def mapped_cities():
    return {city.slug for city in City.objects.all() if located(city)}


# ---------------------------------------------------------------------------
# Lists and details
# ---------------------------------------------------------------------------


def test_fixture_numbers_are_the_known_ones(reference_data):
    assert {endpoint: model.objects.count() for endpoint, model in MODELS.items()} == FIXTURE_COUNTS


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_list_counts_and_lists_every_object(client, reference_data, endpoint):
    model = MODELS[endpoint]

    data = get_json(client, url(endpoint))

    assert data["count"] == model.objects.count() == FIXTURE_COUNTS[endpoint]
    assert set(listed(client, endpoint)) == slugs(model.objects.all())


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_detail_returns_each_object_by_slug(client, reference_data, endpoint):
    for obj in MODELS[endpoint].objects.all():
        data = get_json(client, url(endpoint, f"{obj.slug}/"))

        assert data["slug"] == obj.slug
        assert data["id"] == obj.pk
        assert data["name"] == obj.name
        assert data["name_zh"] == obj.name_zh
        assert data["url"] == f"{SERVER}{url(endpoint, f'{obj.slug}/')}"
        assert data["html_url"] == f"{SERVER}{obj.get_absolute_url()}"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_unknown_slug_is_a_json_404(client, reference_data, endpoint):
    data = get_json(client, url(endpoint, "no-such-thing/"), status=HTTPStatus.NOT_FOUND)

    assert "detail" in data


# ---------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------


@pytest.fixture
def downstream_rows(reference_data):
    """Every fixture city lies in the middle reaches. Add a downstream city
    with a base that names no reach of its own and a news item on it, so that
    reach filters (direct and through member cities) have something to tell apart."""
    suzhou = factories.CityFactory(
        slug="suzhou",
        name="Suzhou",
        name_zh="苏州",
        province=Province.objects.get(slug="jiangsu"),
        level="prefecture",
        location=Point(120.58, 31.30, srid=4326),
    )
    base = factories.PlannedBaseFactory(
        slug="suzhou-chip-base",
        name="Suzhou chip base",
        reach="",
        stage="operating",
        source__document=PolicyDocument.objects.get(slug=LI_2020),
    )
    factories.BaseMembershipFactory(base=base, city=suzhou)
    base.sectors.add(Sector.objects.get(slug="integrated-circuits"))
    news = factories.PolicyDocumentFactory(
        slug="suzhou-news", kind="news", language="en", published_on=date(2021, 5, 1)
    )
    news.cities.add(suzhou)


def bases_with_cities(city_slugs):
    return PlannedBase.objects.filter(cities__slug__in=city_slugs)


# (endpoint, parameters, expected rows: a function returning a queryset or slugs)
FILTER_CASES = [
    # bases
    ("bases", {"kind": "cluster"}, lambda: PlannedBase.objects.filter(kind="cluster")),
    (
        "bases",
        {"kind": ["cluster", "alliance"]},
        lambda: PlannedBase.objects.filter(kind__in=["cluster", "alliance"]),
    ),
    ("bases", {"stage": "proposed"}, lambda: PlannedBase.objects.filter(stage="proposed")),
    (
        "bases",
        {"sector": ["automobiles", "shipbuilding"]},
        lambda: PlannedBase.objects.filter(sectors__slug__in=["automobiles", "shipbuilding"]),
    ),
    (
        "bases",
        {"sector_all": ["automobiles", "new-energy-vehicles"]},
        lambda: PlannedBase.objects.filter(sectors__slug="automobiles").filter(
            sectors__slug="new-energy-vehicles"
        ),
    ),
    ("bases", {"city": ["wuhan", "changsha"]}, lambda: bases_with_cities(["wuhan", "changsha"])),
    ("bases", {"city": ["ningxiang", "yichang"]}, lambda: bases_with_cities(["ningxiang", "yichang"])),
    (
        "bases",
        {"city_all": ["wuhan", "changsha"]},
        lambda: PlannedBase.objects.filter(cities__slug="wuhan").filter(cities__slug="changsha"),
    ),
    ("bases", {"province": "hunan"}, lambda: PlannedBase.objects.filter(cities__province__slug="hunan")),
    (
        "bases",
        {"reach": "downstream"},
        lambda: PlannedBase.objects.filter(Q(reach="downstream") | Q(cities__province__reach="downstream")),
    ),
    ("bases", {"document": LI_2020}, lambda: PlannedBase.objects.filter(sources__document__slug=LI_2020)),
    ("bases", {"in_bbox": AROUND_WUHAN}, lambda: bases_with_cities(cities_in_box(AROUND_WUHAN))),
    (
        "bases",
        {"near": "112.55,28.28", "radius_km": 20},
        lambda: bases_with_cities(cities_near(112.55, 28.28, 20)),
    ),
    # cities
    ("cities", {"province": "hunan"}, lambda: City.objects.filter(province__slug="hunan")),
    (
        "cities",
        {"province": ["hunan", "jiangxi"]},
        lambda: City.objects.filter(province__slug__in=["hunan", "jiangxi"]),
    ),
    ("cities", {"reach": "downstream"}, lambda: City.objects.filter(province__reach="downstream")),
    ("cities", {"level": "county"}, lambda: City.objects.filter(level="county")),
    (
        "cities",
        {"level": ["county", "sub_provincial"]},
        lambda: City.objects.filter(level__in=["county", "sub_provincial"]),
    ),
    ("cities", {"sector": "shipbuilding"}, lambda: City.objects.filter(bases__sectors__slug="shipbuilding")),
    (
        "cities",
        {"base": "middle-reaches-rail-transit-equipment-bases"},
        lambda: City.objects.filter(memberships__base__slug="middle-reaches-rail-transit-equipment-bases"),
    ),
    ("cities", {"in_bbox": AROUND_WUHAN}, lambda: cities_in_box(AROUND_WUHAN)),
    ("cities", {"near": "114.31,30.59", "radius_km": 150}, lambda: cities_near(114.31, 30.59, 150)),
    # provinces
    ("provinces", {"reach": "upstream"}, lambda: Province.objects.filter(reach="upstream")),
    ("provinces", {"kind": "municipality"}, lambda: Province.objects.filter(kind="municipality")),
    (
        "provinces",
        {"in_bbox": AROUND_WUHAN},
        lambda: Province.objects.filter(cities__slug__in=cities_in_box(AROUND_WUHAN)),
    ),
    (
        "provinces",
        {"near": "114.31,30.59", "radius_km": 150},
        lambda: Province.objects.filter(cities__slug__in=cities_near(114.31, 30.59, 150)),
    ),
    # sectors
    (
        "sectors",
        {"parent": "non-ferrous-metals"},
        lambda: Sector.objects.filter(parent__slug="non-ferrous-metals"),
    ),
    (
        "sectors",
        {"parent": ["non-ferrous-metals", "metallurgy"]},
        lambda: Sector.objects.filter(parent__slug__in=["non-ferrous-metals", "metallurgy"]),
    ),
    ("sectors", {"top_level": "true"}, lambda: Sector.objects.filter(parent=None)),
    ("sectors", {"top_level": "false"}, lambda: Sector.objects.exclude(parent=None)),
    ("sectors", {"intensity": "labour"}, lambda: Sector.objects.filter(intensity="labour")),
    (
        "sectors",
        {"intensity": ["labour", "capital_technology"]},
        lambda: Sector.objects.filter(intensity__in=["labour", "capital_technology"]),
    ),
    # documents
    ("documents", {"kind": "news"}, lambda: PolicyDocument.objects.filter(kind="news")),
    (
        "documents",
        {"kind": ["plan", "research"]},
        lambda: PolicyDocument.objects.filter(kind__in=["plan", "research"]),
    ),
    ("documents", {"language": "en"}, lambda: PolicyDocument.objects.filter(language="en")),
    (
        "documents",
        {"year_from": 2020},
        lambda: PolicyDocument.objects.filter(published_on__gte=date(2020, 1, 1)),
    ),
    (
        "documents",
        {"year_to": 2019},
        lambda: PolicyDocument.objects.filter(published_on__lt=date(2020, 1, 1)),
    ),
    (
        "documents",
        {"year_from": 2019, "year_to": 2020},
        lambda: PolicyDocument.objects.filter(published_on__range=(date(2019, 1, 1), date(2020, 12, 31))),
    ),
    (
        "documents",
        {"sector": "computers-electronic-equipment"},
        lambda: PolicyDocument.objects.filter(sectors__slug="computers-electronic-equipment"),
    ),
    ("documents", {"city": "suzhou"}, lambda: PolicyDocument.objects.filter(cities__slug="suzhou")),
    (
        "documents",
        {"reach": "downstream"},
        lambda: PolicyDocument.objects.filter(
            Q(cities__province__reach="downstream") | Q(bases__reach="downstream")
        ),
    ),
    (
        "documents",
        {"reach": "upstream"},
        lambda: PolicyDocument.objects.filter(
            Q(cities__province__reach="upstream") | Q(bases__reach="upstream")
        ),
    ),
]
# Search and ordering have their own tests below.
PARAMETERS_TESTED_ELSEWHERE = {"search", "ordering"}


def case_id(case):
    endpoint, params, _expected = case
    return f"{endpoint}?" + "&".join(
        f"{key}={value}"
        for key, values in params.items()
        for value in (values if isinstance(values, list) else [values])
    )


def with_ids(cases):
    return [pytest.param(*case, id=case_id(case)) for case in cases]


@pytest.mark.parametrize(("endpoint", "params", "expected"), with_ids(FILTER_CASES))
def test_filter_narrows_to_what_the_orm_says(client, downstream_rows, endpoint, params, expected):
    expected_slugs = slugs(expected())
    # The case must actually narrow, or it proves nothing.
    assert 0 < len(expected_slugs) < MODELS[endpoint].objects.count()

    assert set(listed(client, endpoint, params)) == expected_slugs


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_filter_parameter_has_a_case(endpoint):
    tested = {
        name for case_endpoint, params, _ in FILTER_CASES if case_endpoint == endpoint for name in params
    }

    assert set(FILTERSETS[endpoint].base_filters) <= tested | PARAMETERS_TESTED_ELSEWHERE


def listed_bases(client, **params):
    return set(listed(client, "bases", params))


def test_repeated_city_means_any_of_and_city_all_means_all_of(client, reference_data):
    ningxiang, yichang = listed_bases(client, city="ningxiang"), listed_bases(client, city="yichang")
    wuhan, changsha = listed_bases(client, city="wuhan"), listed_bases(client, city="changsha")

    assert listed_bases(client, city=["ningxiang", "yichang"]) == ningxiang | yichang
    assert listed_bases(client, city_all=["wuhan", "changsha"]) == wuhan & changsha
    # The data tells the two apart: the union is bigger than either, the intersection smaller.
    assert ningxiang < ningxiang | yichang > yichang
    assert wuhan & changsha < wuhan


def test_repeated_sector_means_any_of_and_sector_all_means_all_of(client, reference_data):
    cars = listed_bases(client, sector="automobiles")
    electric = listed_bases(client, sector="new-energy-vehicles")

    assert listed_bases(client, sector=["automobiles", "new-energy-vehicles"]) == cars | electric
    assert listed_bases(client, sector_all=["automobiles", "new-energy-vehicles"]) == cars & electric
    assert set() < cars & electric < cars | electric


def test_in_bbox_finds_a_base_by_its_area(client, reference_data):
    outlined = factories.PlannedBaseFactory(
        slug="outlined-base",
        area=MultiPolygon(Polygon.from_bbox((114.0, 30.3, 114.6, 30.9)), srid=4326),
    )

    assert outlined.slug in listed(client, "bases", {"in_bbox": "114.2,30.5,114.4,30.7"})
    assert outlined.slug not in listed(client, "bases", {"in_bbox": "112.0,27.5,113.5,28.5"})


@pytest.fixture
def rows_without_geometry(reference_data):
    """A city without a location (alone in its province) and a base with
    neither an area nor a member: nowhere on the map, so never near anything."""
    nowhere = factories.CityFactory(slug="nowhere", name="Nowhere", location=None)
    factories.PlannedBaseFactory(slug="placeless-base", area=None)
    return {"cities": "nowhere", "provinces": nowhere.province.slug, "bases": "placeless-base"}


@pytest.mark.parametrize("endpoint", GEO_ENDPOINTS)
def test_in_bbox_leaves_out_rows_without_a_geometry(client, rows_without_geometry, endpoint):
    found = listed(client, endpoint, {"in_bbox": AROUND_WUHAN})

    assert found
    assert rows_without_geometry[endpoint] not in found


@pytest.mark.parametrize("endpoint", GEO_ENDPOINTS)
def test_near_leaves_out_rows_without_a_geometry(client, rows_without_geometry, endpoint):
    found = listed(client, endpoint, {"near": "114.31,30.59", "radius_km": 50})

    assert found
    assert rows_without_geometry[endpoint] not in found


# (endpoint, ordering parameter, ORM ordering): ties go by pk in the sort's
# direction, undated documents come first oldest first and last newest first,
# in every database.
ORDERING_CASES = [
    *[(endpoint, "name", ["name", "pk"]) for endpoint in ENDPOINTS],
    *[(endpoint, "-name", ["-name", "-pk"]) for endpoint in ENDPOINTS],
    ("documents", "date", [F("published_on").asc(nulls_first=True), "pk"]),
    ("documents", "-date", [F("published_on").desc(nulls_last=True), "-pk"]),
]


@pytest.mark.parametrize(
    ("endpoint", "ordering", "order_by"), ORDERING_CASES, ids=[f"{e}-{o}" for e, o, _ in ORDERING_CASES]
)
def test_ordering(client, reference_data, endpoint, ordering, order_by):
    expected = list(MODELS[endpoint].objects.order_by(*order_by).values_list("slug", flat=True))

    assert listed(client, endpoint, {"ordering": ordering}) == expected


def test_orderings_differ(client, reference_data):
    """So that the ordering tests could tell a wrong order from the right one."""
    by_name = listed(client, "documents", {"ordering": "name"})
    by_date = listed(client, "documents", {"ordering": "date"})

    assert by_name != by_date
    assert listed(client, "documents", {"ordering": "-name"}) == by_name[::-1]
    assert listed(client, "documents", {"ordering": "-date"}) != by_date


# ---------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------

SEARCHED_TEXTS = {
    "documents": ["name", "name_zh", "summary", "description", "citation", "authors", "publisher"],
    "sectors": ["name", "name_zh", "description"],
    "cities": ["name", "name_zh", "description"],
    "provinces": ["name", "name_zh", "description"],
    "bases": ["name", "name_zh", "description"],
}
# (endpoint, words, a slug they must find)
SEARCH_CASES = [
    ("cities", "武汉", "wuhan"),
    ("cities", "Wuhan", "wuhan"),
    ("cities", "wuhan", "wuhan"),
    ("provinces", "湖北", "hubei"),
    ("provinces", "Hubei", "hubei"),
    ("sectors", "钢铁", "steel"),
    ("sectors", "Iron and steel", "steel"),
    ("documents", "长江中游城市群", PLAN),
    ("documents", "Roadmap", LI_2020),
    ("bases", "华中家电", HOME_APPLIANCE_BASE),
    ("bases", "home-appliance base", HOME_APPLIANCE_BASE),
]


def texts_containing(endpoint, words):
    """Slugs of the rows whose searched texts contain the words, in Python."""
    words = words.lower()
    return {
        obj.slug
        for obj in MODELS[endpoint].objects.all()
        if any(words in (getattr(obj, field) or "").lower() for field in SEARCHED_TEXTS[endpoint])
    }


@pytest.mark.parametrize(
    ("endpoint", "words", "slug"), SEARCH_CASES, ids=[f"{e}-{w}" for e, w, _ in SEARCH_CASES]
)
def test_search_finds_by_english_or_chinese_name(client, reference_data, endpoint, words, slug):
    found = set(listed(client, endpoint, {"search": words}))

    assert slug in found
    containing = texts_containing(endpoint, words)
    assert containing <= found
    if connection.vendor != "postgresql":
        # PostgreSQL's full-text search adds English word forms on purpose.
        assert found == containing
    assert len(found) < MODELS[endpoint].objects.count()


def test_search_finding_nothing_is_an_empty_list(client, reference_data):
    assert listed(client, "cities", {"search": "Atlantis"}) == []


# ---------------------------------------------------------------------------
# Related objects: slugs beside URLs
# ---------------------------------------------------------------------------


def test_base_shows_members_with_city_role_and_names_and_sources_by_document(client, reference_data):
    base = PlannedBase.objects.get(slug=HOME_APPLIANCE_BASE)

    data = get_json(client, url("bases", f"{base.slug}/"))

    assert data["members"] == [
        {
            "city": m.city.slug,
            "city_url": f"{SERVER}{url('cities', f'{m.city.slug}/')}",
            "name": m.city.name,
            "name_zh": m.city.name_zh,
            "role": m.role,
            "position": m.position,
        }
        for m in base.memberships.order_by("position")
    ]
    assert {m["role"] for m in data["members"]} == {"leading", "upgrading"}
    assert {(s["document"], s["section"]) for s in data["sources"]} == set(
        base.sources.values_list("document__slug", "section")
    )
    for source in data["sources"]:
        assert source["document_url"] == f"{SERVER}{url('documents', source['document'] + '/')}"
    assert data["sectors"] == ["home-appliances"]
    assert data["sector_urls"] == [f"{SERVER}{url('sectors', 'home-appliances/')}"]


def test_city_shows_province_and_parent_as_slugs_and_urls(client, reference_data):
    data = get_json(client, url("cities", "ningxiang/"))

    assert data["province"] == "hunan"
    assert data["province_url"] == f"{SERVER}{url('provinces', 'hunan/')}"
    assert data["parent"] == "changsha"
    assert data["parent_url"] == f"{SERVER}{url('cities', 'changsha/')}"
    assert data["reach"] == "middle"
    assert data["location"] == {"type": "Point", "coordinates": [pytest.approx(112.55), pytest.approx(28.28)]}


def test_document_shows_related_documents_sectors_and_cities_as_slugs_and_urls(client, reference_data):
    document = PolicyDocument.objects.get(slug=CHINA_DAILY)

    data = get_json(client, url("documents", f"{document.slug}/"))

    assert data["reports_on"] == PLAN
    assert data["reports_on_url"] == f"{SERVER}{url('documents', PLAN + '/')}"
    assert set(data["sectors"]) == slugs(document.sectors.all())
    assert set(data["cities"]) == slugs(document.cities.all())
    assert {local_path(u) for u in data["sector_urls"]} == {url("sectors", f"{s}/") for s in data["sectors"]}
    assert {local_path(u) for u in data["city_urls"]} == {url("cities", f"{c}/") for c in data["cities"]}


@pytest.mark.parametrize(
    ("endpoint", "slug", "field", "expected"),
    [
        ("cities", "wuhan", "bases_url", lambda: PlannedBase.objects.filter(cities__slug="wuhan")),
        ("provinces", "hubei", "cities_url", lambda: City.objects.filter(province__slug="hubei")),
        (
            "sectors",
            "non-ferrous-metals",
            "subsectors_url",
            lambda: Sector.objects.filter(parent__slug="non-ferrous-metals"),
        ),
        (
            "sectors",
            "home-appliances",
            "bases_url",
            lambda: PlannedBase.objects.filter(sectors__slug="home-appliances"),
        ),
        ("documents", LI_2020, "bases_url", lambda: PlannedBase.objects.filter(documents__slug=LI_2020)),
    ],
    ids=["city-bases", "province-cities", "sector-subsectors", "sector-bases", "document-bases"],
)
def test_related_list_urls_list_the_related_objects(client, reference_data, endpoint, slug, field, expected):
    link = get_json(client, url(endpoint, f"{slug}/"))[field]

    data = get_json(client, local_path(link))

    assert data["next"] is None
    assert {row["slug"] for row in data["results"]} == slugs(expected())
    assert data["count"] > 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_api_url_in_a_detail_opens(client, reference_data, endpoint):
    obj = MODELS[endpoint].objects.order_by("pk").first()
    data = get_json(client, url(endpoint, f"{obj.slug}/"))

    def api_urls(value):
        if isinstance(value, str) and value.startswith(f"{SERVER}{API}/"):
            yield value
        elif isinstance(value, list):
            for item in value:
                yield from api_urls(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from api_urls(item)

    found = set(api_urls(data))
    assert len(found) > 1
    for link in found:
        assert client.get(local_path(link)).status_code == HTTPStatus.OK, link


# ---------------------------------------------------------------------------
# Pagination
# ---------------------------------------------------------------------------


def test_default_page_size_is_25(client, reference_data):
    data = get_json(client, url("sectors"))

    assert len(data["results"]) == 25
    assert data["count"] == Sector.objects.count() > 25


def test_pages_follow_next_links_through_every_row_once(client, reference_data):
    expected = list(Sector.objects.order_by("name", "pk").values_list("slug", flat=True))
    data = get_json(client, url("sectors"), {"page_size": 10})
    assert data["previous"] is None
    seen = []
    pages = 0
    while True:
        pages += 1
        assert len(data["results"]) <= 10
        seen += [row["slug"] for row in data["results"]]
        if data["next"] is None:
            break
        query = parse_qs(urlsplit(data["next"]).query)
        assert set(query) == {"cursor", "page_size"} and query["page_size"] == ["10"]
        data = get_json(client, local_path(data["next"]))
        assert data["previous"] is not None

    assert seen == expected
    assert pages == math.ceil(len(expected) / 10)


def test_next_link_keeps_the_filters(client, reference_data):
    data = get_json(client, url("cities"), {"province": "hubei", "page_size": 4})

    query = parse_qs(urlsplit(data["next"]).query)
    assert query.pop("cursor")
    assert query == {"province": ["hubei"], "page_size": ["4"]}
    second = get_json(client, local_path(data["next"]))
    assert {row["slug"] for row in data["results"] + second["results"]} == slugs(
        City.objects.filter(province__slug="hubei")
    )


def test_page_past_the_end_is_a_json_404(client, reference_data):
    last = math.ceil(Sector.objects.count() / 10)
    get_json(client, url("sectors"), {"page_size": 10, "page": last})

    data = get_json(client, url("sectors"), {"page_size": 10, "page": last + 1}, status=HTTPStatus.NOT_FOUND)

    assert "page" in data


@pytest.mark.parametrize(
    "params", [{"page_size": 101}, {"page_size": 0}, {"page_size": "ten"}, {"page": 0}, {"page": "abc"}]
)
def test_bad_page_parameters_are_a_json_400(client, reference_data, params):
    data = get_json(client, url("sectors"), params, status=HTTPStatus.BAD_REQUEST)

    assert set(data) == set(params)


def test_page_size_100_is_allowed(client, reference_data):
    data = get_json(client, url("sectors"), {"page_size": 100})

    assert len(data["results"]) == Sector.objects.count()


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_csv_has_a_header_and_one_row_per_record(client, reference_data, endpoint):
    response = get_csv(client, endpoint)

    header, rows = csv_rows(response)
    assert {"id", "slug", "name", "name_zh", "url"} <= set(header)
    assert sorted(row["slug"] for row in rows) == sorted(slugs(MODELS[endpoint].objects.all()))
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Disposition"].endswith('.csv"')


def test_csv_gives_every_row_not_one_page(client, reference_data):
    total = Sector.objects.count()
    assert total > 25  # more than the default page

    _header, rows = csv_rows(get_csv(client, "sectors", {"page_size": 10}))

    assert [row["slug"] for row in rows] == list(
        Sector.objects.order_by("name", "pk").values_list("slug", flat=True)
    )


def test_csv_honours_filters(client, reference_data):
    _header, rows = csv_rows(get_csv(client, "cities", {"province": "hubei"}))

    assert {row["slug"] for row in rows} == slugs(City.objects.filter(province__slug="hubei"))
    assert {row["province"] for row in rows} == {"hubei"}


def test_csv_names_the_download(client, reference_data):
    response = get_csv(client, "cities")

    assert response["Content-Disposition"] == 'attachment; filename="city.csv"'


def test_csv_splits_a_point_into_longitude_and_latitude_columns(client, reference_data):
    header, rows = csv_rows(get_csv(client, "cities"))

    assert "location" not in header
    assert {"location.longitude", "location.latitude"} <= set(header)
    wuhan = next(row for row in rows if row["slug"] == "wuhan")
    assert (float(wuhan["location.longitude"]), float(wuhan["location.latitude"])) == WUHAN_LON_LAT


def test_csv_lists_related_objects_by_slug(client, reference_data):
    base = PlannedBase.objects.get(slug=HOME_APPLIANCE_BASE)

    _header, rows = csv_rows(get_csv(client, "bases", {"search": base.name}))

    (row,) = rows
    assert row["members"] == "; ".join(
        base.memberships.order_by("position").values_list("city__slug", flat=True)
    )
    assert set(row["sources"].split("; ")) == {PLAN, CHINA_DAILY}
    assert row["sectors"] == "home-appliances"


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_csv_quotes_a_value_a_spreadsheet_would_run_as_a_formula(client, reference_data, start):
    name = f"{start}1+1"
    city = factories.CityFactory(name=name, slug="formula")

    _header, rows = csv_rows(get_csv(client, "cities", {"province": city.province.slug}))

    (row,) = rows
    assert row["name"] == f"'{name}"
    # The JSON keeps the name as it is.
    assert get_json(client, url("cities", "formula/"))["name"] == name


@pytest.mark.parametrize(
    "params",
    [{"search": "Nowhere"}, {"search": "Atlantis"}, {}],
    ids=["only-an-unlocated-city", "no-rows", "located-and-unlocated-cities"],
)
def test_csv_columns_do_not_depend_on_the_rows(client, reference_data, params):
    factories.CityFactory(name="Nowhere", slug="nowhere", location=None)
    expected, _rows = csv_rows(get_csv(client, "cities", {"search": "Wuhan"}))
    assert {"location.longitude", "location.latitude"} <= set(expected)

    header, _rows = csv_rows(get_csv(client, "cities", params))

    assert header == expected


# ---------------------------------------------------------------------------
# GeoJSON
# ---------------------------------------------------------------------------


@pytest.fixture
def unmapped_rows(reference_data):
    """Rows that must stay off the map (a city without a location, alone in
    its province, and a base whose only member is that city) and one base that
    is on it by its area alone."""
    nowhere = factories.CityFactory(slug="nowhere", name="Nowhere", location=None)
    unmapped = factories.PlannedBaseFactory(slug="unmapped-base")
    factories.BaseMembershipFactory(base=unmapped, city=nowhere)
    factories.PlannedBaseFactory(
        slug="outlined-base",
        area=MultiPolygon(Polygon.from_bbox((114.0, 30.3, 114.6, 30.9)), srid=4326),
    )


MAPPED = {"cities": mapped_cities, "provinces": mapped_provinces, "bases": mapped_bases}


def test_the_city_layer_written_by_the_database_matches_the_feature_serializer(client, reference_data):
    """The layer is built in SQL for speed; CityFeatureSerializer (which the
    schema documents) stays the definition it must match."""
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from clusters.api.serializers import CityFeatureSerializer

    served = client.get("/api/v1/cities/geojson/?province=hubei").json()
    request = Request(APIRequestFactory().get("/api/v1/cities/geojson/"))
    cities = City.objects.filter(province__slug="hubei").exclude(location=None).order_by("name", "pk")
    expected = CityFeatureSerializer(cities, many=True, context={"request": request}).data

    assert served["type"] == "FeatureCollection"
    assert len(served["features"]) == cities.count() > 1
    assert served["features"] == json.loads(json.dumps(expected))["features"]


@pytest.mark.parametrize("endpoint", GEO_ENDPOINTS)
def test_geojson_has_a_feature_for_every_record_with_a_geometry(client, unmapped_rows, endpoint):
    expected = MAPPED[endpoint]()
    assert len(expected) < MODELS[endpoint].objects.count()  # some rows really are unmapped

    data = get_geojson(client, endpoint)

    assert len(data["features"]) == len(expected)
    assert set(features_by_id(data)) == expected
    for slug, feature in features_by_id(data).items():
        assert feature["properties"]["name"] == MODELS[endpoint].objects.get(slug=slug).name
        assert feature["properties"]["url"] == f"{SERVER}{url(endpoint, f'{slug}/')}"


def test_geojson_is_not_paginated(client, reference_data):
    factories.CityFactory.create_batch(30)

    data = get_geojson(client, "cities", {"page_size": 10})

    assert len(data["features"]) == City.objects.exclude(location=None).count() > 25


def test_geojson_city_is_a_point_with_longitude_first(client, reference_data):
    wuhan = features_by_id(get_geojson(client, "cities"))["wuhan"]

    assert wuhan["geometry"]["type"] == "Point"
    assert wuhan["geometry"]["coordinates"] == [pytest.approx(114.31), pytest.approx(30.59)]
    assert wuhan["properties"]["province"] == "hubei"


def test_geojson_province_is_the_multipoint_of_its_cities(client, reference_data):
    hubei = features_by_id(get_geojson(client, "provinces"))["hubei"]

    assert hubei["geometry"]["type"] == "MultiPoint"
    assert sorted(map(tuple, hubei["geometry"]["coordinates"])) == sorted(
        (city.location.x, city.location.y) for city in City.objects.filter(province__slug="hubei")
    )


def test_geojson_base_without_an_area_is_the_multipoint_of_its_member_cities(client, reference_data):
    base = PlannedBase.objects.get(slug=HOME_APPLIANCE_BASE)
    assert base.area is None
    members = [m.city for m in base.memberships.order_by("position")]

    feature = features_by_id(get_geojson(client, "bases"))[base.slug]

    assert feature["geometry"]["type"] == "MultiPoint"
    assert feature["geometry"]["coordinates"] == [
        [pytest.approx(c.location.x), pytest.approx(c.location.y)] for c in members
    ]
    assert feature["properties"]["members"] == [c.slug for c in members]


def test_geojson_base_with_an_area_is_its_area(client, unmapped_rows):
    feature = features_by_id(get_geojson(client, "bases"))["outlined-base"]

    assert feature["geometry"]["type"] == "MultiPolygon"
    ring = feature["geometry"]["coordinates"][0][0]
    assert {tuple(position) for position in ring} == {
        (114.0, 30.3),
        (114.6, 30.3),
        (114.6, 30.9),
        (114.0, 30.9),
    }


GEOJSON_FILTER_CASES = [
    ("cities", {"province": "hunan"}, lambda: City.objects.filter(province__slug="hunan")),
    (
        "provinces",
        {"reach": "middle"},
        lambda: {s for s in mapped_provinces() if Province.objects.get(slug=s).reach == "middle"},
    ),
    ("bases", {"city": "ningxiang"}, lambda: PlannedBase.objects.filter(cities__slug="ningxiang")),
    ("bases", {"search": "家电"}, lambda: PlannedBase.objects.filter(name_zh__contains="家电")),
]


@pytest.mark.parametrize(
    ("endpoint", "params", "expected"), GEOJSON_FILTER_CASES, ids=map(case_id, GEOJSON_FILTER_CASES)
)
def test_geojson_honours_filters(client, downstream_rows, endpoint, params, expected):
    expected_slugs = slugs(expected())
    assert 0 < len(expected_slugs) < len(MAPPED[endpoint]())

    assert set(features_by_id(get_geojson(client, endpoint, params))) == expected_slugs


# (endpoint, a feature near Wuhan, a feature far from it)
AROUND_WUHAN_CASES = [
    ("cities", "wuhan", "changsha"),
    ("provinces", "hubei", "hunan"),
    ("bases", "middle-reaches-automobile-alliance", "middle-reaches-home-appliance-rd-alliance"),
]
AROUND_WUHAN_PARAMS = {
    "in_bbox": {"in_bbox": AROUND_WUHAN},
    "near": {"near": "114.31,30.59", "radius_km": 50},
}


@pytest.mark.parametrize(
    ("endpoint", "params", "inside", "outside"),
    [
        pytest.param(
            endpoint,
            params,
            inside,
            outside,
            id=f"{endpoint}-{name}",
            # No fixture base has an area, so `near` matches them all.
        )
        for endpoint, inside, outside in AROUND_WUHAN_CASES
        for name, params in AROUND_WUHAN_PARAMS.items()
    ],
)
def test_geojson_box_and_distance_around_wuhan(client, reference_data, endpoint, params, inside, outside):
    found = set(features_by_id(get_geojson(client, endpoint, params)))

    assert inside in found
    assert outside not in found


def test_geojson_near_wuhan_within_50_km_is_wuhan_alone(client, reference_data):
    assert cities_near(*WUHAN_LON_LAT, 50) == {"wuhan"}

    found = features_by_id(get_geojson(client, "cities", {"near": "114.31,30.59", "radius_km": 50}))

    assert set(found) == {"wuhan"}


# ---------------------------------------------------------------------------
# Query counts do not grow with rows
# ---------------------------------------------------------------------------

MANY = 60


def add_many_rows():
    """MANY rows of every entity, each with the relations its list shows, so
    that a missing select_related or prefetch_related costs a query per row."""
    changsha = City.objects.get(slug="changsha")
    plan = PolicyDocument.objects.get(slug=PLAN)
    metallurgy = Sector.objects.get(slug="metallurgy")
    cities = [factories.CityFactory(parent=changsha) for _ in range(MANY)]  # each in a new province
    sectors = factories.SectorFactory.create_batch(MANY, parent=metallurgy)
    for i in range(MANY):
        pick = lambda rows, count, i=i: [rows[(i + k) % MANY] for k in range(count)]  # noqa: E731
        document = factories.PolicyDocumentFactory(reports_on=plan)
        document.sectors.set(pick(sectors, 2))
        document.cities.set(pick(cities, 2))
        base = factories.PlannedBaseFactory(source__document=document)
        base.sectors.set(pick(sectors, 2))
        for position, city in enumerate(pick(cities, 3)):
            factories.BaseMembershipFactory(base=base, city=city, position=position)


# The most queries each request may make: the site revision (for the ETag
# and the shared cache, clusters/caching.py), then count + page + prefetches;
# the many-rows request must need no more than the few-rows one.
REVISION = 1
QUERY_BUDGETS = {
    url("documents"): REVISION + 4,  # count, page, sectors, cities
    url("sectors"): REVISION + 2,  # count, page
    url("cities"): REVISION + 2,
    url("provinces"): REVISION + 2,
    url("bases"): REVISION + 5,  # count, page, members, sectors, sources
    url("cities", "geojson/"): REVISION + 1,
    url("provinces", "geojson/"): REVISION + 2,  # provinces, their located cities
    url("bases", "geojson/"): REVISION + 2,  # bases, their members
}


@pytest.mark.parametrize("path", list(QUERY_BUDGETS))
def test_query_count_does_not_grow_with_rows(client, reference_data, django_assert_max_num_queries, path):
    params = {} if path.endswith("geojson/") else {"page_size": 100}
    budget = QUERY_BUDGETS[path]

    with django_assert_max_num_queries(budget) as few:
        few_rows = rows_in(client.get(path, params))

    add_many_rows()
    with django_assert_max_num_queries(len(few)) as many:
        many_rows = rows_in(client.get(path, params))

    assert many_rows >= few_rows + MANY  # the many rows were all on the page
    assert len(many) == len(few)


def rows_in(response):
    assert response.status_code == HTTPStatus.OK
    data = response.json()
    return len(data["features"] if "features" in data else data["results"])


# ---------------------------------------------------------------------------
# Throttling
# ---------------------------------------------------------------------------


@pytest.fixture
def three_requests_a_minute(monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("params", [{}, {"format": "csv"}], ids=["json", "csv"])
def test_anonymous_requests_beyond_the_rate_get_a_json_429(
    client, reference_data, three_requests_a_minute, params
):
    for _ in range(3):
        assert client.get(url("cities"), params).status_code == HTTPStatus.OK

    data = get_json(client, url("cities"), params, status=HTTPStatus.TOO_MANY_REQUESTS)

    assert "detail" in data


def test_throttle_covers_every_endpoint_together(client, reference_data, three_requests_a_minute):
    for path in (url("cities"), url("bases", "geojson/"), url("documents", f"{PLAN}/")):
        assert client.get(path).status_code == HTTPStatus.OK

    response = client.get(url("sectors"))

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert int(response["Retry-After"]) > 0


# ---------------------------------------------------------------------------
# Errors are JSON whatever the format
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (url("cities"), {"in_bbox": "nonsense"}, HTTPStatus.BAD_REQUEST),
        (url("cities"), {"near": "114.31,30.59"}, HTTPStatus.BAD_REQUEST),
        (url("cities"), {"province": "atlantis"}, HTTPStatus.BAD_REQUEST),
        (url("documents"), {"year_from": "2019.5"}, HTTPStatus.BAD_REQUEST),
        (url("cities", "atlantis/"), {}, HTTPStatus.NOT_FOUND),
    ],
    ids=["bad-bbox", "near-without-radius", "unknown-slug-filter", "fractional-year", "unknown-slug"],
)
def test_errors_are_json_even_when_csv_is_asked_for(client, reference_data, path, params, status):
    response = client.get(path, {**params, "format": "csv"})

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert "Content-Disposition" not in response
    assert response.json()


def test_oversized_page_size_is_a_json_400_even_with_csv(client, reference_data):
    response = client.get(url("cities"), {"format": "csv", "page_size": 1000})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Content-Type"] == "application/json"


def test_geojson_errors_are_json(client, reference_data):
    data = get_json(client, url("cities", "geojson/"), {"in_bbox": "1,2,3"}, status=HTTPStatus.BAD_REQUEST)

    assert "in_bbox" in data
