"""The one place that turns cities and bases into GeoJSON (RFC 7946:
WGS84, [longitude, latitude]) for the site's maps."""

import io

import orjson
from django.contrib.gis.geos import MultiPoint
from django.db.models import F, FloatField, Func, TextField, Value
from django.db.models.functions import Cast, Coalesce, Concat, NullIf
from django.urls import reverse

from clusters.geo import WGS84_SRID
from clusters.links import SLUG_MARK
from clusters.templatetags.clusters_tags import local_name, reading_chinese


def feature_collection(features):
    return {"type": "FeatureCollection", "features": [f for f in features if f is not None]}


def point_collection_json(queryset, feature_id, properties, point_field="location"):
    """A FeatureCollection of the queryset's points as UTF-8 JSON, built in
    one query: the database writes each feature's properties as JSON and
    gives the coordinates as numbers, so no object or serializer is made per
    feature (10,000 cities in a few milliseconds). Rows without a point are
    left out. `feature_id` and the values of `properties` are expressions."""
    rows = queryset.exclude(**{f"{point_field}__isnull": True}).values_list(
        feature_id,
        Func(F(point_field), function="ST_X", output_field=FloatField()),
        Func(F(point_field), function="ST_Y", output_field=FloatField()),
        JSONText(**properties),
    )
    # Written feature by feature into one buffer: joining a list of them
    # held every feature twice over, and a worker's peak memory with it.
    collection = io.BytesIO()
    collection.write(b'{"type":"FeatureCollection","features":[')
    separator = ""
    for ident, x, y, props in rows.iterator(chunk_size=2000):
        feature = (
            f'{separator}{{"type":"Feature","id":{orjson.dumps(ident).decode()},'
            f'"geometry":{{"type":"Point","coordinates":[{x!r},{y!r}]}},"properties":{props}}}'
        )
        collection.write(feature.encode())
        separator = ","
    collection.write(b"]}")
    return collection.getvalue()


class JSONText(Func):
    """A JSON object of the given keys and values, as text, written by the
    database (SQLite's json_object, PostgreSQL's json_build_object).

    Not Django's JSONObject: that asks the database once per process whether
    it supports JSON, and if the database happens to be unreachable at that
    moment the answer "no" is kept, so every later layer would fail."""

    output_field = TextField()

    def __init__(self, **fields):
        pairs = []
        for key, value in fields.items():
            pairs += [Value(key, output_field=TextField()), value]
        super().__init__(*pairs)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="JSON_OBJECT", **extra_context)

    def as_postgresql(self, compiler, connection, **extra_context):
        # Parameters need a type, and psycopg would parse json into a dict.
        typed = self.copy()
        typed.set_source_expressions(
            [
                Cast(part, TextField()) if isinstance(part, Value) else part
                for part in self.get_source_expressions()
            ]
        )
        return typed.as_sql(
            compiler, connection, function="JSON_BUILD_OBJECT", template="%(function)s(%(expressions)s)::text"
        )


def around_slug(url_template):
    """An expression for a URL whose template has SLUG_MARK where the slug goes."""
    before, after = url_template.split(SLUG_MARK, 1)
    return Concat(Value(before), F("slug"), Value(after), output_field=TextField())


def local_name_expression():
    """local_name() in the database."""
    if reading_chinese():
        return Coalesce(NullIf(F("name_zh"), Value("")), F("name"), output_field=TextField())
    return F("name")


def city_collection_json(cities):
    """The site map's city layer (the same features as city_feature)."""
    return point_collection_json(
        cities,
        Concat(Value("city:"), F("slug"), output_field=TextField()),
        {
            "entity": Value("city"),
            "slug": F("slug"),
            "label": local_name_expression(),
            "name": F("name"),
            "name_zh": F("name_zh"),
            "province": F("province__slug"),
            "reach": F("province__reach"),
            "url": around_slug(reverse("clusters:city-detail", kwargs={"slug": SLUG_MARK})),
        },
    )


def city_features(cities):
    """A Point feature per city that has a location."""
    located = cities.select_related("province").exclude(location__isnull=True)
    return (city_feature(city) for city in located)


def city_feature(city):
    """Needs city.province loaded; None for a city without a location."""
    if city.location is None:
        return None
    return {
        "type": "Feature",
        "id": f"city:{city.slug}",
        "geometry": {"type": "Point", "coordinates": [city.location.x, city.location.y]},
        "properties": {
            "entity": "city",
            "slug": city.slug,
            "label": local_name(city),
            "name": city.name,
            "name_zh": city.name_zh,
            "province": city.province.slug,
            "reach": city.province.reach,
            "url": city.get_absolute_url(),
        },
    }


def base_features(bases):
    return (base_feature(base) for base in bases.with_members())


def base_feature(base):
    """Its area, else its member cities as a MultiPoint that the map joins
    up; None for a base with neither. Needs memberships and cities loaded."""
    geometry = base_geometry(base)
    if geometry is None:
        return None
    return {
        "type": "Feature",
        "id": f"base:{base.slug}",
        "geometry": geometry,
        "properties": {
            "entity": "base",
            "slug": base.slug,
            "label": local_name(base),
            "name": base.name,
            "name_zh": base.name_zh,
            "kind": base.kind,
            "stage": base.stage,
            "reach": base.reach,
            "members": [local_name(m.city) for m in base.memberships.all() if m.city.location],
            "url": base.get_absolute_url(),
        },
    }


def base_geometry(base):
    return geometry_dict(base_shape(base))


def base_shape(base):
    """Its area, else the MultiPoint of its located member cities, else None."""
    if base.area is not None:
        return base.area
    return multipoint([membership.city.location for membership in base.memberships.all()])


def multipoint(points):
    """The given points (None entries skipped) as one MultiPoint, or None."""
    located = [point for point in points if point is not None]
    return MultiPoint(located, srid=WGS84_SRID) if located else None


def geometry_dict(geometry):
    if geometry is None:
        return None
    return {"type": geometry.geom_type, "coordinates": geometry.coords}
