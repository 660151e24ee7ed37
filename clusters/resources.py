"""Import and export of every domain model (django-import-export), for the
admin's changelists, as CSV, XLSX or JSON.

Rows are matched by natural key (slugs), related records are named by slug,
and geometry is WKT (or GeoJSON) in EPSG:4326, parsed by
clusters.geo.parse_geometry. An import is all or nothing: one invalid row and
nothing is written. Every row is validated with the model's full_clean() and
the rules the admin and the API add (a base needs a source document, so a
base's row names its sources), so a bad value is reported as a row error
rather than a crash. A cell with a NUL character, or a JSON object where text
belongs, is a row error too. A row that matches
the stored record is skipped without a save, so exporting and re-importing
leaves the history untouched; every write leaves a history row naming the
importing user. Only publishers may publish or unpublish through an import,
as in the admin.
"""

import zipfile
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO

import openpyxl
import tablib
from django import forms
from django.contrib import messages
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Point, Polygon
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export import resources, widgets
from import_export.admin import ImportExportMixin
from import_export.fields import Field
from import_export.formats import base_formats
from import_export.forms import ImportForm
from import_export.instance_loaders import ModelInstanceLoader

from clusters import geo, spreadsheet
from clusters.editing import can_publish
from clusters.models import (
    BASE_NEEDS_A_SOURCE,
    BaseMembership,
    BaseSource,
    City,
    PlannedBase,
    PolicyDocument,
    Province,
    PublicationStatus,
    Publishable,
    Sector,
)

M2M_SEPARATOR = ","

# ---------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------


# How many slugs one query looks up.
LOOKUP_CHUNK = 500


