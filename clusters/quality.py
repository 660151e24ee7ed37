"""What editors should fix in the data, found by checks over the whole
database. Each check is a fixed number of queries however many rows there
are, so `check_data` and the admin's data-quality page stay fast as the data
grows. Drafts are checked too: they are what editors are working on."""

from collections import defaultdict
from dataclasses import dataclass

from django.db import models
from django.db.models.functions import Lower, Trim
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from clusters import geo
from clusters.models import (
    BASE_NEEDS_A_SOURCE,
    City,
    Language,
    PlannedBase,
    PolicyDocument,
    Province,
    Sector,
)

# The models with names and slugs; memberships and sources have neither.
ENTITY_MODELS = [Province, City, Sector, PolicyDocument, PlannedBase]
ROW_FIELDS = ["pk", "slug", "name"]
# A duplicate's message names this many of the records sharing its name.
MAX_OTHERS_NAMED = 5


class Category(models.TextChoices):
    # Listed, and reported, in this order.
    BASE_WITHOUT_SOURCE = "base_without_source", _("Planned bases without a source")
    CITY_WITHOUT_LOCATION = "city_without_location", _("Cities without a location")
    CITY_OUTSIDE_BELT = "city_outside_belt", _("Cities located outside the Belt")
    UNUSED_SECTOR = "unused_sector", _("Sectors used by nothing")
    UNUSED_CITY = "unused_city", _("Cities used by nothing")
    DOCUMENT_WITHOUT_REFERENCE = (
        "document_without_reference",
        _("Documents with neither a citation nor a source URL"),
    )
    MISSING_SLUG = "missing_slug", _("Missing slugs")
    MISSING_CHINESE_NAME = "missing_chinese_name", _("Missing Chinese names")
    DUPLICATE_NAME = "duplicate_name", _("Duplicate names")


@dataclass(frozen=True)
class Finding:
    """One thing to fix: which record, and what is wrong with it."""

    category: Category
    model: type[models.Model]
    pk: int
    slug: str
    name: str
    message: str

    @property
    def model_name(self):
        return self.model._meta.verbose_name

    @property
    def admin_url(self):
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[self.pk])


def find_problems():
    """Every finding, in category order, then by model and name."""
    findings = [
        *bases_without_source(),
        *city_location_problems(),
        *unused_sectors(),
        *unused_cities(),
        *documents_without_reference(),
        *missing_slugs(),
        *missing_chinese_names(),
        *duplicate_names(),
    ]
    category_order = list(Category)
    return sorted(
        findings,
        key=lambda f: (category_order.index(f.category), ENTITY_MODELS.index(f.model), f.name, f.pk),
    )


def by_category(findings):
    """[(category, [finding, ...])] for the categories that have findings."""
    groups = defaultdict(list)
    for finding in findings:
        groups[finding.category].append(finding)
    return [(category, groups[category]) for category in Category if groups[category]]


def finding(category, model, row, message):
    return Finding(category, model, row["pk"], row["slug"], row["name"], str(message))


# ---------------------------------------------------------------------------
# The checks: each yields findings from one query per model it looks at
# ---------------------------------------------------------------------------


def bases_without_source():
    # The admin refuses to save a base without a source, but loaddata, the
    # API and deleting a document's sources do not go through that form.
    for row in PlannedBase.objects.filter(sources__isnull=True).values(*ROW_FIELDS):
        yield finding(Category.BASE_WITHOUT_SOURCE, PlannedBase, row, BASE_NEEDS_A_SOURCE)


def city_location_problems():
    # One query for both problems; within_belt is the rule the admin form applies.
    for row in City.objects.values(*ROW_FIELDS, "location"):
        location = row["location"]
        if location is None:
            yield finding(
                Category.CITY_WITHOUT_LOCATION,
                City,
                row,
                _("It has no location, so no map shows it: place it on the map."),
            )
        elif not geo.within_belt(location):
            yield finding(Category.CITY_OUTSIDE_BELT, City, row, outside_belt_message(location))


