"""export_release: what a release holds, that drafts stay out, checksums,
versions, and that its data.json loads back."""

import csv
import hashlib
import json
import shutil
import subprocess
from collections import Counter
from io import StringIO

import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from django.utils import timezone

from clusters.models import (
    BaseMembership,
    BaseSource,
    City,
    PlannedBase,
    PolicyDocument,
    Province,
    PublicationStatus,
    Sector,
)
from tests import factories

pytestmark = pytest.mark.django_db

DATA_FILES = {
    "data.json",
    "provinces.csv",
    "cities.csv",
    "sectors.csv",
    "documents.csv",
    "bases.csv",
    "memberships.csv",
    "sources.csv",
    "cities.geojson",
    "bases.geojson",
}
# The shipped fixtures are all published, so these are their counts; the
# drafts added below must not change them.
PUBLISHED_COUNTS = {
    "provinces": 11,
    "cities": 15,
    "sectors": 35,
    "documents": 3,
    "bases": 16,
    "memberships": 43,
    "sources": 29,
}
MODEL_OF = {
    "provinces": Province,
    "cities": City,
    "sectors": Sector,
    "documents": PolicyDocument,
    "bases": PlannedBase,
    "memberships": BaseMembership,
    "sources": BaseSource,
}
# Every text the drafts below carry; none may appear in any file.
DRAFT_TEXTS = [
    "secret-draft-base",
    "Secret draft base",
    "secret-draft-document",
    "Secret draft document",
    "Secret draft citation",
    "Secret section",
    "Secret draft base section",
]
NEWS_ARTICLE = "china-daily-2019-middle-reaches-clusters"


@pytest.fixture
def drafts(reference_data):
    """A draft base and a draft document, each linked to published records."""
    published_base = PlannedBase.objects.get(slug="middle-reaches-steel-cluster")
    published_document = PolicyDocument.objects.get(slug="middle-yangtze-city-cluster-plan-2015")
    draft_document = factories.PolicyDocumentFactory(
        status=PublicationStatus.DRAFT,
        slug="secret-draft-document",
        name="Secret draft document",
        citation="Secret draft citation",
    )
    # A published base sourced in the draft document, and a published
    # document that reports on it.
    factories.BaseSourceFactory(base=published_base, document=draft_document, section="Secret section")
    PolicyDocument.objects.filter(slug=NEWS_ARTICLE).update(reports_on=draft_document)
    draft_base = factories.PlannedBaseFactory(
        status=PublicationStatus.DRAFT,
        slug="secret-draft-base",
        name="Secret draft base",
        source__document=published_document,
        source__section="Secret draft base section",
    )
    factories.BaseMembershipFactory(base=draft_base, city=City.objects.get(slug="wuhan"))
    draft_base.sectors.add(Sector.objects.get(slug="steel"))


def export(out_dir):
    """Run the command; (release folder, its output)."""
    out = StringIO()
    call_command("export_release", str(out_dir), stdout=out)
    output = out.getvalue()
    (folder,) = [line.rsplit(" written to ", 1)[1] for line in output.splitlines() if " written to " in line]
    return out_dir / folder.rsplit("/", 1)[1], output


@pytest.fixture
def release(drafts, tmp_path):
    return export(tmp_path)[0]


def read_csv(path):
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------
# Contents
# ---------------------------------------------------------------------------


def test_the_release_folder_is_named_by_date_and_version(release):
    assert release.name == f"yangtze-clusters-{timezone.localdate().isoformat()}-v1"


def test_every_file_is_written(release):
    assert {path.name for path in release.iterdir()} == DATA_FILES | {"README.md", "SHA256SUMS"}


def test_progress_is_printed_per_file_with_the_release_path(drafts, tmp_path):
    folder, output = export(tmp_path)

    for filename in DATA_FILES | {"README.md", "SHA256SUMS"}:
        assert f"Wrote {filename}" in output
    assert str(folder) in output