def chunks(items, size=LOOKUP_CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def column_slugs(dataset, column_name):
    """The slugs a file's column names (one or several a cell), as a lookup takes them."""
    if column_name not in (dataset.headers or []):
        return set()
    found = set()
    for value in dataset[column_name]:
        if isinstance(value, str | int) and "\x00" not in str(value):
            found.update(slug.strip() for slug in str(value).split(M2M_SEPARATOR) if slug.strip())
    return found


class SlugForeignKeyWidget(widgets.ForeignKeyWidget):
    """A related record named by its slug; an unknown slug is a row error.

    `preload()` reads every record a file names in a few queries, so that a
    large file does not cost a query a row; a slug not preloaded (a record
    an earlier row of the same file creates) is looked up as usual."""

    def __init__(self, model, **kwargs):
        super().__init__(model, field="slug", **kwargs)
        self.preloaded = {}

    def preload(self, slugs):
        self.preloaded = {}
        for chunk in chunks(sorted(slugs)):
            self.preloaded.update(
                (obj.slug, obj) for obj in self.get_queryset(None, None).filter(slug__in=chunk)
            )

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            return None
        if str(value) in self.preloaded:
            return self.preloaded[str(value)]
        try:
            return super().clean(str(value), row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(
                _("There is no %(model)s with the slug %(slug)r.")
                % {"model": self.model._meta.verbose_name, "slug": str(value)}
            ) from None


class SlugManyToManyWidget(widgets.ManyToManyWidget):
    """Related records as comma-separated slugs, exported sorted; any unknown
    slug is a row error (the stock widget silently drops it)."""

    def __init__(self, model, **kwargs):
        super().__init__(model, separator=M2M_SEPARATOR, field="slug", **kwargs)

    def slugs(self, value):
        if value in (None, ""):
            return []
        # A JSON file may give the slugs as a list.
        items = value if isinstance(value, list) else str(value).split(self.separator)
        return list(dict.fromkeys(str(s).strip() for s in items if str(s).strip()))

    def clean(self, value, row=None, **kwargs):
        slugs = self.slugs(value)
        found = self.model.objects.filter(slug__in=slugs)
        missing = sorted(set(slugs) - set(found.values_list("slug", flat=True)))
        if missing:
            raise ValueError(
                _("There is no %(model)s with the slug %(slugs)s.")
                % {
                    "model": self.model._meta.verbose_name,
                    "slugs": ", ".join(repr(slug) for slug in missing),
                }
            )
        return found

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        # Sorted in Python, so that a prefetched relation costs no query.
        return self.separator.join(sorted(related.slug for related in value.all()))


class DateWidget(widgets.DateWidget):
    """ISO dates; a spreadsheet's date cell (read as a datetime) is a date."""

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, str):
            value = value.strip()
        return super().clean(value, row, **kwargs)


SOURCE_SECTION = " § "


class BaseSourcesWidget(widgets.Widget):
    """A base's sources, one a line: a document's slug, or the slug, " § " and
    the section that plans the base ("plan-2016 § Strategic emerging
    industries"). Cleaned to a list of (document, section) pairs."""

    def clean(self, value, row=None, **kwargs):
        lines = self.lines(value)
        pairs = [
            (slug.strip(), section.strip())
            for slug, _, section in (line.partition(SOURCE_SECTION.strip()) for line in lines)
        ]
        documents = PolicyDocument.objects.in_bulk([slug for slug, _ in pairs], field_name="slug")
        missing = sorted({slug for slug, _ in pairs} - set(documents))
        if missing:
            raise ValueError(
                _("There is no %(model)s with the slug %(slugs)s.")
                % {
                    "model": PolicyDocument._meta.verbose_name,
                    "slugs": ", ".join(repr(slug) for slug in missing),
                }
            )
        return list(dict.fromkeys((documents[slug], section) for slug, section in pairs))

    def lines(self, value):
        if value in (None, ""):
            return []
        items = value if isinstance(value, list) else str(value).splitlines()
        return [str(item).strip() for item in items if str(item).strip()]

    def render(self, value, obj=None, **kwargs):
        return "\n".join(source_line(document.slug, section) for document, section in value or [])


def source_line(slug, section):
    return f"{slug}{SOURCE_SECTION}{section}" if section else slug


class BaseSourcesField(Field):
    """A base's sources as stored, for export and for comparing a row with
    the stored base. Written by PlannedBaseResource itself (see there), so
    the import machinery leaves it alone (readonly)."""

    def __init__(self):
        super().__init__(
            attribute="sources", column_name="sources", widget=BaseSourcesWidget(), readonly=True
        )

    def get_value(self, instance):
        if instance is None or instance.pk is None:
            return []
        # Sorted in Python, so that prefetched sources cost no query.
        return sorted(
            ((source.document, source.section) for source in instance.sources.all()),
            key=lambda pair: (pair[0].slug, pair[1]),
        )


def format_number(number):
    # repr() is the shortest text that reads back as the same float, so the
    # exported coordinates compare equal to the stored ones on re-import.
    text = repr(float(number))
    return text.removesuffix(".0")


def format_ring(coords):
    return "(" + ", ".join(f"{format_number(x)} {format_number(y)}" for x, y in coords) + ")"


def format_polygon(polygon):
    return "(" + ", ".join(format_ring(ring.coords) for ring in polygon) + ")"


def geometry_wkt(geometry):
    """WKT that reads back as exactly the stored coordinates: GEOS's writer
    keeps at most 16 decimals, so it rounds some small numbers."""
    if isinstance(geometry, Point):
        return f"POINT ({format_number(geometry.x)} {format_number(geometry.y)})"
    if isinstance(geometry, Polygon):
        return "POLYGON " + format_polygon(geometry)
    if isinstance(geometry, MultiPolygon):
        return "MULTIPOLYGON (" + ", ".join(format_polygon(polygon) for polygon in geometry) + ")"
    return geometry.wkt


class GeometryWidget(widgets.Widget):
    """WKT or GeoJSON text in EPSG:4326 in, WKT out. Input goes through
    clusters.geo.parse_geometry only, never straight to GDAL."""

    def __init__(self, geom_type, **kwargs):
        self.geom_type = geom_type
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str | dict):
            raise ValueError(_("Give the geometry as WKT or GeoJSON text, e.g. POINT (114.31 30.59)."))
        try:
            geometry = geo.parse_geometry(value)
        except ValidationError as error:
            raise ValueError(" ".join(error.messages)) from None
        if self.geom_type == "MULTIPOLYGON" and geometry.geom_type == "Polygon":
            geometry = MultiPolygon(geometry, srid=geometry.srid)
        if geometry.geom_type.upper() != self.geom_type:
            raise ValueError(
                _("Give a %(expected)s, not a %(given)s.")
                % {"expected": self.geom_type, "given": geometry.geom_type.upper()}
            )
        return geometry

    def render(self, value, obj=None, **kwargs):
        if not isinstance(value, GEOSGeometry):
            return ""
        return geometry_wkt(value)


