"""Safe geometry input: what parse_geometry accepts, what it refuses, and
that GDAL never sees a coordinate reference system it could follow."""

import json
from unittest import mock

import pytest
from django import forms
from django.contrib.gis.gdal import OGRGeometry
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Point, Polygon
from django.core.exceptions import ValidationError

from clusters.geo import (
    MAX_GEOMETRY_CHARS,
    SafeMapWidgetMixin,
    SafeMultiPolygonFormField,
    SafePointFormField,
    has_empty_part,
    parse_geometry,
    within_belt,
)
from clusters.models import PlannedBase
from clusters.resources import GeometryWidget, PlannedBaseResource
from tests import factories
from tests.gdal import assert_gdal_not_called
from tests.geometry_payloads import FIXED, HOLE, RING, VALID_AREAS, all_payloads, gc_geojson, gc_wkt

WUHAN = (114.31, 30.59)
WUHAN_GEOJSON = '{"type": "Point", "coordinates": [114.31, 30.59]}'


def messages(excinfo):
    return " ".join(excinfo.value.messages)


# ---------------------------------------------------------------------------
# Accepted input
# ---------------------------------------------------------------------------


def crs_named(name):
    return {"type": "name", "properties": {"name": name}}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(WUHAN_GEOJSON, id="geojson-string"),
        pytest.param({"type": "Point", "coordinates": list(WUHAN)}, id="geojson-dict"),
        pytest.param(f"  {WUHAN_GEOJSON}\n", id="geojson-string-with-whitespace"),
        pytest.param("POINT (114.31 30.59)", id="wkt"),
        pytest.param("point(114.31 30.59)", id="wkt-lowercase"),
        pytest.param("SRID=4326;POINT (114.31 30.59)", id="ewkt-4326"),
        pytest.param(
            {"type": "Point", "coordinates": list(WUHAN), "crs": crs_named("EPSG:4326")},
            id="crs-epsg-4326",
        ),
        pytest.param(
            json.dumps(
                {"type": "Point", "coordinates": list(WUHAN), "crs": crs_named("urn:ogc:def:crs:EPSG::4326")}
            ),
            id="crs-urn-epsg-4326",
        ),
        pytest.param(
            {
                "type": "Point",
                "coordinates": list(WUHAN),
                "crs": crs_named("urn:ogc:def:crs:OGC:1.3:CRS84"),
            },
            id="crs-crs84",
        ),
        pytest.param(GEOSGeometry("POINT (114.31 30.59)"), id="geos-without-srid"),
        pytest.param(Point(*WUHAN, srid=4326), id="geos-4326"),
    ],
)
def test_accepts_a_wgs84_point(value):
    geometry = parse_geometry(value)

    assert geometry.srid == 4326
    assert geometry.geom_type == "Point"
    assert geometry.coords == pytest.approx(WUHAN)


def test_a_wgs84_crs_member_is_stripped_before_gdal_parses():
    value = {"type": "Point", "coordinates": list(WUHAN), "crs": crs_named("EPSG:4326")}

    with mock.patch(
        "django.contrib.gis.gdal.OGRGeometry.from_json", wraps=OGRGeometry.from_json
    ) as from_json:
        geometry = parse_geometry(value)

    from_json.assert_called_once()
    assert "crs" not in json.loads(from_json.call_args.args[0])
    assert geometry.srid == 4326


def test_a_wgs84_crs_member_inside_a_collection_is_accepted_and_stripped():
    value = {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "Point", "coordinates": list(WUHAN), "crs": crs_named("EPSG:4326")},
            {"type": "LineString", "coordinates": [[114, 30], [115, 31]]},
        ],
    }

    with mock.patch(
        "django.contrib.gis.gdal.OGRGeometry.from_json", wraps=OGRGeometry.from_json
    ) as from_json:
        geometry = parse_geometry(value)

    assert "crs" not in from_json.call_args.args[0]
    assert geometry.geom_type == "GeometryCollection"
    assert len(geometry) == 2


def test_accepts_a_polygon_and_keeps_its_rings():
    geometry = parse_geometry("POLYGON ((114 30, 115 30, 115 31, 114 31, 114 30))")

    assert geometry.geom_type == "Polygon"
    assert geometry.srid == 4326
    assert geometry.extent == (114, 30, 115, 31)


# ---------------------------------------------------------------------------
# Coordinate reference systems GDAL could follow
# ---------------------------------------------------------------------------

