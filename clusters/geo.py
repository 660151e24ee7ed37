"""Safe geometry input.

Geometry typed or drawn by users is accepted only as GeoJSON or WKT in
EPSG:4326 (WGS84 longitude/latitude). Anything naming another coordinate
reference system is refused here, before GDAL parses it: GDAL older than 3.9
(Debian 12 ships 3.6) would otherwise follow a CRS reference to a local file
or a URL. Coordinates are also checked to be finite and on the globe, since
extreme values can crash the spatial database natively.
"""

import json
import math
import re

from django.contrib.gis import forms
from django.contrib.gis.db import models
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon, Point, Polygon
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

WGS84_SRID = 4326
# Names a GeoJSON "crs" member may use for WGS84 longitude/latitude.
WGS84_CRS_NAMES = frozenset(
    {
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4326",
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
    }
)
GEOMETRY_TYPES = frozenset(
    {
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)
# A country-scale outline has thousands of vertices, not millions.
MAX_GEOMETRY_CHARS = 2_000_000
# Deepest nesting GeoJSON needs: a MultiPolygon's coordinates, inside a
# GeometryCollection, inside nothing else.
MAX_NESTING = 8
WKT_PREFIX = re.compile(r"^(?:SRID=(?P<srid>[^;]*);)?\s*(?P<type>[A-Za-z]+)\s*[\(E]", re.IGNORECASE)

# The Yangtze River Economic Belt, roughly: Yunnan to Shanghai, Yunnan's
# south to Jiangsu's north.
BELT_EXTENT = (97.0, 21.0, 123.0, 35.0)  # west, south, east, north
BELT_EXTENT_LABELS = {"west": 97, "south": 21, "east": 123, "north": 35}


def invalid(message, code="invalid_geom"):
    return ValidationError(message, code=code)


def parse_geometry(value):
    """Return a GEOSGeometry in EPSG:4326 from GeoJSON or WKT text.

    Raises ValidationError with a message fit for the person who typed it.
    """
    if isinstance(value, GEOSGeometry):
        geometry = value
        if geometry.srid not in (None, WGS84_SRID):
            raise invalid(_("Only WGS84 longitude/latitude (EPSG:4326) is accepted."), "crs")
    elif isinstance(value, dict):
        geometry = geometry_from_geojson(value)
    elif isinstance(value, str):
        geometry = geometry_from_text(value)
    else:
        raise invalid(_("Give the geometry as GeoJSON or WKT text."))
    geometry.srid = WGS84_SRID
    check_geometry(geometry)
    return geometry


def geometry_from_text(text):
    if len(text) > MAX_GEOMETRY_CHARS:
        raise invalid(_("The geometry is too large."))
    if "\x00" in text:
        raise invalid(_("The geometry contains a NUL character."))
    text = text.strip()
    if text.startswith("{"):
        return geometry_from_geojson(load_json(text))
    return geometry_from_wkt(text)


def load_json(text):
    def refuse_constant(name):
        raise ValueError(f"{name} is not a number")

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except (ValueError, RecursionError) as error:
        raise invalid(_("This is not valid GeoJSON: %(error)s") % {"error": error}) from None


def geometry_from_geojson(data):
    """Build a geometry from a GeoJSON geometry object.

    GDAL is handed a rebuilt copy holding only "type", "coordinates" and
    "geometries": no CRS member, however spelled, and nothing else unchecked.
    """
    try:
        canonical = canonical_geojson(data, depth=0)
        text = json.dumps(canonical)
    except RecursionError:
        raise invalid(_("The GeoJSON is nested too deeply.")) from None
    try:
        return GEOSGeometry(text)
    except (GDALException, GEOSException, ValueError, TypeError):
        raise invalid(_("This GeoJSON is not a valid geometry.")) from None


def canonical_geojson(data, *, depth):
    if not isinstance(data, dict):
        raise invalid(_("GeoJSON geometry must be an object."))
    if depth > MAX_NESTING:
        raise invalid(_("The GeoJSON is nested too deeply."))
    check_crs_members(data)
    kind = data.get("type")
    if kind not in GEOMETRY_TYPES:
        raise invalid(
            _("GeoJSON type must be one of %(types)s, not %(kind)s.")
            % {"types": ", ".join(sorted(GEOMETRY_TYPES)), "kind": repr(kind)}
        )
    if kind == "GeometryCollection":
        members = data.get("geometries")
        if not isinstance(members, list):
            raise invalid(_("A GeometryCollection needs a list of geometries."))
        return {"type": kind, "geometries": [canonical_geojson(m, depth=depth + 1) for m in members]}
    coordinates = data.get("coordinates")
    check_positions(coordinates, depth=depth + 1)
    return {"type": kind, "coordinates": coordinates}


def is_crs_key(key):
    # GDAL matches member names case-insensitively and stops reading a name at
    # a NUL, so "CRS" and "crs\x00x" mean "crs" to it.
    return isinstance(key, str) and key.split("\x00", 1)[0].lower() == "crs"


def check_crs_members(data):
    """Refuse a CRS member unless it names WGS84 longitude/latitude."""
    for key, crs in data.items():
        if is_crs_key(key) and crs_name(crs) not in WGS84_CRS_NAMES:
            raise invalid(
                _(
                    "Only WGS84 longitude/latitude (EPSG:4326) is accepted; "
                    "remove the GeoJSON 'crs' member or make it name EPSG:4326."
                ),
                "crs",
            )


def crs_name(crs):
    if isinstance(crs, dict) and crs.get("type") == "name":
        properties = crs.get("properties")
        if isinstance(properties, dict):
            return properties.get("name")
    return None


def check_positions(coordinates, *, depth):
    """Walk nested coordinate arrays; every position is [lon, lat(, z)]."""
    if depth > MAX_NESTING:
        raise invalid(_("The GeoJSON is nested too deeply."))
    if not isinstance(coordinates, list):
        raise invalid(_("GeoJSON coordinates must be arrays of numbers."))
    if coordinates and not isinstance(coordinates[0], list):
        check_position(coordinates)
        return
    for item in coordinates:
        check_positions(item, depth=depth + 1)


def check_position(position):
    # Two dimensions only: a third coordinate is never checked by the spatial
    # libraries, and extreme values there crash GEOS's WKT writer.
    if len(position) != 2 or not all(is_number(n) for n in position):
        raise invalid(_("A position must be two numbers: longitude, latitude."))
    check_lon_lat(position[0], position[1])


def is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_lon_lat(lon, lat):
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise invalid(_("Coordinates must be finite numbers."), "out_of_range")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise invalid(
            _(
                "Coordinates out of range: longitude must lie within -180..180 and "
                "latitude within -90..90 (got %(lon)s, %(lat)s)."
            )
            % {"lon": lon, "lat": lat},
            "out_of_range",
        )


def geometry_from_wkt(text):
    match = WKT_PREFIX.match(text)
    if not match or match["type"].upper() not in {t.upper() for t in GEOMETRY_TYPES}:
        raise invalid(_("Give the geometry as GeoJSON or WKT, e.g. POINT (114.31 30.59)."))
    srid = match["srid"]
    if srid is not None and srid.strip() != str(WGS84_SRID):
        raise invalid(_("Only WGS84 longitude/latitude (EPSG:4326) is accepted."), "crs")
    try:
        return GEOSGeometry(text)
    except (GEOSException, ValueError, TypeError):
        raise invalid(_("This WKT is not a valid geometry.")) from None


def check_geometry(geometry):
    if geometry.empty:
        raise invalid(_("The geometry is empty."))
    if geometry.hasz:
        raise invalid(_("Give two coordinates per point (longitude, latitude), not three."))
    for lon, lat in iter_lon_lat(geometry.coords):
        check_lon_lat(lon, lat)
    if not geometry.valid:
        raise invalid(_("The geometry is not valid: %(reason)s") % {"reason": geometry.valid_reason})


def iter_lon_lat(coords):
    """Yield (lon, lat) from GEOS's nested coordinate tuples."""
    if coords and is_number(coords[0]):
        yield coords[0], coords[1]
        return
    for item in coords:
        yield from iter_lon_lat(item)


def parse_bbox(text):
    """'minLon,minLat,maxLon,maxLat' (EPSG:4326) -> a Polygon."""
    west, south, east, north = parse_numbers(
        text, 4, _("Give the box as minLon,minLat,maxLon,maxLat, e.g. 113.7,30.2,114.8,31.0.")
    )
    check_lon_lat(west, south)
    check_lon_lat(east, north)
    if west >= east or south >= north:
        raise invalid(
            _("The box's minimum longitude and latitude must be smaller than its maximum ones."),
            "out_of_range",
        )
    box = Polygon.from_bbox((west, south, east, north))
    box.srid = WGS84_SRID
    return box


def parse_lon_lat(text):
    """'lon,lat' (EPSG:4326) -> a Point."""
    lon, lat = parse_numbers(text, 2, _("Give the point as lon,lat, e.g. 114.30,30.59."))
    check_lon_lat(lon, lat)
    return Point(lon, lat, srid=WGS84_SRID)


def parse_numbers(text, count, message):
    parts = text.split(",")
    if len(parts) != count:
        raise invalid(message, "invalid")
    try:
        return [float(part) for part in parts]
    except ValueError:
        raise invalid(message, "invalid") from None


def within_belt(geometry):
    west, south, east, north = BELT_EXTENT
    xmin, ymin, xmax, ymax = geometry.extent
    return west <= xmin and xmax <= east and south <= ymin and ymax <= north


# ---------------------------------------------------------------------------
# Form and model fields that parse through parse_geometry
# ---------------------------------------------------------------------------


class SafeGeometryFormMixin:
    """Parses user input with parse_geometry instead of handing it to GDAL."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        return super().to_python(parse_geometry(value))

    def bound_data(self, data, initial):
        if self.disabled:
            return initial
        # A form redisplayed after an error re-renders the submitted text; the
        # widget would parse it with GDAL, so hand it a checked geometry or
        # nothing at all.
        if isinstance(data, str) and data.strip():
            try:
                return parse_geometry(data)
            except ValidationError:
                return None
        return super().bound_data(data, initial)


class SafePointFormField(SafeGeometryFormMixin, forms.PointField):
    pass


class SafeMultiPolygonFormField(SafeGeometryFormMixin, forms.MultiPolygonField):
    def to_python(self, value):
        geometry = super().to_python(value)
        # A single polygon drawn on the map is a one-part multipolygon.
        if geometry is not None and geometry.geom_type == "Polygon":
            geometry = MultiPolygon(geometry, srid=geometry.srid)
        return geometry


class SafePointField(models.PointField):
    form_class = SafePointFormField


class SafeMultiPolygonField(models.MultiPolygonField):
    form_class = SafeMultiPolygonFormField
