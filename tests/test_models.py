"""The domain models: natural keys, clean() rules, database constraints,
timestamps and the relation-loading queryset."""

import datetime
from datetime import timedelta

import pytest
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusters.models import (
    BaseMembership,
    BaseSource,
    City,
    MembershipRole,
    PlannedBase,
    PolicyDocument,
    Province,
    Sector,
    now,
)
from tests.factories import (
    BaseMembershipFactory,
    BaseSourceFactory,
    CityFactory,
    PlannedBaseFactory,
    PolicyDocumentFactory,
    ProvinceFactory,
    SectorFactory,
)

# Factories make every row these tests look at.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_database")]

ALL_FACTORIES = [
    ProvinceFactory,
    CityFactory,
    SectorFactory,
    PolicyDocumentFactory,
    PlannedBaseFactory,
    BaseMembershipFactory,
    BaseSourceFactory,
]
ENTITY_FACTORIES = [
    ProvinceFactory,
    CityFactory,
    SectorFactory,
    PolicyDocumentFactory,
    PlannedBaseFactory,
]


def factory_id(factory):
    return factory._meta.model.__name__


def belt_box(west, south, east, north):
    return MultiPolygon(Polygon.from_bbox((west, south, east, north)), srid=4326)


# ---------------------------------------------------------------------------
# Natural keys and __str__
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("factory", ALL_FACTORIES, ids=factory_id)
def test_natural_key_finds_the_object(factory):
    obj = factory()
    model = type(obj)

    assert model.objects.get_by_natural_key(*obj.natural_key()) == obj


@pytest.mark.parametrize("factory", ENTITY_FACTORIES, ids=factory_id)
def test_entity_natural_key_is_the_slug(factory):
    obj = factory(slug="wuhan-thing")

    assert obj.natural_key() == ("wuhan-thing",)


def test_membership_natural_key_is_base_and_city_slugs():
    membership = BaseMembershipFactory(base__slug="steel", city__slug="wuhan")

    assert membership.natural_key() == ("steel", "wuhan")
    assert BaseMembership.objects.get_by_natural_key("steel", "wuhan") == membership


def test_source_natural_key_is_base_document_and_section():
    source = BaseSourceFactory(base__slug="steel", document__slug="plan-2015", section="Chapter 5")

    assert source.natural_key() == ("steel", "plan-2015", "Chapter 5")
    assert BaseSource.objects.get_by_natural_key("steel", "plan-2015", "Chapter 5") == source


def test_source_natural_key_tells_sections_of_one_document_apart():
    first = BaseSourceFactory(section="Chapter 5")
    second = BaseSourceFactory(base=first.base, document=first.document, section="Chapter 6")

    assert BaseSource.objects.get_by_natural_key(*first.natural_key()) == first
    assert BaseSource.objects.get_by_natural_key(*second.natural_key()) == second


@pytest.mark.parametrize("factory", ENTITY_FACTORIES, ids=factory_id)
def test_entity_str_is_its_name(factory):
    assert str(factory(name="Wuhan Optics Valley")) == "Wuhan Optics Valley"


def test_membership_str_names_city_base_and_role():
    membership = BaseMembershipFactory(
        base__name="Steel Cluster", city__name="Wuhan", role=MembershipRole.LEADING
    )

    assert str(membership) == "Wuhan — Steel Cluster (Leading)"


def test_source_str_names_document_and_section():
    source = BaseSourceFactory(document__name="Plan 2015", section="Chapter 5")

    assert str(source) == "Plan 2015 § Chapter 5"


def test_source_str_without_section_is_the_document():
    assert str(BaseSourceFactory(document__name="Plan 2015", section="")) == "Plan 2015"


# ---------------------------------------------------------------------------
# clean()
# ---------------------------------------------------------------------------


def test_factory_defaults_pass_full_clean():
    for factory in ALL_FACTORIES:
        factory().full_clean()


