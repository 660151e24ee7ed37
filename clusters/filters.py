"""What can be filtered: one FilterSet per entity, shared by the public pages,
the map and the API.

Multi-valued filters take repeated parameters and mean "any of"
(`city=wuhan&city=changsha`); the `*_all` variants mean "all of".
"""

import django_filters as filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

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
    Reach,
    Sector,
)
from clusters.templatetags.clusters_tags import local_name

EARLIEST_YEAR = 1949
LATEST_YEAR = 2100


class LocalNameMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Options labelled in the reader's language."""

    def label_from_instance(self, obj):
        return local_name(obj)


class SlugsFilter(filters.ModelMultipleChoiceFilter):
    """Any of several related objects, named by slug.

    Matches through a subquery on primary keys rather than a join, so the
    list keeps one row per object and its annotated counts stay whole.
    """

    field_class = LocalNameMultipleChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("to_field_name", "slug")
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        # Conjoined ("all of"): one subquery per object; otherwise one for any of them.
        groups = [[obj] for obj in value] if self.conjoined else [list(value)]
        for objects in groups:
            matching = qs.model._base_manager.filter(**{f"{self.field_name}__in": objects})
            qs = qs.filter(pk__in=matching.values("pk"))
        return qs


class AllSlugsFilter(SlugsFilter):
    """All of several related objects, named by slug."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("conjoined", True)
        super().__init__(*args, **kwargs)


class YearFilter(filters.NumberFilter):
    """A whole year: 2019, never 2019.5."""

    field_class = forms.IntegerField


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
    return filters.MultipleChoiceFilter(
        label=label, choices=choices, widget=forms.CheckboxSelectMultiple, **kwargs
    )


BY_NAME = ("name", "name", _("Name, A to Z"), _("Name, Z to A"))


def reach_filter(label, lookups):
    """Reach matched through any of the given paths (e.g. a base's own reach
    or its member cities' provinces)."""

    def filter_reach(queryset, name, values):
        if not values:
            return queryset
        condition = Q()
        for lookup in lookups:
            condition |= Q(**{f"{lookup}__in": values})
        return queryset.filter(pk__in=queryset.model.objects.filter(condition).values("pk"))

    return choices_filter(label, Reach.choices, method=filter_reach)


class ProvinceFilter(filters.FilterSet):
    reach = choices_filter(_("Reach"), Reach.choices)
    kind = choices_filter(_("Kind"), ProvinceKind.choices)
    ordering = ordering_filter(BY_NAME)

    class Meta:
        model = Province
        fields = ["reach", "kind"]


class CityFilter(filters.FilterSet):
    province = SlugsFilter(label=_("Province"), queryset=Province.objects.order_by("name"))
    reach = choices_filter(_("Reach"), Reach.choices, field_name="province__reach")
    level = choices_filter(_("Level"), CityLevel.choices)
    sector = SlugsFilter(
        label=_("Sector (through its bases)"),
        field_name="bases__sectors",
        queryset=Sector.objects.order_by("name"),
    )
    base = SlugsFilter(
        label=_("Planned base"), field_name="bases", queryset=PlannedBase.objects.order_by("name")
    )
    ordering = ordering_filter(BY_NAME)

    class Meta:
        model = City
        fields = ["province", "reach", "level", "sector", "base"]


class SectorFilter(filters.FilterSet):
    parent = SlugsFilter(label=_("Parent sector"), queryset=Sector.objects.order_by("name"))
    top_level = filters.TypedChoiceFilter(
        label=_("Top-level sectors only"),
        field_name="parent",
        lookup_expr="isnull",
        choices=[("true", _("Yes")), ("false", _("No"))],
        coerce=lambda value: value == "true",
    )
    intensity = choices_filter(_("Factor intensity"), Intensity.choices)
    ordering = ordering_filter(BY_NAME)

    class Meta:
        model = Sector
        fields = ["parent", "top_level", "intensity"]


class PolicyDocumentFilter(filters.FilterSet):
    kind = choices_filter(_("Kind"), DocumentKind.choices)
    language = choices_filter(_("Language"), Language.choices)
    year_from = YearFilter(
        label=_("Published from (year)"),
        field_name="published_on__year",
        lookup_expr="gte",
        min_value=EARLIEST_YEAR,
        max_value=LATEST_YEAR,
    )
    year_to = YearFilter(
        label=_("Published until (year)"),
        field_name="published_on__year",
        lookup_expr="lte",
        min_value=EARLIEST_YEAR,
        max_value=LATEST_YEAR,
    )
    sector = SlugsFilter(label=_("Sector"), field_name="sectors", queryset=Sector.objects.order_by("name"))
    city = SlugsFilter(label=_("City"), field_name="cities", queryset=City.objects.order_by("name"))
    reach = reach_filter(_("Reach"), ["cities__province__reach", "bases__reach"])
    ordering = ordering_filter(
        ("name", "name", _("Title, A to Z"), _("Title, Z to A")),
        ("published_on", "date", _("Oldest first"), _("Newest first")),
    )

    class Meta:
        model = PolicyDocument
        fields = ["kind", "language", "year_from", "year_to", "sector", "city", "reach"]


class PlannedBaseFilter(filters.FilterSet):
    kind = choices_filter(_("Kind"), BaseKind.choices)
    stage = choices_filter(_("Development stage"), BaseStage.choices)
    sector = SlugsFilter(label=_("Sector"), field_name="sectors", queryset=Sector.objects.order_by("name"))
    sector_all = AllSlugsFilter(
        label=_("All of these sectors"), field_name="sectors", queryset=Sector.objects.order_by("name")
    )
    city = SlugsFilter(label=_("Member city"), field_name="cities", queryset=City.objects.order_by("name"))
    city_all = AllSlugsFilter(
        label=_("All of these member cities"), field_name="cities", queryset=City.objects.order_by("name")
    )
    province = SlugsFilter(
        label=_("Province"), field_name="cities__province", queryset=Province.objects.order_by("name")
    )
    reach = reach_filter(_("Reach"), ["reach", "cities__province__reach"])
    document = SlugsFilter(
        label=_("Source document"), field_name="documents", queryset=PolicyDocument.objects.order_by("name")
    )
    ordering = ordering_filter(BY_NAME)

    class Meta:
        model = PlannedBase
        fields = ["kind", "stage", "sector", "city", "province", "reach", "document"]
