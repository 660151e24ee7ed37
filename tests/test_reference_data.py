"""The shipped fixtures: counts, validity, and the facts they must hold."""

import json
import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.core.serializers.base import DeserializationError

from clusters.management.commands.load_reference_data import DEFAULT_FIXTURES_DIR, domain_row_counts
from clusters.models import (
    BaseMembership,
    BaseSource,
    City,
    PlannedBase,
    PolicyDocument,
    Province,
    Reach,
    Sector,
)

pytestmark = pytest.mark.django_db

# The counts the README documents.
EXPECTED_COUNTS = {
    Province: 11,
    City: 15,
    Sector: 35,
    PolicyDocument: 3,
    PlannedBase: 16,
    BaseMembership: 43,
    BaseSource: 29,
}


def test_loading_into_an_empty_database_gives_the_documented_counts(empty_database):
    call_command("load_reference_data", verbosity=0)

    assert {model: model.objects.count() for model in EXPECTED_COUNTS} == EXPECTED_COUNTS


@pytest.mark.parametrize("model", list(EXPECTED_COUNTS), ids=lambda m: m.__name__)
def test_every_fixture_object_passes_full_clean(reference_data, model):
    for obj in model.objects.all():
        obj.full_clean()


def test_every_base_has_a_source(reference_data):
    assert not PlannedBase.objects.filter(sources__isnull=True).exists()


@pytest.mark.parametrize(
    ("city", "province", "reach"),
    [
        ("wuhan", "hubei", Reach.MIDDLE),
        ("jingmen", "hubei", Reach.MIDDLE),
        ("changsha", "hunan", Reach.MIDDLE),
        ("ningxiang", "hunan", Reach.MIDDLE),
        ("nanchang", "jiangxi", Reach.MIDDLE),
        ("jingdezhen", "jiangxi", Reach.MIDDLE),
    ],
)
def test_cities_sit_in_their_province_and_reach(reference_data, city, province, reach):
    city = City.objects.select_related("province").get(slug=city)
    assert city.province.slug == province
    assert city.reach == reach


def test_provinces_are_assigned_to_the_right_reach(reference_data):
    by_reach = {
        reach: set(Province.objects.filter(reach=reach).values_list("slug", flat=True)) for reach in Reach
    }
    assert by_reach == {
        Reach.UPSTREAM: {"chongqing", "sichuan", "guizhou", "yunnan"},
        Reach.MIDDLE: {"hubei", "hunan", "jiangxi"},
        Reach.DOWNSTREAM: {"shanghai", "jiangsu", "zhejiang", "anhui"},
    }


def test_every_city_has_a_chinese_name_and_a_location(reference_data):
    assert not City.objects.filter(name_zh="").exists()
    assert not City.objects.filter(location__isnull=True).exists()


def test_ningxiang_is_a_county_level_city_under_changsha(reference_data):
    ningxiang = City.objects.get(slug="ningxiang")
    assert ningxiang.level == "county"
    assert ningxiang.parent.slug == "changsha"


def test_wuhan_location_is_where_wuhan_is(reference_data):
    wuhan = City.objects.get(slug="wuhan").location
    assert wuhan.x == pytest.approx(114.31, abs=0.05)
    assert wuhan.y == pytest.approx(30.59, abs=0.05)


@pytest.mark.parametrize(
    ("base", "cities"),
    [
        (
            "middle-reaches-shipbuilding-supporting-system",
            ["wuhan", "yichang", "huanggang", "jingzhou", "yueyang", "yiyang", "jiujiang", "nanchang"],
        ),
        ("middle-reaches-rail-transit-equipment-bases", ["wuhan", "xiangyang", "zhuzhou", "nanchang"]),
        ("middle-reaches-green-petrochemical-cluster", ["wuhan", "yueyang", "jiujiang", "jingmen"]),
    ],
)
def test_base_members_are_the_cities_the_source_names_in_its_order(reference_data, base, cities):
    members = BaseMembership.objects.filter(base__slug=base).order_by("position")
    assert [m.city.slug for m in members] == cities


def test_home_appliance_base_roles(reference_data):
    roles = dict(
        BaseMembership.objects.filter(base__slug="central-china-home-appliance-base").values_list(
            "city__slug", "role"
        )
    )
    assert roles == {
        "wuhan": "leading",
        "changsha": "leading",
        "nanchang": "leading",
        "jingzhou": "leading",
        "ningxiang": "upgrading",
        "jingmen": "upgrading",
    }