POINT = {"type": "Point", "coordinates": [114.3, 30.6]}
# The classic: a CRS "name" that GDAL < 3.9 would read as a file.
PASSWD_CRS = (
    '{"type":"Point","coordinates":[114.3,30.6],"crs":{"type":"name","properties":{"name":"/etc/passwd"}}}'
)

HOSTILE_CRS = [
    pytest.param(
        PASSWD_CRS,
        id="name-local-file",
    ),
    pytest.param({**POINT, "crs": crs_named("/etc/passwd")}, id="name-local-file-dict"),
    pytest.param({**POINT, "crs": crs_named("EPSG:3857")}, id="name-other-epsg"),
    pytest.param({**POINT, "crs": crs_named("https://example.com/crs.wkt")}, id="name-url"),
    pytest.param({**POINT, "crs": crs_named("EPSG:4326 ")}, id="name-4326-with-trailing-space"),
    pytest.param(
        {**POINT, "crs": {"type": "link", "properties": {"href": "file:///etc/passwd", "type": "proj4"}}},
        id="link-file",
    ),
    pytest.param(
        {
            **POINT,
            "crs": {"type": "link", "properties": {"href": "https://example.com/crs", "type": "ogcwkt"}},
        },
        id="link-url",
    ),
    pytest.param({**POINT, "crs": None}, id="crs-null"),
    pytest.param({**POINT, "crs": "EPSG:4326"}, id="crs-bare-string"),
    pytest.param({**POINT, "crs": {"type": "name", "properties": "/etc/passwd"}}, id="properties-not-object"),
    pytest.param(
        {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Point", "coordinates": [114.3, 30.6]},
                {**POINT, "crs": crs_named("/etc/passwd")},
            ],
        },
        id="nested-in-collection",
    ),
    pytest.param(
        json.dumps(
            {
                "type": "GeometryCollection",
                "geometries": [
                    {
                        "type": "GeometryCollection",
                        "geometries": [
                            {
                                **POINT,
                                "crs": {"type": "link", "properties": {"href": "file:///etc/shadow"}},
                            }
                        ],
                    }
                ],
            }
        ),
        id="link-nested-two-collections-deep",
    ),
]


@pytest.mark.parametrize("value", HOSTILE_CRS)
def test_refuses_a_crs_other_than_wgs84_before_gdal_sees_it(gdal_trap, value):
    with pytest.raises(ValidationError) as excinfo:
        parse_geometry(value)

    assert excinfo.value.code == "crs"
    assert "EPSG:4326" in messages(excinfo)
    assert_gdal_not_called(gdal_trap)


def test_the_gdal_trap_is_on_the_real_path(gdal_trap):
    """Without this, the test above could pass with a trap GDAL never walks into."""
    with pytest.raises(AssertionError, match="GDAL was handed the input"):
        parse_geometry(WUHAN_GEOJSON)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({**POINT, "CRS": crs_named("/etc/passwd")}, id="CRS-uppercase"),
        pytest.param(
            {**POINT, "Crs": {"type": "link", "properties": {"href": "file:///etc/passwd"}}}, id="Crs"
        ),
        pytest.param(
            '{"type":"Point","coordinates":[114.3,30.6],'
            '"crs\\u0000x":{"type":"name","properties":{"name":"/etc/passwd"}}}',
            id="crs-with-nul-suffix",
        ),
        pytest.param(
            {"type": "GeometryCollection", "geometries": [{**POINT, "CRS": crs_named("/etc/passwd")}]},
            id="CRS-in-collection-member",
        ),
    ],
)
def test_refuses_a_crs_member_spelled_in_another_case_before_gdal_sees_it(gdal_trap, value):
    with pytest.raises(ValidationError) as excinfo:
        parse_geometry(value)

    assert excinfo.value.code == "crs"
    assert_gdal_not_called(gdal_trap)


# ---------------------------------------------------------------------------
# Other refused input
# ---------------------------------------------------------------------------


def nested_coordinates(depth):
    return '{"type":"Point","coordinates":' + "[" * depth + "114.3, 30.6" + "]" * depth + "}"


