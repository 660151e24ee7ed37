"""Synthetic data for load and performance testing: realistic in shape,
reproducible from a seed, and easy to tell apart from real records.

Every synthetic province, city, sector, document and base has a slug that
starts with SYNTHETIC_PREFIX ("syn-"); that is how the generator knows which
rows it may replace and whether a database holds anything else.

Rows are written in batches inside one transaction, with plain INSERTs
(COPY on PostgreSQL) rather than bulk_create, which was four times slower
(see Rows): no save(), no signals, no history records, no full_clean.
Values are valid by construction (locations inside the Belt, distinct
members, a source for every base), which the tests check.
"""

import datetime
import random
import time

from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.db.models import Q

from clusters import geo
from clusters.caching import bump_revision
from clusters.models import (
    BaseKind,
    BaseMembership,
    BaseSource,
    BaseStage,
    City,
    CityLevel,
    DatePrecision,
    DocumentKind,
    Intensity,
    Language,
    MembershipRole,
    PlannedBase,
    PolicyDocument,
    Province,
    ProvinceKind,
    PublicationStatus,
    Reach,
    Sector,
    now,
)

SYNTHETIC_PREFIX = "syn-"
# Each of --cities, --bases and --documents.
MAX_COUNT = 1_000_000
BATCH_SIZE = 5000
MIN_MEMBERS, MAX_MEMBERS = 2, 10
MIN_BASE_SECTORS, MAX_BASE_SECTORS = 1, 5
MIN_SOURCES, MAX_SOURCES = 1, 3
MAX_DOCUMENT_SECTORS, MAX_DOCUMENT_CITIES = 3, 5
# The share of bases whose member cities all lie in one province.
ONE_PROVINCE_SHARE = 0.7

# The models with slugs, in the order they are created (deleted in reverse).
ENTITY_MODELS = [Province, Sector, City, PolicyDocument, PlannedBase]

# The Belt's 11 province-level divisions, roughly: where their cities lie
# (centre and spread in degrees) and how many cities they have relative to
# one another. Synthetic provinces copy these; reference provinces are
# matched by slug, so synthetic cities land in the right part of the map.
PROVINCE_SHAPES = [
    # slug, reach, kind, lon, lat, spread, weight
    ("shanghai", Reach.DOWNSTREAM, ProvinceKind.MUNICIPALITY, 121.45, 31.2, 0.3, 1),
    ("jiangsu", Reach.DOWNSTREAM, ProvinceKind.PROVINCE, 119.5, 32.6, 0.9, 4),
    ("zhejiang", Reach.DOWNSTREAM, ProvinceKind.PROVINCE, 120.2, 29.2, 0.9, 4),
    ("anhui", Reach.DOWNSTREAM, ProvinceKind.PROVINCE, 117.2, 31.8, 1.0, 4),
    ("jiangxi", Reach.MIDDLE, ProvinceKind.PROVINCE, 115.7, 27.6, 1.1, 4),
    ("hubei", Reach.MIDDLE, ProvinceKind.PROVINCE, 112.3, 30.9, 1.3, 5),
    ("hunan", Reach.MIDDLE, ProvinceKind.PROVINCE, 111.7, 27.6, 1.2, 5),
    ("chongqing", Reach.UPSTREAM, ProvinceKind.MUNICIPALITY, 107.8, 30.0, 0.7, 2),
    ("sichuan", Reach.UPSTREAM, ProvinceKind.PROVINCE, 104.0, 30.0, 1.6, 6),
    ("guizhou", Reach.UPSTREAM, ProvinceKind.PROVINCE, 106.7, 26.8, 1.0, 3),
    ("yunnan", Reach.UPSTREAM, ProvinceKind.PROVINCE, 101.8, 25.0, 1.5, 5),
]
SECTOR_FAMILIES = 7
SECTORS_PER_FAMILY = 4  # 7 top-level sectors, each with 4 sub-sectors: 35 in all

