"""The domain: which policy documents plan which industrial bases, in which
cities of the Yangtze River Economic Belt, for which sectors."""

from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from clusters import geo
from clusters.links import slug_path

# ---------------------------------------------------------------------------
# Choices
# ---------------------------------------------------------------------------


class Reach(models.TextChoices):
    UPSTREAM = "upstream", _("Upstream")
    MIDDLE = "middle", _("Middle reaches")
    DOWNSTREAM = "downstream", _("Downstream")


class ProvinceKind(models.TextChoices):
    PROVINCE = "province", _("Province")
    MUNICIPALITY = "municipality", _("Municipality directly under the central government")


class CityLevel(models.TextChoices):
    MUNICIPALITY = "municipality", _("Municipality")
    SUB_PROVINCIAL = "sub_provincial", _("Sub-provincial city")
    PREFECTURE = "prefecture", _("Prefecture-level city")
    COUNTY = "county", _("County-level city")


class Intensity(models.TextChoices):
    CAPITAL_TECHNOLOGY = "capital_technology", _("Capital- and technology-intensive")
    LABOUR = "labour", _("Labour-intensive")
    MIXED = "mixed", _("Mixed")


class DocumentKind(models.TextChoices):
    PLAN = "plan", _("Plan")
    POLICY = "policy", _("Policy")
    NEWS = "news", _("News")
    RESEARCH = "research", _("Research")


class Language(models.TextChoices):
    CHINESE = "zh", _("Chinese")
    ENGLISH = "en", _("English")


class DatePrecision(models.TextChoices):
    # Sources often give only a month or a year; the date field then holds the
    # first day of that period and the precision says how much of it is known.
    DAY = "day", _("Day")
    MONTH = "month", _("Month")
    YEAR = "year", _("Year")


class BaseKind(models.TextChoices):
    BASE = "base", _("Industrial base")
    CLUSTER = "cluster", _("Industrial cluster")
    ALLIANCE = "alliance", _("Industry alliance")
    CHAIN = "chain", _("Industry chain")
    SYSTEM = "system", _("Supporting-industry system")
    INITIATIVE = "initiative", _("Sector initiative")


class BaseStage(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    PLANNED = "planned", _("Planned")
    UNDER_CONSTRUCTION = "under_construction", _("Under construction")
    OPERATING = "operating", _("Operating")


class PublicationStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")


class MembershipRole(models.TextChoices):
    LEADING = "leading", _("Leading")
    MEMBER = "member", _("Member")
    UPGRADING = "upgrading", _("Upgrading")


# ---------------------------------------------------------------------------
# Shared base classes
# ---------------------------------------------------------------------------


def now():
    """The current time to the millisecond. Django's JSON serializer keeps
    milliseconds only, so a finer time would not survive dump → load → dump."""
    moment = timezone.now()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class TimeStampedModel(models.Model):
    # Defaults rather than auto_now/auto_now_add: loaddata saves "raw", which
    # skips auto_now, and fixtures should not have to carry timestamps.
    created_at = models.DateTimeField(_("created at"), default=now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=now, editable=False)
    version = models.PositiveIntegerField(
        _("version"), default=1, editable=False, help_text=_("Raised by one on every save.")
    )

    class Meta:
        abstract = True

    def save(self, *args, expected_version=None, **kwargs):
        """Saves, raising EditConflict if `expected_version` is given and the
        stored record has moved past it (someone else saved in between)."""
        self.updated_at = now()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "updated_at", "version"}
        with transaction.atomic(using=kwargs.get("using")):
            if self.pk is not None:
                # By pk, not _state.adding: a history revert saves an
                # instance marked as new that is in fact the stored row.
                self.claim_next_version(expected_version)
            super().save(*args, **kwargs)

    def claim_next_version(self, expected_version):
        stored = type(self)._base_manager.filter(pk=self.pk)
        if expected_version is not None:
            # One conditional UPDATE: of two editors holding the same version,
            # only the first to write matches it.
            if not stored.filter(version=expected_version).update(version=F("version") + 1):
                raise EditConflict(stored.first() or self, expected_version)
            self.version = expected_version + 1
        else:
            self.version = next_stored_version(self) or self.version


