"""Finishing touches to the generated OpenAPI schema."""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import build_object_type

GENERIC_PARAMETERS = {
    "format": "Response format: `json` (the default) or `csv` (every matching row, for spreadsheets); "
    "GeoJSON layers answer `geojson` or `json`.",
    "slug": "The record's slug, as in its URL (e.g. `wuhan`).",
}


def describe_generic_parameters(result, generator, request, public):
    """Describe the parameters drf-spectacular adds without a description."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if not parameter.get("description") and parameter["name"] in GENERIC_PARAMETERS:
                    parameter["description"] = GENERIC_PARAMETERS[parameter["name"]]
    return result


# ---------------------------------------------------------------------------
# GeoJSON features whose geometry a method computes (a base's area or member
# cities, a province's cities): drf-spectacular cannot type those itself.
# ---------------------------------------------------------------------------


def position_array():
    return {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}


def geometry_schema(geometry_type, coordinates):
    return {
        "type": "object",
        "properties": {"type": {"type": "string", "enum": [geometry_type]}, "coordinates": coordinates},
        "required": ["type", "coordinates"],
    }


def multipoint_schema():
    return geometry_schema("MultiPoint", {"type": "array", "items": position_array()})


def multipolygon_schema():
    ring = {"type": "array", "items": position_array(), "minItems": 4}
    return geometry_schema("MultiPolygon", {"type": "array", "items": {"type": "array", "items": ring}})


class ComputedGeometryFeatureExtension(OpenApiSerializerExtension):
    target_class = "clusters.api.serializers.ComputedGeometryFeatureSerializer"
    match_subclasses = True
    priority = 1  # ahead of drf-spectacular's own GeoFeatureModelSerializer extension

    def map_serializer(self, auto_schema, direction):
        serializer = self.target
        properties = auto_schema._map_serializer(serializer, direction, bypass_extensions=True)
        properties.pop("required", None)
        properties.pop("description", None)
        identifier = properties["properties"].pop(serializer.Meta.id_field)
        properties["properties"].pop(serializer.Meta.geo_field)
        return build_object_type(
            properties={
                "type": {"type": "string", "enum": ["Feature"]},
                "id": identifier,
                "geometry": serializer.geometry_schema(),
                "properties": properties,
            },
            required=["type", "id", "geometry", "properties"],
        )