# ---------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------


def slug_field(name, model):
    return Field(attribute=name, column_name=name, widget=SlugForeignKeyWidget(model))


def slugs_field(name, model):
    return Field(attribute=name, column_name=name, widget=SlugManyToManyWidget(model))


def geometry_field(name, model):
    geom_type = model._meta.get_field(name).geom_type
    return Field(attribute=name, column_name=name, widget=GeometryWidget(geom_type))


# Rows of an import that the admin's preview shows, with what each changes.
PREVIEW_ROWS = 100


class PreviewDiff(resources.Diff):
    """What a row changes, worked out only for the rows the preview shows."""

    def __init__(self, resource, instance, new):
        self.shown = resource.row_number <= PREVIEW_ROWS
        self.left, self.right, self.new = [], [], new
        if self.shown:
            super().__init__(resource, instance, new)

    def compare_with(self, resource, instance):
        if self.shown:
            super().compare_with(resource, instance)


class SlugInstanceLoader(ModelInstanceLoader):
    """Learns which of a file's slugs are stored in a few queries, so that a
    row of a new record costs no lookup; a stored record is read when its
    row comes (with its related records, as the stock loader does)."""

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        self.stored = set()
        if dataset is not None:
            column = resource.fields["slug"].column_name
            for chunk in chunks(sorted(column_slugs(dataset, column))):
                self.stored.update(self.get_queryset().filter(slug__in=chunk).values_list("slug", flat=True))

    def slug_of(self, row):
        slug = self.resource.fields["slug"].clean(row)
        return slug.strip() if isinstance(slug, str) else slug

    def get_instance(self, row):
        slug = self.slug_of(row)
        # A slug not stored (or refused, e.g. with a NUL) makes a new
        # record, which validation then reports on; so does a slug an
        # earlier row of the same file creates (a duplicate row).
        if slug not in self.stored:
            return None
        return super().get_instance(row)


def validate_constraints(instance, *, exclude):
    """Model.validate_constraints(), skipping a check constraint on excluded
    fields only (Django would still build its query, to throw it away)."""
    errors = {}
    for model, constraints in instance.get_constraints():
        for constraint in constraints:
            if isinstance(constraint, models.CheckConstraint) and set(
                Q(constraint.condition).referenced_base_fields
            ) <= set(exclude):
                continue
            try:
                constraint.validate(model, instance, exclude=exclude)
            except ValidationError as error:
                if getattr(error, "code", None) == "unique" and len(getattr(constraint, "fields", ())) == 1:
                    errors.setdefault(constraint.fields[0], []).append(error)
                else:
                    errors = error.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


def cell_problem(field, value):
    """Why a cell cannot be read at all, before any widget sees it, or None."""
    if isinstance(value, str):
        try:
            ProhibitNullCharactersValidator()(value)
        except ValidationError as error:
            return error.messages[0]
    elif isinstance(value, dict) and not isinstance(field.widget, GeometryWidget):
        return _("Give text here, not a JSON object.")
    elif isinstance(value, list) and not isinstance(
        field.widget, widgets.ManyToManyWidget | BaseSourcesWidget
    ):
        return _("Give text here, not a JSON list.")
    return None


# Never imported or exported: the server sets them.
SERVER_MANAGED_FIELDS = ("id", "created_at", "updated_at", "version", "published_at")


