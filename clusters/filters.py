"""What can be filtered: one FilterSet per entity, shared by the public pages,
the map and the API.

Multi-valued filters take repeated parameters and mean "any of"
(`city=wuhan&city=changsha`); the `*_all` variants mean "all of".
"""

from functools import reduce
from operator import or_

import django_filters as filters
from django import forms
from django.contrib.gis.measure import D
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.drainage import set_override

from clusters import geo
from clusters.models import (
    BaseKind,
    BaseStage,
    City,
    CityLevel,
    DocumentKind,
    Intensity,
    Language,
    PlannedBase,
    PolicyDocument,
    Province,
    ProvinceKind,
    PublicationStatus,
    Reach,
    Sector,
)
from clusters.search import SEARCHED_FIELDS, matching
from clusters.templatetags.clusters_tags import local_name


class LocalNameMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Options labelled in the reader's language."""

    def label_from_instance(self, obj):
        return local_name(obj)


class SlugSearchInput(forms.Widget):
    """Text boxes for slugs instead of a list of every option: a select of
    10,000 cities or 100,000 bases would weigh megabytes and take seconds to
    render. Suggestions come from the API list named by `suggest` (by
    static/js/filter-suggest.js)."""

    template_name = "widgets/slug_search.html"

    def __init__(self, suggest, attrs=None):
        self.suggest = suggest
        super().__init__(attrs)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["suggest_url"] = reverse(self.suggest)
        return context

    def format_value(self, value):
        values = value if isinstance(value, list | tuple) else [value]
        return [str(item) for item in values if item not in (None, "")]

    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if values is None:
            return None
        values = values if isinstance(values, list | tuple) else [values]
        return [value for value in values if value != ""]

    def value_omitted_from_data(self, data, files, name):
        return name not in data


class SlugsFilter(filters.ModelMultipleChoiceFilter):
    """Any of several related objects, named by slug.

    Matches through a subquery on primary keys rather than a join, so the
    list keeps one row per object and its annotated counts stay whole.
    Given `suggest` (an API list's URL name), the form shows text boxes with
    suggestions rather than every option: for tables that grow large.
    """

    field_class = LocalNameMultipleChoiceField

    help_text = _("Slugs; repeat the parameter to match any of them.")

    def __init__(self, *args, through_bases=False, suggest=None, **kwargs):
        if suggest:
            kwargs.setdefault("widget", SlugSearchInput(suggest))
        kwargs.setdefault("to_field_name", "slug")
        kwargs.setdefault("help_text", self.help_text)
        # A path through planned bases counts published ones only: a draft
        # must not place a city in a sector, for instance.
        self.through_bases = through_bases
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if chose_nothing(value):
            return qs
        # Conjoined ("all of"): one subquery per object; otherwise one for any of them.
        groups = [[obj] for obj in value] if self.conjoined else [list(value)]
        for objects in groups:
            links = self.links(qs.model, objects)
            if links is not None and self.checks_rows_found:
                qs = qs.filter(Exists(links.filter(**{self.link_column(qs.model): OuterRef("pk")})))
            elif links is not None:
                qs = qs.filter(pk__in=links.values(self.link_column(qs.model)))
            elif self.follows_single_values(qs.model):
                qs = qs.filter(**{f"{self.field_name}__in": objects})
            else:
                qs = qs.filter(pk__in=self.matching(qs.model, objects).values("pk"))
        return qs

    # Set by SelectiveFirstFilterSet when a more selective filter already
    # narrows the rows: this one then checks each of those few rows (EXISTS
    # through the link table's unique index) rather than listing its own.
    checks_rows_found = False

    def m2m_field(self, model):
        """The model's own many-to-many field this filter follows, if any."""
        if "__" in self.field_name:
            return None
        field = model._meta.get_field(self.field_name)
        return field if field.many_to_many and not field.auto_created else None

    def links(self, model, objects):
        """Link-table rows to any of `objects`, for a many-to-many field of
        the model itself (read from the link table alone: its (target,
        source) index answers without touching the model's table)."""
        field = None if self.through_bases else self.m2m_field(model)
        if field is None:
            return None
        through = field.remote_field.through
        return through._base_manager.filter(**{f"{field.m2m_reverse_field_name()}__in": objects})

    def follows_single_values(self, model):
        """Whether each row reaches one object at most (a chain of foreign
        keys): then a plain condition keeps one row per object, and the
        column's own index answers."""
        if self.through_bases:
            return False
        for name in self.field_name.split("__"):
            field = model._meta.get_field(name)
            if not (field.many_to_one or field.one_to_one) or field.auto_created:
                return False
            model = field.related_model
        return True

    def link_column(self, model):
        return self.m2m_field(model).m2m_column_name()

    def matching(self, model, objects):
        published = {"bases__status": PublicationStatus.PUBLISHED} if self.through_bases else {}
        return model._base_manager.filter(**{f"{self.field_name}__in": objects}, **published)


