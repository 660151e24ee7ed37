"""What the API shows and accepts for each entity.

Related objects are slugs (read and written) with their API URLs beside them;
a base carries a compact summary of its member cities and sources so a
consumer needs no further calls. Writes are validated by the model's own
clean(), as in the admin."""

import copy

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.settings import api_settings
from rest_framework_gis.fields import GeometrySerializerMethodField
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from clusters import geojson
from clusters.api import schema
from clusters.api.fields import (
    FilteredListUrlField,
    PageUrlField,
    SafeGeometryField,
    SlugReferenceField,
    StrictCharField,
    StrictSlugField,
    StrictURLField,
    detail_url,
    related_url,
)
from clusters.editing import can_publish, may_see_drafts
from clusters.models import (
    BASE_NEEDS_A_SOURCE,
    BaseMembership,
    BaseSource,
    City,
    MembershipRole,
    PlannedBase,
    PolicyDocument,
    Province,
    PublicationStatus,
    Sector,
)

ENTITY_FIELDS = [
    "version",
    "id",
    "url",
    "html_url",
    "slug",
    "name",
    "name_zh",
    "description",
    "created_at",
    "updated_at",
]
SERVER_MANAGED_FIELDS = ["id", "version", "created_at", "updated_at", "published_at"]


class ModelCleanMixin:
    """Runs the model's field validation and clean() on the object as it would
    be saved, so the API refuses exactly what the admin refuses."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        model = self.Meta.model
        # A copy, so that a refused write leaves the object as it was.
        instance = copy.copy(self.instance) if self.instance is not None else model()
        concrete = {field.name for field in model._meta.concrete_fields}
        for name, value in attrs.items():
            if name in concrete:
                setattr(instance, name, value)
        try:
            # Uniqueness is checked by the serializer's own validators.
            instance.full_clean(validate_unique=False, validate_constraints=False)
        except DjangoValidationError as error:
            raise serializers.ValidationError(api_errors(error)) from None
        return attrs


def check_publishing(serializer, attrs):
    """Only publishers may move a record into or out of `published`; an
    editor's attempt is refused, not quietly ignored."""
    if "status" not in attrs:
        return
    before = serializer.instance.status if serializer.instance is not None else PublicationStatus.DRAFT
    touches_published = PublicationStatus.PUBLISHED in (before, attrs["status"])
    request = serializer.context.get("request")
    if (
        attrs["status"] != before
        and touches_published
        and not can_publish(request.user, serializer.Meta.model)
    ):
        raise PermissionDenied(_("Only publishers can publish or unpublish a record."))


def locked_record(instance):
    """The stored row of `instance`, afresh, locked until the transaction
    ends: concurrent writes of one record queue (FOR UPDATE on PostgreSQL;
    SQLite's transactions take the write lock as they begin)."""
    record = type(instance)._base_manager.select_for_update().filter(pk=instance.pk).first()
    if record is None:
        raise NotFound()
    return record


def validate_record(record):
    """The model's own validation, on the record as it will be stored."""
    try:
        record.full_clean(validate_constraints=False)
    except DjangoValidationError as error:
        raise serializers.ValidationError(api_errors(error)) from None


def is_many_to_many(record, name):
    field = record._meta.get_field(name)
    return field.many_to_many and not field.auto_created


def api_errors(error):
    detail = serializers.as_serializer_error(error)
    if NON_FIELD_ERRORS in detail:
        detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
    return detail