class DomainResource(resources.ModelResource):
    """What every domain model's import and export has in common."""

    class Meta:
        use_transactions = True
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
        skip_diff = False
        import_id_fields = ["slug"]
        instance_loader_class = SlugInstanceLoader

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.import_user = kwargs.get("user")
        self.import_file_name = None
        # Called with each row's number once it is imported (the import_records command).
        self.progress = kwargs.get("progress")
        self.row_number = 0
        self.row_slug_is_unique = False
        self.slugs_seen = set()

    def get_diff_class(self):
        return PreviewDiff

    def before_import_row(self, row, **kwargs):
        super().before_import_row(row, **kwargs)
        self.row_number = kwargs.get("row_number", 0)
        self.row_slug_is_unique = False

    @classmethod
    def widget_from_django_field(cls, f, default=widgets.Widget):
        if isinstance(f, models.TextField):
            # Text, not None, even for an empty spreadsheet cell.
            return widgets.CharWidget
        if isinstance(f, models.DateField) and not isinstance(f, models.DateTimeField):
            return DateWidget
        return super().widget_from_django_field(f, default)

    @classmethod
    def widget_kwargs_for_field(cls, field_name, django_field):
        kwargs = super().widget_kwargs_for_field(field_name, django_field)
        if isinstance(django_field, models.TextField):
            kwargs.update({"coerce_to_string": True, "allow_blank": True})
        return kwargs

    def import_data(self, dataset, *args, rollback_on_validation_errors=True, **kwargs):
        """All or nothing: an invalid row rolls back every other row too."""
        return super().import_data(
            dataset, *args, rollback_on_validation_errors=rollback_on_validation_errors, **kwargs
        )

    def before_import(self, dataset, **kwargs):
        super().before_import(dataset, **kwargs)
        self.import_user = kwargs.get("user", self.import_user)
        self.import_file_name = kwargs.get("file_name")
        self.slugs_seen = set()
        for field in self.fields.values():
            if isinstance(field.widget, SlugForeignKeyWidget):
                field.widget.preload(column_slugs(dataset, field.column_name))

    def after_import_row(self, row, row_result, **kwargs):
        super().after_import_row(row, row_result, **kwargs)
        if self.progress is not None:
            self.progress(kwargs["row_number"])

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        problem = cell_problem(field, row.get(field.column_name))
        if problem:
            raise ValueError(problem)
        super().import_field(field, instance, row, is_m2m, **kwargs)

    def get_queryset(self):
        return super().get_queryset().select_related(*self.foreign_key_names())

    def filter_export(self, queryset, **kwargs):
        queryset = super().filter_export(queryset, **kwargs)
        if not isinstance(queryset, models.QuerySet):
            return queryset  # export() also takes a list of records
        return queryset.select_related(*self.foreign_key_names()).prefetch_related(*self.many_to_many_names())

    def iter_queryset(self, queryset):
        """Rows are imported in file order, so a record another row of the
        same model refers to (a parent city or sector, the document reported
        on) is exported above that row."""
        rows = list(super().iter_queryset(queryset))
        self_references = [
            f"{field.attribute}_id"
            for field in self.fields.values()
            if isinstance(field.widget, widgets.ForeignKeyWidget) and field.widget.model is self._meta.model
        ]
        if not self_references:
            return rows
        by_pk = {row.pk: row for row in rows}
        ordered, placed, visiting = [], set(), set()

        def place(row):
            if row.pk in placed or row.pk in visiting:
                return
            visiting.add(row.pk)
            for attname in self_references:
                referenced = by_pk.get(getattr(row, attname))
                if referenced is not None:
                    place(referenced)
            visiting.discard(row.pk)
            placed.add(row.pk)
            ordered.append(row)

        for row in rows:
            place(row)
        return ordered

    def foreign_key_names(self):
        return [
            field.attribute
            for field in self.fields.values()
            if isinstance(field.widget, widgets.ForeignKeyWidget)
        ]

    def many_to_many_names(self):
        return [
            field.attribute
            for field in self.fields.values()
            if isinstance(field.widget, widgets.ManyToManyWidget)
        ]

    def get_instance(self, instance_loader, row):
        try:
            instance = super().get_instance(instance_loader, row)
        except ValueError:
            # An unknown slug in the natural key: reported for its column by
            # import_instance(), where it is cleaned again.
            return None
        if isinstance(instance_loader, SlugInstanceLoader):
            slug = instance_loader.slug_of(row)
            # The row's slug is known to be unique, without the query a row
            # that full_clean() would make, if it found its stored record, or
            # is neither stored nor in an earlier row. (A record another
            # writer adds meanwhile fails the database's unique index.)
            self.row_slug_is_unique = instance is not None or (
                slug not in instance_loader.stored and slug not in self.slugs_seen
            )
            self.slugs_seen.add(slug)
        return instance

    def after_init_instance(self, instance, new, row, **kwargs):
        super().after_init_instance(instance, new, row, **kwargs)
        if isinstance(instance, Publishable):
            instance._status_before_import = None if new else instance.status

    def import_instance(self, instance, row, **kwargs):
        """Sets the row's values, collecting every column's error, the
        many-to-many columns' included (they are written only after save)."""
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        for field in self.get_import_fields():
            if isinstance(field.widget, widgets.ManyToManyWidget) and field.column_name in row:
                try:
                    problem = cell_problem(field, row[field.column_name])
                    if problem:
                        raise ValueError(problem)
                    field.clean(row)
                except ValueError as error:
                    errors[field.attribute] = [ValidationError(str(error), code="invalid")]
        if errors:
            raise ValidationError(errors)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """Runs for rows to be written (not for skipped ones): the model's
        full_clean(), the rules the admin and API add to it, and the
        importing user's permissions."""
        errors = {key: list(value) for key, value in (import_validation_errors or {}).items()}
        for key, message in [*self.rule_errors(instance), *self.permission_errors(instance)]:
            errors.setdefault(key, []).append(ValidationError(message, code="invalid"))
        errors = self.full_clean(instance, errors, validate_unique=validate_unique)
        if errors:
            raise ValidationError(errors)

    def full_clean(self, instance, errors, *, validate_unique=True):
        """The model's full_clean(), less the queries a row that ask what is
        already known: that each related record the widgets have just read
        exists, that the slug is unique (see get_instance), and (Django
        checks a CheckConstraint with a query) that a slug that passed its
        field's validation, which refuses a blank one, is not empty (the one
        check constraint on slugs)."""
        exclude = set(errors)
        found = {name for name in self.foreign_key_names() if getattr(instance, f"{name}_id", None)}
        known_unique = {"slug"} if self.row_slug_is_unique else set()
        checks = [
            lambda: instance.clean_fields(exclude=exclude | found),
            instance.clean,
            *([lambda: instance.validate_unique(exclude=exclude | known_unique)] if validate_unique else []),
            lambda: validate_constraints(instance, exclude=exclude | ({"slug"} & set(self.fields))),
        ]
        for check in checks:
            try:
                check()
            except ValidationError as error:
                errors = error.update_error_dict(errors)
                # As full_clean(): a field in error is not checked further.
                exclude.update(key for key in errors if key != NON_FIELD_ERRORS)
        return errors

    def rule_errors(self, instance):
        """[(field or NON_FIELD_ERRORS, message)]: rules beyond the model's clean()."""
        return []

    def permission_errors(self, instance):
        user = self.import_user
        if user is None:
            # Called from code (a shell, a script), not by a person.
            return
        opts = instance._meta
        names = {"models": opts.verbose_name_plural}
        if instance._state.adding:
            if not user.has_perm(f"{opts.app_label}.add_{opts.model_name}"):
                yield NON_FIELD_ERRORS, _("You may not add %(models)s.") % names
        elif not user.has_perm(f"{opts.app_label}.change_{opts.model_name}"):
            yield NON_FIELD_ERRORS, _("You may not change %(models)s.") % names
        if isinstance(instance, Publishable) and not can_publish(user, type(instance)):
            before = getattr(instance, "_status_before_import", None)
            if before is None and instance.is_published:
                yield "status", _("Only publishers can publish: import it as a draft.")
            elif before is not None and instance.status != before:
                yield (
                    "status",
                    _("Only publishers can publish or unpublish: leave the status as %(status)s.")
                    % {"status": PublicationStatus(before).label},
                )

    def before_save_instance(self, instance, row, **kwargs):
        super().before_save_instance(instance, row, **kwargs)
        if self._is_dry_run(kwargs):
            # A preview is rolled back whole: its history rows would never be
            # kept, and writing them was a third of a large preview's time.
            instance.skip_history_when_saving = True
        user = kwargs.get("user", self.import_user)
        if user is not None:
            instance._history_user = user
        file_name = kwargs.get("file_name", self.import_file_name)
        instance._change_reason = (
            _("Imported from %(file)s") % {"file": file_name} if file_name else _("Imported")
        )


