"""Safe geometry input.

Geometry typed or drawn by users is accepted only as GeoJSON or WKT in
EPSG:4326 (WGS84 longitude/latitude). Anything naming another coordinate
reference system is refused here, before GDAL parses it: GDAL older than 3.9
(Debian 12 ships 3.6) would otherwise follow a CRS reference to a local file
or a URL. Coordinates are also checked to be finite and on the globe, since
extreme values can crash the spatial database natively.

Empty geometries and empty parts are refused: SpatiaLite reads a WKT with an
EMPTY part as NULL, so accepting one would erase the stored geometry. The
shape of GeoJSON coordinates is checked against its type before GDAL reads
it, since GDAL silently drops parts it cannot read.
"""

import json
import math
import re

from django.contrib.gis import forms
from django.contrib.gis.db import models
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import (
    GeometryCollection,
    GEOSException,
    GEOSGeometry,
    MultiPolygon,
    Point,
    Polygon,
)
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
# How many arrays a position sits in, below each GeoJSON type's "coordinates".
POSITION_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}
# A country-scale outline has thousands of vertices, not millions.
MAX_GEOMETRY_CHARS = 2_000_000
# Deepest nesting accepted: collections inside collections in GeoJSON,
# parentheses in WKT (a MultiPolygon needs three). GDAL refuses WKB nested
# past 32 levels, and GEOS parses WKT recursively.
MAX_NESTING = 8
WKT_PREFIX = re.compile(
    r"^(?:SRID=(?P<srid>[^;]*);)?\s*(?P<type>[A-Za-z]+)\s*(?P<body>\(|EMPTY\b)", re.IGNORECASE
)
WKT_EMPTY = re.compile(r"\bEMPTY\b", re.IGNORECASE)
WKT_PARENTHESIS = re.compile(r"[()]")

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
    # A "type" that is an array or an object cannot be looked up in a set.
    if not isinstance(kind, str) or kind not in GEOMETRY_TYPES:
        raise invalid(
            _("GeoJSON type must be one of %(types)s, not %(kind)s.")
            % {"types": ", ".join(sorted(GEOMETRY_TYPES)), "kind": describe(kind)}
        )
    if kind == "GeometryCollection":
        members = data.get("geometries")
        if not isinstance(members, list):
            raise invalid(_("A GeometryCollection needs a list of geometries."))
        if not members:
            raise empty_error(part=depth > 0)
        return {"type": kind, "geometries": [canonical_geojson(m, depth=depth + 1) for m in members]}
    coordinates = canonical_coordinates(
        kind, data.get("coordinates"), depth=POSITION_DEPTH[kind], part=depth > 0
    )
    return {"type": kind, "coordinates": coordinates}


JSON_KINDS = {
    dict: _("an object"),
    list: _("an array"),
    int: _("a number"),
    float: _("a number"),
    bool: _("true or false"),
    type(None): _("nothing"),
}


