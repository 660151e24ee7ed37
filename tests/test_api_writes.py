"""Writes through the API: who may write, what a write must look like, and
that a refused write leaves the database exactly as it was."""

import datetime
import json
from io import StringIO
from unittest import mock

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clusters.api.views import EntityViewSet
from clusters.models import (
    BaseMembership,
    BaseSource,
    City,
    PlannedBase,
    PolicyDocument,
    Province,
    Sector,
    now,
)
from tests import factories
from tests.gdal import assert_gdal_not_called

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reference_data")]

API = "/api/v1"
PLAN = "middle-yangtze-city-cluster-plan-2015"
NEWS = "china-daily-2019-middle-reaches-clusters"
RESEARCH = "li-2020-advanced-manufacturing-clusters"
REFUSED_ANONYMOUSLY = {401, 403}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def list_url(endpoint):
    return f"{API}/{endpoint}/"


def detail_url(endpoint, slug):
    return f"{API}/{endpoint}/{slug}/"


class Raw(str):
    """JSON text to send exactly as written (NaN, 1e400, broken JSON...)."""


def send(client, method, url, body=None):
    """One request with a JSON body: Python data is encoded strictly, Raw text
    and bytes go out untouched."""
    if body is None:
        return client.generic(method, url)
    if not isinstance(body, str | bytes):
        body = json.dumps(body, allow_nan=False)
    return client.generic(method, url, body, content_type="application/json")


def with_raw(body, field, raw_value):
    """`body` as JSON text with `field` set to literal JSON text."""
    marker = "__raw_value__"
    return Raw(json.dumps({**body, field: marker}).replace(json.dumps(marker), raw_value))


def without(body, key):
    return {name: value for name, value in body.items() if name != key}


def point(lon, lat):
    return {"type": "Point", "coordinates": [lon, lat]}


def square(west, south, size=0.5):
    east, north = west + size, south + size
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def crs_named(name):
    return {"type": "name", "properties": {"name": name}}


THROUGH_MODELS = [
    PolicyDocument.sectors.through,
    PolicyDocument.cities.through,
    PlannedBase.sectors.through,
]
DOMAIN_MODELS = [Province, City, Sector, PolicyDocument, PlannedBase, BaseMembership, BaseSource]


def snapshot():
    """Every domain row (and many-to-many link), to compare before and after."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values_list())
        for model in [*DOMAIN_MODELS, *THROUGH_MODELS]
    }


def assert_refused(response, field=None, *, status=400):
    """A client error with a JSON body, naming `field` when given."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    if field is not None:
        assert isinstance(body, dict) and field in body, body
    return body


def assert_client_error(response):
    """Any 4xx (never a 500), explained in JSON."""
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()


def assert_unchanged(before):
    assert snapshot() == before


def issue_token(username, *options):
    out, err = StringIO(), StringIO()
    call_command("issue_api_token", username, *options, stdout=out, stderr=err)
    return out.getvalue().strip()


def api_client(**kwargs):
    # A 500 comes back as a response the test can assert on, not as an exception.
    return APIClient(raise_request_exception=False, **kwargs)


def logged_in(user, **kwargs):
    client = api_client(**kwargs)
    client.force_login(user)
    return client


def token_client(user, **kwargs):
    client = api_client(**kwargs)
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user.username)}")
    return client


def write_permissions(*models):
    codenames = [
        f"{action}_{model._meta.model_name}" for model in models for action in ("add", "change", "delete")
    ]
    return Permission.objects.filter(content_type__app_label="clusters", codename__in=codenames)


def make_user(username, permissions=(), *, via="user_permissions", **fields):
    user = User.objects.create_user(username, password="not-used", **fields)
    if via == "group":
        group = Group.objects.create(name=f"{username}-editors")
        group.permissions.set(permissions)
        user.groups.add(group)
    else:
        user.user_permissions.set(permissions)
    return user


# ---------------------------------------------------------------------------
# Valid bodies, one per endpoint
# ---------------------------------------------------------------------------


def province_body(**changes):
    return {
        "name": "Test province",
        "slug": "test-province",
        "reach": "upstream",
        "kind": "province",
        **changes,
    }


def city_body(**changes):
    return {
        "name": "Xianning",
        "name_zh": "咸宁",
        "slug": "xianning",
        "province": "hubei",
        "level": "prefecture",
        "parent": None,
        "location": point(114.32, 29.84),
        **changes,
    }


def sector_body(**changes):
    return {
        "name": "Industrial robots",
        "slug": "industrial-robots",
        "parent": "equipment-manufacturing",
        "intensity": "capital_technology",
        **changes,
    }


def document_body(**changes):
    return {
        "name": "Hubei manufacturing plan",
        "slug": "hubei-manufacturing-plan",
        "kind": "plan",
        "language": "zh",
        "approved_on": "2016-03-01",
        "published_on": "2016-04-01",
        "citation": "Hubei manufacturing plan, 2016.",
        "sectors": ["automobiles", "steel"],
        "cities": ["wuhan", "xiangyang"],
        **changes,
    }


def base_body(**changes):
    return {
        "name": "Wuhan optoelectronics base",
        "slug": "wuhan-optoelectronics-base",
        "kind": "base",
        "stage": "planned",
        "reach": "middle",
        "area": square(114.0, 30.2),
        "sectors": ["integrated-circuits"],
        "members": [
            {"city": "wuhan", "role": "leading", "position": 0},
            {"city": "changsha", "role": "member", "position": 1},
        ],
        "sources": [{"document": PLAN, "section": "Chapter 5", "note": "In our own words."}],
        **changes,
    }


ENDPOINTS = {
    # endpoint: (model, valid body, an object nothing protects from deletion)
    "provinces": (Province, province_body, factories.ProvinceFactory),
    "cities": (City, city_body, factories.CityFactory),
    "sectors": (Sector, sector_body, factories.SectorFactory),
    "documents": (PolicyDocument, document_body, factories.PolicyDocumentFactory),
    "bases": (PlannedBase, base_body, factories.PlannedBaseFactory),
}
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


def write_request(client, endpoint, method):
    """A well-formed write of `method` on `endpoint`: only who sends it can
    make it fail. Targets a fresh object that nothing protects."""
    _, body, factory = ENDPOINTS[endpoint]
    if method == "POST":
        return send(client, "POST", list_url(endpoint), body())
    target = factory()
    url = detail_url(endpoint, target.slug)
    if method == "PUT":
        return send(client, "PUT", url, body(slug=target.slug, name="Replaced"))
    if method == "PATCH":
        return send(client, "PATCH", url, {"name": "Renamed"})
    return send(client, "DELETE", url)


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------


@pytest.fixture
def editor():
    """May add, change and delete every domain model (through a group)."""
    return make_user("editor", write_permissions(*DOMAIN_MODELS), via="group")


@pytest.fixture
def editor_client(editor):
    return logged_in(editor)


