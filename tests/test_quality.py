"""check_data and the admin's data-quality page: what they flag, what they
leave alone, who may see the page, and bounded queries."""

import itertools
from http import HTTPStatus
from io import StringIO
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse

from clusters.admin_quality import data_quality
from clusters.models import BaseSource, City, Language, PlannedBase, PolicyDocument, Sector
from clusters.quality import Category, find_problems
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/admin/data-quality/"


def run_check_data():
    """(exit status, output) of `manage.py check_data`."""
    out = StringIO()
    try:
        call_command("check_data", stdout=out)
    except CommandError as error:
        return 1, out.getvalue() + str(error)
    return 0, out.getvalue()


def found():
    return {(f.category, f.model, f.pk) for f in find_problems()}


# ---------------------------------------------------------------------------
# The command on the shipped fixtures
# ---------------------------------------------------------------------------


def test_the_shipped_fixtures_have_nothing_to_fix(reference_data):
    status, output = run_check_data()

    assert status == 0, output
    assert "No problems found" in output


def test_a_base_that_loses_its_last_source_is_named_and_the_command_fails(reference_data):
    base = PlannedBase.objects.get(slug="middle-reaches-steel-cluster")
    BaseSource.objects.filter(base=base).delete()

    status, output = run_check_data()

    assert status == 1
    assert "Planned bases without a source (1)" in output
    assert "'middle-reaches-steel-cluster'" in output
    assert f"/admin/clusters/plannedbase/{base.pk}/change/" in output
    assert "1 problem in 1 category." in output


# ---------------------------------------------------------------------------
# Each category, on a small world that is correct until a test breaks it
# ---------------------------------------------------------------------------


NUMBERS = itertools.count()


def correct_base():
    """A base with a Chinese name, a source document, a member city and a sector."""
    number = next(NUMBERS)
    document = factories.PolicyDocumentFactory(name_zh=f"规划{number}")
    base = factories.PlannedBaseFactory(name_zh=f"基地{number}", source__document=document)
    city = factories.BaseMembershipFactory(base=base).city
    sector = factories.SectorFactory()
    base.sectors.add(sector)
    return SimpleNamespace(base=base, document=document, city=city, sector=sector)


@pytest.fixture
def world(empty_database):
    """Two correct bases: `world.one` and `world.two`; nothing to fix."""
    return SimpleNamespace(one=correct_base(), two=correct_base())


def test_a_correct_world_has_nothing_to_fix(world):
    assert find_problems() == []
    assert run_check_data()[0] == 0


def update(obj, **fields):
    type(obj).objects.filter(pk=obj.pk).update(**fields)
    return obj


def base_without_source(world):
    BaseSource.objects.filter(base=world.one.base).delete()
    return {(Category.BASE_WITHOUT_SOURCE, PlannedBase, world.one.base.pk)}


def city_without_location(world):
    update(world.one.city, location=None)
    return {(Category.CITY_WITHOUT_LOCATION, City, world.one.city.pk)}


def city_outside_belt(world):
    update(world.one.city, location=Point(116.40, 39.90, srid=4326))  # Beijing
    return {(Category.CITY_OUTSIDE_BELT, City, world.one.city.pk)}


def city_west_of_the_belt(world):
    update(world.one.city, location=Point(91.13, 29.65, srid=4326))  # Lhasa
    return {(Category.CITY_OUTSIDE_BELT, City, world.one.city.pk)}


def unused_sector(world):
    sector = factories.SectorFactory()
    return {(Category.UNUSED_SECTOR, Sector, sector.pk)}


def unused_city(world):
    city = factories.CityFactory()
    return {(Category.UNUSED_CITY, City, city.pk)}


def document_without_citation_or_url(world):
    update(world.one.document, citation="", source_url="")
    return {(Category.DOCUMENT_WITHOUT_REFERENCE, PolicyDocument, world.one.document.pk)}


def slug_of_spaces(world):
    # The database refuses an empty slug; spaces are what can get past it.
    update(world.one.sector, slug="   ")
    return {(Category.MISSING_SLUG, Sector, world.one.sector.pk)}


def base_without_chinese_name(world):
    update(world.one.base, name_zh="")
    return {(Category.MISSING_CHINESE_NAME, PlannedBase, world.one.base.pk)}


def chinese_document_without_chinese_name(world):
    update(world.one.document, name_zh=" ", language=Language.CHINESE)
    return {(Category.MISSING_CHINESE_NAME, PolicyDocument, world.one.document.pk)}


def same_english_name_in_another_case(world):
    update(world.one.city, name="Wuhan")
    update(world.two.city, name=" WUHAN")
    return {
        (Category.DUPLICATE_NAME, City, world.one.city.pk),
        (Category.DUPLICATE_NAME, City, world.two.city.pk),
    }


def same_chinese_name(world):
    update(world.one.sector, name_zh="汽车")
    update(world.two.sector, name_zh="汽车")
    return {
        (Category.DUPLICATE_NAME, Sector, world.one.sector.pk),
        (Category.DUPLICATE_NAME, Sector, world.two.sector.pk),
    }


PROBLEMS = [
    base_without_source,
    city_without_location,
    city_outside_belt,
    city_west_of_the_belt,
    unused_sector,
    unused_city,
    document_without_citation_or_url,
    slug_of_spaces,
    base_without_chinese_name,
    chinese_document_without_chinese_name,
    same_english_name_in_another_case,
    same_chinese_name,
]


@pytest.mark.parametrize("make_problem", PROBLEMS, ids=lambda f: f.__name__)
def test_each_problem_is_found_and_nothing_else(world, make_problem):
    expected = make_problem(world)

    assert found() == expected
    status, output = run_check_data()
    assert status == 1
    assert all(label in output for label in {str(category.label) for category, _, _ in expected})


