"""Import and export of every domain model: from the admin's changelists
(upload, preview, confirm) and through the resources directly."""

import csv
import json
import zipfile
from http import HTTPStatus
from io import BytesIO, StringIO

import openpyxl
import pytest
import tablib
from django.contrib.auth.models import Group, Permission, User
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clusters import resources
from clusters.models import (
    BASE_NEEDS_A_SOURCE,
    BaseMembership,
    BaseSource,
    City,
    PlannedBase,
    PolicyDocument,
    Province,
    PublicationStatus,
    Sector,
)
from clusters.resources import (
    RESOURCES,
    SERVER_MANAGED_FIELDS,
    CityResource,
    PlannedBaseResource,
    PolicyDocumentResource,
    ProvinceResource,
    geometry_wkt,
)
from tests import factories

pytestmark = pytest.mark.django_db

# In the order they depend on each other, as the fixtures load them.
MODELS = [Province, City, Sector, PolicyDocument, PlannedBase, BaseMembership, BaseSource]
FORMATS = {format_class().get_extension(): format_class for format_class in resources.FORMATS}


def model_id(model):
    return model.__name__


def format_index(name):
    return str(resources.FORMATS.index(FORMATS[name]))


def admin_url(model, view):
    return reverse(f"admin:clusters_{model._meta.model_name}_{view}")


def history_counts():
    return {model.__name__: model.history.count() for model in MODELS}


def export(model, fmt, queryset=None):
    """The file the resource exports, as bytes or text."""
    dataset = RESOURCES[model]().export(queryset)
    return FORMATS[fmt]().export_data(dataset)


def read(content, fmt):
    file_format = FORMATS[fmt]()
    if not file_format.is_binary() and isinstance(content, bytes):
        content = content.decode("utf-8-sig")
    return file_format.create_dataset(content)


def import_file(model, content, fmt, *, dry_run=False, user=None):
    return RESOURCES[model]().import_data(
        read(content, fmt), dry_run=dry_run, user=user, file_name=f"test.{fmt}"
    )


def csv_file(model, rows):
    """A CSV with the resource's columns; rows are dicts of the values given."""
    headers = RESOURCES[model]().get_export_headers()
    dataset = tablib.Dataset(headers=headers)
    for row in rows:
        dataset.append([row.get(header, "") for header in headers])
    return dataset.export("csv")


def exported_row(model, obj):
    dataset = RESOURCES[model]().export(model.objects.filter(pk=obj.pk))
    return dataset.dict[0]