@pytest.fixture(
    params=[
        ("session", "group"),
        ("session", "user_permissions"),
        ("token", "group"),
        ("token", "user_permissions"),
    ],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def authenticated_editor(request):
    """An editor client, each way of signing in and of holding permissions."""
    auth, via = request.param
    user = make_user(f"editor-{auth}-{via}", write_permissions(City, PlannedBase), via=via)
    return logged_in(user) if auth == "session" else token_client(user)


@pytest.fixture
def anonymous():
    return api_client()


@pytest.fixture(params=["session", "token"])
def reader_client(request):
    """Signed in, but without any permission."""
    user = make_user(f"reader-{request.param}")
    return logged_in(user) if request.param == "session" else token_client(user)


# ---------------------------------------------------------------------------
# 0. The bodies used throughout are valid (so refusals below are meaningful)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("method", WRITE_METHODS)
def test_an_editor_may_make_each_write(editor_client, endpoint, method):
    response = write_request(editor_client, endpoint, method)

    expected = {"POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}[method]
    assert response.status_code == expected, response.content[:500]


# ---------------------------------------------------------------------------
# 1. Anonymous clients may not write
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("method", WRITE_METHODS)
def test_anonymous_writes_are_refused_and_change_nothing(anonymous, endpoint, method):
    _, body, factory = ENDPOINTS[endpoint]
    target = factory()
    before = snapshot()
    url = list_url(endpoint) if method == "POST" else detail_url(endpoint, target.slug)
    data = {
        "POST": body(),
        "PUT": body(slug=target.slug, name="Replaced"),
        "PATCH": {"name": "Renamed"},
        "DELETE": None,
    }[method]

    response = send(anonymous, method, url, data)

    assert response.status_code in REFUSED_ANONYMOUSLY, response.content[:300]
    assert "detail" in response.json()
    assert_unchanged(before)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_anonymous_may_still_read(anonymous, endpoint):
    assert anonymous.get(list_url(endpoint)).status_code == 200


# ---------------------------------------------------------------------------
# 2. Editors write with a session or a token
# ---------------------------------------------------------------------------


def test_an_editor_creates_a_city(authenticated_editor):
    response = send(authenticated_editor, "POST", list_url("cities"), city_body())

    assert response.status_code == 201, response.content[:500]
    city = City.objects.get(slug="xianning")
    assert city.name == "Xianning"
    assert city.name_zh == "咸宁"
    assert city.province.slug == "hubei"
    assert city.parent is None
    assert city.location.coords == pytest.approx((114.32, 29.84))
    assert city.location.srid == 4326


def test_an_editor_creates_a_base(authenticated_editor):
    response = send(authenticated_editor, "POST", list_url("bases"), base_body())

    assert response.status_code == 201, response.content[:500]
    base = PlannedBase.objects.get(slug="wuhan-optoelectronics-base")
    assert (base.kind, base.stage, base.reach) == ("base", "planned", "middle")
    assert base.area.geom_type == "MultiPolygon"  # a Polygon is stored as a one-part MultiPolygon
    assert base.area.extent == pytest.approx((114.0, 30.2, 114.5, 30.7))
    assert [s.slug for s in base.sectors.all()] == ["integrated-circuits"]
    members = base.memberships.order_by("position")
    assert [(m.city.slug, m.role, m.position) for m in members] == [
        ("wuhan", "leading", 0),
        ("changsha", "member", 1),
    ]
    assert [(s.document.slug, s.section, s.note) for s in base.sources.all()] == [
        (PLAN, "Chapter 5", "In our own words.")
    ]


def test_a_session_post_without_a_csrf_token_is_refused(editor):
    client = logged_in(editor, enforce_csrf_checks=True)
    before = snapshot()

    response = send(client, "POST", list_url("cities"), city_body())

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert_unchanged(before)


def test_a_session_post_with_a_csrf_token_is_accepted(editor):
    """The counterpart of the test above: the 403 there is CSRF, nothing else."""
    client = logged_in(editor, enforce_csrf_checks=True)
    secret = "a" * 32
    client.cookies["csrftoken"] = secret

    response = client.post(list_url("cities"), city_body(), format="json", HTTP_X_CSRFTOKEN=secret)

    assert response.status_code == 201, response.content[:300]


def test_a_token_client_needs_no_csrf_token(editor):
    client = token_client(editor, enforce_csrf_checks=True)

    response = send(client, "POST", list_url("cities"), city_body())

    assert response.status_code == 201, response.content[:300]


def test_issue_api_token_prints_the_key_of_the_users_token(editor):
    key = issue_token("editor")

    assert key == Token.objects.get(user=editor).key
    assert len(key) == 40
    assert issue_token("editor") == key  # the same token again, not a new one


def test_issue_api_token_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="nobody"):
        issue_token("nobody")
    assert not Token.objects.exists()


def test_issue_api_token_refuses_an_inactive_user():
    make_user("retired", write_permissions(City), is_active=False)

    with pytest.raises(CommandError, match="inactive"):
        issue_token("retired")
    assert not Token.objects.filter(user__username="retired").exists()


def test_issue_api_token_warns_when_the_user_has_no_permissions():
    make_user("newcomer")
    err = StringIO()

    call_command("issue_api_token", "newcomer", stdout=StringIO(), stderr=err)

    assert "no permissions" in err.getvalue()


def test_rotate_replaces_the_key_and_the_old_key_stops_working(editor):
    old = issue_token("editor")

    new = issue_token("editor", "--rotate")

    assert new != old
    assert list(Token.objects.filter(user=editor).values_list("key", flat=True)) == [new]
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert send(client, "POST", list_url("cities"), city_body()).status_code in REFUSED_ANONYMOUSLY
    assert not City.objects.filter(slug="xianning").exists()
    client.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert send(client, "POST", list_url("cities"), city_body()).status_code == 201


def test_the_token_of_a_user_deactivated_later_stops_working(editor):
    client = token_client(editor)
    editor.is_active = False
    editor.save()

    response = send(client, "POST", list_url("cities"), city_body())

    assert response.status_code in REFUSED_ANONYMOUSLY
    assert not City.objects.filter(slug="xianning").exists()


@pytest.mark.parametrize("header", ["Token not-a-key", "Token", "Token a b", "Bearer x", "Token \x00"])
def test_a_bad_authorization_header_is_refused(header):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=header)
    before = snapshot()

    response = send(client, "POST", list_url("cities"), city_body())

    assert response.status_code in REFUSED_ANONYMOUSLY
    assert_unchanged(before)


# ---------------------------------------------------------------------------
# 3. Signed in is not enough: the model's permission is needed
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("method", WRITE_METHODS)
def test_a_user_without_permissions_may_not_write(reader_client, endpoint, method):
    before_count = ENDPOINTS[endpoint][0].objects.count()

    response = write_request(reader_client, endpoint, method)

    assert response.status_code == 403, response.content[:300]
    # Only the target written by the test's own factory is new.
    assert ENDPOINTS[endpoint][0].objects.count() == before_count + (method != "POST")
    assert not ENDPOINTS[endpoint][0].objects.filter(name__in=["Replaced", "Renamed"]).exists()


def test_each_permission_allows_only_its_own_write():
    city = factories.CityFactory()
    adder = logged_in(make_user("adder", Permission.objects.filter(codename="add_city")))
    changer = logged_in(make_user("changer", Permission.objects.filter(codename="change_city")))
    url = detail_url("cities", city.slug)

    assert send(adder, "PATCH", url, {"name": "Renamed"}).status_code == 403
    assert send(adder, "DELETE", url).status_code == 403
    assert send(changer, "POST", list_url("cities"), city_body()).status_code == 403
    assert send(changer, "DELETE", url).status_code == 403
    city.refresh_from_db()
    assert city.name != "Renamed"
    assert not City.objects.filter(slug="xianning").exists()

    assert send(adder, "POST", list_url("cities"), city_body()).status_code == 201
    assert send(changer, "PATCH", url, {"name": "Renamed"}).status_code == 200


def test_permission_on_cities_does_not_allow_writing_bases():
    client = logged_in(make_user("city-editor", write_permissions(City)))
    before = snapshot()

    response = send(client, "POST", list_url("bases"), base_body())

    assert response.status_code == 403
    assert_unchanged(before)