@pytest.mark.parametrize(
    "location",
    [
        pytest.param(Point(116.4, 39.9, srid=4326), id="beijing"),
        pytest.param(Point(30.59, 114.31, srid=4326), id="wuhan-lon-lat-swapped"),
        pytest.param(Point(87.62, 43.83, srid=4326), id="urumqi"),
    ],
)
def test_city_outside_the_belt_is_refused(location):
    city = CityFactory()
    city.location = location

    with pytest.raises(ValidationError) as excinfo:
        city.full_clean()

    assert list(excinfo.value.message_dict) == ["location"]
    assert "swapped" in excinfo.value.message_dict["location"][0]


@pytest.mark.parametrize(
    "location",
    [
        pytest.param(Point(114.31, 30.59, srid=4326), id="wuhan"),
        pytest.param(Point(121.47, 31.23, srid=4326), id="shanghai"),
        pytest.param(None, id="no-location"),
    ],
)
def test_city_inside_the_belt_is_fine(location):
    city = CityFactory(location=location)

    city.full_clean()


def test_city_cannot_be_its_own_parent():
    city = CityFactory()
    city.parent = city

    with pytest.raises(ValidationError) as excinfo:
        city.full_clean()

    assert "parent" in excinfo.value.message_dict


def test_city_can_be_administered_by_another_city():
    changsha = CityFactory()
    ningxiang = CityFactory(parent=changsha, province=changsha.province)

    ningxiang.full_clean()


def test_city_error_reports_both_location_and_parent():
    city = CityFactory()
    city.parent = city
    city.location = Point(116.4, 39.9, srid=4326)

    with pytest.raises(ValidationError) as excinfo:
        city.full_clean()

    assert set(excinfo.value.message_dict) == {"location", "parent"}


def test_sector_cannot_be_its_own_parent():
    sector = SectorFactory()
    sector.parent = sector

    with pytest.raises(ValidationError) as excinfo:
        sector.full_clean()

    assert "parent" in excinfo.value.message_dict


def test_sector_cannot_sit_under_its_own_sub_sector():
    a = SectorFactory()
    b = SectorFactory(parent=a)
    a.parent = b  # would make a -> b -> a

    with pytest.raises(ValidationError) as excinfo:
        a.full_clean()

    assert list(excinfo.value.message_dict) == ["parent"]


def test_sector_cannot_sit_under_a_grandchild():
    a = SectorFactory()
    b = SectorFactory(parent=a)
    c = SectorFactory(parent=b)
    a.parent = c

    with pytest.raises(ValidationError) as excinfo:
        a.full_clean()

    assert "parent" in excinfo.value.message_dict


def test_sector_tree_without_loop_is_fine():
    transport = SectorFactory()
    shipbuilding = SectorFactory(parent=transport)
    marine_engines = SectorFactory(parent=shipbuilding)

    marine_engines.full_clean()
    assert marine_engines.ancestor_ids() == [shipbuilding.pk, transport.pk]


def test_sector_ancestor_ids_stop_at_a_loop_already_in_the_database():
    a = SectorFactory()
    b = SectorFactory(parent=a)
    Sector.objects.filter(pk=a.pk).update(parent=b)
    leaf = SectorFactory(parent=Sector.objects.get(pk=a.pk))

    assert leaf.ancestor_ids() == [a.pk, b.pk]
    leaf.full_clean()


def test_base_area_outside_the_belt_is_refused():
    base = PlannedBaseFactory()
    base.area = belt_box(116, 39, 117, 40)  # Beijing

    with pytest.raises(ValidationError) as excinfo:
        base.full_clean()

    assert list(excinfo.value.message_dict) == ["area"]


def test_base_area_straddling_the_belt_edge_is_refused():
    base = PlannedBaseFactory()
    base.area = belt_box(114, 34, 115, 36)

    with pytest.raises(ValidationError) as excinfo:
        base.full_clean()

    assert "area" in excinfo.value.message_dict


