"""generate_synthetic: counts, shape, reproducibility, refusal, replacement, output."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from clusters import geo, synthetic
from clusters.management.commands.load_reference_data import domain_row_counts
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
from clusters.quality import find_problems

pytestmark = pytest.mark.django_db

SMALL = {"cities": 50, "bases": 100, "documents": 20}
ENTITY_MODELS = [Province, City, Sector, PolicyDocument, PlannedBase]


def generate(*args, **options):
    """Run the command; return (stdout, stderr)."""
    stdout, stderr = StringIO(), StringIO()
    call_command("generate_synthetic", *args, stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue(), stderr.getvalue()


def small(seed=1, **options):
    return generate(**{**SMALL, "seed": seed, **options})


def dump():
    """Every synthetic row by slug, with what it refers to by slug: ids differ between runs."""
    data = {}
    for city in City.objects.filter(synthetic.synthetic()).select_related("province").order_by("slug"):
        data[city.slug] = (city.name, city.name_zh, city.province.slug, city.level, city.location.coords)
    for sector in Sector.objects.filter(synthetic.synthetic()).select_related("parent").order_by("slug"):
        data[sector.slug] = (
            sector.name,
            sector.name_zh,
            sector.parent and sector.parent.slug,
            sector.intensity,
        )
    for province in Province.objects.filter(synthetic.synthetic()).order_by("slug"):
        data[province.slug] = (province.name, province.name_zh, province.reach, province.kind)
    for document in PolicyDocument.objects.filter(synthetic.synthetic()).prefetch_related(
        "sectors", "cities"
    ):
        data[document.slug] = (
            document.name,
            document.name_zh,
            document.kind,
            document.language,
            document.published_on,
            document.citation,
            sorted(sector.slug for sector in document.sectors.all()),
            sorted(city.slug for city in document.cities.all()),
        )
    for base in PlannedBase.objects.filter(synthetic.synthetic()).prefetch_related("sectors"):
        data[base.slug] = (
            base.name,
            base.name_zh,
            base.kind,
            base.stage,
            base.reach,
            sorted(sector.slug for sector in base.sectors.all()),
        )
    data["memberships"] = sorted(
        BaseMembership.objects.filter(base__slug__startswith="syn-").values_list(
            "base__slug", "city__slug", "role", "position"
        )
    )
    data["sources"] = sorted(
        BaseSource.objects.filter(base__slug__startswith="syn-").values_list(
            "base__slug", "document__slug", "section"
        )
    )
    return data


def reference_dump():
    """The non-synthetic rows and their links, as the reference data holds them."""
    real_bases = BaseMembership.objects.exclude(base__slug__startswith="syn-")
    return {
        model.__name__: sorted(
            model.objects.exclude(synthetic.synthetic()).values_list("slug", "name", "name_zh", "updated_at")
        )
        for model in ENTITY_MODELS
    } | {
        "memberships": sorted(
            real_bases.values_list("base__slug", "city__slug", "role", "position", "updated_at")
        ),
        "sources": sorted(
            BaseSource.objects.exclude(base__slug__startswith="syn-").values_list(
                "base__slug", "document__slug", "section"
            )
        ),
        "base sectors": sorted(
            PlannedBase.sectors.through.objects.exclude(plannedbase__slug__startswith="syn-").values_list(
                "plannedbase__slug", "sector__slug"
            )
        ),
        "document cities": sorted(
            PolicyDocument.cities.through.objects.exclude(
                policydocument__slug__startswith="syn-"
            ).values_list("policydocument__slug", "city__slug")
        ),
    }


# -- What is generated -----------------------------------------------------------


def test_counts_are_as_requested(empty_database):
    small()

    assert City.objects.count() == 50
    assert PlannedBase.objects.count() == 100
    assert PolicyDocument.objects.count() == 20
    # Provinces and sectors are made too when the database has none.
    assert Province.objects.count() == 11
    assert Sector.objects.count() == 35
    assert Sector.objects.filter(parent__isnull=False).count() == 28


def test_every_slug_is_marked_synthetic(empty_database):
    small()

    for model in ENTITY_MODELS:
        slugs = list(model.objects.values_list("slug", flat=True))
        assert slugs and all(slug.startswith("syn-") for slug in slugs), model
    assert City.objects.filter(slug="syn-city-000001", name="Synthetic city 1", name_zh="合成城市1").exists()
    assert PlannedBase.objects.filter(slug="syn-base-000100", name="Synthetic base 100").exists()
    assert PolicyDocument.objects.filter(slug="syn-doc-000020", name_zh="合成文件20").exists()


def test_every_base_has_2_to_10_members_1_to_5_sectors_and_a_source(empty_database):
    small()

    for base in PlannedBase.objects.prefetch_related("memberships", "sectors", "sources"):
        members = list(base.memberships.all())
        assert 2 <= len(members) <= 10, base.slug
        assert len({member.city_id for member in members}) == len(members)
        assert sorted(member.position for member in members) == list(range(len(members)))
        assert 1 <= len(base.sectors.all()) <= 5, base.slug
        assert 1 <= len(base.sources.all()) <= 3, base.slug
        assert base.status == PublicationStatus.PUBLISHED and base.published_at is not None


def test_members_sectors_and_sources_vary(empty_database):
    small()

    member_counts = {base.memberships.count() for base in PlannedBase.objects.all()}
    sector_counts = {base.sectors.count() for base in PlannedBase.objects.all()}
    roles = set(BaseMembership.objects.values_list("role", flat=True))
    kinds = set(PlannedBase.objects.values_list("kind", flat=True))
    assert len(member_counts) >= 5
    assert sector_counts == {1, 2, 3, 4, 5}
    assert roles == {"leading", "member", "upgrading"}
    assert len(kinds) >= 4


def test_fewer_than_10_cities_caps_the_members(empty_database):
    generate(cities=3, bases=30, documents=2, seed=1)

    counts = [base.memberships.count() for base in PlannedBase.objects.all()]
    assert len(counts) == 30
    assert set(counts) == {2, 3}


def test_documents_have_0_to_3_sectors_0_to_5_cities_and_are_sources(empty_database):
    small()

    for document in PolicyDocument.objects.prefetch_related("sectors", "cities"):
        assert len(document.sectors.all()) <= 3
        assert len(document.cities.all()) <= 5
        assert document.status == PublicationStatus.PUBLISHED
        assert document.published_on is not None
        assert document.citation


def test_every_document_is_a_source_when_there_are_as_many_bases(empty_database):
    generate(cities=20, bases=30, documents=30, seed=1)

    assert PolicyDocument.objects.count() == 30
    assert not PolicyDocument.objects.filter(base_sources__isnull=True).exists()


def test_all_cities_lie_inside_the_belt(empty_database):
    generate(cities=500, bases=0, documents=0, seed=3)

    cities = list(City.objects.all())
    assert len(cities) == 500
    for city in cities:
        assert city.location is not None and city.location.srid == 4326
        assert geo.within_belt(city.location), (city.slug, city.location.coords)
    # Spread over the Belt, not piled up in one spot.
    longitudes = [city.location.x for city in cities]
    assert max(longitudes) - min(longitudes) > 15


def test_generated_rows_pass_validation_and_the_data_quality_checks(empty_database):
    small()

    for model in [*ENTITY_MODELS, BaseMembership, BaseSource]:
        for obj in model.objects.all():
            obj.full_clean()
    # Small runs may leave a sector or city unused, as real data can; nothing else.
    assert {finding.category for finding in find_problems()} <= {"unused_sector", "unused_city"}


def test_no_history_records_are_written(empty_database):
    models = [*ENTITY_MODELS, BaseMembership, BaseSource]
    before = [model.history.count() for model in models]

    small()

    assert [model.history.count() for model in models] == before


# -- Reproducibility -------------------------------------------------------------


def test_same_seed_gives_the_same_data_and_another_seed_other_data(empty_database):
    small(seed=7)
    first = dump()
    small(seed=8)
    other = dump()
    small(seed=7)
    again = dump()

    assert len(first["memberships"]) > 200
    assert again == first
    assert other != first
    assert other["memberships"] != first["memberships"]


def test_same_seed_gives_the_same_data_after_a_larger_run(empty_database):
    small(seed=5)
    first = dump()
    generate(cities=120, bases=300, documents=40, seed=5)
    small(seed=5)

    assert dump() == first


def test_the_data_does_not_depend_on_the_batch_size(empty_database, monkeypatch):
    small(seed=4)
    first = dump()

    monkeypatch.setattr(synthetic, "BATCH_SIZE", 7)
    small(seed=4)

    assert dump() == first


# -- Refusing, forcing, replacing ------------------------------------------------


def test_refuses_with_the_reference_data_present(reference_data):
    before = domain_row_counts()

    with pytest.raises(CommandError) as refusal:
        small()

    message = str(refusal.value)
    assert "not synthetic" in message
    assert "11 provinces" in message and "16 planned bases" in message
    assert "--force" in message and "empty database" in message
    # From the command line, a CommandError exits with this status.
    assert refusal.value.returncode != 0
    assert domain_row_counts() == before
    assert not City.objects.filter(slug__startswith="syn-").exists()


def test_force_adds_synthetic_data_and_leaves_the_reference_data_intact(reference_data):
    before = reference_dump()

    stdout, _stderr = small(force=True)

    assert reference_dump() == before
    assert City.objects.filter(slug__startswith="syn-").count() == 50
    assert PlannedBase.objects.filter(slug__startswith="syn-").count() == 100
    # The existing provinces and sectors are used, none are made up.
    assert Province.objects.count() == 11 and Sector.objects.count() == 35
    assert "Used the existing 11 provinces and 35 sectors" in stdout
    synthetic_cities = City.objects.filter(slug__startswith="syn-")
    assert set(synthetic_cities.values_list("province__slug", flat=True)) <= set(
        Province.objects.values_list("slug", flat=True)
    )


def test_force_twice_replaces_only_the_synthetic_rows(reference_data):
    before = reference_dump()
    small(force=True)
    first = dump()

    small(force=True)

    assert dump() == first
    assert reference_dump() == before


def test_rerun_replaces_the_previous_synthetic_rows(empty_database):
    small()
    stdout, _stderr = generate(cities=20, bases=30, documents=5, seed=2)

    assert City.objects.count() == 20
    assert PlannedBase.objects.count() == 30
    assert PolicyDocument.objects.count() == 5
    assert Province.objects.count() == 11 and Sector.objects.count() == 35
    assert not BaseMembership.objects.exclude(base__in=PlannedBase.objects.all()).exists()
    assert set(BaseSource.objects.values_list("base", flat=True)) == set(
        PlannedBase.objects.values_list("pk", flat=True)
    )
    assert "Replaced the previous synthetic data (100 planned bases, 20 policy documents, 50 cities" in stdout


def test_refuses_to_replace_synthetic_rows_that_real_rows_refer_to(reference_data):
    small(force=True)
    first = dump()
    wuhan_base = PlannedBase.objects.exclude(slug__startswith="syn-").first()
    BaseMembership.objects.create(base=wuhan_base, city=City.objects.get(slug="syn-city-000001"), position=99)

    with pytest.raises(CommandError, match="1 memberships of non-synthetic bases in synthetic cities"):
        small(seed=2, force=True)

    assert dump() == first


# -- Arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--cities", "-1"],
        ["--bases", "1000001"],
        ["--documents", "many"],
        ["--seed", "-3"],
        ["--seed", "1.5"],
    ],
)
def test_bad_command_line_arguments_are_refused(empty_database, argv):
    with pytest.raises(CommandError, match="argument --"):
        generate(*argv)
    assert not City.objects.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cities": 1, "bases": 5, "documents": 5}, "at least 2 member cities"),
        ({"cities": 0, "bases": 5, "documents": 5}, "at least 2 member cities"),
        ({"cities": 20, "bases": 5, "documents": 0}, "needs a source document"),
        ({"cities": -5, "bases": 0, "documents": 0}, "--cities must be a whole number from 0"),
        ({"cities": 10, "bases": 2_000_000, "documents": 1}, "--bases must be a whole number from 0"),
    ],
)
def test_counts_that_do_not_fit_are_refused(empty_database, options, message):
    with pytest.raises(CommandError, match=message):
        generate(seed=1, **options)
    assert not City.objects.exists() and not Province.objects.exists()


def test_no_bases_need_neither_cities_nor_documents(empty_database):
    generate(cities=0, bases=0, documents=0, seed=1)

    assert Province.objects.count() == 11
    assert not City.objects.exists() and not PlannedBase.objects.exists()


# -- Output -----------------------------------------------------------------------


def test_progress_and_summary_are_written(empty_database):
    stdout, stderr = small()

    for line in ["cities: 50/50", "documents: 20/20", "bases: 100/100"]:
        assert line in stderr.splitlines()
    assert "\r" not in stderr
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith("Generated synthetic data with seed 1: ")
    assert "50 cities" in summary and "20 documents" in summary and "100 planned bases" in summary
    assert f"{BaseMembership.objects.count()} memberships" in summary
    assert summary.endswith(" s.")


class Terminal(StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_is_one_line_per_phase_rewritten_in_place(empty_database):
    stderr = Terminal()
    call_command("generate_synthetic", stdout=StringIO(), stderr=stderr, seed=1, **SMALL)

    lines = stderr.getvalue().split("\n")
    bases_line = next(line for line in lines if "bases:" in line)
    assert bases_line.startswith("\r") and bases_line.count("\r") >= 2
    assert bases_line.endswith("\rbases: 100/100")
    assert stderr.getvalue().endswith("\n")
    assert not any("cities:" in line and "bases:" in line for line in lines)


def test_verbosity_0_writes_nothing(empty_database):
    stdout, stderr = small(verbosity=0)

    assert stdout == "" and stderr == ""
    assert PlannedBase.objects.count() == 100


def test_help_documents_the_marking_the_refusal_and_the_replacement():
    from clusters.management.commands.generate_synthetic import Command

    text = " ".join(Command.help.split())
    assert "syn-" in text
    assert "--force" in text
    assert "deleted first" in text