class ProvinceResource(DomainResource):
    class Meta(DomainResource.Meta):
        model = Province
        name = gettext_lazy("Provinces")
        fields = ["slug", "name", "name_zh", "reach", "kind", "description"]


class CityResource(DomainResource):
    province = slug_field("province", Province)
    parent = slug_field("parent", City)
    location = geometry_field("location", City)

    class Meta(DomainResource.Meta):
        model = City
        name = gettext_lazy("Cities")
        fields = ["slug", "name", "name_zh", "province", "level", "parent", "location", "description"]


class SectorResource(DomainResource):
    parent = slug_field("parent", Sector)

    class Meta(DomainResource.Meta):
        model = Sector
        name = gettext_lazy("Sectors")
        fields = ["slug", "name", "name_zh", "parent", "intensity", "description"]


class PolicyDocumentResource(DomainResource):
    reports_on = slug_field("reports_on", PolicyDocument)
    sectors = slugs_field("sectors", Sector)
    cities = slugs_field("cities", City)

    class Meta(DomainResource.Meta):
        model = PolicyDocument
        name = gettext_lazy("Policy documents")
        fields = [
            "slug",
            "name",
            "name_zh",
            "status",
            "kind",
            "language",
            "issuer",
            "publisher",
            "authors",
            "published_on",
            "published_on_precision",
            "approved_on",
            "approved_on_precision",
            "source_url",
            "citation",
            "reports_on",
            "sectors",
            "cities",
            "summary",
            "description",
        ]