def upload(client, model, content, fmt, name=None):
    """The import page after uploading a file: the preview (dry run)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    if isinstance(content, str):
        content = content.encode("utf-8")
    upload = SimpleUploadedFile(name or f"import.{fmt}", content)
    return client.post(
        admin_url(model, "import"),
        {"resource": "0", "format": format_index(fmt), "import_file": upload},
    )


def confirm(client, model, preview):
    form = preview.context["confirm_form"]
    data = {name: form.initial.get(name, field.initial) for name, field in form.fields.items()}
    return client.post(admin_url(model, "process_import"), data)


def row_types(result):
    return [row.import_type for row in result.rows]


@pytest.fixture
def groups(db):
    call_command("setup_groups", stdout=StringIO())


def member_of(group_name, username):
    user = User.objects.create_user(username, is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return user


@pytest.fixture
def editor(groups):
    """Adds, changes and views every model, but may not publish."""
    return member_of("Editors", "editor")


@pytest.fixture
def publisher(groups):
    return member_of("Publishers", "publisher")


# ---------------------------------------------------------------------------
# What the files hold
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_every_editable_field_is_imported_and_exported(model):
    expected = {
        field.name
        for field in model._meta.get_fields()
        if (field.concrete or field.many_to_many)
        and not field.auto_created
        and field.name not in SERVER_MANAGED_FIELDS
        and not (field.many_to_many and not field.remote_field.through._meta.auto_created)
    }
    if model is PlannedBase:
        # Its documents, through BaseSource: a base needs one to be saved.
        expected.add("sources")
    resource = RESOURCES[model]()
    assert set(resource.fields) == expected
    assert not set(resource.fields) & set(SERVER_MANAGED_FIELDS)


def test_a_city_is_exported_with_slugs_and_wkt(reference_data):
    row = exported_row(City, City.objects.get(slug="ningxiang"))
    assert row["province"] == "hunan"
    assert row["parent"] == "changsha"
    assert row["location"] == "POINT (112.55 28.28)"


def test_relations_are_exported_as_sorted_slugs(reference_data):
    document = PolicyDocument.objects.get(slug="china-daily-2019-middle-reaches-clusters")
    row = exported_row(PolicyDocument, document)
    assert row["reports_on"] == "middle-yangtze-city-cluster-plan-2015"
    sectors = row["sectors"].split(",")
    assert sectors == sorted(document.sectors.values_list("slug", flat=True))
    membership = BaseMembership.objects.select_related("base", "city").first()
    row = exported_row(BaseMembership, membership)
    assert (row["base"], row["city"]) == (membership.base.slug, membership.city.slug)


def test_parents_are_exported_above_their_children(reference_data):
    for model in (City, Sector, PolicyDocument):
        dataset = RESOURCES[model]().export()
        seen = set()
        reference = "reports_on" if model is PolicyDocument else "parent"
        for row in dataset.dict:
            assert row[reference] in seen | {""}, (model, row["slug"])
            seen.add(row["slug"])


def test_wkt_keeps_every_digit():
    assert geometry_wkt(Point(114.31, 30.59)) == "POINT (114.31 30.59)"
    assert geometry_wkt(Point(112, 0.1 + 0.2)) == "POINT (112 0.30000000000000004)"
    assert Point(112, 0.1 + 0.2).wkt == "POINT (112 0.3)"  # what GEOS would write
    polygon = Polygon.from_bbox((112, 29, 113.5, 30))
    assert geometry_wkt(polygon) == "POLYGON ((112 29, 112 30, 113.5 30, 113.5 29, 112 29))"
    assert (
        geometry_wkt(MultiPolygon(polygon)) == "MULTIPOLYGON (((112 29, 112 30, 113.5 30, 113.5 29, 112 29)))"
    )


def test_awkward_coordinates_survive_a_round_trip(empty_database):
    x, y = 110 + 1 / 3, 30.1 + 0.2 + 1e-13
    base = factories.PlannedBaseFactory(area=MultiPolygon(Polygon.from_bbox((x, y, x + 1, y + 1)), srid=4326))
    city = factories.CityFactory(location=Point(x, y, srid=4326))
    assert exported_row(City, city)["location"] == f"POINT ({x!r} {y!r})"
    assert exported_row(PlannedBase, base)["area"].startswith(f"MULTIPOLYGON ((({x!r} {y!r}, ")
    before = history_counts()
    for model in (PlannedBase, City):
        for fmt in FORMATS:
            result = import_file(model, export(model, fmt), fmt)
            assert set(row_types(result)) == {"skip"}, (model, fmt)
    assert history_counts() == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_that_looks_like_a_formula_stays_text(fmt, empty_database):
    province = factories.ProvinceFactory(
        name='=HYPERLINK("https://example.com", "Hubei")', description="=1+1"
    )
    content = export(Province, fmt)
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(BytesIO(content)).active
        assert {cell.data_type for row in sheet.iter_rows() for cell in row} <= {"s", "n"}
    result = import_file(Province, content, fmt)
    assert row_types(result) == ["skip"]
    assert exported_row(Province, province)["description"] == "=1+1"


FORMULA_LIKE_TEXT = [
    '=HYPERLINK("https://example.com", "Hubei")',
    "+1",
    "-1",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "'=1",
    "''@x",
    "'plain",
    "plain",
]


def test_the_admin_csv_export_writes_no_formula_and_reads_back_the_text(admin_client, empty_database):
    provinces = [
        factories.ProvinceFactory(name=f"Province {number}", description=text)
        for number, text in enumerate(FORMULA_LIKE_TEXT)
    ]
    fields = {f"provinceresource_{name}": "on" for name in ProvinceResource().get_export_order()}
    response = admin_client.post(
        admin_url(Province, "export"), {"format": format_index("csv"), "resource": "0", **fields}
    )
    rows = list(csv.DictReader(StringIO(response.content.decode("utf-8-sig"))))

    assert {row["description"] for row in rows} == {
        text if text in ("'plain", "plain") else "'" + text for text in FORMULA_LIKE_TEXT
    }
    for row in rows:
        assert not row["description"].startswith(("=", "+", "-", "@", "\t", "\r"))
    result = import_file(Province, response.content, "csv")
    assert set(row_types(result)) == {"skip"}
    for province in provinces:
        assert exported_row(Province, province)["description"] == province.description


def test_export_queries_do_not_grow_with_rows(empty_database, django_assert_max_num_queries):
    sectors = factories.SectorFactory.create_batch(3)
    for _ in range(20):
        document = factories.PolicyDocumentFactory()
        document.sectors.set(sectors)
        document.cities.set([factories.CityFactory()])
        factories.BaseMembershipFactory()
    for model in (PolicyDocument, City, BaseMembership, PlannedBase):
        with django_assert_max_num_queries(6):
            assert len(RESOURCES[model]().export()) >= 20


# ---------------------------------------------------------------------------
# Export from the admin
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_changelist_links_to_import_and_export(admin_client, model, reference_data):
    page = admin_client.get(admin_url(model, "changelist")).content.decode()
    assert admin_url(model, "import") in page
    assert admin_url(model, "export") in page


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_import_and_export_pages_open(admin_client, model):
    for view in ("import", "export"):
        response = admin_client.get(admin_url(model, view))
        assert response.status_code == HTTPStatus.OK
        assert "xlsx" in response.content.decode()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_admin_exports_every_row(admin_client, model, fmt, reference_data):
    resource = RESOURCES[model]
    fields = {f"{resource.__name__.lower()}_{name}": "on" for name in resource().get_export_order()}
    response = admin_client.post(
        admin_url(model, "export"), {"format": format_index(fmt), "resource": "0", **fields}
    )
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == FORMATS[fmt].CONTENT_TYPE
    assert f".{fmt}" in response["Content-Disposition"]
    dataset = read(response.content, fmt)
    assert len(dataset) == model.objects.count() > 0
    assert dataset.headers == resource().get_export_headers()


def test_exporting_needs_the_view_permission(client, reference_data):
    user = User.objects.create_user("nobody", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_province"))
    client.force_login(user)
    assert client.get(admin_url(Province, "export")).status_code == HTTPStatus.OK
    assert client.get(admin_url(City, "export")).status_code == HTTPStatus.FORBIDDEN
    # Viewing is not enough to import.
    assert client.get(admin_url(Province, "import")).status_code == HTTPStatus.FORBIDDEN


# ---------------------------------------------------------------------------
# Import through the admin: upload, preview, confirm
# ---------------------------------------------------------------------------


def test_import_is_previewed_and_written_only_when_confirmed(admin_client, admin_user, reference_data):
    wuhan = City.objects.get(slug="wuhan")
    changed = {**exported_row(City, wuhan), "name": "Wuhan (renamed)"}
    unchanged = exported_row(City, City.objects.get(slug="changsha"))
    new = {
        "slug": "xianning",
        "name": "Xianning",
        "name_zh": "咸宁",
        "province": "hubei",
        "level": "prefecture",
        "location": "POINT (114.32 29.84)",
    }
    content = csv_file(City, [changed, unchanged, new])
    before = history_counts()

    preview = upload(admin_client, City, content, "csv")

    assert preview.status_code == HTTPStatus.OK
    assert preview.context["confirm_form"] is not None
    result = preview.context["result"]
    assert row_types(result) == ["update", "skip", "new"]
    page = preview.content.decode()
    for label in ("Update", "Skipped", "New", "(renamed)", "Xianning"):
        assert label in page
    # Nothing written by the preview.
    assert not City.objects.filter(slug="xianning").exists()
    assert City.objects.get(slug="wuhan").name == "Wuhan"
    assert history_counts() == before

    response = confirm(admin_client, City, preview)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == admin_url(City, "changelist")
    xianning = City.objects.get(slug="xianning")
    assert xianning.province.slug == "hubei"
    assert xianning.location.coords == (114.32, 29.84)
    assert City.objects.get(slug="wuhan").name == "Wuhan (renamed)"
    assert history_counts() == {**before, "City": before["City"] + 2}
    latest = City.history.filter(slug="wuhan").latest("history_date")
    assert latest.history_user == admin_user
    assert latest.history_change_reason == "Imported from import.csv"
    messages = [str(message) for message in response.wsgi_request._messages]
    assert any("1 new, 1 updated, 0 deleted and 1 skipped" in message for message in messages)


def test_a_preview_writes_no_history_rows_and_the_confirmation_does(admin_client, reference_data):
    # A preview is rolled back whole; writing its history rows was a third of
    # a large file's preview time (scripts/import_bench.py).
    new_city = {"slug": "xianning", "name": "Xianning", "province": "hubei", "level": "prefecture"}
    content = csv_file(City, [new_city])
    history_table = City.history.model._meta.db_table

    with CaptureQueriesContext(connection) as preview_queries:
        preview = upload(admin_client, City, content, "csv")
    with CaptureQueriesContext(connection) as confirm_queries:
        confirm(admin_client, City, preview)

    def history_inserts(queries):
        return [q["sql"] for q in queries if q["sql"].startswith("INSERT") and history_table in q["sql"]]

    assert row_types(preview.context["result"]) == ["new"]
    assert history_inserts(preview_queries.captured_queries) == []
    assert len(history_inserts(confirm_queries.captured_queries)) == 1
    assert City.history.filter(slug="xianning").get().history_change_reason == "Imported from import.csv"


def test_a_row_that_fails_on_confirmation_writes_nothing(client, editor, reference_data):
    """Someone publishes a draft between an editor's preview and confirmation:
    the editor's row would now unpublish it, so nothing is imported."""
    draft = factories.PolicyDocumentFactory(status=PublicationStatus.DRAFT)
    content = csv_file(
        PolicyDocument, [document_row(), {**exported_row(PolicyDocument, draft), "summary": "Edited."}]
    )
    client.force_login(editor)
    preview = upload(client, PolicyDocument, content, "csv")
    assert row_types(preview.context["result"]) == ["new", "update"]
    draft.status = PublicationStatus.PUBLISHED
    draft.save()
    before = history_counts()

    response = confirm(client, PolicyDocument, preview)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == admin_url(PolicyDocument, "import")
    messages = [str(message) for message in response.wsgi_request._messages]
    assert any(message.startswith("Nothing was imported: row(s) 2 failed") for message in messages)
    assert not PolicyDocument.objects.filter(slug="new-plan").exists()
    draft.refresh_from_db()
    assert (draft.status, draft.summary) == (PublicationStatus.PUBLISHED, "")
    assert history_counts() == before


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ({"location": "POINT (2.35 48.86)"}, "location", "outside the Yangtze River Economic Belt"),
        ({"location": "POINT (114 30"}, "location", "This WKT is not a valid geometry"),
        ({"location": "SRID=3857;POINT (1 1)"}, "location", "Only WGS84"),
        ({"location": "POINT (30.59 114.31)"}, "location", "Coordinates out of range"),
        ({"location": "LINESTRING (114 30, 115 31)"}, "location", "Give a POINT"),
        ({"slug": "Bad slug!"}, "slug", "Enter a valid"),
        ({"province": "atlantis"}, "province", "There is no province with the slug &#x27;atlantis&#x27;"),
        ({"level": "village"}, "level", "is not a valid choice"),
        ({"name": ""}, "name", "This field cannot be blank"),
    ],
    ids=[
        "outside-belt",
        "bad-wkt",
        "other-crs",
        "swapped",
        "not-a-point",
        "slug",
        "province",
        "choice",
        "name",
    ],
)
def test_a_file_with_one_bad_row_writes_nothing(admin_client, reference_data, row, column, reason):
    good = {"slug": "xianning", "name": "Xianning", "province": "hubei", "level": "prefecture"}
    bad = {"slug": "xiaogan", "name": "Xiaogan", "province": "hubei", "level": "prefecture", **row}
    renamed = {**exported_row(City, City.objects.get(slug="wuhan")), "name": "Renamed"}
    content = csv_file(City, [good, renamed, bad])
    before = history_counts()

    preview = upload(admin_client, City, content, "csv")

    assert preview.status_code == HTTPStatus.OK
    assert preview.context.get("confirm_form") is None
    result = preview.context["result"]
    assert [invalid.number for invalid in result.invalid_rows] == [3]
    assert column in result.invalid_rows[0].field_specific_errors
    page = preview.content.decode()
    assert "Some rows failed to validate" in page
    assert reason in page
    assert City.objects.filter(slug__in=["xianning", "xiaogan"]).count() == 0
    assert City.objects.get(slug="wuhan").name == "Wuhan"
    assert history_counts() == before