def outside_belt_message(location):
    return _(
        "Its location (longitude %(lon)s, latitude %(lat)s) lies outside the Yangtze River "
        "Economic Belt: check that longitude and latitude are not swapped."
    ) % {"lon": round(location.x, 4), "lat": round(location.y, 4)}


def unused(queryset, *relations):
    """Rows that no row of any of the given reverse relations points to."""
    return queryset.filter(**{f"{relation}__isnull": True for relation in relations})


def unused_sectors():
    message = _("No base, document or sub-sector uses this sector: link it to one or delete it.")
    for row in unused(Sector.objects, "bases", "documents", "children").values(*ROW_FIELDS):
        yield finding(Category.UNUSED_SECTOR, Sector, row, message)


def unused_cities():
    message = _("No base, document or subordinate city refers to this city: link it to one or delete it.")
    relations = ("memberships", "documents", "subordinate_cities")
    for row in unused(City.objects, *relations).values(*ROW_FIELDS):
        yield finding(Category.UNUSED_CITY, City, row, message)


def documents_without_reference():
    message = _("It has neither a citation nor a source URL, so readers cannot find it: add one.")
    undocumented = PolicyDocument.objects.annotate(
        citation_text=Trim("citation"), url_text=Trim("source_url")
    ).filter(citation_text="", url_text="")
    for row in undocumented.values(*ROW_FIELDS):
        yield finding(Category.DOCUMENT_WITHOUT_REFERENCE, PolicyDocument, row, message)


def missing_slugs():
    # The database refuses an empty slug; a slug of spaces gets past it and
    # gives no usable page address either.
    message = _("It has no slug, so it has no page of its own: give it one.")
    for model in ENTITY_MODELS:
        blank = model.objects.annotate(slug_text=Trim("slug")).filter(slug_text="")
        for row in blank.values(*ROW_FIELDS):
            yield finding(Category.MISSING_SLUG, model, row, message)


def missing_chinese_names():
    message = _("It has no Chinese name; Chinese pages show its English name instead.")
    for model in ENTITY_MODELS:
        for row in needing_chinese_name(model).values(*ROW_FIELDS):
            yield finding(Category.MISSING_CHINESE_NAME, model, row, message)


def needing_chinese_name(model):
    nameless = model.objects.annotate(name_zh_text=Trim("name_zh")).filter(name_zh_text="")
    if model is PolicyDocument:
        # An English article has no Chinese title, and should not be given one.
        nameless = nameless.exclude(language=Language.ENGLISH)
    return nameless


# ---------------------------------------------------------------------------
# Duplicate names
# ---------------------------------------------------------------------------


def duplicate_names():
    for model in ENTITY_MODELS:
        yield from duplicates(model, Lower(Trim("name")), _("English name"))
        yield from duplicates(model, Trim("name_zh"), _("Chinese name"))


def duplicates(model, key, label):
    """A finding per row whose `key` (a name, normalised) another row shares."""
    groups = defaultdict(list)
    for row in rows_sharing(model, key):
        groups[row["key"]].append(row)
    for rows in groups.values():
        for row in rows:
            others = [other for other in rows if other is not row]
            yield finding(Category.DUPLICATE_NAME, model, row, duplicate_message(model, label, others))


def rows_sharing(model, key):
    """One query: the rows whose non-empty key occurs more than once."""
    keyed = model.objects.annotate(key=key).exclude(key="")
    repeated = keyed.order_by().values("key").annotate(total=models.Count("pk")).filter(total__gt=1)
    return keyed.filter(key__in=repeated.values("key")).values(*ROW_FIELDS, "key")


def duplicate_message(model, label, others):
    named = ", ".join(f"“{other['name']}”, slug {other['slug']}" for other in others[:MAX_OTHERS_NAMED])
    if len(others) > MAX_OTHERS_NAMED:
        named += str(_(" and %(count)d more") % {"count": len(others) - MAX_OTHERS_NAMED})
    return _("Another %(model)s has the same %(label)s (%(others)s): merge them or tell them apart.") % {
        "model": model._meta.verbose_name,
        "label": label,
        "others": named,
    }