BOWTIE = "POLYGON ((114 30, 115 31, 115 30, 114 31, 114 30))"
TOO_LARGE = "LINESTRING (" + ", ".join(["114.31 30.59", "114.32 30.6"] * (MAX_GEOMETRY_CHARS // 20)) + ")"

BAD_INPUT = [
    # (value, code, keyword in the message)
    pytest.param("SRID=3857;POINT (12724930 3582000)", "crs", "EPSG:4326", id="ewkt-3857"),
    pytest.param("SRID=4269;POINT (114.31 30.59)", "crs", "EPSG:4326", id="ewkt-4269"),
    pytest.param("SRID=;POINT (114.31 30.59)", "crs", "EPSG:4326", id="ewkt-empty-srid"),
    pytest.param("0101000000AE47E17A14945C40D7A3703D0A973E40", "invalid_geom", "WKT", id="hex-wkb"),
    pytest.param("0101000020E6100000AE47E17A14945C40D7A3703D0A973E40", "invalid_geom", "WKT", id="hex-ewkb"),
    pytest.param(
        bytes.fromhex("0101000000AE47E17A14945C40D7A3703D0A973E40"), "invalid_geom", "WKT", id="wkb-bytes"
    ),
    pytest.param(
        memoryview(bytes.fromhex("0101000000AE47E17A14945C40D7A3703D0A973E40")),
        "invalid_geom",
        "WKT",
        id="wkb-memoryview",
    ),
    pytest.param("<gml:Point><gml:pos>114.31 30.59</gml:pos></gml:Point>", "invalid_geom", "WKT", id="gml"),
    pytest.param("POINT (114.31 30.59)\x00", "invalid_geom", "NUL", id="nul-after-wkt"),
    pytest.param('{"type":"Point",\x00"coordinates":[114.3,30.6]}', "invalid_geom", "NUL", id="nul-in-json"),
    pytest.param(
        '{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[114.3,30.6]}}',
        "invalid_geom",
        "Feature",
        id="feature",
    ),
    pytest.param('{"type":"FeatureCollection","features":[]}', "invalid_geom", "FeatureCollection", id="fc"),
    pytest.param({"coordinates": [114.3, 30.6]}, "invalid_geom", "type", id="no-type"),
    pytest.param(
        {"type": "point", "coordinates": [114.3, 30.6]}, "invalid_geom", "type", id="type-lowercase"
    ),
    pytest.param('{"type":"Point","coordinates":[NaN,30.6]}', "invalid_geom", "NaN", id="json-nan"),
    pytest.param(
        '{"type":"Point","coordinates":[114.3,Infinity]}', "invalid_geom", "Infinity", id="json-inf"
    ),
    pytest.param(
        '{"type":"Point","coordinates":[-Infinity,30.6]}', "invalid_geom", "Infinity", id="json-ninf"
    ),
    pytest.param('{"type":"Point","coordinates":[1e400,30.6]}', "out_of_range", "finite", id="json-overflow"),
    pytest.param(
        {"type": "Point", "coordinates": [float("nan"), 30.6]}, "out_of_range", "finite", id="dict-nan"
    ),
    pytest.param("POINT (nan 30.6)", "out_of_range", "finite", id="wkt-nan"),
    pytest.param("POINT (200 30)", "out_of_range", "longitude", id="wkt-lon-200"),
    pytest.param("POINT (114 95)", "out_of_range", "latitude", id="wkt-lat-95"),
    pytest.param('{"type":"Point","coordinates":[200,30]}', "out_of_range", "longitude", id="json-lon-200"),
    pytest.param('{"type":"Point","coordinates":[114,95]}', "out_of_range", "latitude", id="json-lat-95"),
    pytest.param(
        {"type": "Polygon", "coordinates": [[[114, 30], [115, 30], [115, -91], [114, 30]]]},
        "out_of_range",
        "range",
        id="polygon-vertex-lat-minus-91",
    ),
    pytest.param("POINT (1e146 30)", "out_of_range", "range", id="wkt-1e146"),
    pytest.param('{"type":"Point","coordinates":[114.3,1e146]}', "out_of_range", "range", id="json-1e146"),
    pytest.param(
        "LINESTRING (114 30, -1e146 30)", "out_of_range", "range", id="linestring-vertex-minus-1e146"
    ),
    pytest.param("[" * 10_000, "invalid_geom", "WKT", id="10000-brackets"),
    pytest.param("{" * 10_000, "invalid_geom", "GeoJSON", id="10000-braces"),
    pytest.param(nested_coordinates(10_000), "invalid_geom", "GeoJSON", id="json-coordinates-10000-deep"),
    pytest.param(
        nested_coordinates(100), "invalid_geom", "nested too deeply", id="json-coordinates-100-deep"
    ),
    pytest.param(TOO_LARGE, "invalid_geom", "too large", id="over-size-limit"),
    pytest.param(
        '{"type":"Point","coordinates":[114.3,30.6]' + ' "x"' * 600_000,
        "invalid_geom",
        "large",
        id="big-json",
    ),
    pytest.param("POINT EMPTY", "invalid_geom", "empty", id="wkt-point-empty"),
    pytest.param("GEOMETRYCOLLECTION EMPTY", "invalid_geom", "empty", id="wkt-collection-empty"),
    pytest.param('{"type":"Point","coordinates":[]}', "invalid_geom", "empty", id="json-point-empty"),
    pytest.param(
        {"type": "MultiPolygon", "coordinates": []}, "invalid_geom", "empty", id="json-multipolygon-empty"
    ),
    pytest.param(BOWTIE, "invalid_geom", "not valid", id="self-intersecting-polygon"),
    pytest.param(
        {"type": "Polygon", "coordinates": [[[114, 30], [115, 31], [115, 30], [114, 31], [114, 30]]]},
        "invalid_geom",
        "Self-intersection",
        id="self-intersecting-polygon-geojson",
    ),
    pytest.param("POLYGON ((114 30, 115 30, 115 31, 114 31))", "invalid_geom", "WKT", id="unclosed-ring"),
    pytest.param({"type": "Point", "coordinates": [114.3]}, "invalid_geom", "two numbers", id="one-number"),
    pytest.param(
        {"type": "Point", "coordinates": [114.3, "30.6"]}, "invalid_geom", "two numbers", id="string"
    ),
    pytest.param({"type": "Point", "coordinates": [True, 30.6]}, "invalid_geom", "two numbers", id="bool"),
    pytest.param({"type": "Point", "coordinates": "114.3 30.6"}, "invalid_geom", "arrays", id="coords-str"),
    pytest.param({"type": "GeometryCollection", "geometries": "x"}, "invalid_geom", "list", id="gc-str"),
    pytest.param({"type": "GeometryCollection", "geometries": [1]}, "invalid_geom", "object", id="gc-int"),
    pytest.param('["Point", 114.3, 30.6]', "invalid_geom", "GeoJSON or WKT", id="json-array"),
    pytest.param("LINEARRING (114 30, 115 30, 115 31, 114 30)", "invalid_geom", "WKT", id="linearring"),
    pytest.param("CIRCLE (114 30, 1)", "invalid_geom", "WKT", id="unknown-wkt-type"),
    pytest.param("Wuhan", "invalid_geom", "WKT", id="words"),
    pytest.param(114, "invalid_geom", "GeoJSON or WKT", id="int"),
    pytest.param(114.31, "invalid_geom", "GeoJSON or WKT", id="float"),
    pytest.param([114.31, 30.59], "invalid_geom", "GeoJSON or WKT", id="list"),
    pytest.param((114.31, 30.59), "invalid_geom", "GeoJSON or WKT", id="tuple"),
    pytest.param(None, "invalid_geom", "GeoJSON or WKT", id="none"),
    pytest.param(Point(*WUHAN, srid=3857), "crs", "EPSG:4326", id="geos-3857"),
]


@pytest.mark.parametrize(("value", "code", "keyword"), BAD_INPUT)
def test_refuses_bad_input_with_a_clear_message(value, code, keyword):
    with pytest.raises(ValidationError) as excinfo:
        parse_geometry(value)

    assert excinfo.value.code == code
    assert keyword.lower() in messages(excinfo).lower()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("POINT (114.31 30.59 1e146)", id="wkt"),
        pytest.param('{"type":"Point","coordinates":[114.31,30.59,1e146]}', id="geojson"),
        pytest.param({"type": "LineString", "coordinates": [[114, 30, 0], [115, 31, -1e146]]}, id="dict"),
    ],
)
def test_refuses_a_huge_third_coordinate(value):
    # Never print the returned geometry's WKT here: that is what crashes.
    with pytest.raises(ValidationError):
        parse_geometry(value)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"bbox": "deep"}, id="deeply-nested-bbox"),
        pytest.param({"GEOMETRIES": [{**POINT, "crs": crs_named("/etc/passwd")}]}, id="GEOMETRIES-uppercase"),
        pytest.param({"properties": {"crs": crs_named("/etc/passwd")}}, id="crs-under-another-member"),
    ],
)
def test_members_other_than_the_geometry_never_reach_gdal(extra):
    """GDAL gets a rebuilt copy with only type, coordinates and geometries."""
    if extra.get("bbox") == "deep":
        deep = []
        for _ in range(5_000):
            deep = [deep]
        extra = {"bbox": deep}
    value = {"type": "GeometryCollection", "geometries": [POINT], **extra}
    seen = []
    real_from_json = OGRGeometry.from_json

    def spy(text):
        seen.append(text)
        return real_from_json(text)

    with mock.patch.object(OGRGeometry, "from_json", staticmethod(spy)):
        geometry = parse_geometry(value)

    assert geometry.geom_type == "GeometryCollection"
    assert seen and all(set(json.loads(text)) == {"type", "geometries"} for text in seen)
    assert all("passwd" not in text for text in seen)