def next_stored_version(instance):
    """Raises the stored row's version by one and returns it, in one
    statement (None if the row is gone)."""
    database = connections[instance._state.db or DEFAULT_DB_ALIAS]
    table = database.ops.quote_name(instance._meta.db_table)
    with database.cursor() as cursor:
        # The table is the model's own, quoted; the pk is a parameter.
        cursor.execute(
            f"UPDATE {table} SET version = version + 1 WHERE id = %s RETURNING version",  # nosec B608
            [instance.pk],
        )
        row = cursor.fetchone()
    return row[0] if row else None


class EditConflict(Exception):
    """Someone else saved this record after it was opened for editing."""

    def __init__(self, current, seen_version):
        self.current, self.seen_version = current, seen_version
        super().__init__(f"{current._meta.verbose_name} was changed by someone else in the meantime.")


class SlugManager(models.Manager):
    """Looks entities up by slug, so fixtures refer to slugs, not ids."""

    def get_by_natural_key(self, slug):
        return self.get(slug=slug)


class EntityQuerySet(models.QuerySet):
    def for_list(self):
        """What a list of these shows beside each row, fetched up front."""
        return self

    def public(self):
        """What the public may see: everything, except drafts where an entity has them."""
        return self


EntityManager = SlugManager.from_queryset(EntityQuerySet)


class Entity(TimeStampedModel):
    """What every public entity has: bilingual names, a slug, a description."""

    name = models.CharField(_("name (English)"), max_length=200)
    name_zh = models.CharField(
        _("name (Chinese)"),
        max_length=200,
        blank=True,
        help_text=_("Simplified Chinese name, shown first when the page language is Chinese."),
    )
    slug = models.SlugField(
        _("slug"),
        max_length=100,
        unique=True,
        help_text=_("Lowercase pinyin or English, used in URLs, e.g. 'wuhan'. Keep it stable."),
    )
    description = models.TextField(
        _("description"),
        blank=True,
        help_text=_("Markdown. Write in your own words and say where each fact comes from."),
    )

    objects = EntityManager()

    class Meta:
        abstract = True
        ordering = ["name"]
        indexes = [models.Index(fields=["name"], name="%(class)s_name_idx")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return slug_path(f"clusters:{self.url_name}", self.slug)

    def natural_key(self):
        return (self.slug,)


def slug_not_empty(model_name):
    return models.CheckConstraint(condition=~Q(slug=""), name=f"clusters_{model_name}_slug_not_empty")


class PublishableQuerySet(EntityQuerySet):
    def public(self):
        return self.filter(status=PublicationStatus.PUBLISHED)


class Publishable(models.Model):
    """A record that starts as a draft, invisible to the public, until a
    publisher publishes it."""

    status = models.CharField(
        _("status"),
        max_length=10,
        choices=PublicationStatus.choices,
        default=PublicationStatus.DRAFT,
        db_index=True,
        help_text=_("Drafts are seen only by editors. Only publishers can publish."),
    )
    published_at = models.DateTimeField(
        _("published at"), null=True, blank=True, editable=False, help_text=_("When it was last published.")
    )

    class Meta:
        abstract = True

    @property
    def is_published(self):
        return self.status == PublicationStatus.PUBLISHED

    def save(self, *args, **kwargs):
        if self.is_published and self.published_at is None:
            self.published_at = now()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "published_at"}
        super().save(*args, **kwargs)


def publish_permission(model_name):
    return (f"publish_{model_name}", _("Can publish and unpublish"))


def count_of(rows, outer_field):
    """How many of `rows` point at the outer row through `outer_field`: a
    correlated subquery, so a page of a list counts for its own rows only
    (a JOIN with GROUP BY would count for every matching row first, and
    the page's COUNT(*) would carry the join too)."""
    counted = rows.filter(**{outer_field: models.OuterRef("pk")}).order_by().values(outer_field)
    total = counted.annotate(total=models.Count("pk")).values("total")
    return Coalesce(models.Subquery(total, output_field=models.IntegerField()), 0)


def published_base_total(links, outer_field, base_field):
    """How many published bases the outer row is linked to by `links`
    (memberships, sector links), counted as all links less those to drafts:
    both counts are read from indexes, where checking every linked base's
    status would visit each of them (thousands for a sector)."""
    draft_bases = PlannedBase._base_manager.filter(status=PublicationStatus.DRAFT).values("pk")
    drafts = links.filter(**{f"{base_field}__in": draft_bases})
    return count_of(links, outer_field) - count_of(drafts, outer_field)


# ---------------------------------------------------------------------------
# Places
# ---------------------------------------------------------------------------


class ProvinceQuerySet(EntityQuerySet):
    def for_list(self):
        return self.annotate(city_total=count_of(City.objects.all(), "province"))