CITY_LEVELS = [(CityLevel.PREFECTURE, 45), (CityLevel.COUNTY, 47), (CityLevel.SUB_PROVINCIAL, 8)]
BASE_KINDS = [
    (BaseKind.BASE, 35),
    (BaseKind.CLUSTER, 30),
    (BaseKind.ALLIANCE, 10),
    (BaseKind.CHAIN, 15),
    (BaseKind.SYSTEM, 5),
    (BaseKind.INITIATIVE, 5),
]
BASE_STAGES = [
    (BaseStage.PROPOSED, 20),
    (BaseStage.PLANNED, 45),
    (BaseStage.UNDER_CONSTRUCTION, 20),
    (BaseStage.OPERATING, 15),
]
DOCUMENT_KINDS = [
    (DocumentKind.PLAN, 30),
    (DocumentKind.POLICY, 30),
    (DocumentKind.NEWS, 25),
    (DocumentKind.RESEARCH, 15),
]
ISSUERS = [
    "State Council (synthetic)",
    "National Development and Reform Commission (synthetic)",
    "Ministry of Industry and Information Technology (synthetic)",
    "Synthetic provincial government",
]
PUBLISHERS = ["Synthetic Daily", "Synthetic Economic Herald", "Journal of Synthetic Regional Studies"]
FIRST_DAY = datetime.date(2005, 1, 1).toordinal()
LAST_DAY = datetime.date(2024, 12, 31).toordinal()


class SyntheticDataError(Exception):
    """Nothing was generated, for the reason the message gives."""


class RefusedError(SyntheticDataError):
    """The database is not one synthetic data may be written to as asked."""


class InvalidArguments(SyntheticDataError):
    """The counts asked for are out of range or do not fit together."""


def synthetic(field="slug"):
    return Q(**{f"{field}__startswith": SYNTHETIC_PREFIX})


def non_synthetic_counts():
    """{verbose name plural: count} of the rows that are not synthetic, for models that have any."""
    counts = {
        model._meta.verbose_name_plural: model.objects.exclude(synthetic()).count() for model in ENTITY_MODELS
    }
    return {name: count for name, count in counts.items() if count}


def synthetic_counts():
    return {
        model._meta.verbose_name_plural: model.objects.filter(synthetic()).count() for model in ENTITY_MODELS
    }


def describe_counts(counts):
    return ", ".join(f"{count} {name}" for name, count in counts.items())


def references_to_synthetic():
    """Descriptions of non-synthetic rows that refer to synthetic ones.

    Replacing the synthetic rows would have to change or delete those, so
    the generator refuses instead: it never touches non-synthetic data.
    """
    base_links = PlannedBase.sectors.through.objects
    document_sectors = PolicyDocument.sectors.through.objects
    document_cities = PolicyDocument.cities.through.objects
    checks = [
        (
            "memberships of non-synthetic bases in synthetic cities",
            BaseMembership.objects.filter(synthetic("city__slug")).exclude(synthetic("base__slug")),
        ),
        (
            "sources of non-synthetic bases in synthetic documents",
            BaseSource.objects.filter(synthetic("document__slug")).exclude(synthetic("base__slug")),
        ),
        (
            "non-synthetic cities in synthetic provinces or under synthetic cities",
            City.objects.exclude(synthetic()).filter(synthetic("province__slug") | synthetic("parent__slug")),
        ),
        (
            "non-synthetic sectors under synthetic sectors",
            Sector.objects.exclude(synthetic()).filter(synthetic("parent__slug")),
        ),
        (
            "non-synthetic documents reporting on synthetic documents",
            PolicyDocument.objects.exclude(synthetic()).filter(synthetic("reports_on__slug")),
        ),
        (
            "non-synthetic bases with synthetic sectors",
            base_links.filter(synthetic("sector__slug")).exclude(synthetic("plannedbase__slug")),
        ),
        (
            "non-synthetic documents with synthetic sectors",
            document_sectors.filter(synthetic("sector__slug")).exclude(synthetic("policydocument__slug")),
        ),
        (
            "non-synthetic documents with synthetic cities",
            document_cities.filter(synthetic("city__slug")).exclude(synthetic("policydocument__slug")),
        ),
    ]
    return [f"{queryset.count()} {label}" for label, queryset in checks if queryset.exists()]