# ---------------------------------------------------------------------------
# 4. The model's rules hold for API writes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        pytest.param(point(2.35, 48.85), id="paris"),
        pytest.param(point(30.59, 114.31), id="wuhan-swapped"),  # off the globe: latitude 114
        pytest.param(point(30.59, 14.31), id="swapped-but-on-the-globe"),
        pytest.param("POINT (2.35 48.85)", id="paris-wkt"),
        pytest.param(point(96.9, 30.0), id="just-west-of-the-belt"),
        pytest.param(point(114.3, 35.1), id="just-north-of-the-belt"),
    ],
)
def test_a_city_outside_the_belt_is_refused(editor_client, location):
    before = snapshot()

    response = send(editor_client, "POST", list_url("cities"), city_body(location=location))

    assert_refused(response, "location")
    assert_unchanged(before)


def test_the_outside_the_belt_message_suggests_swapped_coordinates(editor_client):
    response = send(editor_client, "POST", list_url("cities"), city_body(location=point(2.35, 48.85)))

    assert "swapped" in " ".join(assert_refused(response, "location")["location"])


def test_moving_a_city_outside_the_belt_is_refused_and_it_stays_put(editor_client):
    before = snapshot()

    response = send(editor_client, "PATCH", detail_url("cities", "wuhan"), {"location": point(2.35, 48.85)})

    assert_refused(response, "location")
    assert_unchanged(before)
    assert City.objects.get(slug="wuhan").location.coords == pytest.approx((114.31, 30.59))


def test_a_city_cannot_be_administered_by_itself(editor_client):
    before = snapshot()

    response = send(editor_client, "PATCH", detail_url("cities", "wuhan"), {"parent": "wuhan"})

    assert_refused(response, "parent")
    assert_unchanged(before)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(base_body(sources=[]), id="sources-empty"),
        pytest.param(without(base_body(), "sources"), id="sources-missing"),
        pytest.param(base_body(sources=None), id="sources-null"),
        pytest.param(
            base_body(sources=[{"document": PLAN, "section": "A"}, {"document": PLAN, "section": "A"}]),
            id="sources-duplicated",
        ),
    ],
)
def test_a_base_needs_its_sources(editor_client, body):
    before = snapshot()

    response = send(editor_client, "POST", list_url("bases"), body)

    assert_refused(response, "sources")
    assert_unchanged(before)


def test_a_base_area_outside_the_belt_is_refused(editor_client):
    before = snapshot()

    response = send(editor_client, "POST", list_url("bases"), base_body(area=square(2.0, 48.5)))

    assert_refused(response, "area")
    assert_unchanged(before)


def test_a_document_published_before_it_was_approved_is_refused(editor_client):
    before = snapshot()
    body = document_body(approved_on="2016-03-01", published_on="2016-02-01")

    response = send(editor_client, "POST", list_url("documents"), body)

    assert_refused(response, "published_on")
    assert_unchanged(before)


def test_changing_a_date_so_a_document_is_published_before_approval_is_refused(editor_client):
    # The plan was approved on 2015-04-01; the rule must be checked against the stored date.
    before = snapshot()

    response = send(editor_client, "PATCH", detail_url("documents", PLAN), {"published_on": "2015-03-01"})

    assert_refused(response, "published_on")
    assert_unchanged(before)


def test_a_document_cannot_report_on_itself(editor_client):
    before = snapshot()

    response = send(editor_client, "PATCH", detail_url("documents", NEWS), {"reports_on": NEWS})

    assert_refused(response, "reports_on")
    assert_unchanged(before)


@pytest.mark.parametrize(
    ("sector", "parent"),
    [
        pytest.param("transport-equipment", "automobiles", id="own-child"),
        pytest.param("equipment-manufacturing", "automobile-parts", id="own-grandchild's-child"),
        pytest.param("automobiles", "automobiles", id="itself"),
    ],
)
def test_a_sector_cannot_sit_under_its_own_descendant(editor_client, sector, parent):
    before = snapshot()

    response = send(editor_client, "PATCH", detail_url("sectors", sector), {"parent": parent})

    assert_refused(response, "parent")
    assert_unchanged(before)


def test_moving_a_sector_under_another_branch_is_allowed(editor_client):
    """The counterpart of the refusals above: a legitimate move succeeds."""
    response = send(
        editor_client, "PATCH", detail_url("sectors", "aviation"), {"parent": "high-end-equipment"}
    )

    assert response.status_code == 200, response.content[:300]
    assert Sector.objects.get(slug="aviation").parent.slug == "high-end-equipment"


# ---------------------------------------------------------------------------
# 5. Geometry: GeoJSON or WKT in EPSG:4326 only
# ---------------------------------------------------------------------------


WUHAN_POINT = point(114.31, 30.59)
AREA = square(114.0, 30.2)
HOSTILE_CRS_LOCATIONS = [
    pytest.param({**WUHAN_POINT, "crs": crs_named("EPSG:3857")}, id="crs-epsg-3857"),
    pytest.param({**WUHAN_POINT, "crs": crs_named("/etc/passwd")}, id="crs-local-file"),
    pytest.param({**WUHAN_POINT, "crs": crs_named("https://example.com/crs.wkt")}, id="crs-url"),
    pytest.param(
        {**WUHAN_POINT, "crs": {"type": "link", "properties": {"href": "file:///etc/passwd"}}}, id="crs-link"
    ),
    pytest.param({**WUHAN_POINT, "CRS": crs_named("/etc/passwd")}, id="CRS-uppercase"),
    pytest.param({**WUHAN_POINT, "crs": None}, id="crs-null"),
    pytest.param(json.dumps({**WUHAN_POINT, "crs": crs_named("EPSG:3857")}), id="crs-in-geojson-text"),
    pytest.param(
        with_raw(
            city_body(),
            "location",
            '{"type":"Point","coordinates":[114.3,30.6],'
            '"crs\\u0000x":{"type":"name","properties":{"name":"/etc/passwd"}}}',
        ),
        id="crs-with-nul-suffix",
    ),
    pytest.param("SRID=3857;POINT (12724930 3582000)", id="ewkt-3857"),
]


def city_write(location):
    """A city body with `location`, unless the parameter is already a whole raw body."""
    return location if isinstance(location, Raw) else city_body(location=location)


@pytest.mark.parametrize("location", HOSTILE_CRS_LOCATIONS)
def test_a_city_location_in_another_crs_is_refused_before_gdal_parses_it(editor_client, gdal_trap, location):
    before = snapshot()

    response = send(editor_client, "POST", list_url("cities"), city_write(location))

    body = assert_refused(response, "location")
    assert "EPSG:4326" in " ".join(body["location"])
    assert_gdal_not_called(gdal_trap)
    assert_unchanged(before)


@pytest.mark.parametrize(
    "area",
    [
        pytest.param({**AREA, "crs": crs_named("EPSG:3857")}, id="crs-epsg-3857"),
        pytest.param(
            {"type": "GeometryCollection", "geometries": [{**AREA, "crs": crs_named("/etc/passwd")}]},
            id="crs-inside-a-collection",
        ),
        pytest.param("SRID=4269;POLYGON ((114 30, 115 30, 115 31, 114 30))", id="ewkt-4269"),
    ],
)
def test_a_base_area_in_another_crs_is_refused_before_gdal_parses_it(editor_client, gdal_trap, area):
    before = snapshot()

    response = send(
        editor_client, "PATCH", detail_url("bases", "middle-reaches-steel-cluster"), {"area": area}
    )

    assert_refused(response, "area")
    assert_gdal_not_called(gdal_trap)
    assert_unchanged(before)