def test_reach_level_recommendations_of_the_2020_paper(reference_data):
    paper = "li-2020-advanced-manufacturing-clusters"
    paper_bases = PlannedBase.objects.filter(sources__document__slug=paper)
    assert {b.reach for b in paper_bases} == {Reach.UPSTREAM, Reach.MIDDLE, Reach.DOWNSTREAM}
    assert not BaseMembership.objects.filter(base__in=paper_bases).exists()


def test_sector_tree_has_sub_sectors(reference_data):
    shipbuilding = Sector.objects.get(slug="shipbuilding")
    assert shipbuilding.parent.slug == "transport-equipment"
    assert Sector.objects.filter(parent__isnull=False).count() >= 20


def test_news_article_reports_on_the_plan(reference_data):
    article = PolicyDocument.objects.get(slug="china-daily-2019-middle-reaches-clusters")
    assert article.reports_on.slug == "middle-yangtze-city-cluster-plan-2015"
    assert str(article.published_on) == "2019-02-20"


def test_second_load_leaves_editors_changes_alone(reference_data):
    wuhan = City.objects.get(slug="wuhan")
    wuhan.name = "Wuhan (edited)"
    wuhan.save()
    City.objects.get(slug="jingmen").memberships.all().delete()
    counts_before = domain_row_counts()

    out = StringIO()
    call_command("load_reference_data", stdout=out)

    assert "nothing loaded" in out.getvalue()
    assert City.objects.get(slug="wuhan").name == "Wuhan (edited)"
    assert domain_row_counts() == counts_before


def copy_fixtures_with_bad_reference(tmp_path):
    """The shipped fixtures plus, at the very end, a membership naming a city that does not exist."""
    fixtures = tmp_path / "fixtures"
    shutil.copytree(DEFAULT_FIXTURES_DIR, fixtures)
    bad = [
        {
            "model": "clusters.basemembership",
            "fields": {"base": ["middle-reaches-steel-cluster"], "city": ["atlantis"], "role": "member"},
        }
    ]
    (fixtures / "99_bad.json").write_text(json.dumps(bad))
    return fixtures


def test_loaddata_with_an_unknown_city_fails_and_changes_nothing(empty_database, tmp_path):
    fixtures = copy_fixtures_with_bad_reference(tmp_path)
    files = [str(path) for path in sorted(fixtures.glob("*.json"))]

    with pytest.raises(DeserializationError, match=r"99_bad\.json.*BaseMembership has no city"):
        call_command("loaddata", *files, verbosity=0)

    assert not any(domain_row_counts().values())


def test_load_reference_data_reports_a_bad_reference_and_loads_nothing(empty_database, tmp_path):
    fixtures = copy_fixtures_with_bad_reference(tmp_path)

    with pytest.raises(CommandError, match="nothing was changed") as excinfo:
        call_command("load_reference_data", fixtures_dir=fixtures)

    assert "99_bad.json, object 1 (clusters.basemembership): city 'atlantis'" in str(excinfo.value)
    assert not any(domain_row_counts().values())


def test_load_reference_data_refuses_an_empty_folder(empty_database, tmp_path):
    with pytest.raises(CommandError, match="No fixtures"):
        call_command("load_reference_data", fixtures_dir=tmp_path)


def test_load_reference_data_reports_invalid_json(empty_database, tmp_path):
    (tmp_path / "01_broken.json").write_text("[{")

    with pytest.raises(CommandError, match=r"01_broken\.json: not valid JSON"):
        call_command("load_reference_data", fixtures_dir=tmp_path)


def test_failed_loaddata_keeps_existing_rows_as_they_were(reference_data, tmp_path):
    City.objects.filter(slug="wuhan").update(name="Wuhan (edited)")
    counts_before = domain_row_counts()
    files = [str(path) for path in sorted(copy_fixtures_with_bad_reference(tmp_path).glob("*.json"))]

    with pytest.raises(DeserializationError):
        call_command("loaddata", *files, verbosity=0)

    assert domain_row_counts() == counts_before
    assert City.objects.get(slug="wuhan").name == "Wuhan (edited)"