def test_refused_wkt_never_reaches_gdal(gdal_trap):
    with pytest.raises(ValidationError):
        parse_geometry("SRID=3857;POINT (12724930 3582000)")

    assert_gdal_not_called(gdal_trap)


# ---------------------------------------------------------------------------
# within_belt
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("geometry", "inside"),
    [
        pytest.param(Point(114.31, 30.59, srid=4326), True, id="wuhan"),
        pytest.param(Point(121.47, 31.23, srid=4326), True, id="shanghai"),
        pytest.param(Point(102.71, 25.04, srid=4326), True, id="kunming"),
        pytest.param(Point(97, 21, srid=4326), True, id="south-west-corner"),
        pytest.param(Point(116.4, 39.9, srid=4326), False, id="beijing"),
        pytest.param(Point(30.59, 114.31, srid=4326), False, id="wuhan-swapped"),
        pytest.param(Polygon.from_bbox((113, 29, 115, 31)), True, id="polygon-inside"),
        pytest.param(Polygon.from_bbox((114, 34, 115, 36)), False, id="polygon-across-north-edge"),
        pytest.param(Polygon.from_bbox((96, 25, 98, 26)), False, id="polygon-across-west-edge"),
        pytest.param(
            MultiPolygon(Polygon.from_bbox((113, 29, 114, 30)), Polygon.from_bbox((116, 39, 117, 40))),
            False,
            id="multipolygon-one-part-in-beijing",
        ),
    ],
)
def test_within_belt(geometry, inside):
    assert within_belt(geometry) is inside