def describe(value):
    """A short, printable stand-in for a value that is not what was expected."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    return JSON_KINDS.get(type(value), _("something else"))


def empty_error(*, part):
    if not part:
        return invalid(_("The geometry is empty."))
    return invalid(
        _("The geometry has an empty part: every point, line, ring and polygon needs coordinates.")
    )


def canonical_coordinates(kind, coordinates, *, depth, part):
    """Check that `coordinates` nest as `kind` needs, with no empty array
    anywhere, and return a copy holding floats only.

    `depth` is how many arrays lie above the positions here; `part` says
    whether this is already inside the geometry (an empty array is then an
    empty part, not an empty geometry)."""
    if not isinstance(coordinates, list):
        raise invalid(_("GeoJSON coordinates must be arrays of numbers."))
    if not coordinates:
        raise empty_error(part=part)
    if depth == 0:
        return canonical_position(coordinates, kind=kind)
    if not isinstance(coordinates[0], list):
        raise invalid(_("A %(kind)s's coordinates are nested too shallowly.") % {"kind": kind})
    items = [canonical_coordinates(kind, item, depth=depth - 1, part=True) for item in coordinates]
    check_line(kind, items, depth=depth)
    return items


def check_line(kind, positions, *, depth):
    """Lines need two positions; polygon rings four, closed."""
    is_line = depth == 1 and kind in {"LineString", "MultiLineString"}
    is_ring = depth == 1 and kind in {"Polygon", "MultiPolygon"}
    if is_line and len(positions) < 2:
        raise invalid(_("A line needs at least two positions."))
    if is_ring and (len(positions) < 4 or positions[0] != positions[-1]):
        raise invalid(_("A polygon's ring needs at least four positions, the last the same as the first."))


def canonical_position(coordinates, *, kind):
    # Two dimensions only: a third coordinate is never checked by the spatial
    # libraries, and extreme values there crash GEOS's WKT writer.
    if any(isinstance(item, list) for item in coordinates):
        raise invalid(_("A %(kind)s's coordinates are nested too deeply.") % {"kind": kind})
    if len(coordinates) != 2 or not all(is_number(n) for n in coordinates):
        raise invalid(_("A position must be two numbers: longitude, latitude."))
    lon, lat = (finite_float(n) for n in coordinates)
    check_lon_lat(lon, lat)
    return [lon, lat]


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


def is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def finite_float(number):
    """A JSON integer may have hundreds of digits: too large for a float."""
    try:
        return float(number)
    except OverflowError:
        raise invalid(_("Coordinates must be finite numbers."), "out_of_range") from None


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
    if match["body"].upper() == "EMPTY":
        raise empty_error(part=False)
    if WKT_EMPTY.search(text, match.end()):
        raise empty_error(part=True)
    check_wkt_parentheses(text, start=match.start("body"))
    try:
        return GEOSGeometry(text)
    except (GEOSException, ValueError, TypeError):
        raise invalid(_("This WKT is not a valid geometry.")) from None


def check_wkt_parentheses(text, *, start):
    """Refuse WKT nested too deeply for GEOS's recursive parser, and any text
    after the geometry's closing parenthesis, which GEOS would ignore."""
    depth = 0
    for parenthesis in WKT_PARENTHESIS.finditer(text, start):
        depth += 1 if parenthesis[0] == "(" else -1
        if depth > MAX_NESTING:
            raise invalid(_("The WKT is nested too deeply."))
        if depth == 0:
            tail = text[parenthesis.end() :].strip()
            if tail:
                raise invalid(
                    _("Nothing may follow the geometry's last parenthesis; found %(tail)s.")
                    % {"tail": describe(tail)}
                )
            return
    raise invalid(_("This WKT is not a valid geometry: its parentheses are not balanced."))


def check_geometry(geometry):
    if geometry.empty:
        raise empty_error(part=False)
    if has_empty_part(geometry):
        raise empty_error(part=True)
    if geometry.hasz:
        raise invalid(_("Give two coordinates per point (longitude, latitude), not three."))
    for lon, lat in iter_lon_lat(geometry.coords):
        check_lon_lat(lon, lat)
    if not geometry.valid:
        raise invalid(_("The geometry is not valid: %(reason)s") % {"reason": geometry.valid_reason})


def has_empty_part(geometry):
    # A polygon iterates over its rings, a collection over its members.
    if geometry.empty:
        return True
    if isinstance(geometry, Polygon | GeometryCollection):
        return any(has_empty_part(part) for part in geometry)
    return False


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
        # widget would parse it with GDAL, so hand it a checked geometry. Text
        # that is refused redisplays what was there before: an empty map
        # would erase the stored geometry when the editor saves again.
        if isinstance(data, str) and data.strip():
            try:
                return parse_geometry(data)
            except ValidationError:
                return initial
        return super().bound_data(data, initial)


class SafeMapWidgetMixin:
    """For a map widget: text (a redisplayed form's, or an add form's initial
    value from the URL) is read by parse_geometry, and the geometry is written
    as GeoJSON from its coordinates, never through GDAL."""

    def deserialize(self, value):
        try:
            return parse_geometry(value)
        except ValidationError:
            return None

    def serialize(self, value):
        return json.dumps(geojson_of(value)) if value else ""


def geojson_of(geometry):
    """A GeoJSON geometry object from a GEOS geometry, without GDAL."""
    if geometry.geom_type == "GeometryCollection":
        return {"type": "GeometryCollection", "geometries": [geojson_of(member) for member in geometry]}
    return {"type": geometry.geom_type, "coordinates": geometry.coords}


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