def test_each_bad_row_is_listed_with_its_reasons(admin_client, reference_data):
    content = csv_file(
        Sector,
        [
            {"slug": "ok", "name": "Fine"},
            {"slug": "no-parent", "name": "Orphan", "parent": "nowhere"},
            {"slug": "bad slug", "name": "", "intensity": "huge"},
        ],
    )
    result = upload(admin_client, Sector, content, "csv").context["result"]
    errors = {row.number: row.field_specific_errors for row in result.invalid_rows}
    assert set(errors) == {2, 3}
    assert "parent" in errors[2]
    assert set(errors[3]) == {"slug", "name", "intensity"}


def test_an_unknown_base_in_a_membership_is_a_row_error(admin_client, reference_data):
    content = csv_file(BaseMembership, [{"base": "no-such-base", "city": "wuhan", "role": "member"}])
    result = upload(admin_client, BaseMembership, content, "csv").context["result"]
    assert not result.has_errors()
    assert [row.number for row in result.invalid_rows] == [1]
    assert "base" in result.invalid_rows[0].field_specific_errors


def test_an_unknown_sector_slug_is_a_row_error_not_silently_dropped(admin_client, reference_data):
    document = PolicyDocument.objects.get(slug="li-2020-advanced-manufacturing-clusters")
    row = {**exported_row(PolicyDocument, document), "sectors": "steel,unobtainium"}
    result = upload(admin_client, PolicyDocument, csv_file(PolicyDocument, [row]), "csv").context["result"]
    assert [row.number for row in result.invalid_rows] == [1]
    assert "unobtainium" in str(result.invalid_rows[0].field_specific_errors["sectors"])


