"""Editor screens: every model's pages, the map widget, and bounded queries."""

import html
import json
import re
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clusters.models import (
    BaseMembership,
    BaseSource,
    City,
    PlannedBase,
    PolicyDocument,
    Province,
    Sector,
)
from tests import factories
from tests.gdal import assert_gdal_not_called
from tests.geometry_payloads import FIXED, gc_wkt, random_payloads
from tests.test_editorial import admin_form_data

pytestmark = pytest.mark.django_db

FACTORIES = {
    Province: factories.ProvinceFactory,
    City: factories.CityFactory,
    Sector: factories.SectorFactory,
    PolicyDocument: factories.PolicyDocumentFactory,
    PlannedBase: factories.PlannedBaseFactory,
    BaseMembership: factories.BaseMembershipFactory,
    BaseSource: factories.BaseSourceFactory,
}
MODELS = list(FACTORIES)


def admin_url(model, view, *args):
    return reverse(f"admin:clusters_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_add_and_change_pages_open_for_a_superuser(admin_client, model):
    obj = FACTORIES[model]()
    for url in (
        admin_url(model, "changelist"),
        admin_url(model, "add"),
        admin_url(model, "change", obj.pk),
    ):
        assert admin_client.get(url).status_code == HTTPStatus.OK, url


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_search_opens(admin_client, model):
    FACTORIES[model]()
    response = admin_client.get(admin_url(model, "changelist"), {"q": "1"})
    assert response.status_code == HTTPStatus.OK


def test_admin_pages_open_on_the_reference_data(admin_client, reference_data):
    for model in MODELS:
        assert admin_client.get(admin_url(model, "changelist")).status_code == HTTPStatus.OK
        obj = model.objects.first()
        assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == HTTPStatus.OK


def seed(model, count):
    """Rows with their relations filled in, so every column has something to show."""
    if model is PlannedBase:
        for base in factories.PlannedBaseFactory.create_batch(count):
            factories.BaseMembershipFactory(base=base)
            base.sectors.add(factories.SectorFactory())
    elif model is Sector:
        parent = factories.SectorFactory()
        factories.SectorFactory.create_batch(count, parent=parent)
    else:
        FACTORIES[model].create_batch(count)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_query_count_does_not_grow_with_rows(admin_client, django_assert_max_num_queries, model):
    url = admin_url(model, "changelist")
    seed(model, 3)
    with CaptureQueriesContext(connection) as few_rows:
        admin_client.get(url)

    seed(model, 60)
    with django_assert_max_num_queries(len(few_rows)):
        response = admin_client.get(url)
    assert response.status_code == HTTPStatus.OK


def city_form_data(province, **overrides):
    data = {
        "name": "Test City",
        "name_zh": "测试市",
        "slug": "test-city",
        "province": province.pk,
        "level": "prefecture",
        "description": "",
        "location": json.dumps({"type": "Point", "coordinates": [113.0, 29.0]}),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_creating_a_city_with_a_map_value_stores_the_point(admin_client):
    province = factories.ProvinceFactory()

    response = admin_client.post(admin_url(City, "add"), city_form_data(province))

    assert response.status_code == HTTPStatus.FOUND, response.context["adminform"].form.errors
    city = City.objects.get(slug="test-city")
    assert (city.location.x, city.location.y) == (113.0, 29.0)
    assert city.location.srid == 4326


@pytest.mark.parametrize(
    ("location", "message"),
    [
        (json.dumps({"type": "Point", "coordinates": [116.4, 39.9]}), "outside the Yangtze"),
        (json.dumps({"type": "Point", "coordinates": [29.0, 113.0]}), "out of range"),
        ("SRID=3857;POINT (12700000 3500000)", "EPSG:4326"),
        (
            json.dumps(
                {
                    "type": "Point",
                    "coordinates": [113.0, 29.0],
                    "crs": {"type": "name", "properties": {"name": "/etc/passwd"}},
                }
            ),
            "EPSG:4326",
        ),
        ("not a geometry", "GeoJSON or WKT"),
    ],
    ids=["outside-belt", "swapped", "other-srid", "crs-file", "garbage"],
)
def test_a_bad_location_is_a_form_error_and_nothing_is_saved(admin_client, location, message):
    province = factories.ProvinceFactory()

    response = admin_client.post(admin_url(City, "add"), city_form_data(province, location=location))

    assert response.status_code == HTTPStatus.OK
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors["location"])
    assert not City.objects.filter(slug="test-city").exists()


def base_form_data(document=None, city=None):
    data = {
        "name": "Test base",
        "name_zh": "",
        "slug": "test-base",
        "kind": "base",
        "stage": "planned",
        "status": "draft",
        "reach": "middle",
        "description": "",
        "area": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "sources-TOTAL_FORMS": "0",
        "sources-INITIAL_FORMS": "0",
        "sources-MIN_NUM_FORMS": "1",
        "sources-MAX_NUM_FORMS": "1000",
    }
    if city:
        data.update(
            {
                "memberships-TOTAL_FORMS": "1",
                "memberships-0-city": city.pk,
                "memberships-0-role": "leading",
                "memberships-0-position": "1",
            }
        )
    if document:
        data.update(
            {
                "sources-TOTAL_FORMS": "1",
                "sources-0-document": document.pk,
                "sources-0-section": "Industry",
                "sources-0-note": "Planned here.",
            }
        )
    return data


def test_a_base_with_a_source_and_a_member_city_is_saved(admin_client):
    document = factories.PolicyDocumentFactory()
    city = factories.CityFactory()

    response = admin_client.post(admin_url(PlannedBase, "add"), base_form_data(document, city))

    assert response.status_code == HTTPStatus.FOUND
    base = PlannedBase.objects.get(slug="test-base")
    assert list(base.documents.all()) == [document]
    assert base.memberships.get().role == "leading"


def test_a_base_without_a_source_is_refused(admin_client):
    response = admin_client.post(admin_url(PlannedBase, "add"), base_form_data())

    assert response.status_code == HTTPStatus.OK
    assert not PlannedBase.objects.filter(slug="test-base").exists()
    assert "source" in response.content.decode()


def test_removing_the_last_source_of_a_base_is_refused(admin_client):
    base = factories.PlannedBaseFactory()
    source = base.sources.get()
    data = base_form_data(source.document)
    data.update(
        {
            "slug": base.slug,
            "sources-INITIAL_FORMS": "1",
            "sources-0-id": source.pk,
            "sources-0-base": base.pk,
            "sources-0-DELETE": "on",
        }
    )

    response = admin_client.post(admin_url(PlannedBase, "change", base.pk), data)

    assert response.status_code == HTTPStatus.OK
    assert base.sources.count() == 1


def test_the_only_source_of_a_base_cannot_be_deleted_on_its_own(admin_client):
    base = factories.PlannedBaseFactory()
    source = base.sources.get()

    response = admin_client.post(admin_url(BaseSource, "delete", source.pk), {"post": "yes"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert base.sources.count() == 1


def test_a_city_used_by_a_base_cannot_be_deleted(admin_client):
    membership = factories.BaseMembershipFactory()

    response = admin_client.post(admin_url(City, "delete", membership.city.pk), {"post": "yes"})

    assert response.status_code == HTTPStatus.OK  # Django explains what protects it
    assert City.objects.filter(pk=membership.city.pk).exists()


@pytest.fixture
def viewer_client(client):
    """A staff user who may view, but not change, every domain model."""
    user = User.objects.create_user("viewer", password="not-used", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(user)
    return client


def test_view_only_user_sees_a_read_only_map(viewer_client):
    city = factories.CityFactory()

    response = viewer_client.get(admin_url(City, "change", city.pk))

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "leaflet" in html
    assert 'data-modifiable="false"' in html
    assert 'data-modifiable="true"' not in html
    assert '<input type="submit"' not in html


def test_view_only_user_sees_read_only_maps_in_inlines(viewer_client):
    city = factories.CityFactory()

    response = viewer_client.get(admin_url(Province, "change", city.province.pk))

    assert response.status_code == HTTPStatus.OK
    assert 'data-modifiable="false"' in response.content.decode()


def test_view_only_user_cannot_change_a_city(viewer_client):
    city = factories.CityFactory()
    data = city_form_data(city.province, slug=city.slug, name="Changed")

    response = viewer_client.post(admin_url(City, "change", city.pk), data)

    assert response.status_code == HTTPStatus.FORBIDDEN
    city.refresh_from_db()
    assert city.name != "Changed"


def test_editor_sees_an_editable_map(admin_client):
    city = factories.CityFactory()

    html = admin_client.get(admin_url(City, "change", city.pk)).content.decode()

    assert 'data-modifiable="true"' in html


# ---------------------------------------------------------------------------
# Hostile geometry in the map widget: a form error, the stored area kept
# ---------------------------------------------------------------------------

STORED_AREA = MultiPolygon(Polygon.from_bbox((114, 30, 115, 31)), srid=4326)
HOSTILE_AREAS = [
    "wkt-multipolygon-empty-part",
    "geojson-multipolygon-empty-second",
    "wkt-collection-9-deep",
    "wkt-collection-10000-deep",
    "geojson-collection-100-deep",
    "geojson-huge-int",
    "wkt-huge-int",
    "geojson-type-object",
    "geojson-type-list",
    "wkt-trailing-geometry",
]


def as_text(payload):
    return payload if isinstance(payload, str) else json.dumps(payload)


def post_area(client, base, area):
    """The base's change form posted back as it was opened, with `area`."""
    url = admin_url(PlannedBase, "change", base.pk)
    return client.post(url, admin_form_data(client.get(url), area=area))


def map_geometry(response):
    """The geometry the redisplayed map widget shows (its hidden textarea)."""
    textarea = re.search(r'<textarea id="id_area"[^>]*>([^<]*)</textarea>', response.content.decode())
    return GEOSGeometry(html.unescape(textarea[1])) if textarea[1] else None


def assert_area_kept(base):
    base.refresh_from_db()
    assert base.area is not None and base.area.equals_exact(STORED_AREA, tolerance=0)


@pytest.mark.parametrize("name", HOSTILE_AREAS)
def test_a_hostile_area_is_a_form_error_and_the_stored_area_stays(admin_client, name):
    base = factories.PlannedBaseFactory(area=STORED_AREA)

    response = post_area(admin_client, base, as_text(FIXED[name]))

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["area"]
    assert_area_kept(base)
    # The map shows the stored outline again: an empty one would be saved next time.
    assert map_geometry(response).equals_exact(STORED_AREA, tolerance=0)


def test_a_collection_at_the_nesting_limit_is_redisplayed_on_the_map(admin_client):
    """Parsed, refused as the wrong type, and drawn again without GDAL."""
    base = factories.PlannedBaseFactory(area=STORED_AREA)

    response = post_area(admin_client, base, gc_wkt(7))

    assert response.status_code == HTTPStatus.OK
    assert "Invalid geometry type" in " ".join(response.context["adminform"].form.errors["area"])
    assert map_geometry(response).geom_type == "GeometryCollection"
    assert_area_kept(base)


def test_a_good_area_from_the_map_is_saved(admin_client):
    """The counterpart of the refusals above: the same form saves a good area."""
    base = factories.PlannedBaseFactory(area=STORED_AREA)
    area = MultiPolygon(Polygon.from_bbox((112, 29, 113, 30)), srid=4326)

    response = post_area(admin_client, base, area.json)

    assert response.status_code == HTTPStatus.FOUND
    base.refresh_from_db()
    assert base.area.equals_exact(area, tolerance=0)


def test_a_hostile_initial_area_in_the_add_form_url_never_reaches_gdal(admin_client, gdal_trap):
    crs_file = {
        "type": "Point",
        "coordinates": [114, 30],
        "crs": {"type": "name", "properties": {"name": "/x"}},
    }

    response = admin_client.get(admin_url(PlannedBase, "add"), {"area": json.dumps(crs_file)})

    assert response.status_code == HTTPStatus.OK
    assert_gdal_not_called(gdal_trap)


@pytest.mark.parametrize(
    "payload",
    [payload for _name, payload in random_payloads(seed=6, count=40)],
    ids=[name for name, _payload in random_payloads(seed=6, count=40)],
)
def test_a_random_hostile_area_is_saved_whole_or_refused_keeping_the_stored_one(admin_client, payload):
    base = factories.PlannedBaseFactory(area=STORED_AREA)

    response = post_area(admin_client, base, as_text(payload))

    assert response.status_code in {HTTPStatus.OK, HTTPStatus.FOUND}
    base.refresh_from_db()
    if response.status_code == HTTPStatus.OK:
        assert_area_kept(base)
    else:
        assert base.area is not None and not base.area.empty