def test_the_gdal_trap_is_on_the_apis_real_path(editor, gdal_trap):
    """Without this, the tests above could pass with a trap GDAL never walks into."""
    client = APIClient()  # raises the view's exception instead of answering 500
    client.force_login(editor)

    with pytest.raises(AssertionError, match="GDAL was handed the input"):
        send(client, "POST", list_url("cities"), city_body(location=WUHAN_POINT))


@pytest.mark.parametrize(
    "location",
    [
        pytest.param({**WUHAN_POINT, "crs": crs_named("EPSG:4326")}, id="crs-epsg-4326"),
        pytest.param({**WUHAN_POINT, "crs": crs_named("urn:ogc:def:crs:OGC:1.3:CRS84")}, id="crs-crs84"),
        pytest.param("POINT (114.31 30.59)", id="wkt"),
        pytest.param("SRID=4326;POINT (114.31 30.59)", id="ewkt-4326"),
        pytest.param(json.dumps(WUHAN_POINT), id="geojson-text"),
    ],
)
def test_wgs84_locations_are_accepted_in_each_spelling(editor_client, location):
    response = send(editor_client, "POST", list_url("cities"), city_body(location=location))

    assert response.status_code == 201, response.content[:300]
    assert response.json()["location"] == {"type": "Point", "coordinates": pytest.approx([114.31, 30.59])}


def nested(depth):
    return "[" * depth + "114.3, 30.6" + "]" * depth


BAD_LOCATIONS = [
    # Not finite
    pytest.param(
        with_raw(city_body(), "location", '{"type":"Point","coordinates":[1e400,30.6]}'), id="1e400"
    ),
    pytest.param(
        with_raw(city_body(), "location", '{"type":"Point","coordinates":[114.3,-1e400]}'), id="minus-1e400"
    ),
    pytest.param('{"type":"Point","coordinates":[NaN,30.6]}', id="nan-in-geojson-text"),
    pytest.param('{"type":"Point","coordinates":[114.3,Infinity]}', id="infinity-in-geojson-text"),
    pytest.param("POINT (nan 30.6)", id="wkt-nan"),
    pytest.param("POINT (114.3 inf)", id="wkt-inf"),
    pytest.param(point(1e146, 30), id="huge"),
    pytest.param(point(200, 30), id="longitude-200"),
    # Three dimensions
    pytest.param({"type": "Point", "coordinates": [114.3, 30.6, 25.0]}, id="3d-geojson"),
    pytest.param("POINT Z (114.3 30.6 25)", id="3d-wkt"),
    pytest.param("POINT (114.3 30.6 25)", id="3d-wkt-no-z"),
    # Wrong geometry type for a city
    pytest.param(AREA, id="polygon"),
    pytest.param({"type": "MultiPoint", "coordinates": [[114.3, 30.6]]}, id="multipoint"),
    pytest.param({"type": "GeometryCollection", "geometries": [WUHAN_POINT]}, id="collection"),
    pytest.param("LINESTRING (114 30, 115 31)", id="linestring-wkt"),
    # Not a geometry at all
    pytest.param("Wuhan", id="a-place-name"),
    pytest.param("114.31, 30.59", id="comma-separated-numbers"),
    pytest.param("POINT EMPTY", id="empty-point"),
    pytest.param("0101000000AE47E17A14945C40D7A3703D0A973E40", id="hex-wkb"),
    pytest.param(114.31, id="number"),
    pytest.param(True, id="boolean"),
    pytest.param([114.31, 30.59], id="list"),
    pytest.param({}, id="empty-object"),
    pytest.param({"type": "Point"}, id="no-coordinates"),
    pytest.param({"type": "Point", "coordinates": [114.3]}, id="one-coordinate"),
    pytest.param({"type": "Point", "coordinates": ["114.3", "30.6"]}, id="coordinates-as-strings"),
    pytest.param({"type": "Point", "coordinates": [True, False]}, id="coordinates-as-booleans"),
    pytest.param({"type": "Feature", "geometry": WUHAN_POINT, "properties": {}}, id="feature"),
    pytest.param({"type": "point", "coordinates": [114.3, 30.6]}, id="type-lowercase"),
    pytest.param(
        with_raw(city_body(), "location", f'{{"type":"Point","coordinates":{nested(50)}}}'), id="nested-50"
    ),
    pytest.param("POINT (114.3 30.6)\x00", id="nul-after-wkt"),
]


@pytest.mark.parametrize("location", BAD_LOCATIONS)
def test_a_bad_city_location_is_refused(editor_client, location):
    before = snapshot()

    response = send(editor_client, "POST", list_url("cities"), city_write(location))

    assert_refused(response, "location")
    assert_unchanged(before)


@pytest.mark.parametrize(
    "location",
    [
        pytest.param(AREA, id="polygon"),
        pytest.param({"type": "Point", "coordinates": [114.3, 30.6, 25.0]}, id="3d"),
        pytest.param("Wuhan", id="not-geometry"),
        pytest.param([114.31, 30.59], id="list"),
    ],
)
def test_a_bad_location_in_an_update_leaves_the_city_as_it_was(editor_client, location):
    before = snapshot()

    response = send(editor_client, "PATCH", detail_url("cities", "wuhan"), {"location": location})

    assert_refused(response, "location")
    assert_unchanged(before)


UNCLOSED = [[114, 30], [115, 30], [115, 31], [114, 31]]
BAD_AREAS = [
    pytest.param({"type": "Polygon", "coordinates": [UNCLOSED]}, id="unclosed-ring-geojson"),
    pytest.param({"type": "MultiPolygon", "coordinates": [[UNCLOSED]]}, id="unclosed-ring-multipolygon"),
    pytest.param("POLYGON ((114 30, 115 30, 115 31, 114 31))", id="unclosed-ring-wkt"),
    pytest.param(
        {"type": "Polygon", "coordinates": [[[114, 30], [115, 30], [114, 30]]]}, id="too-few-points"
    ),
    pytest.param("POLYGON ((114 30, 115 31, 115 30, 114 31, 114 30))", id="self-intersecting"),
    pytest.param(WUHAN_POINT, id="point"),
    pytest.param("LINESTRING (114 30, 115 31)", id="linestring"),
    pytest.param(
        {"type": "Polygon", "coordinates": [[[114, 30, 1], [115, 30, 1], [115, 31, 1], [114, 30, 1]]]},
        id="3d",
    ),
    pytest.param('{"type":"Polygon","coordinates":[[[114,30],[115,NaN],[115,31],[114,30]]]}', id="nan"),
    pytest.param(
        {"type": "Polygon", "coordinates": [[[114, 30], [115, 30], [115, -91], [114, 30]]]}, id="lat-91"
    ),
    pytest.param(7, id="number"),
    pytest.param([[114, 30], [115, 31]], id="list"),
    pytest.param("an area", id="not-geometry"),
]


@pytest.mark.parametrize("area", BAD_AREAS)
def test_a_bad_base_area_is_refused(editor_client, area):
    before = snapshot()

    response = send(editor_client, "POST", list_url("bases"), base_body(area=area))

    assert_refused(response, "area")
    assert_unchanged(before)


