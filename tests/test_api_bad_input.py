"""The API under bad query input.

Every list endpoint (each registered viewset's list and its GeoJSON layer),
by every parameter it accepts (its FilterSet's filters plus the pagination,
format and search parameters, read from the code so that a new filter is
covered without touching this file), by a catalogue of hostile values.

Nothing is a server error; every refusal is JSON with a message that names
the parameter it is about.
"""

import json
import sys
from http import HTTPStatus

import pytest
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.urls import resolve, reverse
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient

from clusters.api.fields import SafeGeometryField
from clusters.api.urls import router
from clusters.models import City, PlannedBase
from tests import factories
from tests.geometry_payloads import FIXED, random_payloads
from tests.test_api_writes import make_user, write_permissions

pytestmark = pytest.mark.django_db

# Accepted by every list besides its FilterSet's filters.
COMMON_PARAMETERS = ("page", "page_size", "cursor", "format", "search")


def list_endpoints():
    """The URL of every list the API serves: each viewset's list and its
    list-level actions (the GeoJSON layers)."""
    urls = []
    for _prefix, viewset, basename in router.registry:
        urls.append(reverse(f"api:{basename}-list"))
        urls += [
            reverse(f"api:{basename}-{action.url_name}")
            for action in viewset.get_extra_actions()
            if not action.detail
        ]
    return urls


def viewset_of(url):
    return resolve(url).func.cls


def accepted_parameters(url):
    return sorted(set(viewset_of(url).filterset_class.base_filters) | set(COMMON_PARAMETERS))


def is_paginated(url):
    match = resolve(url)
    return match.func.actions.get("get") == "list" and match.func.cls.pagination_class is not None


def endpoint_id(url):
    return url.removeprefix("/api/v1/").strip("/")


LIST_ENDPOINTS = list_endpoints()
PAGINATED_ENDPOINTS = [url for url in LIST_ENDPOINTS if is_paginated(url)]
GEO_ENDPOINTS = [url for url in LIST_ENDPOINTS if "near" in accepted_parameters(url)]
DETAIL_BASENAMES = [basename for _prefix, _viewset, basename in router.registry]


def test_the_matrix_covers_every_list_the_api_serves():
    """The endpoints are found from the router; this pins what it finds."""
    assert sorted(LIST_ENDPOINTS) == sorted(
        [
            "/api/v1/documents/",
            "/api/v1/sectors/",
            "/api/v1/cities/",
            "/api/v1/provinces/",
            "/api/v1/bases/",
            "/api/v1/cities/geojson/",
            "/api/v1/provinces/geojson/",
            "/api/v1/bases/geojson/",
        ]
    )
    assert sorted(PAGINATED_ENDPOINTS) == sorted(url for url in LIST_ENDPOINTS if "geojson" not in url)
    assert sorted(GEO_ENDPOINTS) == sorted(
        url for url in LIST_ENDPOINTS if url.split("/")[3] in {"cities", "provinces", "bases"}
    )


def test_the_parameters_are_read_from_the_filtersets():
    assert {"sector", "sector_all", "city", "city_all", "in_bbox", "near", "radius_km"} <= set(
        accepted_parameters("/api/v1/bases/")
    )
    assert {"year_from", "year_to", "kind", "language"} <= set(accepted_parameters("/api/v1/documents/"))
    assert set(COMMON_PARAMETERS) <= set(accepted_parameters("/api/v1/sectors/"))


# ---------------------------------------------------------------------------
# What a refusal must look like
# ---------------------------------------------------------------------------


def error_messages(body):
    """Every message string in a DRF error body, however nested."""
    if isinstance(body, str):
        yield body
    elif isinstance(body, dict):
        for value in body.values():
            yield from error_messages(value)
    elif isinstance(body, list):
        for value in body:
            yield from error_messages(value)


def names(body, parameter):
    """Whether an error body is about `parameter`: keyed by it, or saying it."""
    return parameter in body or any(parameter in message for message in error_messages(body))


def assert_handled(response, *parameters):
    """No server error; an answer that parses; a 4xx that is JSON with a
    message (a 400 naming one of `parameters`)."""
    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, response.content[:500]
    content_type = response["Content-Type"]
    if response.status_code < HTTPStatus.BAD_REQUEST:
        assert content_type.startswith(("application/json", "application/geo+json")), content_type
        json.loads(response.content)
        return None
    assert content_type.startswith("application/json"), (content_type, response.content[:200])
    body = json.loads(response.content)
    assert isinstance(body, dict), body
    messages = list(error_messages(body))
    assert messages, body
    assert all(message.strip() for message in messages), body
    if response.status_code == HTTPStatus.BAD_REQUEST and parameters:
        assert any(names(body, parameter) for parameter in parameters), (parameters, body)
    return body