def chose_nothing(value):
    """Whether a cleaned filter value is empty, without a query where it is
    known to be: a multiple choice left empty cleans to `queryset.none()`."""
    if isinstance(value, QuerySet) and value.query.is_empty():
        return True
    return not value


class AllSlugsFilter(SlugsFilter):
    """All of several related objects, named by slug."""

    help_text = _("Slugs; repeat the parameter to match only what has all of them.")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("conjoined", True)
        super().__init__(*args, **kwargs)


EARLIEST_YEAR = 1949
LATEST_YEAR = 2100


class YearFilter(filters.NumberFilter):
    """A whole year: 2019, never 2019.5."""

    field_class = forms.IntegerField


def year_filter(label, lookup_expr):
    bounds = {"min_value": EARLIEST_YEAR, "max_value": LATEST_YEAR}
    year = YearFilter(label=label, field_name="published_on__year", lookup_expr=lookup_expr, **bounds)
    return documented(year, type="integer", minimum=EARLIEST_YEAR, maximum=LATEST_YEAR)


def documented(filter_, **schema):
    """Give a filter an explicit API schema (where drf-spectacular would guess
    wrong), keeping its label as the description."""
    set_override(filter_, "field", {**schema, "description": filter_.extra.get("help_text") or filter_.label})
    return filter_


def ordering_filter(*fields):
    """Sorting by (field, parameter value, ascending label, descending label),
    with both directions' labels translatable."""
    choices = []
    for _field, param, ascending, descending in fields:
        choices += [(param, ascending), (f"-{param}", descending)]
    return filters.OrderingFilter(
        label=_("Sort by"), fields=[(field, param) for field, param, *_labels in fields], choices=choices
    )


def choices_filter(label, choices, **kwargs):
    """Any of a few fixed values, shown as checkboxes."""
    kwargs.setdefault("help_text", _("Repeat the parameter to match any of these values."))
    return filters.MultipleChoiceFilter(
        label=label, choices=choices, widget=forms.CheckboxSelectMultiple, **kwargs
    )


BY_NAME = ("name", "name", _("Name, A to Z"), _("Name, Z to A"))


def reach_filter(label, lookups):
    """Reach matched through any of the given paths (e.g. a base's own reach
    or its member cities' provinces); paths through bases count published
    bases only."""

    def condition(lookup, values):
        if lookup.startswith("bases__"):
            return Q(**{f"{lookup}__in": values, "bases__status": PublicationStatus.PUBLISHED})
        return Q(**{f"{lookup}__in": values})

    def filter_reach(queryset, name, values):
        if not values:
            return queryset
        return matching_any(queryset, [condition(lookup, values) for lookup in lookups])

    return choices_filter(label, Reach.choices, method=filter_reach)


class FilterSet(filters.FilterSet):
    """django-filter's FilterSet with its form class built once per FilterSet
    class: django-filter builds a new class, and every filter's form field,
    on each request, though none of them depends on the request (each form
    still copies its fields)."""

    def get_form_class(self):
        cls = type(self)
        if "_form_class" not in cls.__dict__:
            cls._form_class = super().get_form_class()
        return cls._form_class


class ProvinceFilter(FilterSet):
    reach = choices_filter(_("Reach"), Reach.choices)
    kind = choices_filter(_("Kind"), ProvinceKind.choices)
    ordering = ordering_filter(BY_NAME)

    class Meta:
        model = Province
        fields = ["reach", "kind"]


class CityFilter(FilterSet):
    province = SlugsFilter(label=_("Province"), queryset=Province.objects.order_by("name"))
    reach = choices_filter(_("Reach"), Reach.choices, field_name="province__reach")
    level = choices_filter(_("Level"), CityLevel.choices)
    sector = SlugsFilter(
        label=_("Sector (through its bases)"),
        field_name="bases__sectors",
        through_bases=True,
        queryset=Sector.objects.order_by("name"),
    )
    base = SlugsFilter(
        label=_("Planned base"),
        field_name="bases",
        queryset=PlannedBase.objects.public().order_by("name"),
        suggest="api:base-list",
    )
    ordering = ordering_filter(BY_NAME)

    class Meta:
        model = City
        fields = ["province", "reach", "level", "sector", "base"]