class PlannedBaseResource(DomainResource):
    """A base with its sources, as the admin and the API keep them: a base
    needs at least one source document, so a row names them in `sources`.
    A source a row names that the base lacks is added (with no note; the
    base sources import adds notes); a source the base has that its row
    leaves out is refused rather than deleted, since it may carry a note:
    remove sources in the admin."""

    area = geometry_field("area", PlannedBase)
    sectors = slugs_field("sectors", Sector)
    sources = BaseSourcesField()

    def before_import_row(self, row, **kwargs):
        super().before_import_row(row, **kwargs)
        self.row_sources = None
        self.row_stored_sources = []

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        self.row_stored_sources = self.fields["sources"].get_value(instance)
        if "sources" in row:
            try:
                problem = cell_problem(self.fields["sources"], row["sources"])
                if problem:
                    raise ValueError(problem)
                self.row_sources = self.fields["sources"].clean(row)
            except ValueError as error:
                errors["sources"] = [ValidationError(str(error), code="invalid")]
        if errors:
            raise ValidationError(errors)

    def sources_to_add(self):
        return [pair for pair in self.row_sources or [] if pair not in self.row_stored_sources]

    def skip_row(self, instance, original, row, import_validation_errors=None):
        differs = self.row_sources is not None and set(self.row_sources) != set(self.row_stored_sources)
        return not differs and super().skip_row(instance, original, row, import_validation_errors)

    def rule_errors(self, instance):
        stored = self.row_stored_sources
        if self.row_sources is not None:
            left_out = [pair for pair in stored if pair not in self.row_sources]
            if left_out:
                yield (
                    "sources",
                    _("An import does not remove sources: %(sources)s. Remove them in the admin.")
                    % {
                        "sources": "; ".join(
                            source_line(document.slug, section) for document, section in left_out
                        )
                    },
                )
        if not stored and not self.row_sources:
            yield "sources", BASE_NEEDS_A_SOURCE

    def save_m2m(self, instance, row, **kwargs):
        super().save_m2m(instance, row, **kwargs)
        for document, section in self.sources_to_add():
            source = BaseSource(base=instance, document=document, section=section)
            self.before_save_instance(source, row, **kwargs)
            source.save()

    def filter_export(self, queryset, **kwargs):
        queryset = super().filter_export(queryset, **kwargs)
        if not isinstance(queryset, models.QuerySet):
            return queryset
        return queryset.prefetch_related("sources__document")

    class Meta(DomainResource.Meta):
        model = PlannedBase
        name = gettext_lazy("Planned bases")
        fields = [
            "slug",
            "name",
            "name_zh",
            "status",
            "kind",
            "stage",
            "reach",
            "area",
            "sectors",
            "sources",
            "description",
        ]


