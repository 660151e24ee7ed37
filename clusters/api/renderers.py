"""Output formats: JSON (by orjson), CSV for spreadsheets, GeoJSON for GIS
tools."""

import csv
import io
import json

import orjson
from django.utils.functional import Promise
from rest_framework import renderers

from clusters.spreadsheet import spreadsheet_safe

LIST_SEPARATOR = "; "


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON, written by orjson (several times faster than the standard
    library on large answers). Answers asked for with an indent (e.g.
    `Accept: application/json; indent=2`) are left to DRF."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.get_indent(accepted_media_type or "", renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        return orjson.dumps(data, default=encode_other)


def encode_other(value):
    """What orjson cannot write by itself: translated messages, and whatever
    DRF's own encoder knows (decimals, geometries' dicts, ...)."""
    if isinstance(value, Promise):
        return str(value)
    return renderers.JSONRenderer.encoder_class().default(value)


class CSVRenderer(renderers.BaseRenderer):
    """One row per record. Nested objects become dotted columns
    (`province.slug`); lists become `a; b` (by slug where items have one)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        records = data.get("results", [data]) if isinstance(data, dict) else data
        rows = [dict(flatten(record)) for record in records]
        # Columns come from the serializer, so they are the same whatever the rows hold.
        columns = columns_from_view(renderer_context) or list(
            dict.fromkeys(key for row in rows for key in row)
        )
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
        return buffer.getvalue().encode(self.charset)


def flatten(record, prefix=""):
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value.get("type") == "Point":
            # Points as two numeric columns, which spreadsheets can use.
            yield f"{name}.longitude", value["coordinates"][0]
            yield f"{name}.latitude", value["coordinates"][1]
        elif isinstance(value, dict) and not is_geometry(value):
            yield from flatten(value, f"{name}.")
        elif isinstance(value, list):
            yield name, LIST_SEPARATOR.join(list_item_text(item) for item in value)
        elif isinstance(value, dict):
            yield name, json.dumps(value, separators=(",", ":"))
        else:
            yield name, value


def is_geometry(value):
    return "type" in value and ("coordinates" in value or "geometries" in value)


def list_item_text(item):
    """A nested summary by its first field, which is the related object's slug."""
    if isinstance(item, dict):
        return str(next(iter(item.values()), ""))
    return str(item)


def columns_from_view(renderer_context):
    view = (renderer_context or {}).get("view")
    if view is None or not hasattr(view, "get_serializer_class"):
        return []
    return list(serializer_columns(view.get_serializer_class()().fields))


def serializer_columns(fields):
    for name, field in fields.items():
        if getattr(getattr(field, "form_field", None), "geom_type", None) == "POINT":
            yield f"{name}.longitude"
            yield f"{name}.latitude"
        else:
            yield name


class GeoJSONRenderer(JSONRenderer):
    """RFC 7946's media type, so GIS clients recognise the layer."""

    media_type = "application/geo+json"
    format = "geojson"