class SectorFilter(FilterSet):
    parent = SlugsFilter(label=_("Parent sector"), queryset=Sector.objects.order_by("name"))
    top_level = documented(
        filters.TypedChoiceFilter(
            label=_("Top-level sectors only"),
            field_name="parent",
            lookup_expr="isnull",
            choices=[("true", _("Yes")), ("false", _("No"))],
            coerce=lambda value: value == "true",
        ),
        type="string",
        enum=["true", "false"],
    )
    intensity = choices_filter(_("Factor intensity"), Intensity.choices)
    ordering = ordering_filter(BY_NAME)

    class Meta:
        model = Sector
        fields = ["parent", "top_level", "intensity"]


class SelectiveFirstFilterSet(FilterSet):
    """Applies the filters named in `selective_first` before the others.
    SQLite looks rows up through the first `pk IN (…)` list it is given, so
    a city's few dozen bases should come before a sector's thousands."""

    selective_first = ()

    def filter_queryset(self, queryset):
        order = self.selective_first
        narrowed = False
        names = sorted(self.form.cleaned_data, key=lambda n: order.index(n) if n in order else len(order))
        for name in names:
            filter_, value = self.filters[name], self.form.cleaned_data[name]
            if isinstance(filter_, SlugsFilter) and not chose_nothing(value):
                filter_.checks_rows_found = narrowed
                narrowed = True
            queryset = filter_.filter(queryset, value)
        return queryset


class PolicyDocumentFilter(SelectiveFirstFilterSet):
    selective_first = ("city", "sector")
    kind = choices_filter(_("Kind"), DocumentKind.choices)
    language = choices_filter(_("Language"), Language.choices)
    year_from = year_filter(_("Published from (year)"), "gte")
    year_to = year_filter(_("Published until (year)"), "lte")
    sector = SlugsFilter(label=_("Sector"), field_name="sectors", queryset=Sector.objects.order_by("name"))
    city = SlugsFilter(
        label=_("City"), field_name="cities", queryset=City.objects.order_by("name"), suggest="api:city-list"
    )
    reach = reach_filter(_("Reach"), ["cities__province__reach", "bases__reach"])
    ordering = ordering_filter(
        ("name", "name", _("Title, A to Z"), _("Title, Z to A")),
        ("published_on", "date", _("Oldest first"), _("Newest first")),
    )

    class Meta:
        model = PolicyDocument
        fields = ["kind", "language", "year_from", "year_to", "sector", "city", "reach"]


class PlannedBaseFilter(SelectiveFirstFilterSet):
    selective_first = ("city", "city_all", "document", "sector", "sector_all", "province")
    kind = choices_filter(_("Kind"), BaseKind.choices)
    stage = choices_filter(_("Development stage"), BaseStage.choices)
    sector = SlugsFilter(label=_("Sector"), field_name="sectors", queryset=Sector.objects.order_by("name"))
    sector_all = AllSlugsFilter(
        label=_("All of these sectors"), field_name="sectors", queryset=Sector.objects.order_by("name")
    )
    city = SlugsFilter(
        label=_("Member city"),
        field_name="cities",
        queryset=City.objects.order_by("name"),
        suggest="api:city-list",
    )
    city_all = AllSlugsFilter(
        label=_("All of these member cities"),
        field_name="cities",
        queryset=City.objects.order_by("name"),
        suggest="api:city-list",
    )
    province = SlugsFilter(
        label=_("Province"), field_name="cities__province", queryset=Province.objects.order_by("name")
    )
    reach = reach_filter(_("Reach"), ["reach", "cities__province__reach"])
    document = SlugsFilter(
        label=_("Source document"),
        field_name="documents",
        queryset=PolicyDocument.objects.public().order_by("name"),
        suggest="api:document-list",
    )
    ordering = ordering_filter(BY_NAME)

    class Meta:
        model = PlannedBase
        fields = ["kind", "stage", "sector", "city", "province", "reach", "document"]


def stable_order(queryset):
    """The FilterSet's ordering if one was asked for, else the model's, made
    total and the same in every database:
    - pk breaks ties, so that pages never repeat or skip a row, in the first
      key's direction, so that one index read forwards or backwards serves;
    - NULLs come first ascending and last descending (SQLite and PostgreSQL
      differ), as the API's cursors assume.
    Explicit, because Meta.ordering is dropped once a list annotates counts."""
    fields = list(queryset.query.order_by or queryset.model._meta.ordering)
    descending = bool(fields) and isinstance(fields[0], str) and fields[0].startswith("-")
    ordering = [nulls_placed(queryset.model, field) for field in fields]
    return queryset.order_by(*ordering, "-pk" if descending else "pk")


