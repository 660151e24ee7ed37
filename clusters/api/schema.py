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
# The error answers of every operation, read from what the operation takes:
# any request can be refused (400), carry a bad token (401), ask for a format
# the API does not write (406), have an address too long for the server in
# front (414), be throttled (429) or meet the database unavailable (503); a
# slug can name nothing (404), a page can lie past the end (404); a write
# needs permission (403) and can conflict (409: the record is still in use,
# or a simultaneous write got there first); a body can be too large (413) or
# not JSON (415); an If-Match can be outdated (412).
# Bodies are JSON whatever format was asked for (see errors.py).
# ---------------------------------------------------------------------------

WRITE_METHODS = {"post", "put", "patch", "delete"}
ERROR_MEDIA_TYPE = "application/json"


def ref(component):
    return {"$ref": f"#/components/schemas/{component}"}


def string():
    return {"type": "string"}


ERROR_COMPONENTS = {
    "Error": {
        "type": "object",
        "description": "Why the request was refused.",
        "properties": {"detail": string()},
        "required": ["detail"],
    },
    "ValidationError": {
        "type": "object",
        "description": (
            "What was refused, by field or query parameter name: a message, a list of "
            "messages, or (for a nested record or list of records: members, sources) the "
            "same shape again. `non_field_errors` is about the body as a whole, `detail` "
            "about the request as a whole (an unreadable body, for one)."
        ),
        "properties": {"detail": string(), "non_field_errors": {"type": "array", "items": string()}},
        "additionalProperties": ref("FieldErrors"),
        "minProperties": 1,
    },
    "FieldErrors": {
        "anyOf": [
            string(),
            {"type": "array", "items": {"anyOf": [string(), ref("ValidationError")]}},
            ref("ValidationError"),
        ],
    },
    "PageNotFound": {
        "type": "object",
        "description": "The page asked for lies past the last one (which the message names).",
        "properties": {"page": string()},
        "required": ["page"],
    },
    "Conflict": {
        "type": "object",
        "description": "Why the write conflicts; `used_by` names the records still using this one.",
        "properties": {"detail": string(), "used_by": {"type": "array", "items": string()}},
        "required": ["detail"],
    },
    "Outdated": {
        "type": "object",
        "description": "Someone saved in the meantime: what changed, and the stored version to start from.",
        "properties": {"detail": string(), "version": {"type": "integer"}},
        "required": ["detail", "version"],
    },
}

RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before trying again."}
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "schema": {"type": "string", "enum": ["Token"]},
        "required": True,
        "description": "Send `Authorization: Token <key>` (or sign in to the site).",
    }
}


def error_response(description, component="Error", headers=None):
    response = {"description": description, "content": {ERROR_MEDIA_TYPE: {"schema": ref(component)}}}
    if headers:
        response["headers"] = headers
    return response


def error_responses(method, operation):
    """The error answers `operation` can give, by status code."""
    parameters = {(parameter["in"], parameter["name"]) for parameter in operation.get("parameters", [])}
    responses = {
        "400": error_response(
            "Refused: a parameter or the body is invalid (each named with its reasons).", "ValidationError"
        ),
        "401": error_response(
            "The credentials sent (an `Authorization` header) are invalid, or a write came without any.",
            headers=WWW_AUTHENTICATE,
        ),
        "406": error_response("None of the formats in the `Accept` header can be written."),
        "414": error_response("The address is longer than the server accepts."),
        "429": error_response("Too many requests from this client; try again later.", headers=RETRY_AFTER),
        "503": error_response("The database is briefly unavailable; try again shortly.", headers=RETRY_AFTER),
    }
    if ("path", "slug") in parameters:
        responses["404"] = error_response("No record has this slug (or it is not published).")
    if ("query", "page") in parameters:
        responses["404"] = error_response("There is no such page.", "PageNotFound")
    if method in WRITE_METHODS:
        responses["403"] = error_response("Signed in, but without permission for this write.")
        responses["409"] = error_response(
            "The write conflicts with the stored data: the record is still in use, "
            "or a simultaneous write got there first.",
            "Conflict",
        )
    if "requestBody" in operation:
        responses["413"] = error_response("The body is larger than the server accepts.")
        responses["415"] = error_response("The body is not JSON (send `Content-Type: application/json`).")
    if ("header", "If-Match") in parameters:
        responses["412"] = error_response(
            "The `If-Match` version is not the stored one: someone saved in the meantime.", "Outdated"
        )
    return responses


def document_error_responses(result, generator, request, public):
    """Add each operation's error answers (and the shapes of their bodies)."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_COMPONENTS)
    for method, operation in operations(result):
        for status, response in error_responses(method, operation).items():
            operation["responses"].setdefault(status, response)
    return result


def document_anonymous_reads(result, generator, request, public):
    """Reads need no credentials (DjangoModelPermissionsOrAnonReadOnly, which
    drf-spectacular does not recognise): say so with an empty requirement."""
    for method, operation in operations(result):
        security = operation.setdefault("security", [])
        if method in READ_METHODS and {} not in security:
            security.append({})
    return result


READ_METHODS = {"get", "head"}


def operations(result):
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield method, operation


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
