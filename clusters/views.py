"""Public pages. Each list is its FilterSet's queryset, paginated; each detail
page fetches its relations in a fixed number of queries."""

from django.conf import settings
from django.db.models import F, Prefetch, Q
from django.http import HttpResponse, JsonResponse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.generic import DetailView, ListView, TemplateView

from clusters import geojson
from clusters.editing import visible_to
from clusters.filters import (
    CityFilter,
    PlannedBaseFilter,
    PolicyDocumentFilter,
    ProvinceFilter,
    SectorFilter,
    stable_order,
)
from clusters.models import (
    City,
    PlannedBase,
    PolicyDocument,
    Province,
    PublicationStatus,
    Reach,
    Sector,
)
from clusters.rows import PageRows
from clusters.search import search_all
from clusters.templatetags.clusters_tags import local_name

# ---------------------------------------------------------------------------
# Lists
# ---------------------------------------------------------------------------


class FilteredListView(ListView):
    """A list driven by its FilterSet: the form on the page, the queryset
    behind it, the active filters shown as removable chips."""

    filterset_class = None
    page_title = ""
    page_description = ""
    # A table list's row: markup with a {slot} for each value row() gives
    # (see clusters/rows.py), and the values it reads (fields, lookups
    # through foreign keys, the list's counts), fetched as tuples. Lists
    # without it show model instances through their template.
    row_html = ""
    row_fields = ()

    def get_paginate_by(self, queryset):
        return settings.PAGE_SIZE

    @classmethod
    def list_queryset(cls):
        """The public rows with what the list shows beside each, built once
        per class and copied per request (as DRF does with `queryset`):
        resolving the count annotations took longer than running them."""
        if "_list_queryset" not in cls.__dict__:
            queryset = cls.model.objects.public().for_list()
            if cls.row_html:
                queryset = queryset.values_list(*cls.row_fields, named=True)
            cls._list_queryset = queryset
        return cls._list_queryset.all()

    def get_queryset(self):
        self.filterset = self.filterset_class(
            self.request.GET or None, queryset=self.list_queryset(), request=self.request
        )
        if self.filterset.is_bound and not self.filterset.is_valid():
            return self.filterset.queryset.none()
        return stable_order(self.filterset.qs)

    def row(self, values, page):
        """The values of one row's slots, from the fetched `values`; `page`
        (a PageRows) gives names, links and labels in the reader's language."""
        raise NotImplementedError

    def render_to_response(self, context, **response_kwargs):
        # Filters that cannot be applied: the page with the form and its
        # errors, for the reader to correct, as a 400.
        if self.filterset.is_bound and not self.filterset.is_valid():
            response_kwargs.setdefault("status", 400)
        return super().render_to_response(context, **response_kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.row_html:
            page = PageRows()
            context["rows"] = page.render(
                self.row_html, (self.row(obj, page) for obj in context["object_list"])
            )
        context.update(
            filterset=self.filterset,
            active_filters=active_filters(self.request.GET, self.filterset),
            result_count=context["paginator"].count if context["paginator"] else len(self.object_list),
            page_title=self.page_title,
            page_description=self.page_description,
        )
        return context


def active_filters(query, filterset):
    """(label, value, URL without it) for each filter value in the query."""
    if not filterset.is_bound or not filterset.is_valid():
        return []
    chips = []
    for name, field in filterset.form.fields.items():
        values = [value for value in query.getlist(name) if value != ""]
        if name == "ordering" or not values:
            continue
        labels = value_labels(field, filterset.form.cleaned_data.get(name))
        chips += [(field.label, labels.get(raw, raw), "?" + without(query, name, raw)) for raw in values]
    return chips


def value_labels(field, cleaned):
    """Raw query value -> what the reader sees for it."""
    if hasattr(field, "queryset"):
        return {obj.slug: local_name(obj) for obj in cleaned or []}
    return {str(value): str(label) for value, label in getattr(field, "choices", [])}


def without(query, name, raw):
    remaining = [
        (key, value)
        for key in query
        if key != "page"
        for value in query.getlist(key)
        if not (key == name and str(value) == str(raw))
    ]
    return urlencode(remaining)


class PolicyDocumentListView(FilteredListView):
    model = PolicyDocument
    filterset_class = PolicyDocumentFilter
    page_title = _("Policy documents")
    page_description = _("Plans, policies, news reports and research on the Belt's industrial clusters.")


class PlannedBaseListView(FilteredListView):
    model = PlannedBase
    filterset_class = PlannedBaseFilter
    page_title = _("Planned bases")
    page_description = _("Industrial bases, clusters, alliances and chains that documents plan.")


class SectorListView(FilteredListView):
    model = Sector
    filterset_class = SectorFilter
    page_title = _("Sectors")
    page_description = _("Industries and their sub-sectors named in the sources.")
    row_html = (
        '<tr><th scope="row"><a href="{url}">{name}</a></th>'
        "<td>{parent}</td><td>{intensity}</td><td>{base_total}</td></tr>"
    )
    row_fields = (
        "slug", "name", "name_zh", "intensity", "base_total",
        "parent__slug", "parent__name", "parent__name_zh",
    )  # fmt: skip

    def row(self, sector, page):
        parent = ""
        if sector.parent__slug:
            names = (sector.parent__name, sector.parent__name_zh)
            parent = page.link("sector-detail", sector.parent__slug, *names)
        return {
            "url": page.url("sector-detail", sector.slug),
            "name": page.both_names(sector.name, sector.name_zh),
            "parent": parent,
            "intensity": page.label(Sector, "intensity", sector.intensity),
            "base_total": sector.base_total,
        }


class CityListView(FilteredListView):
    model = City
    filterset_class = CityFilter
    page_title = _("Cities")
    page_description = _("Cities named in the planning documents, with their province and reach.")
    row_html = (
        '<tr><th scope="row"><a href="{url}">{name}</a></th>'
        "<td>{province}</td><td>{reach}</td><td>{level}</td><td>{base_total}</td></tr>"
    )
    row_fields = (
        "slug", "name", "name_zh", "level", "base_total",
        "province__slug", "province__name", "province__name_zh", "province__reach",
    )  # fmt: skip

    def row(self, city, page):
        return {
            "url": page.url("city-detail", city.slug),
            "name": page.both_names(city.name, city.name_zh),
            "province": page.link(
                "province-detail", city.province__slug, city.province__name, city.province__name_zh
            ),
            "reach": page.label(Province, "reach", city.province__reach),
            "level": page.label(City, "level", city.level),
            "base_total": city.base_total,
        }


class ProvinceListView(FilteredListView):
    model = Province
    filterset_class = ProvinceFilter
    page_title = _("Provinces")
    page_description = _("The eleven province-level divisions of the Yangtze River Economic Belt.")
    row_html = (
        '<tr><th scope="row"><a href="{url}">{name}</a></th>'
        "<td>{reach}</td><td>{kind}</td><td>{city_total}</td></tr>"
    )
    row_fields = ("slug", "name", "name_zh", "reach", "kind", "city_total")

    def row(self, province, page):
        return {
            "url": page.url("province-detail", province.slug),
            "name": page.both_names(province.name, province.name_zh),
            "reach": page.label(Province, "reach", province.reach),
            "kind": page.label(Province, "kind", province.kind),
            "city_total": province.city_total,
        }


# ---------------------------------------------------------------------------
# Details
# ---------------------------------------------------------------------------


class CityDetailView(DetailView):
    model = City

    def get_queryset(self):
        return City.objects.select_related("province", "parent")

    def get_context_data(self, **kwargs):
        city = self.object
        bases = PlannedBase.objects.public().filter(cities=city).distinct()
        return super().get_context_data(
            map_data=geojson.feature_collection([geojson.city_feature(city)]),
            memberships=city.memberships.filter(base__in=bases).select_related("base").order_by("base__name"),
            sectors=Sector.objects.filter(bases__in=bases).distinct().order_by("name"),
            documents=documents_about(Q(cities=city) | Q(bases__in=bases)),
            subordinate_cities=city.subordinate_cities.all(),
            **kwargs,
        )


def documents_about(condition):
    return PolicyDocument.objects.public().filter(condition).distinct()


class SectorDetailView(DetailView):
    model = Sector

    def get_queryset(self):
        return Sector.objects.select_related("parent__parent")

    def get_context_data(self, **kwargs):
        sector = self.object
        bases = sector.bases.public()
        cities = City.objects.filter(bases__in=bases).select_related("province").distinct()
        return super().get_context_data(
            map_data=geojson.feature_collection(geojson.city_features(cities)),
            children=sector.children.all(),
            bases=bases,
            cities=cities,
            documents=PolicyDocument.objects.public()
            .filter(Q(sectors=sector) | Q(bases__in=bases))
            .distinct(),
            **kwargs,
        )


class PreviewableDetailView(DetailView):
    """A published record's page; editors may also open a draft's, marked as
    a preview. Everyone else gets a 404 for a draft."""

    def get_queryset(self):
        return visible_to(self.request.user, self.get_detail_queryset())

    def get_detail_queryset(self):
        return self.model.objects.all()


class PolicyDocumentDetailView(PreviewableDetailView):
    model = PolicyDocument

    def get_detail_queryset(self):
        return PolicyDocument.objects.select_related("reports_on").prefetch_related(
            "sectors", "cities", Prefetch("reported_by", queryset=PolicyDocument.objects.public())
        )

    def get_context_data(self, **kwargs):
        document = self.object
        reports_on = document.reports_on
        return super().get_context_data(
            map_data=geojson.feature_collection(geojson.city_features(document.cities.all())),
            sources=document.base_sources.filter(base__status=PublicationStatus.PUBLISHED)
            .select_related("base")
            .order_by("section", "base__name"),
            reports_on=reports_on if reports_on is not None and reports_on.is_published else None,
            **kwargs,
        )


class PlannedBaseDetailView(PreviewableDetailView):
    model = PlannedBase

    def get_detail_queryset(self):
        return PlannedBase.objects.with_relations(public_sources=True)

    def get_context_data(self, **kwargs):
        base = self.object
        members = [geojson.city_feature(m.city) for m in base.memberships.all()]
        return super().get_context_data(
            map_data=geojson.feature_collection([geojson.base_feature(base), *members]), **kwargs
        )


class ProvinceDetailView(DetailView):
    model = Province

    def get_context_data(self, **kwargs):
        province = self.object
        cities = City.objects.for_list().filter(province=province).order_by("name")
        return super().get_context_data(
            map_data=geojson.feature_collection(geojson.city_features(cities)),
            cities=cities,
            bases=PlannedBase.objects.public().filter(cities__province=province).distinct(),
            **kwargs,
        )


# ---------------------------------------------------------------------------
# Home, map, search
# ---------------------------------------------------------------------------


class HomeView(TemplateView):
    template_name = "clusters/home.html"
    latest_documents = 5

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["counts"] = [
            (model._meta.verbose_name_plural, model.objects.public().count(), url)
            for model, url in (
                (PolicyDocument, "clusters:document-list"),
                (PlannedBase, "clusters:base-list"),
                (Sector, "clusters:sector-list"),
                (City, "clusters:city-list"),
                (Province, "clusters:province-list"),
            )
        ]
        # Undated documents last in every database (PostgreSQL puts NULLs
        # first in a descending order, SQLite last).
        newest_first = F("published_on").desc(nulls_last=True)
        context["latest_documents"] = PolicyDocument.objects.public().order_by(newest_first, "name")[
            : self.latest_documents
        ]
        context["top_sectors"] = Sector.objects.filter(parent__isnull=True).prefetch_related("children")
        return context


class MapView(TemplateView):
    template_name = "clusters/map.html"
    # The base filters that the cities layer understands too (kind aside).
    controls = ["sector", "reach", "province", "kind"]

    def get_context_data(self, **kwargs):
        form = PlannedBaseFilter(self.request.GET or None).form
        self.has_errors = form.is_bound and any(form[name].errors for name in self.controls)
        return super().get_context_data(
            filter_fields=[form[name] for name in self.controls], reaches=Reach, **kwargs
        )

    def render_to_response(self, context, **response_kwargs):
        # Filters that cannot be applied are the reader's to correct: a 400.
        if self.has_errors:
            response_kwargs.setdefault("status", 400)
        return super().render_to_response(context, **response_kwargs)


def cities_geojson(request):
    filterset = CityFilter(request.GET, queryset=City.objects.all(), request=request)
    if not filterset.is_valid():
        return JsonResponse({"errors": filterset.errors}, status=400)
    return HttpResponse(geojson.city_collection_json(filterset.qs), content_type="application/geo+json")


def bases_geojson(request):
    return geojson_response(request, PlannedBaseFilter, PlannedBase.objects.public(), geojson.base_features)


def geojson_response(request, filterset_class, queryset, build_features):
    filterset = filterset_class(request.GET, queryset=queryset, request=request)
    if not filterset.is_valid():
        return JsonResponse({"errors": filterset.errors}, status=400)
    collection = geojson.feature_collection(build_features(filterset.qs))
    return JsonResponse(collection, content_type="application/geo+json")


class SearchView(TemplateView):
    template_name = "clusters/search.html"
    max_query_length = 200
    results_per_group = 20

    def get_context_data(self, **kwargs):
        query = self.request.GET.get("q", "").strip()
        error = ""
        if "\x00" in query or len(query) > self.max_query_length:
            error = _("Search for at most %(n)s characters of ordinary text.") % {"n": self.max_query_length}
            query = ""
        groups = search_all(query, limit=self.results_per_group) if query else []
        return super().get_context_data(query=query, groups=groups, error=error, **kwargs)

    def render_to_response(self, context, **response_kwargs):
        # A query that cannot be searched: the form and the reason, as a 400.
        if context["error"]:
            response_kwargs.setdefault("status", 400)
        return super().render_to_response(context, **response_kwargs)