class Province(Entity):
    """One of the Belt's 11 province-level divisions."""

    url_name = "province-detail"

    reach = models.CharField(_("reach"), max_length=12, choices=Reach.choices, db_index=True)
    kind = models.CharField(_("kind"), max_length=12, choices=ProvinceKind.choices)

    objects = SlugManager.from_queryset(ProvinceQuerySet)()
    history = HistoricalRecords()

    class Meta(Entity.Meta):
        verbose_name = _("province")
        verbose_name_plural = _("provinces")
        constraints = [slug_not_empty("province")]


class CityQuerySet(EntityQuerySet):
    def for_list(self):
        return self.select_related("province").annotate(
            base_total=published_base_total(BaseMembership.objects.all(), "city", "base")
        )


class City(Entity):
    url_name = "city-detail"

    province = models.ForeignKey(
        Province, on_delete=models.PROTECT, related_name="cities", verbose_name=_("province")
    )
    level = models.CharField(_("level"), max_length=16, choices=CityLevel.choices, db_index=True)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="subordinate_cities",
        verbose_name=_("administered by"),
        help_text=_("For a county-level city: the prefecture-level city that administers it."),
    )
    location = geo.SafePointField(
        _("location"),
        srid=4326,
        null=True,
        blank=True,
        help_text=_("City centre, WGS84. Click the map or drag the marker."),
    )

    objects = SlugManager.from_queryset(CityQuerySet)()
    history = HistoricalRecords()

    class Meta(Entity.Meta):
        verbose_name = _("city")
        verbose_name_plural = _("cities")
        constraints = [slug_not_empty("city")]
        # A province's cities in name order, read in that order: without it
        # a province's 1,000 cities were counted and sorted to show 50.
        indexes = [
            *Entity.Meta.indexes,
            models.Index(fields=["province", "name"], name="city_province_name_idx"),
        ]

    def clean(self):
        super().clean()
        errors = {}
        if self.location is not None and not geo.within_belt(self.location):
            errors["location"] = (
                _(
                    "This point lies outside the Yangtze River Economic Belt "
                    "(about %(west)s°E to %(east)s°E, %(south)s°N to %(north)s°N). "
                    "Check that longitude and latitude are not swapped."
                )
                % geo.BELT_EXTENT_LABELS
            )
        if self.parent_id and self.parent_id == self.pk:
            errors["parent"] = _("A city cannot be administered by itself.")
        if errors:
            raise ValidationError(errors)

    @property
    def reach(self):
        return self.province.reach


# ---------------------------------------------------------------------------
# Industries
# ---------------------------------------------------------------------------


class SectorQuerySet(EntityQuerySet):
    def for_list(self):
        links = PlannedBase.sectors.through.objects.all()
        return self.select_related("parent").annotate(
            base_total=published_base_total(links, "sector", "plannedbase")
        )


class Sector(Entity):
    url_name = "sector-detail"

    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent sector"),
        help_text=_("The broader industry this one belongs to, e.g. shipbuilding under transport equipment."),
    )
    intensity = models.CharField(
        _("factor intensity"),
        max_length=20,
        choices=Intensity.choices,
        blank=True,
        db_index=True,
        help_text=_("Only where a source says so; leave empty otherwise."),
    )

    objects = SlugManager.from_queryset(SectorQuerySet)()
    history = HistoricalRecords()

    class Meta(Entity.Meta):
        verbose_name = _("sector")
        verbose_name_plural = _("sectors")
        constraints = [slug_not_empty("sector")]

    def clean(self):
        super().clean()
        if self.pk and self.parent_id and self.pk in self.ancestor_ids():
            raise ValidationError(
                {"parent": _("A sector cannot sit under itself or one of its own sub-sectors.")}
            )

    def ancestor_ids(self):
        """Ids of the parent chain, stopping at a loop rather than spinning."""
        seen = []
        parent = self.parent
        while parent is not None and parent.pk not in seen:
            seen.append(parent.pk)
            parent = parent.parent
        return seen


# ---------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------