def delete_synthetic(progress):
    """Delete every synthetic row, children first; return how many entities went.

    Raw deletes: QuerySet.delete() would load every row to send the signals
    that write a "deleted" history record for each, which synthetic rows
    never had and which would take minutes for a million of them.
    """
    if not any(synthetic_counts().values()):
        return {}
    using = connection.alias
    phase = "removing previous synthetic data"
    link_querysets = [
        BaseSource.objects.filter(synthetic("base__slug")),
        BaseMembership.objects.filter(synthetic("base__slug")),
        PlannedBase.sectors.through.objects.filter(synthetic("plannedbase__slug")),
        PolicyDocument.sectors.through.objects.filter(synthetic("policydocument__slug")),
        PolicyDocument.cities.through.objects.filter(synthetic("policydocument__slug")),
    ]
    steps = len(link_querysets) + len(ENTITY_MODELS)
    progress(phase, 0, steps)
    for step, queryset in enumerate(link_querysets, start=1):
        queryset._raw_delete(using)
        progress(phase, step, steps)
    deleted = {}
    for step, model in enumerate(reversed(ENTITY_MODELS), start=len(link_querysets) + 1):
        count = model.objects.filter(synthetic())._raw_delete(using)
        if count:
            deleted[model._meta.verbose_name_plural] = count
        progress(phase, step, steps)
    return deleted


def generate(*, cities, bases, documents, seed, force=False, progress=None):
    """Replace the synthetic data with a fresh set made from `seed`.

    Refuses (RefusedError) when the database holds non-synthetic data and
    `force` is not given, or when non-synthetic rows refer to synthetic ones.
    Returns a dict of what was deleted, created and reused (existing
    provinces and sectors), and how long it took.
    """
    check_arguments(cities=cities, bases=bases, documents=documents)
    started = time.monotonic()
    progress = progress or (lambda phase, done, total: None)
    with transaction.atomic():
        # Plain INSERTs send no signals: retire cached answers explicitly.
        transaction.on_commit(bump_revision)
        existing = non_synthetic_counts()
        if existing and not force:
            raise RefusedError(
                "The database holds data that is not synthetic ("
                + describe_counts(existing)
                + "). Synthetic data would be mixed in with it. Run generate_synthetic against an "
                "empty database (for example DATABASE_URL=spatialite:////tmp/synthetic.sqlite3 after "
                "`manage.py migrate`), or pass --force to add synthetic rows beside the existing ones, "
                "which are left untouched."
            )
        references = references_to_synthetic()
        if references:
            raise RefusedError(
                "The previous synthetic data cannot be replaced, because non-synthetic rows refer to it ("
                + "; ".join(references)
                + "). Remove those references first; nothing was changed."
            )
        deleted = delete_synthetic(progress)
        generator = Generator(seed=seed, progress=progress)
        created = generator.run(cities=cities, bases=bases, documents=documents)
    refresh_planner_statistics()
    return {
        "deleted": deleted,
        "created": created,
        "reused": generator.reused,
        "seconds": time.monotonic() - started,
    }