# ---------------------------------------------------------------------------
# Form fields
# ---------------------------------------------------------------------------


def test_point_form_field_cleans_valid_input():
    for value in (WUHAN_GEOJSON, "POINT (114.31 30.59)", "SRID=4326;POINT (114.31 30.59)"):
        point = SafePointFormField().clean(value)

        assert point.geom_type == "Point"
        assert point.srid == 4326
        assert point.coords == pytest.approx(WUHAN)


@pytest.mark.parametrize(("value", "code", "keyword"), BAD_INPUT)
def test_point_form_field_raises_validation_error_for_bad_input(value, code, keyword):
    with pytest.raises(ValidationError):
        SafePointFormField().clean(value)


@pytest.mark.parametrize("value", HOSTILE_CRS)
def test_point_form_field_refuses_a_hostile_crs_without_gdal(gdal_trap, value):
    with pytest.raises(ValidationError):
        SafePointFormField().clean(value)

    assert_gdal_not_called(gdal_trap)


def test_point_form_field_refuses_an_upper_case_crs_member_with_a_validation_error():
    with pytest.raises(ValidationError):
        SafePointFormField().clean({**POINT, "CRS": crs_named("/etc/passwd")})


def test_point_form_field_refuses_another_geometry_type():
    with pytest.raises(ValidationError) as excinfo:
        SafePointFormField().clean("LINESTRING (114 30, 115 31)")

    assert excinfo.value.code == "invalid_geom_type"


def test_empty_form_field_input():
    with pytest.raises(ValidationError) as excinfo:
        SafePointFormField().clean("")
    assert excinfo.value.code == "required"

    assert SafePointFormField(required=False).clean("") is None
    assert SafePointFormField(required=False).clean(None) is None


@pytest.mark.parametrize(
    "text",
    [
        "SRID=3857;POINT (12724930 3582000)",
        PASSWD_CRS,
        "0101000000AE47E17A14945C40D7A3703D0A973E40",
        "POINT (200 30)",
        "not a geometry",
    ],
)
def test_bound_data_of_bad_text_is_none(gdal_trap, text):
    assert SafePointFormField().bound_data(text, None) is None
    assert_gdal_not_called(gdal_trap)


def test_bound_data_of_good_text_is_a_checked_geometry():
    geometry = SafePointFormField().bound_data("POINT (114.31 30.59)", None)

    assert isinstance(geometry, GEOSGeometry)
    assert geometry.srid == 4326
    assert geometry.coords == pytest.approx(WUHAN)