class BaseMembershipResource(DomainResource):
    base = slug_field("base", PlannedBase)
    city = slug_field("city", City)

    class Meta(DomainResource.Meta):
        model = BaseMembership
        # Named by two or three columns: looked up a row at a time.
        instance_loader_class = ModelInstanceLoader
        name = gettext_lazy("Base memberships")
        import_id_fields = ["base", "city"]
        fields = ["base", "city", "role", "position"]


class BaseSourceResource(DomainResource):
    base = slug_field("base", PlannedBase)
    document = slug_field("document", PolicyDocument)

    class Meta(DomainResource.Meta):
        model = BaseSource
        # Named by two or three columns: looked up a row at a time.
        instance_loader_class = ModelInstanceLoader
        name = gettext_lazy("Base sources")
        import_id_fields = ["base", "document", "section"]
        fields = ["base", "document", "section", "note"]


RESOURCES = {
    Province: ProvinceResource,
    City: CityResource,
    Sector: SectorResource,
    PolicyDocument: PolicyDocumentResource,
    PlannedBase: PlannedBaseResource,
    BaseMembership: BaseMembershipResource,
    BaseSource: BaseSourceResource,
}


# ---------------------------------------------------------------------------
# Formats and the admin
# ---------------------------------------------------------------------------


MB = 1024 * 1024


class ImportTooLarge(ValueError):
    """A file beyond an import's limits; the message says which and what to do."""


@dataclass(frozen=True)
class ImportLimits:
    """How much one import may hold. Each is checked before the work it
    bounds: the size before the file is read, an XLSX file's unpacked size
    before it is unzipped, the rows before any row is imported."""

    rows: int
    megabytes: int
    unpacked_megabytes: int
    # What to do with a larger file, added to each refusal.
    advice: str = ""

    def describe(self):
        return _(
            "At most %(rows)s rows and %(megabytes)s MB a file (an XLSX file at most "
            "%(unpacked)s MB once unpacked)."
        ) % {"rows": f"{self.rows:,}", "megabytes": self.megabytes, "unpacked": self.unpacked_megabytes}

    def refuse(self, message):
        raise ImportTooLarge(f"{message} {self.advice}".strip())

    def check_size(self, size):
        if size > self.megabytes * MB:
            self.refuse(
                _("The file is %(size).1f MB; an import takes at most %(limit)s MB.")
                % {"size": size / MB, "limit": self.megabytes}
            )

    def check_unpacked_size(self, data):
        """An XLSX file is a zip archive: what its members unpack to, read
        from the archive's directory (zipfile never unpacks a member beyond
        the size written there)."""
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                unpacked = sum(member.file_size for member in archive.infolist())
        except zipfile.BadZipFile:
            return  # Not a zip: reading it fails with its own message.
        if unpacked > self.unpacked_megabytes * MB:
            self.refuse(
                _("The XLSX file unpacks to %(size).0f MB; an import takes at most %(limit)s MB unpacked.")
                % {"size": unpacked / MB, "limit": self.unpacked_megabytes}
            )

    def check_rows(self, dataset):
        if len(dataset) > self.rows:
            self.refuse(
                _("The file has %(rows)s rows; an import takes at most %(limit)s.")
                % {"rows": f"{len(dataset):,}", "limit": f"{self.rows:,}"}
            )


# In the admin, within a web request: a preview of this many rows takes a few seconds.
ADMIN_IMPORT_LIMITS = ImportLimits(
    rows=5_000,
    megabytes=10,
    unpacked_megabytes=50,
    advice=gettext_lazy(
        "Split the file, or ask an administrator to import it with manage.py import_records."
    ),
)
# The import_records command, outside any request, in one transaction.
COMMAND_IMPORT_LIMITS = ImportLimits(rows=1_000_000, megabytes=1024, unpacked_megabytes=4096)


