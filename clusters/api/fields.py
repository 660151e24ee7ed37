"""Serializer fields: related objects by slug with their URLs, and geometry
parsed exactly as the admin parses it."""

import json

from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_slug
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS
from rest_framework_gis.fields import GeoJsonDict, GeometryField

from clusters.links import SLUG_MARK, site_origin, slug_path, view_path

SLUG_MAX_LENGTH = 100


class SlugListField(serializers.ManyRelatedField):
    """A JSON array of slugs; an object (whose keys DRF would take) is refused."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        return super().to_internal_value(data)


class SlugReferenceField(serializers.SlugRelatedField):
    """Another entity named by its slug. The value is checked to look like a
    slug before it reaches the database."""

    @classmethod
    def many_init(cls, *args, **kwargs):
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update((key, kwargs[key]) for key in kwargs if key in MANY_RELATION_KWARGS)
        return SlugListField(**list_kwargs)

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "slug")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > SLUG_MAX_LENGTH:
            self.fail("invalid")
        try:
            validate_slug(data)
        except DjangoValidationError:
            self.fail("invalid")
        return super().to_internal_value(data)


class SlugUrlMixin:
    """Reverses by slug alone, so that the API URLs inside a CSV or GeoJSON
    answer do not carry that request's `?format=`."""

    def get_url(self, obj, view_name, request, format):
        if obj is None or not obj.slug:
            return None
        return slug_url(request, view_name, obj.slug)


class SlugIdentityField(SlugUrlMixin, serializers.HyperlinkedIdentityField):
    pass


class SlugHyperlinkField(SlugUrlMixin, serializers.HyperlinkedRelatedField):
    pass


class StrictCharField(serializers.CharField):
    """Text only: DRF would store the number 123 as the name "123"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSlugField(StrictCharField, serializers.SlugField):
    pass


class StrictURLField(StrictCharField, serializers.URLField):
    pass


def slug_url(request, view_name, slug):
    """The absolute URL of `view_name` for `slug`, in the current language.
    A list of 50 bases names some 2,000 URLs: none of them is reversed, and
    each view's URL is looked up once per request."""
    if request is None:
        return slug_path(view_name, slug)
    templates = request.__dict__.setdefault("slug_url_templates", {})
    template = templates.get(view_name)
    if template is None:
        template = templates[view_name] = site_origin(request) + view_path(view_name, slug=SLUG_MARK)
    return template.replace(SLUG_MARK, slug, 1)


def detail_url(basename):
    """This object's own API URL."""
    return SlugIdentityField(view_name=f"api:{basename}-detail", lookup_field="slug")


def related_url(basename, source, **kwargs):
    """The API URL of a related object (or of each, with many=True)."""
    return SlugHyperlinkField(
        view_name=f"api:{basename}-detail", lookup_field="slug", source=source, read_only=True, **kwargs
    )


@extend_schema_field(OpenApiTypes.URI)
class PageUrlField(serializers.Field):
    """The object's public page."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value):
        return slug_url(self.context.get("request"), f"clusters:{value.url_name}", value.slug)


@extend_schema_field(OpenApiTypes.URI)
class FilteredListUrlField(serializers.Field):
    """The API list of related objects, e.g. a city's bases: /api/v1/bases/?city=wuhan."""

    def __init__(self, basename, parameter, **kwargs):
        self.basename, self.parameter = basename, parameter
        super().__init__(source="slug", read_only=True, **kwargs)

    def to_representation(self, slug):
        list_url = site_origin(self.context.get("request")) + view_path(f"api:{self.basename}-list")
        return f"{list_url}?{urlencode({self.parameter: slug})}"


class SafeGeometryField(GeometryField):
    """GeoJSON (or WKT) in EPSG:4326, validated by the model field's own form
    field, which refuses any other CRS before GDAL parses the input."""

    def __init__(self, model, field_name, **kwargs):
        self.form_field = model._meta.get_field(field_name).formfield()
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        if value in ("", None):
            return None
        if isinstance(value, dict):
            value = geojson_text(value)
        if not isinstance(value, str):
            raise serializers.ValidationError("Give a GeoJSON geometry object (or WKT text) in EPSG:4326.")
        try:
            return self.form_field.clean(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None

    def to_representation(self, value):
        # A point written from its coordinates: GEOS's GeoJSON goes through
        # GDAL (an OGR geometry and a spatial reference per value, twice),
        # which was half the cost of a page of 50 cities.
        if isinstance(value, Point) and not value.empty:
            return GeoJsonDict({"type": "Point", "coordinates": [value.x, value.y]})
        return super().to_representation(value)


def geojson_text(data):
    """A GeoJSON object as text for the form field. The JSON parser bounds a
    request body's nesting, but an object built in code may be too deep for
    json.dumps, or hold an integer too long to print."""
    try:
        return json.dumps(data)
    except (RecursionError, ValueError):
        raise serializers.ValidationError(
            _("The GeoJSON is nested too deeply or holds a number too long.")
        ) from None