@pytest.mark.parametrize("area", [belt_box(113.5, 30, 114.5, 31), None], ids=["wuhan-area", "no-area"])
def test_base_area_inside_the_belt_is_fine(area):
    base = PlannedBaseFactory()
    base.area = area

    base.full_clean()


def test_document_cannot_be_published_before_it_was_approved():
    document = PolicyDocumentFactory(
        approved_on=datetime.date(2015, 3, 26), published_on=datetime.date(2015, 3, 25)
    )

    with pytest.raises(ValidationError) as excinfo:
        document.full_clean()

    assert list(excinfo.value.message_dict) == ["published_on"]


@pytest.mark.parametrize(
    ("approved_on", "published_on"),
    [
        (datetime.date(2015, 3, 26), datetime.date(2015, 3, 26)),
        (datetime.date(2015, 3, 26), datetime.date(2015, 4, 13)),
        (None, datetime.date(2015, 4, 13)),
        (datetime.date(2015, 3, 26), None),
    ],
)
def test_document_dates_in_order_are_fine(approved_on, published_on):
    PolicyDocumentFactory(approved_on=approved_on, published_on=published_on).full_clean()


def test_document_cannot_report_on_itself():
    document = PolicyDocumentFactory()
    document.reports_on = document

    with pytest.raises(ValidationError) as excinfo:
        document.full_clean()

    assert list(excinfo.value.message_dict) == ["reports_on"]


def test_document_can_report_on_another_document():
    plan = PolicyDocumentFactory()

    PolicyDocumentFactory(reports_on=plan).full_clean()


# ---------------------------------------------------------------------------
# Database constraints
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("factory", ENTITY_FACTORIES, ids=factory_id)
def test_empty_slug_is_refused_by_the_database(factory):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(slug="")

    assert not factory._meta.model.objects.filter(slug="").exists()


@pytest.mark.parametrize("factory", ENTITY_FACTORIES, ids=factory_id)
def test_empty_slug_is_refused_by_full_clean(factory):
    obj = factory()
    obj.slug = ""

    with pytest.raises(ValidationError) as excinfo:
        obj.full_clean()

    assert "slug" in excinfo.value.message_dict


@pytest.mark.parametrize("factory", ENTITY_FACTORIES, ids=factory_id)
def test_duplicate_slug_is_refused_by_the_database(factory):
    factory(slug="wuhan")

    with pytest.raises(IntegrityError), transaction.atomic():
        factory(slug="wuhan")

    assert factory._meta.model.objects.filter(slug="wuhan").count() == 1


def test_duplicate_membership_is_refused_by_the_database():
    membership = BaseMembershipFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        BaseMembership.objects.create(base=membership.base, city=membership.city, role=MembershipRole.LEADING)

    assert BaseMembership.objects.count() == 1


def test_one_city_may_belong_to_several_bases():
    city = CityFactory()
    BaseMembershipFactory(city=city)
    BaseMembershipFactory(city=city)

    assert city.bases.count() == 2


def test_duplicate_source_section_is_refused_by_the_database():
    source = BaseSourceFactory(section="Chapter 5")

    with pytest.raises(IntegrityError), transaction.atomic():
        BaseSource.objects.create(base=source.base, document=source.document, section="Chapter 5")


# ---------------------------------------------------------------------------
# Timestamps
# ---------------------------------------------------------------------------


def backdate(obj):
    """Move the row's timestamps a day back; return the old time."""
    past = timezone.now() - timedelta(days=1)
    type(obj).objects.filter(pk=obj.pk).update(created_at=past, updated_at=past)
    obj.refresh_from_db()
    return past


@pytest.mark.parametrize("factory", ALL_FACTORIES, ids=factory_id)
def test_save_bumps_updated_at_and_keeps_created_at(factory):
    obj = factory()
    past = backdate(obj)

    obj.save()
    obj.refresh_from_db()

    assert obj.created_at == past
    assert obj.updated_at > past


