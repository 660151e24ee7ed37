import pytest
from django.core.management import call_command
from django.utils import translation

from clusters.management.commands.load_reference_data import DOMAIN_MODELS
from clusters.models import City, Sector
from tests.gdal import gdal_trap  # noqa: F401  (a fixture for every test module)


@pytest.fixture(autouse=True)
def _no_language_leaks():
    """A request to /zh-hans/ leaves Chinese active in the thread: every test
    starts and ends in the default language."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the shipped reference data once into the test database; each test
    then runs inside a transaction that is rolled back."""
    with django_db_blocker.unblock():
        call_command("load_reference_data", verbosity=0)


@pytest.fixture
def reference_data(db):
    """The shipped fixtures, as `make run` loads them (already in the test
    database; loaded again after a transactional test has flushed it)."""
    if not City.objects.exists():
        call_command("load_reference_data", verbosity=0)


@pytest.fixture
def empty_database(db):
    """No domain rows at all, for tests of loading into an empty database."""
    City.objects.update(parent=None)
    Sector.objects.update(parent=None)
    for model in reversed(DOMAIN_MODELS):
        model.objects.all().delete()