@pytest.mark.parametrize(
    "body", [Raw('{"name": NaN}'), Raw('{"name": Infinity}'), Raw('{"name": -Infinity}')]
)
def test_json_constants_nan_and_infinity_are_refused(editor_client, body):
    before = snapshot()

    response = send(editor_client, "PATCH", detail_url("cities", "wuhan"), body)

    assert "JSON" in assert_refused(response, "detail")["detail"]
    assert_unchanged(before)


# ---------------------------------------------------------------------------
# 6. Wrong types and junk bodies: a 4xx in JSON, never a 500, nothing saved
# ---------------------------------------------------------------------------

CITY_TYPE_ERRORS = [
    # (body, field named in the error)
    pytest.param(city_body(name=["Xianning"]), "name", id="name-list"),
    pytest.param(city_body(name={"en": "Xianning"}), "name", id="name-object"),
    pytest.param(city_body(name=True), "name", id="name-boolean"),
    pytest.param(city_body(name=None), "name", id="name-null"),
    pytest.param(city_body(name=""), "name", id="name-empty"),
    pytest.param(city_body(name="x" * 201), "name", id="name-201-chars"),
    pytest.param(city_body(name="Xian\x00ning"), "name", id="name-nul"),
    pytest.param(with_raw(city_body(), "name", '"\\ud800"'), "name", id="name-lone-surrogate"),
    pytest.param(city_body(name_zh="咸" * 201), "name_zh", id="name-zh-201-chars"),
    pytest.param(city_body(slug="xian ning"), "slug", id="slug-space"),
    pytest.param(city_body(slug="xianning/../x"), "slug", id="slug-slash"),
    pytest.param(city_body(slug="咸宁"), "slug", id="slug-not-ascii"),
    pytest.param(city_body(slug="x" * 101), "slug", id="slug-101-chars"),
    pytest.param(city_body(slug=""), "slug", id="slug-empty"),
    pytest.param(city_body(slug="wuhan"), "slug", id="slug-taken"),
    pytest.param(city_body(province=5), "province", id="province-int"),
    pytest.param(city_body(province=3.5), "province", id="province-float"),
    pytest.param(city_body(province="atlantis"), "province", id="province-unknown"),
    pytest.param(city_body(province=["hubei"]), "province", id="province-list"),
    pytest.param(city_body(province={"slug": "hubei"}), "province", id="province-object"),
    pytest.param(city_body(province="hubei\x00"), "province", id="province-nul"),
    pytest.param(city_body(province="x" * 5000), "province", id="province-5000-chars"),
    pytest.param(city_body(province=None), "province", id="province-null"),
    pytest.param(without(city_body(), "province"), "province", id="province-missing"),
    pytest.param(city_body(parent="atlantis"), "parent", id="parent-unknown"),
    pytest.param(city_body(parent=1), "parent", id="parent-int"),
    pytest.param(city_body(level="megacity"), "level", id="level-not-a-choice"),
    pytest.param(city_body(level=["prefecture"]), "level", id="level-list"),
]


@pytest.mark.parametrize(("body", "field"), CITY_TYPE_ERRORS)
def test_a_city_write_with_a_wrong_type_is_refused(editor_client, body, field):
    before = snapshot()

    response = send(editor_client, "POST", list_url("cities"), body)

    assert_refused(response, field)
    assert_unchanged(before)


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", 123), ("name", 1.5), ("slug", 7), ("name_zh", 123), ("description", 1e300)],
    ids=["name-int", "name-float", "slug-int", "name-zh-int", "description-float"],
)
def test_a_text_field_given_as_a_number_is_refused(editor_client, field, value):
    before = snapshot()

    response = send(editor_client, "POST", list_url("cities"), city_body(**{field: value}))

    assert_refused(response, field)
    assert_unchanged(before)


@pytest.mark.parametrize("endpoint", ["bases", "documents"])
def test_sectors_given_as_an_object_are_refused(editor_client, endpoint):
    before = snapshot()
    body = ENDPOINTS[endpoint][1](sectors={"automobiles": True, "steel": False})

    response = send(editor_client, "POST", list_url(endpoint), body)

    assert_refused(response, "sectors")
    assert_unchanged(before)


def member(city="wuhan", **fields):
    return {"city": city, "role": "member", "position": 0, **fields}


BASE_TYPE_ERRORS = [
    pytest.param(base_body(members="wuhan"), "members", id="members-string"),
    pytest.param(base_body(members=member()), "members", id="members-object-not-list"),
    pytest.param(base_body(members=None), "members", id="members-null"),
    pytest.param(base_body(members=["wuhan"]), "members", id="members-of-slugs"),
    pytest.param(base_body(members=[[member()]]), "members", id="members-nested-list"),
    pytest.param(base_body(members=[member(role="boss")]), "members", id="role-not-a-choice"),
    pytest.param(base_body(members=[member(role=1)]), "members", id="role-number"),
    pytest.param(base_body(members=[member(role=None)]), "members", id="role-null"),
    pytest.param(base_body(members=[member(position=-1)]), "members", id="position-negative"),
    pytest.param(base_body(members=[member(position="first")]), "members", id="position-string"),
    pytest.param(base_body(members=[member(position=1.5)]), "members", id="position-fraction"),
    pytest.param(base_body(members=[member(position=2**63)]), "members", id="position-2-to-the-63"),
    pytest.param(base_body(members=[member(position=2**70)]), "members", id="position-2-to-the-70"),
    pytest.param(base_body(members=[member(position=[1])]), "members", id="position-list"),
    pytest.param(
        with_raw(base_body(), "members", '[{"city": "wuhan", "position": 1e400}]'),
        "members",
        id="position-1e400",
    ),
    pytest.param(base_body(members=[member(city="atlantis")]), "members", id="member-city-unknown"),
    pytest.param(base_body(members=[member(city=None)]), "members", id="member-city-null"),
    pytest.param(base_body(members=[{"role": "member"}]), "members", id="member-city-missing"),
    pytest.param(base_body(members=[member(), member(position=1)]), "members", id="member-city-twice"),
    pytest.param(base_body(sectors=["not-a-sector"]), "sectors", id="sectors-unknown-slug"),
    pytest.param(base_body(sectors="automobiles"), "sectors", id="sectors-string"),
    pytest.param(base_body(sectors=[1, 2]), "sectors", id="sectors-ints"),
    pytest.param(base_body(sectors=[None]), "sectors", id="sectors-null-item"),
    pytest.param(base_body(sources=PLAN), "sources", id="sources-string"),
    pytest.param(base_body(sources=[PLAN]), "sources", id="sources-of-slugs"),
    pytest.param(
        base_body(sources=[{"document": "not-a-document"}]), "sources", id="source-document-unknown"
    ),
    pytest.param(base_body(sources=[{"section": "Chapter 5"}]), "sources", id="source-document-missing"),
    pytest.param(base_body(sources=[{"document": PLAN, "section": "x" * 201}]), "sources", id="section-201"),
    pytest.param(base_body(sources=[{"document": PLAN, "section": None}]), "sources", id="section-null"),
    pytest.param(base_body(sources=[{"document": PLAN, "note": ["a"]}]), "sources", id="note-list"),
    pytest.param(base_body(kind="factory"), "kind", id="kind-not-a-choice"),
    pytest.param(base_body(stage=3), "stage", id="stage-number"),
    pytest.param(base_body(reach="sideways"), "reach", id="reach-not-a-choice"),
    pytest.param(base_body(name="x" * 201), "name", id="name-201-chars"),
    pytest.param(base_body(name="B\x00ase"), "name", id="name-nul"),
    pytest.param(base_body(description=["a"]), "description", id="description-list"),
]