def test_data_json_holds_the_published_counts(release):
    models = Counter(record["model"] for record in read_json(release / "data.json"))

    assert models == {MODEL_OF[stem]._meta.label_lower: count for stem, count in PUBLISHED_COUNTS.items()}


@pytest.mark.parametrize("stem", list(PUBLISHED_COUNTS))
def test_each_csv_has_a_row_per_published_record(release, stem):
    assert len(read_csv(release / f"{stem}.csv")) == PUBLISHED_COUNTS[stem]


def test_counts_match_the_databases_published_data(release):
    bases, documents = PlannedBase.objects.public(), PolicyDocument.objects.public()
    in_database = {
        "provinces": Province.objects.count(),
        "cities": City.objects.count(),
        "sectors": Sector.objects.count(),
        "documents": documents.count(),
        "bases": bases.count(),
        "memberships": BaseMembership.objects.filter(base__in=bases).count(),
        "sources": BaseSource.objects.filter(base__in=bases, document__in=documents).count(),
    }

    assert in_database == PUBLISHED_COUNTS
    readme = (release / "README.md").read_text(encoding="utf-8")
    for count in in_database.values():
        assert f"| {count} |" in readme


def test_csv_files_refer_to_related_records_by_slug(release):
    cities = {row["slug"]: row for row in read_csv(release / "cities.csv")}
    bases = {row["slug"]: row for row in read_csv(release / "bases.csv")}
    memberships = read_csv(release / "memberships.csv")

    assert cities["ningxiang"]["parent"] == "changsha"
    assert cities["wuhan"]["province"] == "hubei"
    assert (
        bases["middle-reaches-rail-transit-equipment-bases"]["cities"] == "wuhan;xiangyang;zhuzhou;nanchang"
    )
    assert {"base": "central-china-home-appliance-base", "city": "ningxiang"}.items() <= next(
        row for row in memberships if row["city"] == "ningxiang"
    ).items()


def test_geojson_files_are_feature_collections_of_published_records(release):
    cities = read_json(release / "cities.geojson")
    bases = read_json(release / "bases.geojson")

    assert cities["type"] == bases["type"] == "FeatureCollection"
    assert len(cities["features"]) == PUBLISHED_COUNTS["cities"]
    base_slugs = {feature["properties"]["slug"] for feature in bases["features"]}
    assert base_slugs <= set(PlannedBase.objects.public().values_list("slug", flat=True))
    assert "middle-reaches-shipbuilding-supporting-system" in base_slugs
    wuhan = next(f for f in cities["features"] if f["properties"]["slug"] == "wuhan")
    assert wuhan["geometry"]["coordinates"] == pytest.approx([114.31, 30.59])


def test_readme_names_the_release_and_says_how_to_cite_it(release):
    readme = (release / "README.md").read_text(encoding="utf-8")

    assert release.name in readme
    assert f"Date: {timezone.localdate().isoformat()}" in readme
    assert "Version: 1" in readme
    assert f"Cite as: Yangtze Clusters, data release {release.name}" in readme


