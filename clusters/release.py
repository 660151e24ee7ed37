"""Dated, versioned snapshots of the published data, for people who want the
whole dataset as files: natural-key JSON that loads back into the site, a
CSV per entity, GeoJSON for maps, and a README with counts and checksums.

Only published records leave: drafts, and every link to a draft (a
membership or source of a draft base, a source in a draft document, a
published document's "reports on" pointing at a draft), stay behind.
"""

import csv
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.core import serializers
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone, translation

from clusters.geojson import base_features, city_features, feature_collection
from clusters.models import (
    BaseMembership,
    BaseSource,
    City,
    PlannedBase,
    PolicyDocument,
    Province,
    Sector,
)
from clusters.spreadsheet import spreadsheet_safe

RELEASE_PREFIX = "yangtze-clusters"
RELEASE_NAME = re.compile(rf"^{RELEASE_PREFIX}-(?P<date>\d{{4}}-\d{{2}}-\d{{2}})-v(?P<version>\d+)$")
# Several related records in one CSV cell; slugs never contain it.
LIST_SEPARATOR = ";"
CHECKSUMS_FILE = "SHA256SUMS"


class ReleaseError(Exception):
    """The release could not be written; the message says why."""


@dataclass
class Release:
    path: Path
    date: str
    version: int
    counts: dict = field(default_factory=dict)
    checksums: dict = field(default_factory=dict)

    @property
    def name(self):
        return self.path.name


def release_name(date, version):
    return f"{RELEASE_PREFIX}-{date}-v{version}"