@pytest.mark.parametrize(("body", "field"), BASE_TYPE_ERRORS)
def test_a_base_write_with_a_wrong_type_is_refused(editor_client, body, field):
    before = snapshot()

    response = send(editor_client, "POST", list_url("bases"), body)

    assert_refused(response, field)
    assert_unchanged(before)


DOCUMENT_TYPE_ERRORS = [
    pytest.param(document_body(published_on="2016-02-30"), "published_on", id="date-impossible"),
    pytest.param(document_body(published_on=20160401), "published_on", id="date-number"),
    pytest.param(document_body(published_on="99999-01-01"), "published_on", id="date-year-99999"),
    pytest.param(document_body(approved_on_precision="decade"), "approved_on_precision", id="precision"),
    pytest.param(document_body(language="fr"), "language", id="language-not-a-choice"),
    pytest.param(document_body(source_url="javascript:alert(1)"), "source_url", id="url-javascript"),
    pytest.param(document_body(source_url="not a url"), "source_url", id="url-not-a-url"),
    pytest.param(document_body(sectors=["not-a-sector"]), "sectors", id="sectors-unknown"),
    pytest.param(document_body(cities=["atlantis"]), "cities", id="cities-unknown"),
    pytest.param(document_body(cities="wuhan"), "cities", id="cities-string"),
    pytest.param(document_body(reports_on="not-a-document"), "reports_on", id="reports-on-unknown"),
    pytest.param(document_body(authors="a" * 301), "authors", id="authors-301-chars"),
]


@pytest.mark.parametrize(("body", "field"), DOCUMENT_TYPE_ERRORS)
def test_a_document_write_with_a_wrong_type_is_refused(editor_client, body, field):
    before = snapshot()

    response = send(editor_client, "POST", list_url("documents"), body)

    assert_refused(response, field)
    assert_unchanged(before)


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        pytest.param("provinces", province_body(reach="far"), id="province-reach"),
        pytest.param("provinces", province_body(kind=None), id="province-kind-null"),
        pytest.param("sectors", sector_body(parent=["automobiles"]), id="sector-parent-list"),
        pytest.param("sectors", sector_body(intensity="extreme"), id="sector-intensity"),
    ],
)
def test_other_endpoints_refuse_wrong_types(editor_client, endpoint, body):
    before = snapshot()

    response = send(editor_client, "POST", list_url(endpoint), body)

    assert_client_error(response)
    assert_unchanged(before)


JUNK_BODIES = [
    pytest.param(Raw("name=Xianning&slug=xianning"), id="form-encoded-text"),
    pytest.param(Raw("{'name': 'Xianning'}"), id="python-not-json"),
    pytest.param(Raw('{"name": "Xianning",'), id="truncated"),
    pytest.param(Raw(""), id="empty"),
    pytest.param(Raw("null"), id="null"),
    pytest.param(Raw("42"), id="number"),
    pytest.param(Raw('"Xianning"'), id="string"),
    pytest.param(Raw("[]"), id="empty-list"),
    pytest.param([city_body()], id="list-of-a-valid-body"),
    pytest.param(b"\xff\xfe{\x00", id="not-utf8"),
    pytest.param(Raw("[" * 500 + "]" * 500), id="500-nested-lists"),
    pytest.param(
        with_raw(city_body(), "description", "[" * 500 + "]" * 500), id="500-nested-lists-in-a-field"
    ),
]


@pytest.mark.parametrize("body", JUNK_BODIES)
@pytest.mark.parametrize("endpoint", ["cities", "bases"])
def test_a_body_that_is_not_a_json_object_is_refused(editor_client, endpoint, body):
    before = snapshot()

    response = send(editor_client, "POST", list_url(endpoint), body)

    assert_client_error(response)
    assert_unchanged(before)


