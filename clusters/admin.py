"""Editor screens. Changelists select their relations up front, so a page of
200 rows costs the same few queries as a page of 10."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.gis.db.models import GeometryField
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from leaflet.admin import LeafletAdminWidget, LeafletGeoAdminMixin
from simple_history.admin import SimpleHistoryAdmin

from clusters import geo
from clusters.editing import can_publish, conflict_message, stored_version
from clusters.models import (
    BASE_NEEDS_A_SOURCE,
    BaseMembership,
    BaseSource,
    City,
    EditConflict,
    PlannedBase,
    PolicyDocument,
    Province,
    PublicationStatus,
    Sector,
)
from clusters.resources import (
    BaseMembershipResource,
    BaseSourceResource,
    CityResource,
    ImportExportAdminMixin,
    PlannedBaseResource,
    PolicyDocumentResource,
    ProvinceResource,
    SectorResource,
)

ADMIN_MAP_SETTINGS = {"DEFAULT_CENTER": (29.5, 113.5), "DEFAULT_ZOOM": 6}


class SafeMapWidget(geo.SafeMapWidgetMixin, LeafletAdminWidget):
    pass


class MapAdminMixin(LeafletGeoAdminMixin):
    """Leaflet map widgets for geometry fields, editable for editors and shown
    as a read-only map (not raw coordinates) to users who may only view."""

    settings_overrides = ADMIN_MAP_SETTINGS
    widget = SafeMapWidget

    def geometry_field_names(self):
        return [f.name for f in self.model._meta.get_fields() if isinstance(f, GeometryField)]

    def shows_read_only_maps(self, request, obj):
        return obj is not None and not self.has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if not self.shows_read_only_maps(request, obj):
            return fields
        geometry = set(self.geometry_field_names())
        return [f"{name}_map" if name in geometry else name for name in fields]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if self.shows_read_only_maps(request, obj):
            readonly += [f"{name}_map" for name in self.geometry_field_names()]
        return readonly

    def read_only_map(self, obj, field_name):
        field = obj._meta.get_field(field_name)

        class ReadOnlyMap(SafeMapWidget):
            template_name = self.map_template
            geom_type = field.geom_type
            modifiable = False
            settings_overrides = self.settings_overrides

        return ReadOnlyMap().render(
            f"{field_name}_readonly", getattr(obj, field_name), attrs={"id": f"id_{field_name}_ro_{obj.pk}"}
        )

    @property
    def media(self):
        return super().media + LeafletAdminWidget().media


# ---------------------------------------------------------------------------
# Editing: history, no lost edits, publishing
# ---------------------------------------------------------------------------


class VersionedForm(forms.ModelForm):
    """Carries the version the editor opened, so that saving on top of someone
    else's later save is refused with what they changed, instead of silently
    overwriting it."""

    seen_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            # From the database, not the instance: a revert form's instance is
            # an old version, but the editor is working on top of the current one.
            self.initial["seen_version"] = stored_version(self.instance)

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None:
            return cleaned
        seen = cleaned.get("seen_version")
        if seen is None:
            raise forms.ValidationError(_("This form is out of date: reload the page and edit again."))
        if seen != stored_version(self.instance):
            raise forms.ValidationError(conflict_message(self.instance, seen), code="conflict")
        return cleaned


class EditorialAdmin(SimpleHistoryAdmin):
    """History with revert on every record; versioned saves."""

    form = VersionedForm

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # Reverting is a change: viewing the history is not enough to do it.
        if request.method == "POST":
            obj = self.get_object(request, unquote(object_id))
            if obj is None or not self.has_change_permission(request, obj):
                raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        if change and "seen_version" in form.cleaned_data:
            obj.save(expected_version=form.cleaned_data["seen_version"])
        else:
            obj.save()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except EditConflict as conflict:
            # Someone saved between this form's check and its write; the
            # transaction was rolled back.
            self.message_user(
                request, conflict_message(conflict.current, conflict.seen_version), messages.ERROR
            )
            return HttpResponseRedirect(request.path)


class PublishableAdmin(EditorialAdmin):
    """Drafts until a publisher publishes them (by the status field or the
    list's actions); editors without the permission see status read-only."""

    actions = ["publish_selected", "unpublish_selected"]

    def has_publish_permission(self, request):
        return can_publish(request.user, self.model)

    def save_model(self, request, obj, form, change):
        if change and not self.has_publish_permission(request):
            # Status is read-only for this user, but a revert form would
            # otherwise bring back an old version's status.
            stored = type(obj)._base_manager.filter(pk=obj.pk)
            obj.status, obj.published_at = stored.values_list("status", "published_at").get()
        super().save_model(request, obj, form, change)

    def get_readonly_fields(self, request, obj=None):
        readonly = [*super().get_readonly_fields(request, obj), "published_at"]
        if not self.has_publish_permission(request):
            readonly.append("status")
        return readonly

    @admin.action(description=_("Publish the selected records"), permissions=["publish"])
    def publish_selected(self, request, queryset):
        self.set_status(request, queryset, PublicationStatus.PUBLISHED)

    @admin.action(description=_("Unpublish the selected records (back to draft)"), permissions=["publish"])
    def unpublish_selected(self, request, queryset):
        self.set_status(request, queryset, PublicationStatus.DRAFT)

    def set_status(self, request, queryset, status):
        changed = 0
        for obj in queryset.exclude(status=status):
            # One save per record, so each gets its own history row.
            obj.status = status
            obj._history_user = request.user
            obj._change_reason = f"Set to {status} from the list"
            obj.save()
            changed += 1
        self.message_user(
            request,
            ngettext("%(count)d record is now %(status)s.", "%(count)d records are now %(status)s.", changed)
            % {"count": changed, "status": PublicationStatus(status).label},
            messages.SUCCESS,
        )


class CityInline(MapAdminMixin, admin.StackedInline):
    model = City
    fk_name = "province"
    extra = 0
    form = VersionedForm
    fields = ["name", "name_zh", "slug", "level", "parent", "location", "seen_version"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]
    show_change_link = True

    @admin.display(description=_("location"))
    def location_map(self, obj):
        return self.read_only_map(obj, "location")


@admin.register(Province)
class ProvinceAdmin(ImportExportAdminMixin, EditorialAdmin):
    resource_classes = [ProvinceResource]
    list_display = ["name", "name_zh", "reach", "kind", "city_count", "updated_at"]
    list_filter = ["reach", "kind"]
    search_fields = ["name", "name_zh", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    inlines = [CityInline]

    def get_queryset(self, request):
        return super().get_queryset(request).for_list()

    @admin.display(description=_("cities"), ordering="city_total")
    def city_count(self, obj):
        return obj.city_total


class MembershipOfCityInline(admin.TabularInline):
    model = BaseMembership
    fk_name = "city"
    extra = 0
    form = VersionedForm
    fields = ["base", "role", "position", "seen_version"]
    autocomplete_fields = ["base"]
    verbose_name = _("base this city belongs to")
    verbose_name_plural = _("bases this city belongs to")

    def get_queryset(self, request):
        # Each row's title names its city and base.
        return super().get_queryset(request).select_related("city", "base")


@admin.register(City)
class CityAdmin(ImportExportAdminMixin, MapAdminMixin, EditorialAdmin):
    resource_classes = [CityResource]
    list_display = ["name", "name_zh", "province", "level", "has_location", "updated_at"]
    list_filter = ["province__reach", "province", "level"]
    list_select_related = ["province"]
    search_fields = ["name", "name_zh", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["province", "parent"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [MembershipOfCityInline]

    @admin.display(description=_("location"))
    def location_map(self, obj):
        return self.read_only_map(obj, "location")

    @admin.display(description=_("on the map"), boolean=True)
    def has_location(self, obj):
        return obj.location is not None


@admin.register(Sector)
class SectorAdmin(ImportExportAdminMixin, EditorialAdmin):
    resource_classes = [SectorResource]
    list_display = ["name", "name_zh", "parent", "intensity", "base_count", "updated_at"]
    list_filter = ["intensity", ("parent", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["parent"]
    search_fields = ["name", "name_zh", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).for_list()

    @admin.display(description=_("bases"), ordering="base_total")
    def base_count(self, obj):
        return obj.base_total


class SourceOfDocumentInline(admin.TabularInline):
    """Read-only here: sources are edited on their base, where the rule that
    every base keeps at least one source is checked."""

    model = BaseSource
    fk_name = "document"
    extra = 0
    fields = ["base", "section", "note"]
    verbose_name = _("base this document plans")
    verbose_name_plural = _("bases this document plans")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("base", "document")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PolicyDocument)
class PolicyDocumentAdmin(ImportExportAdminMixin, PublishableAdmin):
    resource_classes = [PolicyDocumentResource]
    list_display = ["name", "status", "kind", "publisher", "published_on", "language", "updated_at"]
    list_filter = ["status", "kind", "language", "sectors"]
    search_fields = ["name", "name_zh", "slug", "authors", "publisher", "issuer", "citation"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["reports_on", "sectors", "cities"]
    date_hierarchy = "published_on"
    readonly_fields = ["created_at", "updated_at"]
    inlines = [SourceOfDocumentInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["name", "name_zh", "slug", "kind", "language", "status", "seen_version"]}),
        (
            _("Publication"),
            {
                "fields": [
                    "issuer",
                    "publisher",
                    "authors",
                    ("published_on", "published_on_precision"),
                    ("approved_on", "approved_on_precision"),
                    "source_url",
                    "citation",
                    "reports_on",
                ]
            },
        ),
        (_("Content"), {"fields": ["summary", "description", "sectors", "cities"]}),
        (_("Record"), {"fields": ["published_at", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]


class MembershipInline(admin.TabularInline):
    model = BaseMembership
    fk_name = "base"
    extra = 0
    form = VersionedForm
    fields = ["city", "role", "position", "seen_version"]
    autocomplete_fields = ["city"]

    def get_queryset(self, request):
        # Each row's title names its city and base.
        return super().get_queryset(request).select_related("city", "base")


class SourceFormSet(forms.BaseInlineFormSet):
    """Every base must be traceable to at least one document."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        kept = [
            form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
        ]
        if not kept:
            raise forms.ValidationError(BASE_NEEDS_A_SOURCE)


class SourceInline(admin.StackedInline):
    model = BaseSource
    fk_name = "base"
    formset = SourceFormSet
    form = VersionedForm
    min_num = 1
    fields = [("document", "section"), "note", "seen_version"]
    autocomplete_fields = ["document"]

    def get_queryset(self, request):
        # Each row's title names its document.
        return super().get_queryset(request).select_related("base", "document")

    def get_extra(self, request, obj=None, **kwargs):
        # A new base starts with one empty source form; an existing one has its sources.
        return 0 if obj else 1


@admin.register(PlannedBase)
class PlannedBaseAdmin(ImportExportAdminMixin, MapAdminMixin, PublishableAdmin):
    resource_classes = [PlannedBaseResource]
    list_display = ["name", "status", "kind", "stage", "reach", "member_count", "source_count", "updated_at"]
    list_filter = ["status", "kind", "stage", "reach", "sectors"]
    search_fields = ["name", "name_zh", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["sectors"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [MembershipInline, SourceInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=Count("memberships", distinct=True),
                source_total=Count("sources", distinct=True),
            )
        )

    @admin.display(description=_("member cities"), ordering="member_total")
    def member_count(self, obj):
        return obj.member_total

    @admin.display(description=_("sources"), ordering="source_total")
    def source_count(self, obj):
        return obj.source_total

    @admin.display(description=_("area"))
    def area_map(self, obj):
        return self.read_only_map(obj, "area")


@admin.register(BaseMembership)
class BaseMembershipAdmin(ImportExportAdminMixin, EditorialAdmin):
    resource_classes = [BaseMembershipResource]
    list_display = ["base", "city", "role", "position"]
    list_filter = ["role", "base__reach"]
    list_select_related = ["base", "city"]
    search_fields = ["base__name", "city__name", "city__name_zh"]
    autocomplete_fields = ["base", "city"]


@admin.register(BaseSource)
class BaseSourceAdmin(ImportExportAdminMixin, EditorialAdmin):
    resource_classes = [BaseSourceResource]
    list_display = ["base", "document", "section"]
    list_filter = ["document"]
    list_select_related = ["base", "document"]
    search_fields = ["base__name", "document__name", "section", "note"]
    autocomplete_fields = ["base", "document"]
    # Bulk deletion could strip a base of its last source; delete one at a time.
    actions = None

    def get_readonly_fields(self, request, obj=None):
        # Moving a source to another base could leave the first one unsourced.
        return ["base"] if obj else []

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.base.sources.count() <= 1:
            return False
        return super().has_delete_permission(request, obj)