class LimitedFormat:
    """A file format that refuses a file beyond `limits` before reading it."""

    limits = ADMIN_IMPORT_LIMITS

    def create_dataset(self, in_stream, **kwargs):
        self.limits.check_size(len(in_stream))
        dataset = super().create_dataset(in_stream, **kwargs)
        self.limits.check_rows(dataset)
        return dataset


def map_cells(dataset, function):
    """A copy of `dataset` with `function` applied to every cell."""
    copy = tablib.Dataset(headers=dataset.headers)
    for row in dataset:
        copy.append([function(cell) for cell in row])
    return copy


class CSV(LimitedFormat, base_formats.CSV):
    """Text a spreadsheet would run as a formula is written escaped
    (clusters.spreadsheet), and read back as it was."""

    def export_data(self, dataset, **kwargs):
        return super().export_data(map_cells(dataset, spreadsheet.spreadsheet_safe), **kwargs)

    def create_dataset(self, in_stream, **kwargs):
        return map_cells(super().create_dataset(in_stream, **kwargs), spreadsheet.restore)


class XLSX(LimitedFormat, base_formats.XLSX):
    """Text that begins with "=" stays text. Written as it is, a spreadsheet
    takes it for a formula: it would run it when opened, and an import would
    read back its result (nothing, for a file never opened) instead of the text.
    Unlike CSV, every XLSX cell has a type, and a text cell is never run,
    whatever it begins with; openpyxl types text beginning with "=" as a
    formula, which is undone here. So XLSX text needs no apostrophe."""

    def create_dataset(self, in_stream, **kwargs):
        self.limits.check_size(len(in_stream))
        self.limits.check_unpacked_size(in_stream)
        return super().create_dataset(in_stream, **kwargs)

    def export_data(self, dataset, **kwargs):
        data = super().export_data(dataset, **kwargs)
        workbook = openpyxl.load_workbook(BytesIO(data))
        formulas = [
            cell
            for sheet in workbook.worksheets
            for row in sheet.iter_rows()
            for cell in row
            if cell.data_type == "f"
        ]
        if not formulas:
            return data
        for cell in formulas:
            cell.data_type = "s"
        output = BytesIO()
        workbook.save(output)
        return output.getvalue()


class JSON(LimitedFormat, base_formats.JSON):
    pass


FORMATS = [CSV, XLSX, JSON]


class LimitedImportForm(ImportForm):
    """The import form, which states the limits and refuses a file beyond
    their size before it is stored or read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["import_file"].help_text = ADMIN_IMPORT_LIMITS.describe()

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        try:
            ADMIN_IMPORT_LIMITS.check_size(upload.size)
        except ImportTooLarge as error:
            raise forms.ValidationError(str(error)) from None
        return upload


class ImportExportAdminMixin(ImportExportMixin):
    """Import (upload, preview, confirm) and export on a changelist."""

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        result = context.get("result")
        if context.get("confirm_form") is not None and len(result.rows) > PREVIEW_ROWS:
            # A preview of thousands of rows is a page nobody reads, and
            # slower to render than the import itself.
            context.update(rows_shown=f"{PREVIEW_ROWS:,}", rows_total=f"{len(result.rows):,}")
            result.rows = result.rows[:PREVIEW_ROWS]
        return response

    formats = FORMATS
    skip_import_confirm = False
    import_form_class = LimitedImportForm

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, ImportTooLarge):
            form.add_error("import_file", str(e))
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def process_result(self, result, request):
        # The confirmed import runs again on the current data; if that has
        # changed since the preview and a row now fails, nothing was written.
        if result.has_errors() or result.has_validation_errors():
            failed = sorted(
                {row.number for row in result.invalid_rows} | {row.number for row in result.error_rows}
            )
            self.message_user(
                request,
                _(
                    "Nothing was imported: row(s) %(rows)s failed when the import was confirmed, "
                    "probably because the data changed after the preview. Upload the file again."
                )
                % {"rows": ", ".join(str(number) for number in failed)},
                messages.ERROR,
            )
            info = self.get_model_info()
            return HttpResponseRedirect(
                reverse("admin:{}_{}_import".format(*info), current_app=self.admin_site.name)
            )
        return super().process_result(result, request)
