"""One viewset per entity: list and detail by slug, filtered by the entity's
FilterSet (the pages' filters plus search and, for mapped entities, a box and
a distance), CSV for lists, GeoJSON for whatever has a place on the map."""

import re

from django.db import IntegrityError
from django.db.models import F, Prefetch, Q
from django.http import Http404, HttpResponse
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response

from clusters import geojson
from clusters.api import serializers
from clusters.api.fields import slug_url
from clusters.api.renderers import GeoJSONRenderer, JSONRenderer
from clusters.editing import may_see_drafts, visible_to
from clusters.filters import (
    CityApiFilter,
    PlannedBaseApiFilter,
    PolicyDocumentApiFilter,
    ProvinceApiFilter,
    SectorApiFilter,
    stable_order,
)
from clusters.links import SLUG_MARK
from clusters.middleware import query_problem
from clusters.models import City, EditConflict, PlannedBase, PolicyDocument, Province, Sector

SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")
# Renderer formats for which a layer may be written as JSON text directly.
PLAIN_GEOJSON_FORMATS = {"geojson", "json"}


class EntityViewSet(viewsets.ModelViewSet):
    lookup_field = "slug"
    # Anything up to the next slash reaches the view, so that a malformed slug
    # gets the API's JSON 404 (checked in get_object) rather than an HTML page.
    lookup_value_regex = r"[^/]+"
    filter_backends = [DjangoFilterBackend]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    model = None

    def initial(self, request, *args, **kwargs):
        check_query_parameters(request.query_params)
        super().initial(request, *args, **kwargs)

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            formats = ", ".join(renderer.format for renderer in self.get_renderers())
            raise ValidationError({"format": f"Unknown format; use one of: {formats}."}) from None

    def get_object(self):
        if not SLUG.fullmatch(self.kwargs[self.lookup_field]):
            raise NotFound()
        return super().get_object()

    def get_queryset(self):
        # Built once a request: DRF's model permissions ask for it too, only
        # to learn the model, and building the list's annotations costs.
        if "_visible_queryset" not in self.__dict__:
            self._visible_queryset = visible_to(self.request.user, self.get_base_queryset())
        return self._visible_queryset.all()

    def get_base_queryset(self):
        """Every record (drafts too) with what the serializer shows."""
        return self.model.objects.for_list()

    def filter_queryset(self, queryset):
        return stable_order(super().filter_queryset(queryset))

    def paginate_queryset(self, queryset):
        # A spreadsheet wants every matching row, not one page of them (the
        # paging parameters are still checked, so bad ones are refused alike).
        if getattr(self.request.accepted_renderer, "format", None) == "csv":
            self.paginator.check_parameters(self.request)
            return None
        return super().paginate_queryset(queryset)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(getattr(response, "accepted_renderer", None), "format", None) == "csv":
            response["Content-Disposition"] = f'attachment; filename="{self.basename}.csv"'
        return response

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = entity_tag(response.data["version"])
        return response

    def perform_create(self, serializer):
        save_or_refuse(serializer)
        serializer.instance = self.reloaded(serializer.instance)

    def perform_update(self, serializer):
        # With If-Match, the save happens only on top of the version the
        # client holds (checked again atomically when writing).
        seen = seen_version(self.request)
        if seen is not None and seen != serializer.instance.version:
            raise EditConflict(serializer.instance, seen)
        save_or_refuse(serializer, expected_version=seen)
        serializer.instance = self.reloaded(serializer.instance)

    def update(self, request, *args, **kwargs):
        response = super().update(request, *args, **kwargs)
        response["ETag"] = entity_tag(response.data["version"])
        return response

    def reloaded(self, instance):
        """The saved object as the list shows it (with its counts and relations)."""
        saved = self.get_base_queryset().filter(pk=instance.pk).first()
        if saved is None:
            # Deleted by another request as soon as this one had saved it.
            raise NotFound()
        return saved


class WriteCollision(APIException):
    """Another request wrote the same rows at the same moment (a uniqueness
    the database enforces was taken first); nothing of this one was saved."""

    status_code = 409
    default_code = "write_collision"
    default_detail = _(
        "Another write changed the same records at the same moment, so nothing of yours was saved. "
        "Read the record again and send your change again."
    )


def save_or_refuse(serializer, **extra):
    try:
        serializer.save(**extra)
    except IntegrityError:
        raise WriteCollision() from None


def entity_tag(version):
    return f'"{version}"'