def refresh_planner_statistics():
    """ANALYZE after a bulk load: without fresh statistics SQLite may read a
    list's relations from the wrong end (e.g. every published document, then
    its sources, instead of one page of bases, then theirs)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def check_arguments(*, cities, bases, documents):
    for name, value in (("cities", cities), ("bases", bases), ("documents", documents)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
            raise InvalidArguments(f"--{name} must be a whole number from 0 to {MAX_COUNT:,}, not {value!r}.")
    if bases and cities < MIN_MEMBERS:
        raise InvalidArguments(
            f"Every base needs at least {MIN_MEMBERS} member cities: give --cities {MIN_MEMBERS} or more "
            f"(10 or more for the full range of 2 to 10 members), or --bases 0."
        )
    if bases and documents < 1:
        raise InvalidArguments(
            "Every base needs a source document: give --documents 1 or more, or --bases 0."
        )


def weighted(rng, choices):
    values, weights = zip(*choices, strict=True)
    return lambda: rng.choices(values, weights)[0]


class Rows:
    """Inserts rows of one model without model instances: executemany, or
    COPY on PostgreSQL.

    bulk_create prepares every value of every instance through the field
    API: 10,000 cities, 100,000 bases and 20,000 documents (1.3 million rows
    with their links) took 85 s with it on SpatiaLite, 19 s this way. The columns
    that vary are given per row, as values already in database form (ints,
    strings, adapted dates or geometries); every other column gets one value
    prepared once for all rows: the one given in `constants`, or else the
    field's default. Placeholders come from the fields, so geometry columns
    work as they do in bulk_create.
    """

    def __init__(self, model, varying, **constants):
        opts = model._meta
        varying = [opts.get_field(name) for name in varying]
        fixed = [field for field in opts.concrete_fields if not field.primary_key and field not in varying]
        unknown = set(constants) - {field.name for field in fixed}
        if unknown:
            raise ValueError(f"Not fixed columns of {opts.label}: {', '.join(sorted(unknown))}")
        self.constants = tuple(
            field.get_db_prep_save(
                constants[field.name] if field.name in constants else field.get_default(), connection
            )
            for field in fixed
        )
        quote = connection.ops.quote_name
        columns = [*varying, *fixed]
        table = "{} ({})".format(quote(opts.db_table), ", ".join(quote(field.column) for field in columns))
        # Model table and column names, quoted; every value is a parameter.
        self.insert_sql = "INSERT INTO {} VALUES ({})".format(  # nosec B608
            table, ", ".join(placeholder(field) for field in columns)
        )
        self.copy_sql = f"COPY {table} FROM STDIN"

    def insert(self, rows):
        constants = self.constants
        params = [(*row, *constants) for row in rows]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and hasattr(cursor.cursor, "copy"):
                # psycopg 3: COPY is several times faster than INSERTs on
                # PostgreSQL; the connection's dumpers adapt the values,
                # geometries included.
                with cursor.cursor.copy(self.copy_sql) as copy:
                    for row in params:
                        copy.write_row(row)
            else:
                # On SQLite, one prepared statement run for every row.
                cursor.executemany(self.insert_sql, params)
        return len(rows)


def placeholder(field):
    if hasattr(field, "geom_type"):
        return field.get_placeholder(Point(0, 0, srid=field.srid), None, connection)
    return "%s"


def ids_by_slug(model, slugs):
    """The primary keys of the rows with these slugs, in the same order."""
    found = {}
    # In pieces: SQLite may be built to take no more than 999 parameters.
    for start in range(0, len(slugs), 900):
        found.update(model.objects.filter(slug__in=slugs[start : start + 900]).values_list("slug", "pk"))
    return [found[slug] for slug in slugs]


def chunks(total):
    """(first number, last number) of each batch of 1..total."""
    for start in range(0, total, BATCH_SIZE):
        yield start + 1, min(start + BATCH_SIZE, total)


# What the summary lists, in this order.
COUNTED = [
    "provinces",
    "sectors",
    "cities",
    "documents",
    "document sector links",
    "document city links",
    "planned bases",
    "memberships",
    "base sector links",
    "sources",
]


class Generator:
    def __init__(self, *, seed, progress):
        self.seed = seed
        self.progress = progress
        # Timestamps are the only values that differ from one run to the next.
        self.stamp = now()
        self.stamps = {"created_at": self.stamp, "updated_at": self.stamp}
        self.counts = dict.fromkeys(COUNTED, 0)
        self.reused = {}

    def rng(self, phase):
        """One random stream per phase: a phase's data depends only on the
        seed and on what earlier phases made, not on how later ones draw."""
        return random.Random(f"{self.seed}:{phase}")

    def run(self, *, cities, bases, documents):
        self.provinces = self.province_pool()
        self.sectors = self.sector_pool()
        self.make_cities(cities)
        self.make_documents(documents)
        self.make_bases(bases)
        return {label: number for label, number in self.counts.items() if label not in self.reused}

    # -- Provinces and sectors: the existing ones, or a synthetic set ---------

    def province_pool(self):
        """[(id, reach, shape or None)] of the provinces synthetic cities go in."""
        shapes = {shape[0]: shape for shape in PROVINCE_SHAPES}
        # Sorted here, not by the database: collations differ between backends.
        existing = sorted(Province.objects.values_list("pk", "slug", "reach"), key=lambda row: row[1])
        if existing:
            self.reused["provinces"] = len(existing)
            return [(pk, reach, shapes.get(slug)) for pk, slug, reach in existing]
        rows = Rows(Province, ["name", "name_zh", "slug", "description", "reach", "kind"], **self.stamps)
        slugs = [f"{SYNTHETIC_PREFIX}province-{number:02d}" for number in range(1, len(PROVINCE_SHAPES) + 1)]
        self.counts["provinces"] = rows.insert(
            [
                (
                    f"Synthetic province {number}",
                    f"合成省份{number}",
                    slug,
                    f"Synthetic test data, shaped like {name.capitalize()}.",
                    reach,
                    kind,
                )
                for number, (slug, (name, reach, kind, *_rest)) in enumerate(
                    zip(slugs, PROVINCE_SHAPES, strict=True), start=1
                )
            ]
        )
        self.progress("provinces", len(slugs), len(slugs))
        ids = ids_by_slug(Province, slugs)
        return [(pk, shape[1], shape) for pk, shape in zip(ids, PROVINCE_SHAPES, strict=True)]

    def sector_pool(self):
        """[id] of the sectors synthetic bases and documents are about."""
        existing = sorted(Sector.objects.values_list("slug", "pk"))
        if existing:
            self.reused["sectors"] = len(existing)
            return [pk for _slug, pk in existing]
        rng = self.rng("sectors")
        intensity = weighted(rng, [("", 60), *((choice, 40 / 3) for choice in Intensity.values)])
        rows = Rows(
            Sector,
            ["name", "name_zh", "slug", "parent", "intensity"],
            description="Synthetic test data.",
            **self.stamps,
        )
        total = SECTOR_FAMILIES * (1 + SECTORS_PER_FAMILY)
        slugs = [f"{SYNTHETIC_PREFIX}sector-{number:03d}" for number in range(1, total + 1)]

        def sector(number, parent_id):
            return (
                f"Synthetic sector {number}",
                f"合成行业{number}",
                slugs[number - 1],
                parent_id,
                intensity(),
            )

        # The top-level sectors first, then their children.
        rows.insert([sector(number, None) for number in range(1, SECTOR_FAMILIES + 1)])
        parent_ids = ids_by_slug(Sector, slugs[:SECTOR_FAMILIES])
        rows.insert(
            [
                sector(number, parent_ids[(number - 1) % SECTOR_FAMILIES])
                for number in range(SECTOR_FAMILIES + 1, total + 1)
            ]
        )
        self.counts["sectors"] = total
        self.progress("sectors", total, total)
        return ids_by_slug(Sector, slugs)

    # -- Cities -----------------------------------------------------------------

    def make_cities(self, total):
        rng = self.rng("cities")
        level = weighted(rng, CITY_LEVELS)
        provinces = self.provinces
        weights = [shape[6] if shape else 3 for _pk, _reach, shape in provinces]
        location_field = City._meta.get_field("location")
        rows = Rows(City, ["name", "name_zh", "slug", "province", "level", "location"], **self.stamps)
        self.city_ids, self.city_reaches, self.city_provinces = [], [], []
        self.cities_in_province = {pk: [] for pk, _reach, _shape in provinces}
        self.progress("cities", 0, total)
        for first, last in chunks(total):
            batch, slugs = [], []
            for number in range(first, last + 1):
                province_id, reach, shape = rng.choices(provinces, weights)[0]
                point = Point(*location(rng, shape), srid=geo.WGS84_SRID)
                slug = f"{SYNTHETIC_PREFIX}city-{number:06d}"
                batch.append(
                    (
                        f"Synthetic city {number}",
                        f"合成城市{number}",
                        slug,
                        province_id,
                        level(),
                        location_field.get_db_prep_save(point, connection),
                    )
                )
                slugs.append(slug)
                self.cities_in_province[province_id].append(len(self.city_reaches))
                self.city_reaches.append(reach)
                self.city_provinces.append(province_id)
            self.counts["cities"] += rows.insert(batch)
            self.city_ids += ids_by_slug(City, slugs)
            self.progress("cities", last, total)

    # -- Documents --------------------------------------------------------------

    def make_documents(self, total):
        rng = self.rng("documents")
        kind = weighted(rng, DOCUMENT_KINDS)
        precision = weighted(
            rng, [(DatePrecision.DAY, 70), (DatePrecision.MONTH, 20), (DatePrecision.YEAR, 10)]
        )
        rows = Rows(
            PolicyDocument,
            DOCUMENT_COLUMNS,
            status=PublicationStatus.PUBLISHED,
            published_at=self.stamp,
            **self.stamps,
        )
        sector_rows = Rows(PolicyDocument.sectors.through, ["policydocument", "sector"])
        city_rows = Rows(PolicyDocument.cities.through, ["policydocument", "city"])
        self.document_ids = []
        self.progress("documents", 0, total)
        for first, last in chunks(total):
            batch, sectors, cities = [], [], []
            for number in range(first, last + 1):
                batch.append(self.document(rng, number, kind(), precision()))
                sectors.append(sample(rng, self.sectors, rng.randint(0, MAX_DOCUMENT_SECTORS)))
                cities.append(sample(rng, self.city_ids, rng.randint(0, MAX_DOCUMENT_CITIES)))
            self.counts["documents"] += rows.insert(batch)
            ids = ids_by_slug(PolicyDocument, [row[2] for row in batch])
            self.counts["document sector links"] += sector_rows.insert(links(ids, sectors))
            self.counts["document city links"] += city_rows.insert(links(ids, cities))
            self.document_ids += ids
            self.progress("documents", last, total)

    def document(self, rng, number, kind, precision):
        """One row of DOCUMENT_COLUMNS."""
        published = datetime.date.fromordinal(rng.randint(FIRST_DAY, LAST_DAY))
        if precision == DatePrecision.MONTH:
            published = published.replace(day=1)
        elif precision == DatePrecision.YEAR:
            published = published.replace(month=1, day=1)
        official = kind in (DocumentKind.PLAN, DocumentKind.POLICY)
        issuer = rng.choice(ISSUERS) if official else ""
        publisher = "" if official else rng.choice(PUBLISHERS)
        approved = None
        if kind == DocumentKind.PLAN:
            approved = published - datetime.timedelta(days=rng.randint(0, 90))
        name = f"Synthetic document {number}"
        return (
            name,
            f"合成文件{number}",
            f"{SYNTHETIC_PREFIX}doc-{number:06d}",
            kind,
            issuer,
            publisher,
            "" if official else f"Synthetic author {rng.randint(1, 500)}",
            connection.ops.adapt_datefield_value(published),
            precision,
            connection.ops.adapt_datefield_value(approved),
            f"{name}. {issuer or publisher}, {published.year}.",
            Language.CHINESE if rng.random() < 0.7 else Language.ENGLISH,
        )

    # -- Bases, with their members, sectors and sources ---------------------------

    def make_bases(self, total):
        rng = self.rng("bases")
        kind = weighted(rng, BASE_KINDS)
        stage = weighted(rng, BASE_STAGES)
        city_count = len(self.city_ids)
        max_members = min(MAX_MEMBERS, city_count)
        max_sectors = min(MAX_BASE_SECTORS, len(self.sectors))
        max_sources = min(MAX_SOURCES, len(self.document_ids))
        # Each base's first source walks through the documents in a shuffled
        # order, so that every document is a source once there are at least
        # as many bases as documents.
        first_sources = list(self.document_ids)
        rng.shuffle(first_sources)
        rows = Rows(
            PlannedBase,
            ["name", "name_zh", "slug", "kind", "stage", "reach"],
            status=PublicationStatus.PUBLISHED,
            published_at=self.stamp,
            **self.stamps,
        )
        membership_rows = Rows(BaseMembership, ["base", "city", "role", "position"], **self.stamps)
        sector_rows = Rows(PlannedBase.sectors.through, ["plannedbase", "sector"])
        source_rows = Rows(BaseSource, ["base", "document", "section"], **self.stamps)
        self.progress("bases", 0, total)
        for first, last in chunks(total):
            batch, members, sectors, sources = [], [], [], []
            for number in range(first, last + 1):
                size = rng.randint(MIN_MEMBERS, max_members)
                # Most bases join cities of one province, the others span the Belt.
                neighbours = self.cities_in_province[self.city_provinces[rng.randrange(city_count)]]
                if len(neighbours) >= size and rng.random() < ONE_PROVINCE_SHARE:
                    chosen = rng.sample(neighbours, size)
                else:
                    chosen = rng.sample(range(city_count), size)
                reaches = {self.city_reaches[index] for index in chosen}
                batch.append(
                    (
                        f"Synthetic base {number}",
                        f"合成基地{number}",
                        f"{SYNTHETIC_PREFIX}base-{number:06d}",
                        kind(),
                        stage(),
                        # The reach of its cities when they all lie in one.
                        reaches.pop() if len(reaches) == 1 else "",
                    )
                )
                members.append(
                    [
                        (self.city_ids[index], role(rng, position), position)
                        for position, index in enumerate(chosen)
                    ]
                )
                sectors.append(sample(rng, self.sectors, rng.randint(MIN_BASE_SECTORS, max_sectors)))
                first_source = first_sources[(number - 1) % len(first_sources)]
                others = [pk for pk in sample(rng, self.document_ids, max_sources) if pk != first_source]
                sources.append(
                    [
                        (document, f"Section {rng.randint(1, 12)}" if rng.random() < 0.6 else "")
                        for document in [first_source, *others[: rng.randint(MIN_SOURCES, max_sources) - 1]]
                    ]
                )
            self.counts["planned bases"] += rows.insert(batch)
            ids = ids_by_slug(PlannedBase, [row[2] for row in batch])
            self.counts["memberships"] += membership_rows.insert(links(ids, members))
            self.counts["base sector links"] += sector_rows.insert(links(ids, sectors))
            self.counts["sources"] += source_rows.insert(links(ids, sources))
            self.progress("bases", last, total)


DOCUMENT_COLUMNS = [
    "name",
    "name_zh",
    "slug",
    "kind",
    "issuer",
    "publisher",
    "authors",
    "published_on",
    "published_on_precision",
    "approved_on",
    "citation",
    "language",
]


def links(ids, related):
    """Rows (id, *values) for each id and each item related to it; an item
    is a single value or a tuple of values."""
    return [
        (pk, *item) if isinstance(item, tuple) else (pk, item)
        for pk, items in zip(ids, related, strict=True)
        for item in items
    ]


def sample(rng, population, size):
    return rng.sample(population, min(size, len(population)))


def role(rng, position):
    if position == 0 and rng.random() < 0.5:
        return MembershipRole.LEADING
    return MembershipRole.UPGRADING if rng.random() < 0.2 else MembershipRole.MEMBER


def location(rng, shape):
    """(lon, lat) inside the Belt: around the province's centre when its
    shape is known, anywhere in the Belt's extent otherwise."""
    west, south, east, north = geo.BELT_EXTENT
    if shape is None:
        return round(rng.uniform(west, east), 4), round(rng.uniform(south, north), 4)
    _slug, _reach, _kind, lon, lat, spread, _weight = shape
    for _attempt in range(20):
        x, y = rng.gauss(lon, spread), rng.gauss(lat, spread * 0.8)
        if west < x < east and south < y < north:
            return round(x, 4), round(y, 4)
    return lon, lat