# ---------------------------------------------------------------------------
# The matrix: endpoint, parameter, value
# ---------------------------------------------------------------------------

BAD_VALUES = {
    "empty": "",
    "nul": "\x00",
    "inner-nul": "a\x00b",
    "10000-chars": "x" * 10_000,
    "minus-one": "-1",
    "zero": "0",
    "1e309": "1e309",
    "NaN": "NaN",
    "inf": "inf",
    "huge-integer": "99999999999999999999999",
    "letters": "abc",
    "fraction": "1.5",
    "duck": "🦆",
    "sql": "'; DROP TABLE x;--",
    "percent": "%",
    "backslash": "\\",
    "comma-list": "wuhan,changsha",
    "repeated": ["wuhan", "changsha"],
    "repeated-number-then-letters": ["1", "abc"],
    "repeated-with-nul": ["middle", "\x00"],
    "unknown-slug": "does-not-exist",
    "bbox-three-numbers": "1,2,3",
    "bbox-letters": "a,b,c,d",
    "bbox-off-the-globe": "200,0,201,1",
    "bbox-inverted": "10,10,0,0",
    "bbox-nan": "nan,nan,nan,nan",
    "bbox-five-numbers": "1,2,3,4,5",
    "minus-five": "-5",
    "1e12": "1e12",
}

MATRIX = [
    pytest.param(url, parameter, value, id=f"{endpoint_id(url)}-{parameter}-{value_id}")
    for url in LIST_ENDPOINTS
    for parameter in accepted_parameters(url)
    for value_id, value in BAD_VALUES.items()
]


@pytest.mark.parametrize(("url", "parameter", "value"), MATRIX)
def test_a_bad_value_is_never_a_server_error_and_a_refusal_names_the_parameter(
    client, reference_data, url, parameter, value
):
    response = client.get(url, {parameter: value})

    assert_handled(response, parameter)
    if response.status_code == HTTPStatus.NOT_FOUND:
        # A 404 for a list is a page past the end, and says so.
        assert names(json.loads(response.content), parameter), response.content