def seen_version(request):
    """The version named by an If-Match header (None without one). A value
    that names no version can match nothing: -1."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isascii() and tag.isdigit() and len(tag) < 10 else -1


def check_query_parameters(parameters):
    problem = query_problem(parameters)
    if problem is not None:
        raise ValidationError({problem.parameter: problem.message})


class GeoJSONMixin:
    """`<list>/geojson/`: every matching record with a geometry as one RFC 7946
    FeatureCollection (not paginated, so a GIS client gets the whole layer)."""

    feature_serializer_class = None

    def get_feature_queryset(self):
        raise NotImplementedError

    def feature_collection_json(self, features):
        """The layer as JSON text built in the database, for layers that can
        be (None: the feature serializer builds it)."""
        return None

    @action(
        detail=False,
        url_path="geojson",
        # Plain JSON too: GDAL (QGIS, ogrinfo) asks for "text/plain, application/json".
        renderer_classes=[GeoJSONRenderer, JSONRenderer, BrowsableAPIRenderer],
        pagination_class=None,
    )
    def geojson(self, request):
        features = self.filter_queryset(self.get_feature_queryset())
        if request.accepted_renderer.format in PLAIN_GEOJSON_FORMATS:
            collection = self.feature_collection_json(features)
            if collection is not None:
                return HttpResponse(collection, content_type=request.accepted_renderer.media_type)
        serializer = self.feature_serializer_class(features, many=True, context=self.get_serializer_context())
        return Response(serializer.data)


def geojson_schema(entity, feature_serializer):
    return extend_schema(
        filters=True,
        responses={200: feature_serializer(many=True)},
        summary=f"{entity} as GeoJSON",
        description=(
            f"Every matching {entity.lower()} that has a geometry, as one RFC 7946 FeatureCollection "
            "(WGS84, [longitude, latitude]). Takes the list's filters; not paginated."
        ),
    )


def list_schema(entity):
    return extend_schema(
        summary=f"List {entity}",
        description=(
            "Repeating a multi-valued parameter means *any of* (`city=wuhan&city=changsha`); "
            "`*_all` parameters mean *all of*. Add `format=csv` for a spreadsheet of every matching row."
        ),
    )


IF_MATCH = OpenApiParameter(
    "If-Match",
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "The ETag of the version you edited (from GET). If someone saved in the meantime, "
        "the write is refused with 412 and what changed."
    ),
)


def entity_schema(entity, singular):
    """Documents a viewset's operations (and its GeoJSON layer, if it has a
    feature serializer)."""

    def document(viewset):
        operations = {
            "list": list_schema(entity),
            "retrieve": extend_schema(summary=f"One {singular}, by slug"),
            "create": extend_schema(summary=f"Create a {singular} (editors)"),
            "update": extend_schema(summary=f"Replace a {singular} (editors)", parameters=[IF_MATCH]),
            "partial_update": extend_schema(
                summary=f"Change some fields of a {singular} (editors)", parameters=[IF_MATCH]
            ),
            "destroy": extend_schema(
                summary=f"Delete a {singular} (editors)",
                responses={204: OpenApiResponse(description="Deleted.")},
            ),
        }
        feature_serializer = getattr(viewset, "feature_serializer_class", None)
        if feature_serializer is not None:
            operations["geojson"] = geojson_schema(entity, feature_serializer)
        return extend_schema_view(**operations)(viewset)

    return document


@entity_schema("Provinces", "province")
class ProvinceViewSet(GeoJSONMixin, EntityViewSet):
    model = Province
    serializer_class = serializers.ProvinceSerializer
    feature_serializer_class = serializers.ProvinceFeatureSerializer
    filterset_class = ProvinceApiFilter

    def get_feature_queryset(self):
        located = City.objects.exclude(location=None).only("province_id", "location")
        return (
            Province.objects.filter(cities__location__isnull=False)
            .distinct()
            .prefetch_related(Prefetch("cities", queryset=located))
        )


@entity_schema("Cities", "city")
class CityViewSet(GeoJSONMixin, EntityViewSet):
    model = City
    serializer_class = serializers.CitySerializer
    feature_serializer_class = serializers.CityFeatureSerializer
    filterset_class = CityApiFilter

    def get_base_queryset(self):
        return super().get_base_queryset().select_related("parent")

    def get_feature_queryset(self):
        return City.objects.select_related("province").exclude(location=None)

    def feature_collection_json(self, features):
        """CityFeatureSerializer's features, written by the database."""
        return geojson.point_collection_json(
            features,
            F("slug"),
            {
                "name": F("name"),
                "name_zh": F("name_zh"),
                "url": geojson.around_slug(slug_url(self.request, "api:city-detail", SLUG_MARK)),
                "html_url": geojson.around_slug(slug_url(self.request, "clusters:city-detail", SLUG_MARK)),
                "province": F("province__slug"),
                "reach": F("province__reach"),
                "level": F("level"),
            },
        )


@entity_schema("Sectors", "sector")
class SectorViewSet(EntityViewSet):
    model = Sector
    serializer_class = serializers.SectorSerializer
    filterset_class = SectorApiFilter


@entity_schema("Policy documents", "policy document")
class PolicyDocumentViewSet(EntityViewSet):
    model = PolicyDocument
    serializer_class = serializers.PolicyDocumentSerializer
    filterset_class = PolicyDocumentApiFilter

    def get_base_queryset(self):
        return super().get_base_queryset().select_related("reports_on").prefetch_related("sectors", "cities")


@entity_schema("Planned bases", "planned base")
class PlannedBaseViewSet(GeoJSONMixin, EntityViewSet):
    model = PlannedBase
    serializer_class = serializers.PlannedBaseSerializer
    feature_serializer_class = serializers.BaseFeatureSerializer
    filterset_class = PlannedBaseApiFilter

    def get_base_queryset(self):
        public_sources = not may_see_drafts(self.request.user, PolicyDocument)
        return PlannedBase.objects.with_relations(public_sources=public_sources, summary=True)

    def get_feature_queryset(self):
        mapped = Q(area__isnull=False) | Q(cities__location__isnull=False)
        return (
            PlannedBase.objects.public()
            .with_members()
            .filter(pk__in=PlannedBase.objects.filter(mapped).values("pk"))
        )