def english_document_without_chinese_name(world):
    update(world.one.document, name_zh="", language=Language.ENGLISH)
    update(world.two.document, name_zh="", language=Language.ENGLISH)


def document_with_only_a_source_url(world):
    update(world.one.document, citation="", source_url="https://www.gov.cn/plan.html")


def sector_used_only_by_a_sub_sector(world):
    update(world.one.sector, parent=factories.SectorFactory())


def sector_used_only_by_a_document(world):
    world.one.document.sectors.add(factories.SectorFactory())


def city_used_only_by_a_document(world):
    world.one.document.cities.add(factories.CityFactory())


def city_used_only_by_a_subordinate_city(world):
    update(world.one.city, parent=factories.CityFactory())


def same_name_in_different_models(world):
    update(world.one.city, name="Changsha")
    update(world.one.sector, name="Changsha")


def city_on_the_belts_edge(world):
    update(world.one.city, location=Point(97.0, 21.0, srid=4326))


CORRECT_CASES = [
    english_document_without_chinese_name,
    document_with_only_a_source_url,
    sector_used_only_by_a_sub_sector,
    sector_used_only_by_a_document,
    city_used_only_by_a_document,
    city_used_only_by_a_subordinate_city,
    same_name_in_different_models,
    city_on_the_belts_edge,
]


@pytest.mark.parametrize("make_case", CORRECT_CASES, ids=lambda f: f.__name__)
def test_correct_cases_are_not_flagged(world, make_case):
    make_case(world)

    assert find_problems() == []


def test_duplicate_message_names_the_other_record(world):
    same_english_name_in_another_case(world)

    messages = {f.slug: f.message for f in find_problems()}

    assert world.two.city.slug in messages[world.one.city.slug]
    assert world.one.city.slug in messages[world.two.city.slug]


def test_a_long_duplicate_message_names_a_few_and_counts_the_rest(world):
    factories.SectorFactory.create_batch(8, name="Steel")
    update(world.one.sector, name="Steel")

    message = next(f.message for f in find_problems() if f.slug == world.one.sector.slug)

    assert message.count("slug ") == 5
    assert message.endswith("and 3 more): merge them or tell them apart.")


def test_a_finding_links_to_the_records_admin_page(world):
    base_without_source(world)

    (finding,) = find_problems()

    assert finding.admin_url == f"/admin/clusters/plannedbase/{world.one.base.pk}/change/"
    assert (finding.slug, finding.name) == (world.one.base.slug, world.one.base.name)
    assert str(finding.model_name) == "planned base"


# ---------------------------------------------------------------------------
# Bounded queries
# ---------------------------------------------------------------------------


def seed_problems(count):
    """`count` rows of most kinds of problem."""
    factories.PlannedBaseFactory.create_batch(count, source=None)
    factories.CityFactory.create_batch(count, location=Point(10, 10, srid=4326))
    factories.SectorFactory.create_batch(count, name="Duplicate", name_zh="")
    factories.PolicyDocumentFactory.create_batch(count, citation="", source_url="")


def test_find_problems_queries_do_not_grow_with_rows(world, django_assert_max_num_queries):
    seed_problems(2)
    with CaptureQueriesContext(connection) as few_rows:
        few = find_problems()

    seed_problems(40)
    with django_assert_max_num_queries(len(few_rows)):
        many = find_problems()
    assert len(many) > len(few)


def test_admin_page_queries_do_not_grow_with_rows(world, admin_client, django_assert_max_num_queries):
    seed_problems(2)
    with CaptureQueriesContext(connection) as few_rows:
        admin_client.get(URL)

    seed_problems(40)
    with django_assert_max_num_queries(len(few_rows)):
        response = admin_client.get(URL)
    assert response.status_code == HTTPStatus.OK


# ---------------------------------------------------------------------------
# The admin page
# ---------------------------------------------------------------------------


def test_url_reverses_and_resolves():
    assert reverse("data-quality") == URL
    assert resolve(URL).func is data_quality


def test_staff_see_each_finding_linked_to_its_record(world, admin_client):
    base_without_source(world)
    unused = factories.CityFactory()

    response = admin_client.get(URL)

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "Planned bases without a source (1)" in html
    assert "Cities used by nothing (1)" in html
    assert f'href="/admin/clusters/plannedbase/{world.one.base.pk}/change/"' in html
    assert f'href="/admin/clusters/city/{unused.pk}/change/"' in html


def test_staff_see_when_there_is_nothing_to_fix(world, admin_client):
    response = admin_client.get(URL)

    assert response.status_code == HTTPStatus.OK
    assert "No problems found" in response.content.decode()


def test_the_page_is_in_chinese_under_the_chinese_prefix(world, admin_client):
    response = admin_client.get("/zh-hans" + URL)

    assert response.status_code == HTTPStatus.OK


def test_anonymous_users_are_sent_to_the_login(client):
    response = client.get(URL)

    assert response.status_code == HTTPStatus.FOUND
    assert response.url.startswith(reverse("admin:login"))


def staff_client(client, *, codenames):
    user = User.objects.create_user("staff", password="not-used", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


VIEW_CODENAMES = [f"view_{name}" for name in ("province", "city", "sector", "policydocument", "plannedbase")]


def test_staff_who_may_view_every_entity_see_the_page(world, client):
    response = staff_client(client, codenames=VIEW_CODENAMES).get(URL)

    assert response.status_code == HTTPStatus.OK


def test_staff_without_view_permission_on_every_entity_are_refused(world, client):
    response = staff_client(client, codenames=VIEW_CODENAMES[:-1]).get(URL)

    assert response.status_code == HTTPStatus.FORBIDDEN