class StrictTextMixin:
    """Model text fields accept JSON strings only."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: StrictSlugField,
        models.URLField: StrictURLField,
    }


class EntitySerializer(ModelCleanMixin, StrictTextMixin, serializers.ModelSerializer):
    html_url = PageUrlField(help_text="The public page of this record.")

    def validate(self, attrs):
        check_publishing(self, attrs)
        return super().validate(attrs)

    @transaction.atomic
    def update(self, instance, validated_data):
        """Writes what the request sent onto the record as it is now stored
        (not onto the copy read before validation, which another editor may
        have changed since): a PATCH leaves every other field as it is."""
        expected_version = validated_data.pop("expected_version", None)
        record = self.instance = locked_record(instance)
        check_publishing(self, validated_data)
        related = [name for name in validated_data if is_many_to_many(record, name)]
        many = {name: validated_data.pop(name) for name in related}
        for name, value in validated_data.items():
            setattr(record, name, value)
        validate_record(record)
        sent = list(validated_data) if self.partial else None
        record.save(expected_version=expected_version, update_fields=sent)
        for name, value in many.items():
            getattr(record, name).set(value)
        return record

    class Meta:
        read_only_fields = SERVER_MANAGED_FIELDS


class ProvinceSerializer(EntitySerializer):
    url = detail_url("province")
    city_count = serializers.IntegerField(source="city_total", read_only=True)
    cities_url = FilteredListUrlField("city", "province", help_text="This province's cities.")

    class Meta(EntitySerializer.Meta):
        model = Province
        fields = [*ENTITY_FIELDS, "reach", "kind", "city_count", "cities_url"]


class CitySerializer(EntitySerializer):
    url = detail_url("city")
    province = SlugReferenceField(queryset=Province.objects.all())
    province_url = related_url("province", "province")
    reach = serializers.CharField(source="province.reach", read_only=True)
    parent = SlugReferenceField(queryset=City.objects.all(), allow_null=True, required=False)
    parent_url = related_url("city", "parent", allow_null=True)
    location = SafeGeometryField(City, "location", help_text="GeoJSON Point, [longitude, latitude] in WGS84.")
    base_count = serializers.IntegerField(source="base_total", read_only=True)
    bases_url = FilteredListUrlField("base", "city", help_text="Planned bases this city belongs to.")

    class Meta(EntitySerializer.Meta):
        model = City
        fields = [
            *ENTITY_FIELDS,
            "province",
            "province_url",
            "reach",
            "level",
            "parent",
            "parent_url",
            "location",
            "base_count",
            "bases_url",
        ]


class SectorSerializer(EntitySerializer):
    url = detail_url("sector")
    parent = SlugReferenceField(queryset=Sector.objects.all(), allow_null=True, required=False)
    parent_url = related_url("sector", "parent", allow_null=True)
    base_count = serializers.IntegerField(source="base_total", read_only=True)
    bases_url = FilteredListUrlField("base", "sector", help_text="Planned bases in this sector.")
    subsectors_url = FilteredListUrlField("sector", "parent", help_text="This sector's sub-sectors.")

    class Meta(EntitySerializer.Meta):
        model = Sector
        fields = [
            *ENTITY_FIELDS,
            "parent",
            "parent_url",
            "intensity",
            "base_count",
            "bases_url",
            "subsectors_url",
        ]


class PolicyDocumentSerializer(EntitySerializer):
    url = detail_url("document")
    reports_on = SlugReferenceField(queryset=PolicyDocument.objects.all(), allow_null=True, required=False)
    reports_on_url = related_url("document", "reports_on", allow_null=True)
    sectors = SlugReferenceField(queryset=Sector.objects.all(), many=True, required=False)
    sector_urls = related_url("sector", "sectors", many=True)
    cities = SlugReferenceField(queryset=City.objects.all(), many=True, required=False)
    city_urls = related_url("city", "cities", many=True)
    bases_url = FilteredListUrlField(
        "base", "document", help_text="Planned bases this document is a source for."
    )

    def to_representation(self, document):
        data = super().to_representation(document)
        target = document.reports_on
        if target is not None and not target.is_published and not self.may_see_drafts():
            # The report is public; the draft it reports on is not, not even its slug.
            data["reports_on"] = data["reports_on_url"] = None
        return data

    def may_see_drafts(self):
        request = self.context.get("request")
        return request is not None and may_see_drafts(request.user, PolicyDocument)

    class Meta(EntitySerializer.Meta):
        model = PolicyDocument
        fields = [
            *ENTITY_FIELDS,
            "status",
            "published_at",
            "kind",
            "issuer",
            "publisher",
            "authors",
            "published_on",
            "published_on_precision",
            "approved_on",
            "approved_on_precision",
            "source_url",
            "citation",
            "language",
            "summary",
            "reports_on",
            "reports_on_url",
            "sectors",
            "sector_urls",
            "cities",
            "city_urls",
            "bases_url",
        ]


class MemberSerializer(StrictTextMixin, serializers.ModelSerializer):
    """A member city of a base, with the city's names so a consumer needs no
    call per city."""

    city = SlugReferenceField(queryset=City.objects.all())
    city_url = related_url("city", "city")
    name = serializers.CharField(source="city.name", read_only=True)
    name_zh = serializers.CharField(source="city.name_zh", read_only=True)

    class Meta:
        model = BaseMembership
        fields = ["city", "city_url", "name", "name_zh", "role", "position"]


class SourceSerializer(StrictTextMixin, serializers.ModelSerializer):
    """A document that plans the base, and where in it."""

    document = SlugReferenceField(queryset=PolicyDocument.objects.all())
    document_url = related_url("document", "document")

    class Meta:
        model = BaseSource
        fields = ["document", "document_url", "section", "note"]


class PlannedBaseSerializer(EntitySerializer):
    url = detail_url("base")
    area = SafeGeometryField(
        PlannedBase, "area", help_text="GeoJSON MultiPolygon (or Polygon) in WGS84; optional."
    )
    sectors = SlugReferenceField(queryset=Sector.objects.all(), many=True, required=False)
    sector_urls = related_url("sector", "sectors", many=True)
    members = MemberSerializer(
        source="memberships", many=True, required=False, help_text="Member cities in the source's order."
    )
    sources = SourceSerializer(many=True, help_text="Documents that plan the base: at least one.")

    class Meta(EntitySerializer.Meta):
        model = PlannedBase
        fields = [
            *ENTITY_FIELDS,
            "status",
            "published_at",
            "kind",
            "stage",
            "reach",
            "area",
            "sectors",
            "sector_urls",
            "members",
            "sources",
        ]

    def validate_members(self, members):
        require_in_each(members, "city")
        cities = [member["city"] for member in members]
        if len(set(cities)) != len(cities):
            raise serializers.ValidationError(_("Each city can be a member only once."))
        return members

    def validate_sources(self, sources):
        if not sources:
            raise serializers.ValidationError(BASE_NEEDS_A_SOURCE)
        require_in_each(sources, "document")
        keys = [(source["document"], source.get("section", "")) for source in sources]
        if len(set(keys)) != len(keys):
            raise serializers.ValidationError(_("Each document section can be listed only once."))
        return sources

    @transaction.atomic
    def create(self, validated_data):
        members = validated_data.pop("memberships", [])
        sources = validated_data.pop("sources")
        base = super().create(validated_data)
        sync_members(base, members)
        sync_sources(base, sources)
        return base

    @transaction.atomic
    def update(self, instance, validated_data):
        members = validated_data.pop("memberships", None)
        sources = validated_data.pop("sources", None)
        # The base row is locked from here on, so members and sources are
        # read and written by one request at a time.
        base = super().update(instance, validated_data)
        if members is not None:
            sync_members(base, members)
        if sources is not None:
            sync_sources(base, sources)
        return base


def require_in_each(items, key):
    """A PATCH does not make nested fields optional: each item names its
    `key` (DRF skips required fields throughout a partial update)."""
    required = serializers.Field.default_error_messages["required"]
    # By position, as DRF names the errors of a POST's nested items.
    errors = {str(index): {key: [required]} for index, item in enumerate(items) if key not in item}
    if errors:
        raise serializers.ValidationError(errors)


def sync_members(base, members):
    """Make the base's memberships exactly `members`, keeping rows that stay."""
    existing = {membership.city_id: membership for membership in base.memberships.all()}
    for position, member in enumerate(members):
        city = member["city"]
        membership = existing.pop(city.pk, None) or BaseMembership(base=base, city=city)
        membership.role = member.get("role", MembershipRole.MEMBER)
        membership.position = member.get("position", position)
        membership.save()
    BaseMembership.objects.filter(pk__in=[m.pk for m in existing.values()]).delete()