def test_csv_cells_a_spreadsheet_would_run_are_escaped(reference_data, tmp_path):
    """Text keeps one apostrophe in front; numbers stay numbers, negative ones too."""
    factories.ProvinceFactory(slug="formula", name='=HYPERLINK("https://example.com", "x")', description="@x")
    factories.CityFactory(slug="far-west", name="-1", location=Point(-0.5, 30, srid=4326))

    release = export(tmp_path)[0]

    provinces = {row["slug"]: row for row in read_csv(release / "provinces.csv")}
    assert provinces["formula"]["name"] == '\'=HYPERLINK("https://example.com", "x")'
    assert provinces["formula"]["description"] == "'@x"
    cities = {row["slug"]: row for row in read_csv(release / "cities.csv")}
    assert (cities["far-west"]["name"], cities["far-west"]["longitude"]) == ("'-1", "-0.5")
    assert "has one apostrophe added" in (release / "README.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# Drafts stay out
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("filename", sorted(DATA_FILES | {"README.md"}))
def test_no_draft_appears_in_any_file(release, filename):
    text = (release / filename).read_text(encoding="utf-8")

    assert [draft for draft in DRAFT_TEXTS if draft in text] == []


def test_a_link_to_a_draft_document_is_cut(release):
    records = read_json(release / "data.json")
    article = next(r for r in records if r["fields"].get("slug") == NEWS_ARTICLE)
    documents = {row["slug"]: row for row in read_csv(release / "documents.csv")}

    assert article["fields"]["reports_on"] is None
    assert documents[NEWS_ARTICLE]["reports_on"] == ""
    # Only in the release: the database keeps the link.
    assert PolicyDocument.objects.get(slug=NEWS_ARTICLE).reports_on.slug == "secret-draft-document"


# ---------------------------------------------------------------------------
# Checksums and versions
# ---------------------------------------------------------------------------


def checksums(release):
    lines = (release / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return dict(reversed(line.split("  ", 1)) for line in lines)


def test_checksums_cover_every_file_and_verify(release):
    sums = checksums(release)

    assert set(sums) == DATA_FILES | {"README.md"}
    for filename, digest in sums.items():
        assert hashlib.sha256((release / filename).read_bytes()).hexdigest() == digest, filename
    readme = (release / "README.md").read_text(encoding="utf-8")
    for filename in DATA_FILES:
        assert f"| `{filename}` | `{sums[filename]}` |" in readme


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils' sha256sum")
def test_sha256sum_check_accepts_the_checksums_file(release):
    result = subprocess.run(
        ["sha256sum", "--check", "--strict", "SHA256SUMS"],
        cwd=release,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_second_run_the_same_day_makes_version_2_and_keeps_version_1(drafts, tmp_path):
    first, _ = export(tmp_path)
    first_sums = checksums(first)

    second, _ = export(tmp_path)

    assert first.name.endswith("-v1")
    assert second.name == first.name.replace("-v1", "-v2")
    assert "Version: 2" in (second / "README.md").read_text(encoding="utf-8")
    assert checksums(first) == first_sums
    assert hashlib.sha256((first / "data.json").read_bytes()).hexdigest() == first_sums["data.json"]


def test_a_missing_earlier_version_is_not_reused(drafts, tmp_path):
    today = timezone.localdate().isoformat()
    kept = tmp_path / f"yangtze-clusters-{today}-v2"
    kept.mkdir()
    (kept / "data.json").write_text("kept")

    folder, _ = export(tmp_path)

    assert folder.name == f"yangtze-clusters-{today}-v3"
    assert (kept / "data.json").read_text() == "kept"


def test_releases_of_other_days_do_not_count(drafts, tmp_path):
    (tmp_path / "yangtze-clusters-2001-01-01-v1").mkdir()

    folder, _ = export(tmp_path)

    assert folder.name.endswith("-v1")


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_an_out_dir_that_is_a_file_is_refused_with_the_reason(reference_data, tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("")

    for out_dir in (not_a_folder, not_a_folder / "releases"):
        with pytest.raises(CommandError, match=r"Cannot write a release into .*file\.txt"):
            call_command("export_release", str(out_dir), stdout=StringIO())
    assert not_a_folder.read_text() == ""


def test_a_missing_out_dir_is_created(reference_data, tmp_path):
    folder, _ = export(tmp_path / "releases" / "2026")

    assert (folder / "data.json").exists()


# ---------------------------------------------------------------------------
# Loading a release back
# ---------------------------------------------------------------------------


def test_data_json_loads_into_an_empty_database_with_the_same_counts(release, request):
    request.getfixturevalue("empty_database")
    assert not any(model.objects.exists() for model in MODEL_OF.values())

    call_command("loaddata", str(release / "data.json"), verbosity=0)

    assert {stem: model.objects.count() for stem, model in MODEL_OF.items()} == PUBLISHED_COUNTS
    assert not PlannedBase.objects.exclude(status=PublicationStatus.PUBLISHED).exists()
    assert not PolicyDocument.objects.exclude(status=PublicationStatus.PUBLISHED).exists()
    assert City.objects.get(slug="ningxiang").parent.slug == "changsha"
