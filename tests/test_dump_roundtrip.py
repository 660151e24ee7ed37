"""dumpdata → an emptied database → loaddata → dumpdata gives the same text,
the recipe `make fixtures` relies on. Runs on SpatiaLite and PostGIS."""

from io import StringIO

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import call_command

from clusters.management.commands.load_reference_data import DOMAIN_MODELS
from clusters.models import City, PolicyDocument, PublicationStatus, Sector
from tests import factories

pytestmark = pytest.mark.django_db

# The seven domain models by name: "clusters" alone would dump the history
# tables too, whose rows are not the data and whose ids differ after loading.
DOMAIN_LABELS = [model._meta.label_lower for model in DOMAIN_MODELS]


def dump():
    out = StringIO()
    call_command("dumpdata", *DOMAIN_LABELS, natural_foreign=True, natural_primary=True, indent=2, stdout=out)
    return out.getvalue()


def dump_empty_load_dump(request, tmp_path):
    """(first dump, dump after loading the first into an emptied database)."""
    first = dump()
    path = tmp_path / "dump.json"
    path.write_text(first, encoding="utf-8")
    request.getfixturevalue("empty_database")
    assert not any(model.objects.exists() for model in DOMAIN_MODELS)
    call_command("loaddata", str(path), verbosity=0)
    return first, dump()


def test_the_reference_data_dumps_loads_and_dumps_identically(reference_data, request, tmp_path):
    first, second = dump_empty_load_dump(request, tmp_path)

    assert '"model": "clusters.basesource"' in first
    assert second == first


def add_awkward_records():
    """Records the reference data lacks: drafts, an area, a city without a
    location, self-references, two sources in one document, multi-line text."""
    plan = PolicyDocument.objects.get(slug="middle-yangtze-city-cluster-plan-2015")
    factories.PolicyDocumentFactory(
        status=PublicationStatus.DRAFT,
        name="Draft note on the plan",
        name_zh="规划说明草稿",
        reports_on=plan,
        description="Line one.\n\nLine two, with “quotes” and 中文.",
        source_url="https://example.org/note",
        citation="",
    )
    changsha = City.objects.get(slug="changsha")
    factories.CityFactory(province=changsha.province, parent=changsha, level="county", location=None)
    factories.SectorFactory(parent=Sector.objects.get(slug="shipbuilding"), intensity="mixed")
    area = MultiPolygon(Polygon.from_bbox((113.7, 30.2, 114.8, 31.05)), srid=4326)
    base = factories.PlannedBaseFactory(status=PublicationStatus.DRAFT, area=area, source__section="")
    factories.BaseSourceFactory(base=base, document=base.sources.get().document, section="Second section")
    factories.BaseMembershipFactory(base=base, city=changsha, role="leading", position=1)


def test_awkward_records_dump_load_and_dump_identically(reference_data, request, tmp_path):
    add_awkward_records()

    first, second = dump_empty_load_dump(request, tmp_path)

    assert '"status": "draft"' in first
    assert "MULTIPOLYGON" in first
    assert second == first