def test_a_body_in_another_media_type_is_refused(editor_client):
    before = snapshot()

    response = editor_client.post(
        list_url("cities"), {"name": "Xianning", "slug": "xianning"}, format="multipart"
    )

    assert_refused(response, "detail", status=415)
    assert_unchanged(before)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(Raw("[" * 100_000 + "]" * 100_000), id="100000-nested-lists"),
        pytest.param(Raw('{"a":' * 100_000 + "1" + "}" * 100_000), id="100000-nested-objects"),
        pytest.param(with_raw(city_body(), "name", "[" * 100_000 + "]" * 100_000), id="nested-in-a-field"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_deeply_nested_body_is_refused_without_a_server_error(editor_client, body, method):
    before = snapshot()
    url = list_url("cities") if method == "POST" else detail_url("cities", "wuhan")

    response = send(editor_client, method, url, body)

    assert_client_error(response)
    assert_unchanged(before)


# ---------------------------------------------------------------------------
# 7. Read-only fields in a body are ignored
# ---------------------------------------------------------------------------

OLD = "2000-01-01T00:00:00Z"
READ_ONLY = {
    "id": 999_999,
    "created_at": OLD,
    "updated_at": OLD,
    "url": "https://attacker.example/x/",
    "html_url": "https://attacker.example/x/",
    "base_count": 42,
    "reach": "upstream",
    "province_url": "https://attacker.example/p/",
    "bases_url": "https://attacker.example/b/",
}


def test_read_only_fields_are_ignored_on_create(editor_client):
    start = now()  # to the millisecond, as timestamps are stored

    response = send(editor_client, "POST", list_url("cities"), city_body(**READ_ONLY))

    assert response.status_code == 201, response.content[:300]
    city = City.objects.get(slug="xianning")
    assert city.pk != READ_ONLY["id"]
    assert not City.objects.filter(pk=READ_ONLY["id"]).exists()
    assert city.created_at >= start
    assert city.updated_at >= start
    data = response.json()
    assert data["id"] == city.pk
    assert data["base_count"] == 0
    assert data["reach"] == "middle"  # Hubei's, not the body's
    assert data["url"] == "http://testserver/api/v1/cities/xianning/"
    assert "attacker" not in json.dumps(data)


def test_read_only_fields_are_ignored_on_update(editor_client):
    wuhan = City.objects.get(slug="wuhan")
    bases = wuhan.bases.count()

    response = send(editor_client, "PATCH", detail_url("cities", "wuhan"), {**READ_ONLY, "name": "Wuhan!"})

    assert response.status_code == 200, response.content[:300]
    after = City.objects.get(slug="wuhan")
    assert after.pk == wuhan.pk
    assert after.name == "Wuhan!"
    assert after.created_at == wuhan.created_at
    assert after.updated_at > wuhan.updated_at
    assert response.json()["base_count"] == bases != READ_ONLY["base_count"]
    assert not City.objects.filter(pk=READ_ONLY["id"]).exists()


def test_read_only_fields_of_a_base_are_ignored(editor_client):
    body = base_body(id=999_999, created_at=OLD, sector_urls=["https://attacker.example/"])

    response = send(editor_client, "POST", list_url("bases"), body)

    assert response.status_code == 201, response.content[:300]
    base = PlannedBase.objects.get(slug="wuhan-optoelectronics-base")
    assert base.pk != 999_999
    assert base.created_at.year > 2000
    assert "attacker" not in response.content.decode()


def test_members_names_are_read_only(editor_client):
    members = [member("wuhan", name="Not Wuhan", name_zh="不是武汉", city_url="https://attacker.example/")]

    response = send(editor_client, "POST", list_url("bases"), base_body(members=members))

    assert response.status_code == 201, response.content[:300]
    assert City.objects.get(slug="wuhan").name == "Wuhan"
    assert response.json()["members"][0]["name"] == "Wuhan"


# ---------------------------------------------------------------------------
# 8. Updates
# ---------------------------------------------------------------------------


@pytest.fixture
def base(editor_client):
    """wuhan (leading) and changsha (member), one source: created through the API."""
    response = send(editor_client, "POST", list_url("bases"), base_body())
    assert response.status_code == 201, response.content[:300]
    return PlannedBase.objects.get(slug="wuhan-optoelectronics-base")


def base_url():
    return detail_url("bases", "wuhan-optoelectronics-base")


def memberships(base):
    return {m.city.slug: m for m in base.memberships.select_related("city")}


def test_patching_members_replaces_the_set_and_keeps_rows_that_stay(editor_client, base):
    kept = memberships(base)["changsha"]
    dropped = memberships(base)["wuhan"]
    members = [
        member("changsha", role="leading", position=0),
        member("nanchang", role="upgrading", position=1),
    ]

    response = send(editor_client, "PATCH", base_url(), {"members": members})

    assert response.status_code == 200, response.content[:300]
    after = memberships(base)
    assert set(after) == {"changsha", "nanchang"}
    assert after["changsha"].pk == kept.pk
    assert (after["changsha"].role, after["changsha"].position) == ("leading", 0)
    assert (after["nanchang"].role, after["nanchang"].position) == ("upgrading", 1)
    assert not BaseMembership.objects.filter(pk=dropped.pk).exists()
    assert [m["city"] for m in response.json()["members"]] == ["changsha", "nanchang"]


def test_members_without_a_position_take_their_order_in_the_list(editor_client, base):
    response = send(
        editor_client, "PATCH", base_url(), {"members": [{"city": "nanchang"}, {"city": "wuhan"}]}
    )

    assert response.status_code == 200, response.content[:300]
    after = memberships(base)
    assert (after["nanchang"].position, after["nanchang"].role) == (0, "member")
    assert (after["wuhan"].position, after["wuhan"].role) == (1, "member")
    assert [m["city"] for m in response.json()["members"]] == ["nanchang", "wuhan"]


def test_patching_members_to_an_empty_list_removes_them_all(editor_client, base):
    response = send(editor_client, "PATCH", base_url(), {"members": []})

    assert response.status_code == 200
    assert not base.memberships.exists()
    assert base.sources.count() == 1


def test_a_city_listed_twice_in_members_is_refused(editor_client, base):
    before = snapshot()
    members = [member("nanchang"), member("nanchang", role="leading", position=1)]

    response = send(editor_client, "PATCH", base_url(), {"members": members})

    assert_refused(response, "members")
    assert_unchanged(before)


def test_patching_sources_to_nothing_is_refused_and_the_base_keeps_its_sources(editor_client, base):
    before = snapshot()

    response = send(editor_client, "PATCH", base_url(), {"sources": []})

    assert_refused(response, "sources")
    assert_unchanged(before)
    assert [s.document.slug for s in base.sources.all()] == [PLAN]


def test_patching_sources_keeps_a_row_that_stays_and_updates_its_note(editor_client, base):
    kept = base.sources.get()
    sources = [
        {"document": PLAN, "section": "Chapter 5", "note": "New note."},
        {"document": RESEARCH, "section": "Abstract"},
    ]

    response = send(editor_client, "PATCH", base_url(), {"sources": sources})

    assert response.status_code == 200, response.content[:300]
    after = {(s.document.slug, s.section): s for s in base.sources.select_related("document")}
    assert set(after) == {(PLAN, "Chapter 5"), (RESEARCH, "Abstract")}
    assert after[(PLAN, "Chapter 5")].pk == kept.pk
    assert after[(PLAN, "Chapter 5")].note == "New note."


def test_a_refused_patch_changes_no_field_at_all(editor_client, base):
    """One bad field spoils the whole write: the good fields are not saved either."""
    before = snapshot()
    body = {"name": "Renamed", "members": [member("nanchang")], "sources": [], "sectors": ["steel"]}

    response = send(editor_client, "PATCH", base_url(), body)

    assert_refused(response, "sources")
    assert_unchanged(before)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize(
    ("changes", "field", "missing"),
    [
        ({"members": [member("nanchang"), {"role": "leading", "position": 1}]}, "members", "city"),
        ({"sources": [{"section": "Chapter 5", "note": "No document."}]}, "sources", "document"),
    ],
    ids=["member-without-city", "source-without-document"],
)
def test_a_nested_item_without_its_key_is_refused_naming_it(
    editor_client, base, method, changes, field, missing
):
    before = snapshot()
    body = changes if method == "PATCH" else base_body(**changes)

    response = send(editor_client, method, base_url(), body)

    errors = assert_refused(response, field)[field]
    position = str(len(changes[field]) - 1)
    assert errors == {position: {missing: ["This field is required."]}}, errors
    assert_unchanged(before)


def stale_read(write):
    """get_object as if `write(record)` were saved by someone else just after
    this request read the record."""
    original_get_object = EntityViewSet.get_object

    def get_object_then_someone_writes(view):
        stale = original_get_object(view)
        write(type(stale).objects.get(pk=stale.pk))
        return stale

    return mock.patch.object(EntityViewSet, "get_object", get_object_then_someone_writes)


def save_summary(document):
    document.summary = "Their summary."
    document.save()


def test_a_patch_writes_only_its_own_fields_over_a_later_save(editor_client):
    document = PolicyDocument.objects.get(slug=PLAN)

    with stale_read(save_summary):
        response = send(editor_client, "PATCH", detail_url("documents", PLAN), {"citation": "My citation."})

    assert response.status_code == 200, response.content[:300]
    assert (response.json()["summary"], response.json()["citation"]) == ("Their summary.", "My citation.")
    document.refresh_from_db()
    assert (document.summary, document.citation) == ("Their summary.", "My citation.")
    # The patch's history row holds the stored record, their summary too.
    latest = document.history.order_by("-history_date", "-history_id").first()
    assert (latest.summary, latest.citation, latest.version) == (
        "Their summary.",
        "My citation.",
        document.version,
    )


def test_a_patch_validates_the_record_as_it_is_stored_now(editor_client):
    """Their later approval date makes my publication date invalid."""

    def approve_late(document):
        document.approved_on = datetime.date(2030, 1, 1)
        document.save()

    with stale_read(approve_late):
        response = send(editor_client, "PATCH", detail_url("documents", PLAN), {"published_on": "2025-01-01"})

    assert_refused(response, "published_on")
    assert PolicyDocument.objects.get(slug=PLAN).published_on != datetime.date(2025, 1, 1)


def test_a_patch_of_a_record_deleted_meanwhile_is_a_404(editor_client):
    document = factories.PolicyDocumentFactory(slug="short-lived", status="draft")

    with stale_read(lambda record: record.delete()):
        response = send(editor_client, "PATCH", detail_url("documents", document.slug), {"summary": "Late."})

    assert_refused(response, "detail", status=404)
    assert not PolicyDocument.objects.filter(slug="short-lived").exists()


def test_a_write_that_collides_on_a_unique_row_is_a_409_and_changes_nothing(editor_client, base):
    before = snapshot()
    taken = IntegrityError("UNIQUE constraint failed: clusters_basemembership.base_id")

    with mock.patch.object(BaseMembership, "save", side_effect=taken):
        response = send(editor_client, "PATCH", base_url(), {"members": [member("nanchang")]})

    assert "same moment" in assert_refused(response, "detail", status=409)["detail"]
    assert_unchanged(before)


def test_put_replaces_the_whole_base(editor_client, base):
    body = base_body(
        name="Replaced base",
        kind="cluster",
        stage="operating",
        reach="downstream",
        area=None,
        sectors=["steel", "copper"],
        members=[member("jiujiang", role="leading")],
        sources=[{"document": NEWS, "section": "Steel"}],
    )

    response = send(editor_client, "PUT", base_url(), body)

    assert response.status_code == 200, response.content[:300]
    base.refresh_from_db()
    assert (base.name, base.kind, base.stage, base.reach, base.area) == (
        "Replaced base",
        "cluster",
        "operating",
        "downstream",
        None,
    )
    assert sorted(s.slug for s in base.sectors.all()) == ["copper", "steel"]
    assert [(m.city.slug, m.role) for m in base.memberships.all()] == [("jiujiang", "leading")]
    assert [(s.document.slug, s.section) for s in base.sources.all()] == [(NEWS, "Steel")]


def test_put_needs_the_required_fields(editor_client, base):
    before = snapshot()

    response = send(editor_client, "PUT", base_url(), {"name": "Only a name"})

    body = assert_refused(response)
    assert {"slug", "kind", "stage", "sources"} <= set(body)
    assert_unchanged(before)


def test_put_can_rename_the_slug(editor_client):
    response = send(
        editor_client, "PUT", detail_url("cities", "jingdezhen"), city_body(slug="jingdezhen-city")
    )

    assert response.status_code == 200, response.content[:300]
    assert response.json()["url"].endswith("/api/v1/cities/jingdezhen-city/")
    assert not City.objects.filter(slug="jingdezhen").exists()


def test_writing_to_a_missing_object_is_a_404(editor_client):
    before = snapshot()

    for method, body in [("PUT", city_body()), ("PATCH", {"name": "x"}), ("DELETE", None)]:
        response = send(editor_client, method, detail_url("cities", "atlantis"), body)
        assert response.status_code == 404, method

    assert_unchanged(before)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_editor_deletes_an_unused_object(editor_client, endpoint):
    model, _, factory = ENDPOINTS[endpoint]
    target = factory()

    response = send(editor_client, "DELETE", detail_url(endpoint, target.slug))

    assert response.status_code == 204
    assert not model.objects.filter(pk=target.pk).exists()


def test_deleting_a_base_removes_its_memberships_and_sources_but_not_the_cities(editor_client, base):
    membership_pks = list(base.memberships.values_list("pk", flat=True))

    response = send(editor_client, "DELETE", base_url())

    assert response.status_code == 204
    assert not BaseMembership.objects.filter(pk__in=membership_pks).exists()
    assert not BaseSource.objects.filter(base_id=base.pk).exists()
    assert City.objects.filter(slug__in=["wuhan", "changsha"]).count() == 2
    assert PolicyDocument.objects.filter(slug=PLAN).exists()


def protected_city_parent():
    parent = factories.CityFactory()
    factories.CityFactory(parent=parent, province=parent.province)
    return "cities", parent.slug


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(lambda: ("cities", "wuhan"), id="city-that-is-a-base-member"),
        pytest.param(protected_city_parent, id="city-that-administers-another"),
        pytest.param(lambda: ("provinces", "hubei"), id="province-with-cities"),
        pytest.param(lambda: ("sectors", "automobiles"), id="sector-with-sub-sectors"),
        pytest.param(lambda: ("documents", RESEARCH), id="document-that-is-a-source"),
    ],
)
def test_deleting_a_protected_object_is_a_client_error(editor_client, target):
    endpoint, slug = target()
    before = snapshot()

    response = send(editor_client, "DELETE", detail_url(endpoint, slug))

    assert_client_error(response)
    assert response.status_code == 409
    assert response.json()["used_by"], "the answer names what still uses the record"
    assert_unchanged(before)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(lambda: ("cities", "wuhan"), id="city-that-is-a-base-member"),
        pytest.param(lambda: ("provinces", "hubei"), id="province-with-cities"),
        pytest.param(lambda: ("documents", RESEARCH), id="document-that-is-a-source"),
    ],
)
def test_a_protected_object_survives_a_delete(editor_client, target):
    """Whatever the status, the protection itself holds."""
    endpoint, slug = target()
    before = snapshot()

    send(editor_client, "DELETE", detail_url(endpoint, slug))

    assert_unchanged(before)