# ---------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------


def refusal(preview):
    """The import form's error for the file, after checking nothing was imported."""
    assert preview.status_code == HTTPStatus.OK
    assert preview.context.get("result") is None
    assert preview.context.get("confirm_form") is None
    return " ".join(preview.context["form"].errors["import_file"])


def test_the_import_page_states_the_limits(admin_client):
    page = admin_client.get(admin_url(City, "import")).content.decode()
    assert "At most 5,000 rows and 10 MB a file (an XLSX file at most 50 MB once unpacked)." in page


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_with_too_many_rows_is_refused_before_any_row_is_imported(admin_client, fmt, reference_data):
    rows = [
        {"slug": f"town-{number}", "name": "Town", "province": "hubei", "level": "county"}
        for number in range(5001)
    ]
    dataset = tablib.Dataset(headers=list(rows[0]))
    for row in rows:
        dataset.append(list(row.values()))
    content = FORMATS[fmt]().export_data(dataset)

    message = refusal(upload(admin_client, City, content, fmt))

    assert message.startswith("The file has 5,001 rows; an import takes at most 5,000.")
    assert "import_records" in message
    assert not City.objects.filter(slug="town-1").exists()


def test_a_file_too_large_is_refused_before_it_is_read(admin_client, reference_data):
    content = "slug,name\n" + "x" * (10 * 1024 * 1024)

    message = refusal(upload(admin_client, Province, content, "csv"))

    assert message.startswith("The file is 10.0 MB; an import takes at most 10 MB.")