def export_release(out_dir, *, date=None, progress=print):
    """Write a new release folder into `out_dir` and return its Release.

    The files are written into a hidden staging folder first and renamed at
    the end, so a failed export never leaves a half release that the next
    run would count as a version.
    """
    out_dir = Path(out_dir)
    date = (date or timezone.localdate()).isoformat()
    ensure_writable(out_dir)
    version = next_version(out_dir, date)
    release = Release(path=out_dir / release_name(date, version), date=date, version=version)
    staging = Path(tempfile.mkdtemp(prefix=f".{release.name}.", suffix=".partial", dir=out_dir))
    try:
        # One transaction: every file is read from the same state of the data.
        with transaction.atomic():
            write_files(staging, release, progress)
        publish(staging, release.path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return release


def ensure_writable(out_dir):
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise ReleaseError(f"Cannot write a release into {out_dir}: {reason}.") from error


def next_version(out_dir, date):
    """One more than the highest version of `date` already there.

    With versions 1..N present that is 1 + the number of releases of the
    day; taking the highest rather than counting never reuses a number
    when an earlier release has been removed.
    """
    versions = [
        int(match["version"])
        for path in out_dir.iterdir()
        if (match := RELEASE_NAME.match(path.name)) and match["date"] == date
    ]
    return max(versions, default=0) + 1


def publish(staging, final):
    if final.exists():
        raise ReleaseError(f"{final} appeared while the release was being written; run the export again.")
    # mkdtemp made the folder private (0700); a release is meant to be shared.
    staging.chmod(0o755)
    staging.rename(final)


# ---------------------------------------------------------------------------
# What is published
# ---------------------------------------------------------------------------


def public_records():
    """{file stem: list of records}, read once so every file shows the same data."""
    documents = PolicyDocument.objects.public()
    bases = PlannedBase.objects.public()
    return {
        "provinces": list(Province.objects.public().order_by("slug")),
        "cities": list(City.objects.public().select_related("province", "parent").order_by("slug")),
        "sectors": list(Sector.objects.public().select_related("parent").order_by("slug")),
        "documents": public_documents(documents),
        "bases": list(
            bases.prefetch_related(
                "sectors",
                Prefetch(
                    "memberships", BaseMembership.objects.select_related("city").order_by("position", "id")
                ),
            ).order_by("slug")
        ),
        "memberships": list(
            BaseMembership.objects.filter(base__in=bases)
            .select_related("base", "city")
            .order_by("base__slug", "position", "id")
        ),
        "sources": list(
            BaseSource.objects.filter(base__in=bases, document__in=documents)
            .select_related("base", "document")
            .order_by("base__slug", "document__slug", "section")
        ),
    }


def public_documents(documents):
    """Published documents, a "reports on" link to a draft cut (in memory only)."""
    records = list(
        documents.select_related("reports_on").prefetch_related("sectors", "cities").order_by("slug")
    )
    for document in records:
        if document.reports_on is not None and not document.reports_on.is_published:
            document.reports_on = None
    return records


# ---------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------


def write_files(folder, release, progress):
    # Labels in the GeoJSON come from the active language: English, always.
    with translation.override("en"):
        records = public_records()
        release.counts = {stem: len(rows) for stem, rows in records.items()}
        writers = [
            ("data.json", lambda path: write_data_json(path, records)),
            *[(f"{stem}.csv", csv_writer(stem, rows)) for stem, rows in records.items()],
            ("cities.geojson", lambda path: write_json(path, feature_collection(city_features_of()))),
            ("bases.geojson", lambda path: write_json(path, feature_collection(base_features_of()))),
        ]
        for filename, write in writers:
            path = folder / filename
            write(path)
            release.checksums[filename] = sha256(path)
            progress(f"Wrote {filename} ({path.stat().st_size} bytes)")
    write_text(folder / "README.md", readme(release))
    progress("Wrote README.md")
    checksums = {**release.checksums, "README.md": sha256(folder / "README.md")}
    write_text(folder / CHECKSUMS_FILE, sha256sums(checksums))
    progress(f"Wrote {CHECKSUMS_FILE}")


def city_features_of():
    return city_features(City.objects.public())


def base_features_of():
    return base_features(PlannedBase.objects.public())


def write_data_json(path, records):
    with path.open("w", encoding="utf-8") as stream:
        serializers.serialize(
            "json",
            [record for rows in records.values() for record in rows],
            stream=stream,
            indent=2,
            use_natural_foreign_keys=True,
            use_natural_primary_keys=True,
        )


def write_json(path, data):
    write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def write_text(path, text):
    path.write_text(text, encoding="utf-8")


def sha256(path):
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256sums(checksums):
    """The format `sha256sum -c` reads: digest, two spaces, file name."""
    return "".join(f"{digest}  {filename}\n" for filename, digest in checksums.items())


# ---------------------------------------------------------------------------
# CSV: one row per record, related records by slug
# ---------------------------------------------------------------------------


def slug_of(obj):
    return obj.slug if obj is not None else ""


def slugs(manager):
    return LIST_SEPARATOR.join(obj.slug for obj in manager.all())


def iso(value):
    return value.isoformat() if value is not None else ""


def entity_columns(*middle):
    return [("slug", lambda o: o.slug), ("name", lambda o: o.name), ("name_zh", lambda o: o.name_zh), *middle]


CSV_COLUMNS = {
    "provinces": entity_columns(
        ("reach", lambda o: o.reach), ("kind", lambda o: o.kind), ("description", lambda o: o.description)
    ),
    "cities": entity_columns(
        ("province", lambda o: o.province.slug),
        ("level", lambda o: o.level),
        ("parent", lambda o: slug_of(o.parent)),
        ("longitude", lambda o: o.location.x if o.location else ""),
        ("latitude", lambda o: o.location.y if o.location else ""),
        ("description", lambda o: o.description),
    ),
    "sectors": entity_columns(
        ("parent", lambda o: slug_of(o.parent)),
        ("intensity", lambda o: o.intensity),
        ("description", lambda o: o.description),
    ),
    "documents": entity_columns(
        ("kind", lambda o: o.kind),
        ("language", lambda o: o.language),
        ("issuer", lambda o: o.issuer),
        ("publisher", lambda o: o.publisher),
        ("authors", lambda o: o.authors),
        ("published_on", lambda o: iso(o.published_on)),
        ("published_on_precision", lambda o: o.published_on_precision),
        ("approved_on", lambda o: iso(o.approved_on)),
        ("approved_on_precision", lambda o: o.approved_on_precision),
        ("source_url", lambda o: o.source_url),
        ("citation", lambda o: o.citation),
        ("reports_on", lambda o: slug_of(o.reports_on)),
        ("sectors", lambda o: slugs(o.sectors)),
        ("cities", lambda o: slugs(o.cities)),
        ("summary", lambda o: o.summary),
        ("description", lambda o: o.description),
    ),
    "bases": entity_columns(
        ("kind", lambda o: o.kind),
        ("stage", lambda o: o.stage),
        ("reach", lambda o: o.reach),
        ("sectors", lambda o: slugs(o.sectors)),
        ("cities", lambda o: LIST_SEPARATOR.join(m.city.slug for m in o.memberships.all())),
        ("area_wkt", lambda o: o.area.wkt if o.area else ""),
        ("description", lambda o: o.description),
    ),
    "memberships": [
        ("base", lambda o: o.base.slug),
        ("city", lambda o: o.city.slug),
        ("role", lambda o: o.role),
        ("position", lambda o: o.position),
    ],
    "sources": [
        ("base", lambda o: o.base.slug),
        ("document", lambda o: o.document.slug),
        ("section", lambda o: o.section),
        ("note", lambda o: o.note),
    ],
}


def csv_writer(stem, rows):
    def write(path):
        columns = CSV_COLUMNS[stem]
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow([header for header, _ in columns])
            writer.writerows([spreadsheet_safe(value(row)) for _, value in columns] for row in rows)

    return write


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------

ENTITY_LABELS = {
    "provinces": "Provinces",
    "cities": "Cities",
    "sectors": "Sectors",
    "documents": "Policy documents (published)",
    "bases": "Planned bases (published)",
    "memberships": "Base memberships (of published bases)",
    "sources": "Base sources (published base in a published document)",
}


def readme(release):
    lines = [
        f"# Yangtze Clusters data release {release.name}",
        "",
        f"- Release: `{release.name}`",
        f"- Date: {release.date}",
        f"- Version: {release.version} (release number {release.version} of that day)",
        "",
        "The published records of the Yangtze Clusters knowledge base: which policy documents",
        "plan which industrial bases, in which cities of the Yangtze River Economic Belt, for",
        "which sectors. Drafts, and every link to a draft, are left out.",
        "",
        "## Counts",
        "",
        "| entity | records |",
        "|---|---:|",
        *[f"| {ENTITY_LABELS[stem]} | {count} |" for stem, count in release.counts.items()],
        "",
        "## Files",
        "",
        "- `data.json`: every record as Django natural-key JSON (records refer to each other by",
        "  slug); `python manage.py loaddata data.json` loads it into an empty database.",
        "- `provinces.csv` ... `sources.csv`: one file per entity, UTF-8, comma-separated, with a",
        f"  header row; related records are given by slug, several joined by `{LIST_SEPARATOR}`.",
        "  Text that a spreadsheet would run as a formula (beginning with `=`, `+`, `-`, `@`, a",
        "  tab or a carriage return, possibly after apostrophes) has one apostrophe added in",
        "  front: remove it to get the text as stored.",
        "- `cities.geojson`, `bases.geojson`: RFC 7946 FeatureCollections (WGS84 longitude,",
        "  latitude); a base is its area, or else the MultiPoint of its member cities.",
        "",
        "## Licence and citation",
        "",
        "Each record names the documents it comes from; those documents belong to their",
        "publishers, and the descriptions, summaries and notes here are the project's own words.",
        "When you use this data, cite the release and, for any fact, the document it comes from.",
        "",
        f"Cite as: Yangtze Clusters, data release {release.name} ({release.date}), "
        f"version {release.version}.",
        "",
        "## Checksums (SHA-256)",
        "",
        "| file | SHA-256 |",
        "|---|---|",
        *[f"| `{filename}` | `{digest}` |" for filename, digest in release.checksums.items()],
        "",
        f"To verify every file, README.md included: `sha256sum -c {CHECKSUMS_FILE}`.",
        "",
    ]
    return "\n".join(lines)