def nulls_placed(model, field):
    if not isinstance(field, str) or "__" in field:
        return field
    name = field.removeprefix("-")
    try:
        nullable = model._meta.get_field(name).null
    except FieldDoesNotExist:
        return field
    if not nullable:
        return field
    return F(name).desc(nulls_last=True) if field.startswith("-") else F(name).asc(nulls_first=True)


# ---------------------------------------------------------------------------
# The API's extra parameters: text search and, for mapped entities, a box
# and a distance. The pages keep their own forms; the rules are the same.
# ---------------------------------------------------------------------------

MAX_SEARCH_CHARS = 200
MAX_RADIUS_KM = 5000


class GeometryParameterField(forms.CharField):
    """A text parameter parsed into a geometry by one of clusters.geo's parsers."""

    def __init__(self, *args, parse, **kwargs):
        self.parse = parse
        kwargs.setdefault("max_length", 200)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return self.parse(value) if value else None


class GeometryParameterFilter(filters.Filter):
    field_class = GeometryParameterField


def matching_any(queryset, conditions):
    """Rows meeting any of the conditions (through a pk subquery, so the list
    keeps one row per object)."""
    matching = queryset.model._base_manager.filter(reduce(or_, conditions))
    return queryset.filter(pk__in=matching.values("pk"))


class ApiFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        near, radius = cleaned.get("near"), cleaned.get("radius_km")
        if "near" in self.fields and (near is None) != (radius is None) and not self.errors:
            raise forms.ValidationError(_("Give `near` and `radius_km` together."), code="incomplete")
        return cleaned


class ApiFilterMixin(FilterSet):
    """`search` over names (English and Chinese) and texts, as the site's search."""

    search = filters.CharFilter(
        label=_("Words to find in names (English or Chinese) and texts"),
        method="filter_search",
        max_length=MAX_SEARCH_CHARS,
    )

    def filter_search(self, queryset, name, value):
        model = queryset.model
        found = model._base_manager.filter(matching(model, value, SEARCHED_FIELDS[model]))
        return queryset.filter(pk__in=found.values("pk"))


class GeoApiFilterMixin(ApiFilterMixin):
    """`in_bbox` and `near` + `radius_km`, matched against `geometry_lookups`
    (paths to the geometries that place a row on the map)."""

    geometry_lookups = ()

    in_bbox = GeometryParameterFilter(
        label=_("Only what lies in this box: minLon,minLat,maxLon,maxLat (WGS84)"),
        method="filter_in_bbox",
        parse=geo.parse_bbox,
    )
    near = GeometryParameterFilter(
        label=_("Only what lies within radius_km of this point: lon,lat (WGS84)"),
        method="filter_near",
        parse=geo.parse_lon_lat,
    )
    radius_km = documented(
        filters.NumberFilter(
            label=_("Distance from `near`, in kilometres (up to 5000)"),
            method="filter_radius_km",
            min_value=0,
            max_value=MAX_RADIUS_KM,
        ),
        type="number",
        minimum=0,
        maximum=MAX_RADIUS_KM,
    )

    # `value: str` documents the parameter's type in the API schema; the
    # method receives the geometry the form field parsed from that text.
    def filter_in_bbox(self, queryset, name, value: str):
        return matching_any(queryset, [Q(**{f"{path}__intersects": value}) for path in self.geometry_lookups])

    def filter_near(self, queryset, name, value: str):
        distance = (value, D(km=self.form.cleaned_data["radius_km"]))
        # isnull too, because SpatiaLite takes a missing geometry's distance as 0.
        conditions = [
            Q(**{f"{path}__distance_lte": distance, f"{path}__isnull": False})
            for path in self.geometry_lookups
        ]
        return matching_any(queryset, conditions)

    def filter_radius_km(self, queryset, name, value):
        # Applied together with `near`, in filter_near.
        return queryset


class ProvinceApiFilter(GeoApiFilterMixin, ProvinceFilter):
    geometry_lookups = ("cities__location",)

    class Meta(ProvinceFilter.Meta):
        form = ApiFilterForm


class CityApiFilter(GeoApiFilterMixin, CityFilter):
    geometry_lookups = ("location",)

    class Meta(CityFilter.Meta):
        form = ApiFilterForm


class SectorApiFilter(ApiFilterMixin, SectorFilter):
    class Meta(SectorFilter.Meta):
        form = ApiFilterForm


class PolicyDocumentApiFilter(ApiFilterMixin, PolicyDocumentFilter):
    class Meta(PolicyDocumentFilter.Meta):
        form = ApiFilterForm


class PlannedBaseApiFilter(GeoApiFilterMixin, PlannedBaseFilter):
    geometry_lookups = ("area", "cities__location")

    class Meta(PlannedBaseFilter.Meta):
        form = ApiFilterForm
