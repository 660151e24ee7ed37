"""manage.py import_records: large files imported outside the web server,
all or nothing, with the rules and history of the admin's import."""

import re
from io import StringIO

import pytest
import tablib
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from clusters.management.commands import import_records
from clusters.models import City, PolicyDocument, PublicationStatus
from clusters.resources import ImportLimits

pytestmark = pytest.mark.django_db

CITY_HEADERS = ["slug", "name", "province", "level", "location"]


def city(number, **values):
    row = {
        "slug": f"town-{number}",
        "name": f"Town {number}",
        "province": "hubei",
        "level": "county",
        "location": f"POINT (114.{number} 30.5)",
    }
    return [{**row, **values}[header] for header in CITY_HEADERS]


def write(path, rows, headers=CITY_HEADERS, fmt="csv"):
    dataset = tablib.Dataset(*rows, headers=headers)
    content = dataset.export(fmt)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def run(*args):
    out = StringIO()
    call_command("import_records", *map(str, args), stdout=out)
    return out.getvalue()


@pytest.fixture
def editor(db):
    call_command("setup_groups", stdout=StringIO())
    user = User.objects.create_user("alice", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    return user


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_a_file_is_imported_as_the_user_with_progress(reference_data, editor, tmp_path, fmt):
    path = write(tmp_path / f"towns.{fmt}", [city(number) for number in range(5)], fmt=fmt)

    output = run("city", path, "--user", "alice", "--progress-every", "2")

    assert f"Importing 5 rows of towns.{fmt} as alice" in output
    assert [line.split(" (")[0] for line in output.splitlines() if line.startswith("Row ")] == [
        "Row 2 of 5",
        "Row 4 of 5",
        "Row 5 of 5",
    ]
    assert f"Imported towns.{fmt}: 5 new." in output
    assert City.objects.filter(slug__startswith="town-").count() == 5
    latest = City.history.filter(slug="town-3").latest("history_date")
    assert (latest.history_user, latest.history_change_reason) == (editor, f"Imported from towns.{fmt}")


def test_a_bad_row_stops_the_import_and_nothing_is_written(reference_data, editor, tmp_path):
    wuhan = City.objects.get(slug="wuhan")
    renamed = [wuhan.slug, "Renamed", "hubei", wuhan.level, "POINT (114.3 30.6)"]
    path = write(tmp_path / "towns.csv", [city(1), renamed, city(2, location="POINT (2.35 48.86)"), city(3)])
    before = City.history.count()

    with pytest.raises(CommandError) as error:
        run("city", path, "--user", "alice")

    assert str(error.value).startswith("Nothing was imported: row 3 failed: location: ")
    assert "outside the Yangtze River Economic Belt" in str(error.value)
    assert not City.objects.filter(slug__startswith="town-").exists()
    assert City.objects.get(slug="wuhan").name == "Wuhan"
    assert City.history.count() == before


def test_the_rules_of_the_admin_apply(reference_data, editor, tmp_path):
    headers = ["slug", "name", "kind", "language", "status"]
    path = write(tmp_path / "plans.csv", [["new-plan", "A plan", "plan", "zh", "published"]], headers)

    with pytest.raises(CommandError) as error:
        run("document", path, "--user", "alice")

    assert "row 1 failed: status: Only publishers can publish" in str(error.value)
    assert not PolicyDocument.objects.filter(slug="new-plan").exists()
    write(path, [["new-plan", "A plan", "plan", "zh", "draft"]], headers)
    run("document", path, "--user", "alice")
    assert PolicyDocument.objects.get(slug="new-plan").status == PublicationStatus.DRAFT


def test_a_file_beyond_the_limits_is_refused_before_it_is_imported(
    reference_data, editor, tmp_path, monkeypatch
):
    monkeypatch.setattr(
        import_records, "COMMAND_IMPORT_LIMITS", ImportLimits(rows=2, megabytes=1, unpacked_megabytes=1)
    )
    path = write(tmp_path / "towns.csv", [city(number) for number in range(3)])

    with pytest.raises(CommandError, match=re.escape("The file has 3 rows; an import takes at most 2.")):
        run("city", path, "--user", "alice")

    assert not City.objects.filter(slug__startswith="town-").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["city", "{path}", "--user", "nobody"], "There is no user 'nobody'."),
        (["city", "{dir}/towns.txt", "--user", "alice"], "Cannot tell the format of towns.txt"),
        (["city", "{dir}/missing.csv", "--user", "alice"], "Cannot read"),
        (["city", "{path}", "--user", "alice", "--format", "xlsx"], "Cannot read towns.csv as xlsx"),
    ],
    ids=["user", "format", "missing", "not-xlsx"],
)
def test_what_cannot_be_imported_is_said(reference_data, editor, tmp_path, args, message):
    path = write(tmp_path / "towns.csv", [city(1)])
    (tmp_path / "towns.txt").write_text("slug\n")
    args = [arg.format(path=path, dir=tmp_path) for arg in args]

    with pytest.raises(CommandError, match=re.escape(message)):
        run(*args)