@pytest.mark.parametrize("url", LIST_ENDPOINTS, ids=endpoint_id)
def test_a_nul_in_a_parameter_name_is_refused(client, reference_data, url):
    response = client.get(url, {"sec\x00tor": "x"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert_handled(response, "sec\x00tor")


@pytest.mark.parametrize("url", LIST_ENDPOINTS, ids=endpoint_id)
def test_every_parameter_bad_at_once_is_still_a_json_400(client, reference_data, url):
    parameters = accepted_parameters(url)
    response = client.get(url, dict.fromkeys(parameters, "\x00"))

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert_handled(response, *parameters)


@pytest.mark.parametrize("url", LIST_ENDPOINTS, ids=endpoint_id)
def test_an_unknown_format_names_the_parameter(client, reference_data, url):
    response = client.get(url, {"format": "xml"})

    body = assert_handled(response)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert names(body, "format"), body


# ---------------------------------------------------------------------------
# A box and a distance: parameters that only make sense together
# ---------------------------------------------------------------------------

WUHAN = "114.30,30.59"
GEO_COMBINATIONS = [
    ("near-without-radius", {"near": WUHAN}, ["near", "radius_km"]),
    ("radius-without-near", {"radius_km": "50"}, ["near", "radius_km"]),
    ("negative-radius", {"near": WUHAN, "radius_km": "-5"}, ["radius_km"]),
    ("radius-1e12", {"near": WUHAN, "radius_km": "1e12"}, ["radius_km"]),
    ("radius-nan", {"near": WUHAN, "radius_km": "NaN"}, ["radius_km"]),
    ("radius-inf", {"near": WUHAN, "radius_km": "inf"}, ["radius_km"]),
    ("radius-letters", {"near": WUHAN, "radius_km": "abc"}, ["radius_km"]),
    ("near-letters", {"near": "a,b", "radius_km": "5"}, ["near"]),
    ("near-three-numbers", {"near": "1,2,3", "radius_km": "5"}, ["near"]),
    ("near-off-the-globe", {"near": "200,95", "radius_km": "5"}, ["near"]),
    ("near-nan", {"near": "nan,nan", "radius_km": "5"}, ["near"]),
    ("near-empty-with-radius", {"near": "", "radius_km": "5"}, ["near", "radius_km"]),
    ("bbox-three-numbers", {"in_bbox": "1,2,3"}, ["in_bbox"]),
    ("bbox-letters", {"in_bbox": "a,b,c,d"}, ["in_bbox"]),
    ("bbox-off-the-globe", {"in_bbox": "200,0,201,1"}, ["in_bbox"]),
    ("bbox-inverted", {"in_bbox": "10,10,0,0"}, ["in_bbox"]),
    ("bbox-nan", {"in_bbox": "nan,nan,nan,nan"}, ["in_bbox"]),
    ("bbox-inf", {"in_bbox": "-inf,-inf,inf,inf"}, ["in_bbox"]),
    ("bbox-five-numbers", {"in_bbox": "1,2,3,4,5"}, ["in_bbox"]),
    ("bbox-good-near-bad", {"in_bbox": "110,25,120,35", "near": "x", "radius_km": "5"}, ["near"]),
]


@pytest.mark.parametrize(
    ("params", "named"), [case[1:] for case in GEO_COMBINATIONS], ids=[case[0] for case in GEO_COMBINATIONS]
)
@pytest.mark.parametrize("url", GEO_ENDPOINTS, ids=endpoint_id)
def test_a_bad_box_or_distance_is_a_json_400_naming_the_parameter(client, reference_data, url, params, named):
    response = client.get(url, params)

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    body = assert_handled(response, *named)
    for parameter in named:
        assert names(body, parameter), (parameter, body)


@pytest.mark.parametrize("url", GEO_ENDPOINTS, ids=endpoint_id)
def test_a_good_distance_is_accepted(client, reference_data, url):
    """The combinations above are refused for what they are, not because the
    endpoint refuses every distance."""
    response = client.get(url, {"near": WUHAN, "radius_km": "50", "in_bbox": "110,25,120,35"})

    assert response.status_code == HTTPStatus.OK
    assert_handled(response)


# ---------------------------------------------------------------------------
# Pagination
# ---------------------------------------------------------------------------

BAD_PAGES = [
    ("page", "0"),
    ("page", "-1"),
    ("page", "abc"),
    ("page", "1.5"),
    ("page", "1e3"),
    ("page", "٣"),  # an Arabic-Indic three: a digit to str.isdigit(), not to the API
    ("page", "9" * 40),
    ("page_size", "0"),
    ("page_size", "101"),
    ("page_size", "1000000"),
    ("page_size", "9" * 40),
    ("page_size", "abc"),
    ("page_size", "-5"),
    ("cursor", "abc"),
    ("cursor", "e30"),  # {}
    ("cursor", "W10"),  # []
    ("cursor", "x" * 1500),
    ("cursor", "eyJzb3J0IjpbIm5hbWUiLCJpZCJdLCJhZnRlciI6WyJhIiwiYiJdLCJwYWdlIjoyfQ"),  # id "b"
]


@pytest.mark.parametrize(
    ("parameter", "value"), BAD_PAGES, ids=[f"{name}={value[:12]}" for name, value in BAD_PAGES]
)
@pytest.mark.parametrize("url", PAGINATED_ENDPOINTS, ids=endpoint_id)
def test_a_bad_page_request_is_a_json_400_naming_the_parameter(client, reference_data, url, parameter, value):
    response = client.get(url, {parameter: value})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(assert_handled(response, parameter)) == {parameter}


@pytest.mark.parametrize("url", PAGINATED_ENDPOINTS, ids=endpoint_id)
def test_a_page_past_the_end_is_a_json_404_naming_the_page(client, reference_data, url):
    response = client.get(url, {"page": "999999"})

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert set(assert_handled(response, "page")) == {"page"}


# ---------------------------------------------------------------------------
# Detail URLs
# ---------------------------------------------------------------------------


def detail_url(basename, slug):
    """The detail URL of `slug`, which may be already percent-encoded."""
    return reverse(f"api:{basename}-detail", kwargs={"slug": "SLUG"}).replace("SLUG", slug)


@pytest.mark.parametrize("basename", DETAIL_BASENAMES)
def test_an_unknown_slug_is_a_json_404(client, reference_data, basename):
    response = client.get(detail_url(basename, "does-not-exist"))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content)["detail"]


# (id, slug as it appears in the URL)
ODD_SLUGS = [
    ("nul", "%00"),
    ("inner-nul", "wu%00han"),
    ("trailing-nul", "wuhan%00"),
    ("chinese", "%E6%AD%A6%E6%B1%89"),
    ("duck", "%F0%9F%A6%86"),
    ("invalid-utf8", "%FF"),
    ("percent", "%25"),
    ("space", "wuhan%20"),
    ("dot-dot-slash", "..%2F"),
    ("sql", "%27%3B%20DROP%20TABLE%20x%3B--"),
    ("upper-case", "WUHAN"),
    ("very-long", "a" * 10_000),
    ("very-long-chinese", "%E6%AD%A6" * 2_000),
]


@pytest.mark.parametrize("slug", [slug for _id, slug in ODD_SLUGS], ids=[id_ for id_, _slug in ODD_SLUGS])
@pytest.mark.parametrize("basename", DETAIL_BASENAMES)
def test_a_detail_slug_with_odd_characters_is_a_404_not_a_500(client, reference_data, basename, slug):
    response = client.get(detail_url(basename, slug))

    assert response.status_code == HTTPStatus.NOT_FOUND


def odd_slug_json_cases():
    for basename in DETAIL_BASENAMES:
        for id_, slug in ODD_SLUGS:
            yield pytest.param(basename, slug, id=f"{basename}-{id_}")


@pytest.mark.parametrize(("basename", "slug"), list(odd_slug_json_cases()))
def test_a_detail_404_is_json_whatever_the_slug(client, reference_data, basename, slug):
    """The API's errors are JSON (clusters/api/errors.py), a 404 included."""
    response = client.get(detail_url(basename, slug))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert json.loads(response.content)["detail"]


@pytest.mark.parametrize("basename", DETAIL_BASENAMES)
def test_a_detail_refuses_a_nul_in_a_parameter(client, reference_data, basename):
    response = client.get(detail_url(basename, "does-not-exist"), {"fields": "\x00"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert_handled(response, "fields")


# ---------------------------------------------------------------------------
# Geometry in a write's body: a JSON 400 naming the field, the stored one kept
# ---------------------------------------------------------------------------

STORED_AREA = MultiPolygon(Polygon.from_bbox((114, 30, 115, 31)), srid=4326)
# The body-size limit has its own answer, and a point with 100,000 decimals is
# a point; every other fixed payload is refused.
HOSTILE_GEOMETRIES = [name for name in FIXED if name not in {"text-over-the-size-limit", "wkt-long-number"}]


@pytest.fixture
def geometry_editor(reference_data):
    # A 500 comes back as a response the test can assert on.
    client = APIClient(raise_request_exception=False)
    client.force_login(make_user("geometry-editor", write_permissions(City, PlannedBase)))
    return client


def write(client, method, url, body):
    """A write made on top of the version just read, as a careful client does.
    Big integers go out as written; NaN and Infinity are the parser's to refuse."""
    etag = client.get(url)["ETag"]
    return client.generic(method, url, json.dumps(body), content_type="application/json", HTTP_IF_MATCH=etag)


def assert_area_kept(base):
    base.refresh_from_db()
    assert base.area is not None and base.area.equals_exact(STORED_AREA, tolerance=0)


@pytest.mark.parametrize("name", HOSTILE_GEOMETRIES)
def test_a_hostile_base_area_is_a_json_400_and_the_stored_area_stays(geometry_editor, name):
    base = factories.PlannedBaseFactory(area=STORED_AREA)

    response = write(geometry_editor, "PATCH", detail_url("base", base.slug), {"area": FIXED[name]})

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content[:300]
    assert_handled(response, "area")
    assert_area_kept(base)


@pytest.mark.parametrize("name", HOSTILE_GEOMETRIES)
def test_a_hostile_city_location_is_a_json_400_and_the_stored_location_stays(geometry_editor, name):
    city = factories.CityFactory(location=Point(114.31, 30.59, srid=4326))

    response = write(geometry_editor, "PATCH", detail_url("city", city.slug), {"location": FIXED[name]})

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content[:300]
    assert_handled(response, "location")
    city.refresh_from_db()
    assert city.location.coords == (114.31, 30.59)


RANDOM_GEOMETRIES = random_payloads(seed=7, count=60)


@pytest.mark.parametrize(
    "payload", [payload for _name, payload in RANDOM_GEOMETRIES], ids=[name for name, _ in RANDOM_GEOMETRIES]
)
def test_a_random_base_area_is_stored_whole_or_refused_keeping_the_stored_one(geometry_editor, payload):
    base = factories.PlannedBaseFactory(area=STORED_AREA)

    response = write(geometry_editor, "PATCH", detail_url("base", base.slug), {"area": payload})

    assert response.status_code in {HTTPStatus.OK, HTTPStatus.BAD_REQUEST}, response.content[:300]
    assert_handled(response, "area", "JSON")
    if response.status_code == HTTPStatus.BAD_REQUEST:
        assert_area_kept(base)
    else:
        base.refresh_from_db()
        assert base.area is not None and not base.area.empty


def test_a_geometry_too_deep_to_write_out_again_is_refused():
    """A body the JSON parser just managed to read can be too deep for
    json.dumps further down the stack."""
    deep = [114, 30]
    for _ in range(sys.getrecursionlimit() + 10):
        deep = [deep]

    with pytest.raises(ValidationError):
        SafeGeometryField(PlannedBase, "area").to_internal_value({"type": "Point", "coordinates": deep})