class PolicyDocument(Publishable, Entity):
    url_name = "document-detail"

    kind = models.CharField(_("kind"), max_length=12, choices=DocumentKind.choices, db_index=True)
    issuer = models.CharField(
        _("issuer"),
        max_length=200,
        blank=True,
        help_text=_("Body that issued or approved the document, e.g. the State Council."),
    )
    publisher = models.CharField(
        _("publisher"),
        max_length=200,
        blank=True,
        help_text=_("Newspaper, journal or site that published it."),
    )
    authors = models.CharField(_("authors"), max_length=300, blank=True)
    published_on = models.DateField(_("published on"), null=True, blank=True, db_index=True)
    published_on_precision = models.CharField(
        _("publication date precision"),
        max_length=5,
        choices=DatePrecision.choices,
        default=DatePrecision.DAY,
    )
    approved_on = models.DateField(_("approved on"), null=True, blank=True)
    approved_on_precision = models.CharField(
        _("approval date precision"),
        max_length=5,
        choices=DatePrecision.choices,
        default=DatePrecision.DAY,
    )
    source_url = models.URLField(_("source URL"), max_length=500, blank=True)
    citation = models.TextField(
        _("citation"),
        blank=True,
        help_text=_("The full reference as a reader would cite it."),
    )
    language = models.CharField(_("language"), max_length=2, choices=Language.choices)
    summary = models.TextField(
        _("summary"), blank=True, help_text=_("Your own words; never copy the source's sentences.")
    )
    reports_on = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reported_by",
        verbose_name=_("reports on"),
        help_text=_("For news or research: the document this one reports or analyses."),
    )
    sectors = models.ManyToManyField(Sector, blank=True, related_name="documents", verbose_name=_("sectors"))
    cities = models.ManyToManyField(City, blank=True, related_name="documents", verbose_name=_("cities"))

    objects = SlugManager.from_queryset(PublishableQuerySet)()
    history = HistoricalRecords(m2m_fields=[sectors, cities])

    class Meta(Entity.Meta):
        verbose_name = _("policy document")
        verbose_name_plural = _("policy documents")
        ordering = ["-published_on", "name"]
        constraints = [slug_not_empty("policydocument")]
        permissions = [publish_permission("policydocument")]

    def clean(self):
        super().clean()
        if self.reports_on_id and self.reports_on_id == self.pk:
            raise ValidationError({"reports_on": _("A document cannot report on itself.")})
        if self.published_on and self.approved_on and self.published_on < self.approved_on:
            raise ValidationError(
                {"published_on": _("A document cannot be published before it was approved.")}
            )


# ---------------------------------------------------------------------------
# Planned bases
# ---------------------------------------------------------------------------


# What a summary of a base's members and sources reads of each (see
# PlannedBaseQuerySet.with_relations): a page of 50 bases has some 300
# members, and reading each city whole (its text, its point, its province)
# took longer than the rest of the page.
MEMBER_SUMMARY = ("base", "city", "role", "position", "city__slug", "city__name", "city__name_zh")
SOURCE_SUMMARY = ("base", "document", "section", "note", "document__slug")


class PlannedBaseQuerySet(PublishableQuerySet):
    def with_members(self, *, summary=False):
        """Member cities (and their provinces) in the order the source lists
        them; with `summary`, only the members' MEMBER_SUMMARY."""
        members = BaseMembership.objects.order_by("position", "id")
        if summary:
            members = members.select_related("city").only(*MEMBER_SUMMARY)
        else:
            members = members.select_related("city__province")
        return self.prefetch_related(models.Prefetch("memberships", queryset=members))

    def for_list(self, *, summary=False):
        return self.with_members(summary=summary).prefetch_related("sectors")

    def with_relations(self, *, public_sources=False, summary=False):
        """With its sources; only those in published documents if
        `public_sources`; with `summary`, only MEMBER_SUMMARY and
        SOURCE_SUMMARY of members and sources."""
        sources = BaseSource.objects.select_related("document")
        if summary:
            sources = sources.only(*SOURCE_SUMMARY)
        if public_sources:
            sources = sources.filter(document__status=PublicationStatus.PUBLISHED)
        return self.for_list(summary=summary).prefetch_related(models.Prefetch("sources", queryset=sources))


BASE_NEEDS_A_SOURCE = _("A planned base needs at least one source document: add the document that plans it.")