def test_bound_data_of_empty_text_is_left_to_django():
    initial = Point(*WUHAN, srid=4326)

    assert SafePointFormField().bound_data("", initial) == ""
    assert SafePointFormField().bound_data(None, initial) is None


@pytest.mark.parametrize("submitted", ["POINT (200 30)", "POINT (121.47 31.23)"])
def test_bound_data_of_a_disabled_field_is_its_initial_value(submitted):
    initial = Point(*WUHAN, srid=4326)

    assert SafePointFormField(disabled=True).bound_data(submitted, initial) is initial


class LocationForm(forms.Form):
    location = SafePointFormField()


def test_a_form_redisplayed_with_a_hostile_crs_never_hands_it_to_gdal(gdal_trap):
    form = LocationForm(data={"location": PASSWD_CRS})

    assert not form.is_valid()
    assert "EPSG:4326" in form.errors["location"][0]
    assert form["location"].value() is None
    html = str(form["location"])

    assert "/etc/passwd" not in html
    assert_gdal_not_called(gdal_trap)


def test_multipolygon_form_field_turns_a_polygon_into_a_multipolygon():
    geometry = SafeMultiPolygonFormField().clean("POLYGON ((114 30, 115 30, 115 31, 114 31, 114 30))")

    assert isinstance(geometry, MultiPolygon)
    assert geometry.srid == 4326
    assert len(geometry) == 1
    assert geometry[0].extent == (114, 30, 115, 31)


def test_multipolygon_form_field_keeps_a_multipolygon():
    geometry = SafeMultiPolygonFormField().clean(
        {
            "type": "MultiPolygon",
            "coordinates": [
                [[[114, 30], [115, 30], [115, 31], [114, 30]]],
                [[[116, 30], [117, 30], [117, 31], [116, 30]]],
            ],
        }
    )

    assert isinstance(geometry, MultiPolygon)
    assert len(geometry) == 2


@pytest.mark.parametrize(
    "value",
    ["POINT (114.31 30.59)", BOWTIE, "SRID=3857;POLYGON ((0 0, 1 0, 1 1, 0 0))"],
)
def test_multipolygon_form_field_refuses_bad_input(value):
    with pytest.raises(ValidationError):
        SafeMultiPolygonFormField().clean(value)


# ---------------------------------------------------------------------------
# Empty parts, text after the geometry, huge numbers, odd types, deep nesting
# ---------------------------------------------------------------------------

REFUSED_WITH_A_REASON = [
    # (payload in tests.geometry_payloads.FIXED, words of the reason)
    ("wkt-multipolygon-empty-part", "empty part"),
    ("wkt-multipolygon-empty-first", "empty part"),
    ("wkt-polygon-empty", "geometry is empty"),
    ("wkt-polygon-empty-hole", "empty part"),
    ("wkt-multipoint-empty-point", "empty part"),
    ("wkt-multilinestring-empty-line", "empty part"),
    ("wkt-collection-empty-member", "empty part"),
    ("wkt-empty-lowercase", "empty part"),
    ("geojson-multipolygon-empty-polygon", "empty part"),
    ("geojson-multipolygon-empty-second", "empty part"),
    ("geojson-multipolygon-empty-ring", "empty part"),
    ("geojson-polygon-empty-hole", "empty part"),
    ("geojson-multipoint-empty-point", "empty part"),
    ("geojson-collection-empty", "geometry is empty"),
    ("geojson-collection-empty-member", "empty part"),
    ("geojson-collection-empty-collection", "empty part"),
    ("geojson-line-one-position", "two positions"),
    ("geojson-ring-three-positions", "four positions"),
    ("geojson-ring-unclosed", "the last the same as the first"),
    ("wkt-ring-one-point-repeated", "not valid"),
    ("wkt-ring-flat", "not valid"),
    ("geojson-point-nested", "nested too deeply"),
    ("geojson-polygon-shallow", "nested too shallowly"),
    ("geojson-multipolygon-flat", "nested too shallowly"),
    ("geojson-polygon-hole-is-a-position", "nested too shallowly"),
    ("wkt-trailing-word", "found 'garbage'"),
    ("wkt-trailing-parenthesis", "nothing may follow"),
    ("wkt-trailing-geometry", "nothing may follow"),
    ("wkt-multipolygon-trailing-parenthesis", "nothing may follow"),
    ("wkt-trailing-semicolon", "nothing may follow"),
    ("wkt-unbalanced", "parentheses are not balanced"),
    ("geojson-text-trailing-junk", "extra data"),
    ("geojson-huge-int", "finite"),
    ("geojson-huge-negative-int", "finite"),
    ("geojson-text-huge-int", "finite"),
    ("wkt-huge-int", "finite"),
    ("wkt-huge-negative-int", "finite"),
    ("geojson-type-object", "not an object"),
    ("geojson-type-list", "not an array"),
    ("geojson-type-number", "not a number"),
    ("geojson-type-long-text", "type must be one of"),
    ("geojson-text-type-object", "not an object"),
    ("geojson-member-type-list", "not an array"),
    ("wkt-collection-9-deep", "nested too deeply"),
    ("wkt-collection-100-deep", "nested too deeply"),
    ("wkt-collection-10000-deep", "nested too deeply"),
    ("geojson-collection-100-deep", "nested too deeply"),
    ("wkt-parentheses-100000-deep", "nested too deeply"),
    ("wkt-arabic-indic-digits", "WKT"),
    ("wkt-fullwidth-letters", "WKT"),
    ("text-over-the-size-limit", "too large"),
]