def sync_sources(base, sources):
    """Make the base's sources exactly `sources`, keeping rows that stay."""
    existing = {(source.document_id, source.section): source for source in base.sources.all()}
    for item in sources:
        key = (item["document"].pk, item.get("section", ""))
        source = existing.pop(key, None) or BaseSource(base=base, document=item["document"], section=key[1])
        source.note = item.get("note", "")
        source.save()
    BaseSource.objects.filter(pk__in=[s.pk for s in existing.values()]).delete()


# ---------------------------------------------------------------------------
# GeoJSON (RFC 7946): one Feature per mapped record, its slug as the id
# ---------------------------------------------------------------------------

FEATURE_FIELDS = ["slug", "name", "name_zh", "url", "html_url"]


class CityFeatureSerializer(GeoFeatureModelSerializer):
    url = detail_url("city")
    html_url = PageUrlField()
    province = serializers.CharField(source="province.slug")
    reach = serializers.CharField(source="province.reach")

    class Meta:
        model = City
        geo_field = "location"
        id_field = "slug"
        fields = [*FEATURE_FIELDS, "province", "reach", "level"]


class ComputedGeometryFeatureSerializer(GeoFeatureModelSerializer):
    """A feature whose `geometry` comes from get_geometry(); geometry_schema()
    documents it (see clusters.api.schema)."""

    geometry = GeometrySerializerMethodField(method_name="get_geometry")

    @extend_schema_field(OpenApiTypes.OBJECT)  # documented by geometry_schema() instead
    def get_geometry(self, instance):
        return self.geometry_of(instance)

    def geometry_of(self, instance):
        raise NotImplementedError

    @staticmethod
    def geometry_schema():
        raise NotImplementedError


class ProvinceFeatureSerializer(ComputedGeometryFeatureSerializer):
    """A province as the MultiPoint of its located cities (the project holds
    no province outlines)."""

    url = detail_url("province")
    html_url = PageUrlField()

    class Meta:
        model = Province
        geo_field = "geometry"
        id_field = "slug"
        fields = [*FEATURE_FIELDS, "reach", "kind"]

    def geometry_of(self, province):
        return geojson.multipoint([city.location for city in province.cities.all()])

    @staticmethod
    def geometry_schema():
        return schema.multipoint_schema()


class BaseFeatureSerializer(ComputedGeometryFeatureSerializer):
    """A base's area, or else its member cities as a MultiPoint."""

    url = detail_url("base")
    html_url = PageUrlField()
    members = serializers.SerializerMethodField()

    class Meta:
        model = PlannedBase
        geo_field = "geometry"
        id_field = "slug"
        fields = [*FEATURE_FIELDS, "kind", "stage", "reach", "members"]

    def geometry_of(self, base):
        return geojson.base_shape(base)

    @staticmethod
    def geometry_schema():
        return {"oneOf": [schema.multipolygon_schema(), schema.multipoint_schema()]}

    def get_members(self, base) -> list[str]:
        return [membership.city.slug for membership in base.memberships.all()]