def test_new_objects_get_both_timestamps():
    # Stored to the millisecond, so compare at that precision.
    before = now()
    province = ProvinceFactory()

    assert before <= province.created_at <= timezone.now()
    assert before <= province.updated_at <= timezone.now()


def test_save_with_update_fields_bumps_updated_at_too():
    city = CityFactory(description="Old")
    past = backdate(city)

    city.name = "Wuhan"
    city.description = "Not saved"
    city.save(update_fields=["name"])
    city.refresh_from_db()

    assert city.name == "Wuhan"
    assert city.description == "Old"
    assert city.created_at == past
    assert city.updated_at > past


def test_save_with_update_fields_on_a_membership_bumps_updated_at():
    membership = BaseMembershipFactory()
    past = backdate(membership)

    membership.role = MembershipRole.LEADING
    membership.save(update_fields=("role",))
    membership.refresh_from_db()

    assert membership.role == MembershipRole.LEADING
    assert membership.updated_at > past


# ---------------------------------------------------------------------------
# PlannedBase.objects.with_relations()
# ---------------------------------------------------------------------------


def make_bases(count):
    for _ in range(count):
        base = PlannedBaseFactory()
        base.sectors.add(SectorFactory(), SectorFactory())
        for position in range(3):
            BaseMembershipFactory(base=base, position=position)
        BaseSourceFactory(base=base, section="Another section")


def walk(bases):
    """Touch everything a base page shows."""
    seen = []
    for base in bases:
        seen.append(base.name)
        seen.extend(sector.name for sector in base.sectors.all())
        for membership in base.memberships.all():
            seen.extend([membership.city.name, membership.city.province.name, membership.get_role_display()])
        seen.extend(source.document.name for source in base.sources.all())
    return seen


@pytest.mark.parametrize("count", [1, 6])
def test_with_relations_costs_a_constant_number_of_queries(django_assert_num_queries, count):
    make_bases(count)

    # Bases, sectors, memberships with cities and provinces, sources with documents.
    with django_assert_num_queries(4):
        seen = walk(PlannedBase.objects.with_relations())

    # 1 name + 2 sectors + 3 memberships * 3 + 2 sources, per base.
    assert len(seen) == count * (1 + 2 + 9 + 2)


def test_without_with_relations_the_queries_grow_with_the_bases():
    make_bases(3)

    with CaptureQueriesContext(connection) as queries:
        walk(PlannedBase.objects.all())

    assert len(queries) > 4


def test_with_relations_returns_every_base_with_its_own_relations():
    make_bases(2)
    expected = {
        base.slug: (
            sorted(base.memberships.values_list("city__slug", flat=True)),
            sorted(base.sources.values_list("document__slug", flat=True)),
        )
        for base in PlannedBase.objects.all()
    }

    bases = list(PlannedBase.objects.with_relations())

    assert {
        base.slug: (
            sorted(m.city.slug for m in base.memberships.all()),
            sorted(s.document.slug for s in base.sources.all()),
        )
        for base in bases
    } == expected
    assert all(isinstance(m.city, City) for base in bases for m in base.memberships.all())
    assert {type(m.city.province) for base in bases for m in base.memberships.all()} == {Province}
    assert {type(s.document) for base in bases for s in base.sources.all()} == {PolicyDocument}


def test_with_relations_keeps_membership_order():
    base = PlannedBaseFactory()
    cities = [CityFactory(slug=slug) for slug in ("wuhan", "yichang", "jiujiang")]
    for position, city in reversed(list(enumerate(cities))):
        BaseMembershipFactory(base=base, city=city, position=position)

    loaded = PlannedBase.objects.with_relations().get(pk=base.pk)

    assert [m.city.slug for m in loaded.memberships.all()] == ["wuhan", "yichang", "jiujiang"]