@pytest.mark.parametrize(
    ("name", "reason"), REFUSED_WITH_A_REASON, ids=[name for name, _ in REFUSED_WITH_A_REASON]
)
def test_refuses_a_hostile_geometry_with_its_reason(name, reason):
    with pytest.raises(ValidationError) as excinfo:
        parse_geometry(FIXED[name])

    assert reason.lower() in messages(excinfo).lower()


@pytest.mark.parametrize(
    ("name", "reason"), REFUSED_WITH_A_REASON, ids=[name for name, _ in REFUSED_WITH_A_REASON]
)
def test_the_area_form_field_refuses_a_hostile_geometry_with_its_reason(name, reason):
    with pytest.raises(ValidationError) as excinfo:
        SafeMultiPolygonFormField().clean(FIXED[name])

    assert reason.lower() in messages(excinfo).lower()


def test_a_long_type_name_is_shortened_in_the_message():
    with pytest.raises(ValidationError) as excinfo:
        parse_geometry({"type": "Point" * 10_000, "coordinates": [114, 30]})

    assert len(messages(excinfo)) < 300


@pytest.mark.parametrize(
    "geometry",
    [
        pytest.param(
            GEOSGeometry("MULTIPOLYGON (((114 30, 115 30, 115 31, 114 30)), EMPTY)"), id="multipolygon"
        ),
        pytest.param(GEOSGeometry("POLYGON ((114 30, 115 30, 115 31, 114 30), EMPTY)"), id="polygon-hole"),
        pytest.param(GEOSGeometry("GEOMETRYCOLLECTION (POINT (114 30), LINESTRING EMPTY)"), id="collection"),
    ],
)
def test_a_geometry_object_with_an_empty_part_is_refused(geometry):
    """The check on the parsed geometry, for input that skips the text checks."""
    with pytest.raises(ValidationError, match="empty part"):
        parse_geometry(geometry)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(gc_wkt(7), id="wkt"),
        pytest.param(gc_geojson(8), id="geojson"),
        pytest.param("MULTIPOLYGON (((114 30, 115 30, 115 31, 114 30)))\n\t ", id="wkt-trailing-whitespace"),
    ],
)
def test_accepts_nesting_up_to_the_limit_and_trailing_whitespace(value):
    assert not parse_geometry(value).empty


# ---------------------------------------------------------------------------
# What is accepted is what the database stores
# ---------------------------------------------------------------------------


def stored_area(geometry):
    """Store `geometry` as a base's area and read it back from the database."""
    base = factories.PlannedBaseFactory()
    PlannedBase.objects.filter(pk=base.pk).update(area=geometry)
    return PlannedBase.objects.get(pk=base.pk).area


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(VALID_AREAS))
def test_an_accepted_area_is_stored_exactly(name):
    geometry = SafeMultiPolygonFormField().clean(VALID_AREAS[name])

    stored = stored_area(geometry)

    assert stored is not None
    assert stored.equals_exact(geometry, tolerance=0)


# ---------------------------------------------------------------------------
# Redisplaying a refused geometry
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["wkt-multipolygon-empty-part", "wkt-collection-10000-deep", "geojson-huge-int"]
)
def test_bound_data_of_refused_text_is_the_stored_geometry(name):
    """An empty map would erase the stored outline on the editor's next save."""
    stored = MultiPolygon(Polygon.from_bbox((114, 30, 115, 31)), srid=4326)
    text = FIXED[name] if isinstance(FIXED[name], str) else json.dumps(FIXED[name])

    assert SafeMultiPolygonFormField().bound_data(text, stored) is stored