def test_an_xlsx_file_that_unpacks_too_large_is_refused_before_it_is_unpacked(admin_client, reference_data):
    """A zip bomb: a few hundred kilobytes that unpack to 60 MB."""
    content = export(Province, "xlsx")
    archive = BytesIO()
    with (
        zipfile.ZipFile(BytesIO(content)) as original,
        zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for member in original.infolist():
            bomb.writestr(member, original.read(member))
        bomb.writestr("xl/padding.bin", bytes(60 * 1024 * 1024))
    assert len(archive.getvalue()) < 1024 * 1024

    message = refusal(upload(admin_client, Province, archive.getvalue(), "xlsx"))

    assert message.startswith("The XLSX file unpacks to 60 MB; an import takes at most 50 MB unpacked.")


def test_a_slug_twice_in_one_file_is_a_row_error(reference_data):
    rows = [
        {"slug": "new-province", "name": "New", "reach": "middle", "kind": "province"},
        {"slug": "hubei", "name": "Hubei", "reach": "middle", "kind": "province"},
        {"slug": "new-province", "name": "Again", "reach": "middle", "kind": "province"},
    ]
    result = import_file(Province, csv_file(Province, rows), "csv")
    assert [row.number for row in result.invalid_rows] == [3]
    assert "already exists" in str(result.invalid_rows[0].field_specific_errors["slug"])
    assert not Province.objects.filter(slug="new-province").exists()


def test_a_large_preview_shows_its_first_rows_and_says_so(admin_client, reference_data):
    rows = [
        {"slug": f"new-{number}", "name": f"New {number}", "reach": "middle", "kind": "province"}
        for number in range(resources.PREVIEW_ROWS + 20)
    ]

    preview = upload(admin_client, Province, csv_file(Province, rows), "csv")

    assert preview.context["confirm_form"] is not None
    page = preview.content.decode()
    assert f"The first 100 of {resources.PREVIEW_ROWS + 20} rows are shown" in page
    assert "New 99<" in page and "New 100<" not in page
    confirm(admin_client, Province, preview)
    assert Province.objects.filter(slug__startswith="new-").count() == resources.PREVIEW_ROWS + 20


def test_a_file_without_the_slug_column_is_refused(admin_client, reference_data):
    preview = upload(admin_client, Province, "name\nSomewhere\n", "csv")
    assert preview.context.get("confirm_form") is None
    assert preview.context["result"].has_errors()
    assert Province.objects.filter(name="Somewhere").count() == 0


# ---------------------------------------------------------------------------
# Export then import: nothing changes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_export_then_import_changes_nothing(model, fmt, reference_data, admin_user):
    before = history_counts()
    versions = list(model.objects.order_by("pk").values_list("pk", "updated_at"))

    result = import_file(model, export(model, fmt), fmt, user=admin_user)

    assert not result.has_errors() and not result.has_validation_errors()
    assert len(result.rows) == model.objects.count() > 0
    assert set(row_types(result)) == {"skip"}
    assert result.totals["skip"] == model.objects.count()
    assert history_counts() == before
    assert list(model.objects.order_by("pk").values_list("pk", "updated_at")) == versions


def test_export_then_import_through_the_admin_changes_nothing(admin_client, reference_data):
    before = history_counts()
    for model in MODELS:
        preview = upload(admin_client, model, export(model, "xlsx"), "xlsx")
        assert set(row_types(preview.context["result"])) == {"skip"}, model
        response = confirm(admin_client, model, preview)
        assert response.status_code == HTTPStatus.FOUND
    assert history_counts() == before


# ---------------------------------------------------------------------------
# Writes leave history
# ---------------------------------------------------------------------------

CHANGES = {
    Province: ("name", "Renamed"),
    City: ("name", "Renamed"),
    Sector: ("name", "Renamed"),
    PolicyDocument: ("name", "Renamed"),
    PlannedBase: ("name", "Renamed"),
    BaseMembership: ("position", "99"),
    BaseSource: ("note", "A new note."),
}


@pytest.mark.parametrize("model", MODELS, ids=model_id)
def test_an_imported_change_leaves_one_history_row(model, reference_data, admin_user):
    obj = model.objects.order_by("pk").first()
    column, value = CHANGES[model]
    row = {**exported_row(model, obj), column: value}
    before = history_counts()

    result = import_file(model, csv_file(model, [row]), "csv", user=admin_user)

    assert row_types(result) == ["update"]
    assert history_counts() == {**before, model.__name__: before[model.__name__] + 1}
    latest = model.history.filter(id=obj.pk).latest("history_date")
    assert str(getattr(latest, column)) == value
    assert latest.history_user == admin_user
    assert latest.history_change_reason == "Imported from test.csv"
    # The history row holds the record as imported: the one change, nothing else.
    assert RESOURCES[model]().export([latest.instance]).dict[0] == row


def test_changing_sectors_by_import_records_the_new_sectors(reference_data, admin_user):
    document = PolicyDocument.objects.get(slug="li-2020-advanced-manufacturing-clusters")
    row = {**exported_row(PolicyDocument, document), "sectors": "steel, copper"}

    import_file(PolicyDocument, csv_file(PolicyDocument, [row]), "csv", user=admin_user)

    assert sorted(document.sectors.values_list("slug", flat=True)) == ["copper", "steel"]
    latest = PolicyDocument.history.filter(id=document.pk).latest("history_date", "history_id")
    assert sorted(sector.sector.slug for sector in latest.sectors.all()) == ["copper", "steel"]
    # And importing the same file again is a no-op.
    before = history_counts()
    result = import_file(PolicyDocument, export(PolicyDocument, "json"), "json", user=admin_user)
    assert set(row_types(result)) == {"skip"}
    assert history_counts() == before


# ---------------------------------------------------------------------------
# Publishing
# ---------------------------------------------------------------------------


def document_row(**values):
    return {
        "slug": "new-plan",
        "name": "A new plan",
        "kind": "plan",
        "language": "zh",
        "status": "draft",
        **values,
    }


def test_an_editor_cannot_import_a_published_record(client, editor, reference_data):
    client.force_login(editor)
    content = csv_file(PolicyDocument, [document_row(status="published")])

    preview = upload(client, PolicyDocument, content, "csv")

    assert preview.context.get("confirm_form") is None
    errors = preview.context["result"].invalid_rows[0].field_specific_errors
    assert errors["status"] == ["Only publishers can publish: import it as a draft."]
    assert "Only publishers can publish" in preview.content.decode()
    assert not PolicyDocument.objects.filter(slug="new-plan").exists()


@pytest.mark.parametrize(
    ("before", "after"),
    [(PublicationStatus.DRAFT, "published"), (PublicationStatus.PUBLISHED, "draft")],
    ids=["publish", "unpublish"],
)
def test_an_editor_cannot_change_the_status_by_import(editor, reference_data, before, after):
    base = factories.PlannedBaseFactory(status=before)
    row = {**exported_row(PlannedBase, base), "status": after}

    result = import_file(PlannedBase, csv_file(PlannedBase, [row]), "csv", user=editor)

    errors = result.invalid_rows[0].field_specific_errors
    assert errors["status"][0].startswith("Only publishers can publish")
    base.refresh_from_db()
    assert base.status == before


def test_an_editor_may_import_drafts_and_edit_published_records(client, editor, reference_data):
    client.force_login(editor)
    published = PolicyDocument.objects.get(slug="li-2020-advanced-manufacturing-clusters")
    content = csv_file(
        PolicyDocument,
        [document_row(), {**exported_row(PolicyDocument, published), "summary": "Edited."}],
    )

    preview = upload(client, PolicyDocument, content, "csv")
    assert row_types(preview.context["result"]) == ["new", "update"]
    confirm(client, PolicyDocument, preview)

    assert PolicyDocument.objects.get(slug="new-plan").status == PublicationStatus.DRAFT
    published.refresh_from_db()
    assert (published.summary, published.status) == ("Edited.", PublicationStatus.PUBLISHED)
    assert published.history.latest("history_date").history_user == editor


def test_a_publisher_may_publish_by_import(client, publisher, reference_data):
    client.force_login(publisher)
    content = csv_file(PolicyDocument, [document_row(status="published")])

    confirm(client, PolicyDocument, upload(client, PolicyDocument, content, "csv"))

    document = PolicyDocument.objects.get(slug="new-plan")
    assert document.status == PublicationStatus.PUBLISHED
    assert document.published_at is not None


def test_adding_by_import_needs_the_add_permission(reference_data):
    user = User.objects.create_user("changer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="change_policydocument"))
    published = PolicyDocument.objects.get(slug="li-2020-advanced-manufacturing-clusters")
    rows = [document_row(), {**exported_row(PolicyDocument, published), "summary": "Edited."}]

    result = import_file(PolicyDocument, csv_file(PolicyDocument, rows), "csv", user=user)

    assert [row.number for row in result.invalid_rows] == [1]
    assert result.invalid_rows[0].non_field_specific_errors == ["You may not add policy documents."]
    assert not PolicyDocument.objects.filter(slug="new-plan").exists()
    published.refresh_from_db()
    assert published.summary != "Edited."


# ---------------------------------------------------------------------------
# The rules the admin and the API keep
# ---------------------------------------------------------------------------


def base_row(**values):
    return {"slug": "new-base", "name": "A new base", "kind": "base", "stage": "planned", **values}


@pytest.mark.parametrize("sources", [None, "", "  \n "], ids=["no-column", "empty", "blank-lines"])
def test_a_base_without_a_source_is_not_imported(client, editor, reference_data, sources):
    client.force_login(editor)
    row = base_row() if sources is None else base_row(sources=sources)
    dataset = tablib.Dataset(headers=list(row))
    dataset.append(list(row.values()))

    preview = upload(client, PlannedBase, dataset.export("csv"), "csv")

    assert preview.context.get("confirm_form") is None
    errors = preview.context["result"].invalid_rows[0].field_specific_errors
    assert errors["sources"] == [str(BASE_NEEDS_A_SOURCE)]
    assert not PlannedBase.objects.filter(slug="new-base").exists()


def test_a_publisher_cannot_publish_a_base_without_a_source(publisher, reference_data):
    base = factories.PlannedBaseFactory(status=PublicationStatus.DRAFT, source=None)
    row = {**exported_row(PlannedBase, base), "status": "published"}
    assert row["sources"] == ""

    result = import_file(PlannedBase, csv_file(PlannedBase, [row]), "csv", user=publisher)

    assert result.invalid_rows[0].field_specific_errors["sources"] == [str(BASE_NEEDS_A_SOURCE)]
    base.refresh_from_db()
    assert base.status == PublicationStatus.DRAFT


def test_a_base_row_names_its_sources(publisher, reference_data):
    plan = PolicyDocument.objects.get(slug="li-2020-advanced-manufacturing-clusters")
    other = factories.PolicyDocumentFactory(slug="other-plan")
    sources = f"{plan.slug}\n{other.slug} § Strategic emerging industries"
    row = base_row(status="published", sources=sources)

    result = import_file(PlannedBase, csv_file(PlannedBase, [row]), "csv", user=publisher)

    assert row_types(result) == ["new"]
    base = PlannedBase.objects.get(slug="new-base")
    assert base.is_published
    assert sorted(base.sources.values_list("document__slug", "section")) == [
        (plan.slug, ""),
        ("other-plan", "Strategic emerging industries"),
    ]
    latest = BaseSource.history.filter(base_id=base.pk).latest("history_date")
    assert (latest.history_user, latest.history_change_reason) == (publisher, "Imported from test.csv")
    assert exported_row(PlannedBase, base)["sources"] == sources
    # Adding a source to a stored base is a change; the same file again is not.
    row = {**exported_row(PlannedBase, base), "sources": f"{sources}\nother-plan"}
    assert row_types(import_file(PlannedBase, csv_file(PlannedBase, [row]), "csv")) == ["update"]
    assert base.sources.count() == 3
    assert row_types(import_file(PlannedBase, csv_file(PlannedBase, [row]), "csv")) == ["skip"]


def test_an_import_does_not_remove_a_source(admin_user, reference_data):
    base = factories.PlannedBaseFactory()
    factories.BaseSourceFactory(base=base, section="Another section")
    row = exported_row(PlannedBase, base)
    kept = row["sources"].splitlines()[0]

    result = import_file(
        PlannedBase, csv_file(PlannedBase, [{**row, "sources": kept}]), "csv", user=admin_user
    )

    errors = result.invalid_rows[0].field_specific_errors["sources"]
    assert errors[0].startswith("An import does not remove sources")
    assert base.sources.count() == 2


def test_an_unknown_document_in_sources_is_a_row_error(reference_data):
    row = base_row(sources="no-such-plan § Abstract")
    result = import_file(PlannedBase, csv_file(PlannedBase, [row]), "csv")
    assert "no-such-plan" in str(result.invalid_rows[0].field_specific_errors["sources"])
    assert not PlannedBase.objects.filter(slug="new-base").exists()


NUL_CELLS = {
    "text": (Province, "name"),
    "long-text": (Province, "description"),
    "slug": (Province, "slug"),
    "choice": (Province, "reach"),
    "related": (City, "province"),
    "several-related": (PolicyDocument, "sectors"),
    "sources": (PlannedBase, "sources"),
}


@pytest.mark.parametrize(("model", "column"), NUL_CELLS.values(), ids=NUL_CELLS)
def test_a_nul_character_is_a_row_error(admin_user, reference_data, model, column):
    obj = model.objects.order_by("pk").first()
    row = exported_row(model, obj)
    bad = {**row, column: row[column][:3] + "\x00" + row[column][3:]}
    if column == "slug":
        bad["name"] = "Another"
    before = history_counts()

    result = import_file(model, csv_file(model, [bad]), "csv", user=admin_user)

    assert not result.has_errors()
    errors = result.invalid_rows[0].field_specific_errors
    assert any("Null characters are not allowed" in message for message in errors[column]), errors
    assert history_counts() == before
    assert exported_row(model, obj) == row


@pytest.mark.parametrize(
    ("value", "reason"),
    [({"text": "Hubei"}, "not a JSON object"), (["Hubei", "Hunan"], "not a JSON list")],
    ids=["object", "list"],
)
def test_json_structures_in_a_text_column_are_row_errors(reference_data, value, reason):
    row = {"slug": "new-province", "name": value, "reach": "middle", "kind": "province"}
    result = import_file(Province, json.dumps([row]), "json")
    errors = result.invalid_rows[0].field_specific_errors
    assert any(reason in message for message in errors["name"]), errors
    assert not Province.objects.filter(slug="new-province").exists()


def test_a_json_file_may_list_slugs(reference_data):
    row = {**document_row(), "sectors": ["steel", "copper"], "cities": {"wuhan": 1}}
    result = import_file(PolicyDocument, json.dumps([row]), "json")
    errors = result.invalid_rows[0].field_specific_errors
    assert set(errors) == {"cities"}
    row["cities"] = ["wuhan"]
    assert row_types(import_file(PolicyDocument, json.dumps([row]), "json")) == ["new"]
    document = PolicyDocument.objects.get(slug="new-plan")
    assert sorted(document.sectors.values_list("slug", flat=True)) == ["copper", "steel"]


# ---------------------------------------------------------------------------
# Through the resources directly
# ---------------------------------------------------------------------------


def test_a_bad_row_rolls_back_the_good_ones_without_the_admin(reference_data):
    rows = [
        {"slug": "new-province", "name": "New", "reach": "middle", "kind": "province"},
        {"slug": "other-province", "name": "Other", "reach": "nowhere", "kind": "province"},
    ]
    result = import_file(Province, csv_file(Province, rows), "csv")
    assert [row.number for row in result.invalid_rows] == [2]
    assert not Province.objects.filter(slug="new-province").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_model_round_trips_into_an_empty_database(fmt, reference_data):
    base = PlannedBase.objects.first()
    base.area = MultiPolygon(Polygon.from_bbox((112.5, 29.5, 114.25, 31.125)), srid=4326)
    base.save()
    files = {model: export(model, fmt) for model in MODELS}
    originals = {model: RESOURCES[model]().export().dict for model in MODELS}
    City.objects.update(parent=None)
    Sector.objects.update(parent=None)
    for model in reversed(MODELS):
        model.objects.all().delete()

    for model in MODELS:
        result = import_file(model, files[model], fmt)
        assert not result.has_errors(), [row.errors for row in result.rows if row.errors]
        assert not result.has_validation_errors(), [row.error_dict for row in result.invalid_rows]
        # The bases' rows made their sources; their own file adds the notes.
        expected = {"update", "skip"} if model is BaseSource else {"new"}
        assert set(row_types(result)) <= expected, model

    for model in MODELS:
        assert RESOURCES[model]().export().dict == originals[model], model


def test_a_row_in_json_may_give_the_geometry_as_geojson(reference_data):
    content = json.dumps(
        [
            {
                "slug": "xianning",
                "name": "Xianning",
                "province": "hubei",
                "level": "prefecture",
                "location": {"type": "Point", "coordinates": [114.32, 29.84]},
            }
        ]
    )
    result = import_file(City, content, "json")
    assert row_types(result) == ["new"]
    assert City.objects.get(slug="xianning").location.coords == (114.32, 29.84)


def test_a_geojson_crs_other_than_wgs84_is_refused(reference_data):
    geometry = json.dumps(
        {
            "type": "Polygon",
            "coordinates": [[[112, 29], [113, 29], [113, 30], [112, 29]]],
            "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
        }
    )
    base = PlannedBase.objects.first()
    row = {**exported_row(PlannedBase, base), "area": geometry}
    result = import_file(PlannedBase, csv_file(PlannedBase, [row]), "csv")
    assert "Only WGS84" in str(result.invalid_rows[0].field_specific_errors["area"])


def test_a_polygon_is_imported_as_a_one_part_multipolygon(reference_data):
    base = PlannedBase.objects.first()
    row = {**exported_row(PlannedBase, base), "area": "POLYGON ((112 29, 113 29, 113 30, 112 29))"}
    result = import_file(PlannedBase, csv_file(PlannedBase, [row]), "csv")
    assert row_types(result) == ["update"]
    base.refresh_from_db()
    assert base.area.geom_type == "MultiPolygon"
    assert exported_row(PlannedBase, base)["area"] == "MULTIPOLYGON (((112 29, 113 29, 113 30, 112 29)))"


def test_resource_classes_are_the_ones_the_admin_uses():
    from django.contrib import admin

    for model, resource in RESOURCES.items():
        assert admin.site._registry[model].get_import_resource_classes(None) == [resource]
    assert {CityResource, PlannedBaseResource, PolicyDocumentResource, ProvinceResource} <= set(
        RESOURCES.values()
    )