class PlannedBase(Publishable, Entity):
    """An industrial base, cluster, alliance or chain that a document plans."""

    url_name = "base-detail"

    kind = models.CharField(_("kind"), max_length=12, choices=BaseKind.choices, db_index=True)
    stage = models.CharField(
        _("development stage"),
        max_length=20,
        choices=BaseStage.choices,
        db_index=True,
        help_text=_("How far the base has got, as its sources describe it."),
    )
    reach = models.CharField(
        _("reach"),
        max_length=12,
        choices=Reach.choices,
        blank=True,
        db_index=True,
        help_text=_("The reach a source assigns the base to, especially when it names no city."),
    )
    area = geo.SafeMultiPolygonField(
        _("area"),
        srid=4326,
        null=True,
        blank=True,
        help_text=_("Optional outline. Without one, maps show the member cities."),
    )
    sectors = models.ManyToManyField(Sector, blank=True, related_name="bases", verbose_name=_("sectors"))
    cities = models.ManyToManyField(
        City,
        through="BaseMembership",
        blank=True,
        related_name="bases",
        verbose_name=_("member cities"),
    )
    documents = models.ManyToManyField(
        PolicyDocument,
        through="BaseSource",
        related_name="bases",
        verbose_name=_("sources"),
    )

    objects = SlugManager.from_queryset(PlannedBaseQuerySet)()
    history = HistoricalRecords(m2m_fields=[sectors])

    class Meta(Entity.Meta):
        verbose_name = _("planned base")
        verbose_name_plural = _("planned bases")
        constraints = [slug_not_empty("plannedbase")]
        permissions = [publish_permission("plannedbase")]

    def clean(self):
        super().clean()
        if self.area is not None and not geo.within_belt(self.area):
            raise ValidationError({"area": _("The area must lie inside the Yangtze River Economic Belt.")})


class BaseMembershipManager(models.Manager):
    def get_by_natural_key(self, base_slug, city_slug):
        return self.get(base__slug=base_slug, city__slug=city_slug)


class BaseMembership(TimeStampedModel):
    """A city's part in a planned base."""

    base = models.ForeignKey(
        PlannedBase, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("base")
    )
    city = models.ForeignKey(
        City, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("city")
    )
    role = models.CharField(
        _("role"), max_length=12, choices=MembershipRole.choices, default=MembershipRole.MEMBER
    )
    position = models.PositiveSmallIntegerField(
        _("position"), default=0, help_text=_("Order in which the source lists the city.")
    )

    objects = BaseMembershipManager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("base membership")
        verbose_name_plural = _("base memberships")
        ordering = ["base", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["base", "city"], name="clusters_unique_base_city"),
        ]
        # A city's bases from the index alone (the filters' `city=`).
        indexes = [models.Index(fields=["city", "base"], name="clusters_membership_city_base")]

    def __str__(self):
        return f"{self.city} — {self.base} ({self.get_role_display()})"

    def natural_key(self):
        return (*self.base.natural_key(), *self.city.natural_key())

    natural_key.dependencies = ["clusters.plannedbase", "clusters.city"]


class BaseSourceManager(models.Manager):
    def get_by_natural_key(self, base_slug, document_slug, section):
        return self.get(base__slug=base_slug, document__slug=document_slug, section=section)


class BaseSource(TimeStampedModel):
    """Where a base is planned: a document and the section that plans it."""

    base = models.ForeignKey(
        PlannedBase, on_delete=models.CASCADE, related_name="sources", verbose_name=_("base")
    )
    document = models.ForeignKey(
        PolicyDocument,
        on_delete=models.PROTECT,
        related_name="base_sources",
        verbose_name=_("document"),
    )
    section = models.CharField(
        _("section"),
        max_length=200,
        blank=True,
        help_text=_("Heading of the part of the document that describes the base."),
    )
    note = models.TextField(
        _("note"), blank=True, help_text=_("What the document says of the base, in your own words.")
    )

    objects = BaseSourceManager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("base source")
        verbose_name_plural = _("base sources")
        ordering = ["base", "document", "section"]
        constraints = [
            models.UniqueConstraint(
                fields=["base", "document", "section"], name="clusters_unique_base_source"
            ),
        ]

    def __str__(self):
        return f"{self.document} § {self.section}" if self.section else str(self.document)

    def natural_key(self):
        return (*self.base.natural_key(), *self.document.natural_key(), self.section)

    natural_key.dependencies = ["clusters.plannedbase", "clusters.policydocument"]


class SiteRevision(models.Model):
    """One row whose number goes up after every committed change to the
    data: cached pages and ETags name it, so a save retires them all at
    once (clusters/caching.py)."""

    number = models.PositiveBigIntegerField(_("number"), default=1)
    changed_at = models.DateTimeField(_("changed at"), default=now)

    class Meta:
        verbose_name = _("site revision")
        verbose_name_plural = _("site revisions")

    def __str__(self):
        return str(self.number)