@pytest.mark.parametrize(
    ("geometry", "geojson"),
    [
        pytest.param(
            MultiPolygon(Polygon(RING, HOLE), Polygon(RING)),
            {"type": "MultiPolygon", "coordinates": [[RING, HOLE], [RING]]},
            id="multipolygon",
        ),
        pytest.param(Point(*WUHAN), {"type": "Point", "coordinates": list(WUHAN)}, id="point"),
        pytest.param(
            GEOSGeometry(gc_wkt(2)),
            {
                "type": "GeometryCollection",
                "geometries": [
                    {
                        "type": "GeometryCollection",
                        "geometries": [{"type": "Point", "coordinates": [114, 30]}],
                    }
                ],
            },
            id="collection",
        ),
    ],
)
def test_the_map_widget_writes_geojson_without_gdal(gdal_trap, geometry, geojson):
    text = SafeMapWidgetMixin().serialize(geometry)

    assert json.loads(text) == geojson
    assert_gdal_not_called(gdal_trap)


@pytest.mark.parametrize(
    "text", [PASSWD_CRS, FIXED["wkt-collection-10000-deep"], FIXED["wkt-multipolygon-empty-part"]]
)
def test_the_map_widget_reads_text_through_parse_geometry(gdal_trap, text):
    assert SafeMapWidgetMixin().deserialize(text) is None
    assert_gdal_not_called(gdal_trap)


# ---------------------------------------------------------------------------
# Fuzz: hostile payloads at every parser an entry point uses
# ---------------------------------------------------------------------------

PAYLOADS = all_payloads(seed=20261206, count=400)


def assert_acceptable(geometry):
    """What parse_geometry hands on is a whole, valid, two-dimensional geometry."""
    assert geometry.srid == 4326
    assert not geometry.empty
    assert not has_empty_part(geometry)
    assert not geometry.hasz
    assert geometry.valid


@pytest.mark.parametrize(
    "payload", [payload for _name, payload in PAYLOADS], ids=[name for name, _ in PAYLOADS]
)
def test_a_hostile_payload_is_refused_or_whole(payload):
    try:
        geometry = parse_geometry(payload)
    except ValidationError as error:
        assert error.messages and all(len(message) < 1000 for message in error.messages)
        return
    assert_acceptable(geometry)


@pytest.mark.parametrize(
    "payload", [payload for _name, payload in PAYLOADS], ids=[name for name, _ in PAYLOADS]
)
def test_form_fields_and_import_refuse_a_hostile_payload_with_a_message(payload):
    text = payload if isinstance(payload, str) else json.dumps(payload)
    for field in (SafeMultiPolygonFormField(), SafePointFormField()):
        try:
            assert_acceptable(field.clean(text))
        except ValidationError:
            pass
        field.bound_data(text, None)
    for geom_type in ("MULTIPOLYGON", "POINT"):
        try:
            assert_acceptable(GeometryWidget(geom_type).clean(payload))
        except ValueError as error:
            assert str(error)


@pytest.mark.django_db
def test_every_accepted_fuzz_area_is_stored_whole():
    accepted = []
    for _name, payload in PAYLOADS:
        try:
            accepted.append(SafeMultiPolygonFormField().clean(payload))
        except ValidationError:
            pass
    assert accepted, "the payloads should include some acceptable areas"

    for geometry in accepted:
        stored = stored_area(geometry)
        assert stored is not None and stored.equals_exact(geometry, tolerance=0), geometry.wkt


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "wkt-multipolygon-empty-part",
        "geojson-multipolygon-empty-second",
        "geojson-text-huge-int",
        "geojson-text-type-object",
        "wkt-multipolygon-trailing-parenthesis",
    ],
)
def test_an_import_refuses_a_hostile_area_and_keeps_the_stored_one(name):
    stored = MultiPolygon(Polygon.from_bbox((114, 30, 115, 31)), srid=4326)
    base = factories.PlannedBaseFactory(area=stored)
    dataset = PlannedBaseResource().export(PlannedBase.objects.filter(pk=base.pk))
    row = dict(zip(dataset.headers, dataset[0], strict=True))
    dataset[0] = tuple({**row, "area": FIXED[name]}.values())

    result = PlannedBaseResource().import_data(dataset, dry_run=False)

    assert result.has_validation_errors()
    assert "area" in result.invalid_rows[0].field_specific_errors
    base.refresh_from_db()
    assert base.area.equals_exact(stored, tolerance=0)