# ---------------------------------------------------------------------------
# 9. A successful write answers with the saved object
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_create_answers_with_the_saved_object_as_get_shows_it(editor_client, endpoint):
    body = ENDPOINTS[endpoint][1]()

    response = send(editor_client, "POST", list_url(endpoint), body)

    assert response.status_code == 201, response.content[:300]
    data = response.json()
    url = f"http://testserver{detail_url(endpoint, body['slug'])}"
    assert data["url"] == url
    assert data["slug"] == body["slug"]
    assert data["id"] == ENDPOINTS[endpoint][0].objects.get(slug=body["slug"]).pk
    assert data == editor_client.get(url).json()


@pytest.mark.parametrize(
    ("endpoint", "count_field", "expected"),
    [
        ("cities", "base_count", 0),
        ("provinces", "city_count", 0),
        ("sectors", "base_count", 0),
    ],
)
def test_a_create_answers_with_counts(editor_client, endpoint, count_field, expected):
    response = send(editor_client, "POST", list_url(endpoint), ENDPOINTS[endpoint][1]())

    assert response.status_code == 201
    assert response.json()[count_field] == expected


def test_a_created_base_answers_with_its_members_and_sources(editor_client):
    response = send(editor_client, "POST", list_url("bases"), base_body())

    data = response.json()
    assert data["area"]["type"] == "MultiPolygon"
    assert data["sectors"] == ["integrated-circuits"]
    assert [(m["city"], m["name"], m["role"], m["position"]) for m in data["members"]] == [
        ("wuhan", "Wuhan", "leading", 0),
        ("changsha", "Changsha", "member", 1),
    ]
    assert data["members"][0]["city_url"] == "http://testserver/api/v1/cities/wuhan/"
    assert data["sources"] == [
        {
            "document": PLAN,
            "document_url": f"http://testserver/api/v1/documents/{PLAN}/",
            "section": "Chapter 5",
            "note": "In our own words.",
        }
    ]


@pytest.mark.parametrize(
    ("endpoint", "slug", "count_field", "count"),
    [
        ("cities", "wuhan", "base_count", lambda: City.objects.get(slug="wuhan").bases.count()),
        ("provinces", "hubei", "city_count", lambda: City.objects.filter(province__slug="hubei").count()),
        (
            "sectors",
            "automobiles",
            "base_count",
            lambda: Sector.objects.get(slug="automobiles").bases.count(),
        ),
    ],
)
def test_an_update_answers_with_the_saved_object_and_its_counts(
    editor_client, endpoint, slug, count_field, count
):
    url = detail_url(endpoint, slug)

    response = send(editor_client, "PATCH", url, {"name": "Renamed"})

    assert response.status_code == 200, response.content[:300]
    data = response.json()
    assert (data["name"], data["slug"]) == ("Renamed", slug)
    assert data["url"] == f"http://testserver{url}"
    assert data[count_field] == count() > 0
    assert data == editor_client.get(url).json()


def test_a_base_update_answers_with_the_new_members(editor_client, base):
    response = send(editor_client, "PATCH", base_url(), {"members": [member("nanchang")], "name": "Renamed"})

    data = response.json()
    assert data["name"] == "Renamed"
    assert [m["city"] for m in data["members"]] == ["nanchang"]
    assert data == editor_client.get(base_url()).json()
