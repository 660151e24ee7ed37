"""Fast, self-contained settings for the test suite."""

import os
import tempfile
from pathlib import Path

# Tests never read the developer's .env; a fixed, non-secret key is enough.
os.environ.setdefault("SECRET_KEY", "test-only-key-not-used-anywhere-else-" + "0123456789abcdef" * 2)
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# Absolute URLs name the test client's host, as the tests read them.
os.environ.setdefault("SITE_URL", "http://testserver")

from yangtze.settings import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "pages": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pages"},
}
# Templates find static files without running collectstatic first.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
# The suite sends thousands of anonymous API requests; the throttle itself is
# tested with its rate patched in.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "1000000/minute"}}  # noqa: F405
# Tests change data inside transactions that never commit, so the shared
# page cache (which a commit retires) is off; tests/test_caching.py turns it on.
PAGE_CACHE_SECONDS = 0
# Read the revision on every request, so query counts do not depend on timing.
REVISION_CHECK_SECONDS = 0
# django-zeal: any N+1 query pattern during a request fails the test.
INSTALLED_APPS = [*INSTALLED_APPS, "zeal"]  # noqa: F405
MIDDLEWARE = [*MIDDLEWARE, "zeal.middleware.zeal_middleware"]  # noqa: F405
ZEAL_RAISE = True
# Allowed repeats: admin formsets validate each inline row's choice with its
# own get() (Django's form validation, one query per submitted row); refusing
# to delete a record still in use names each record that uses it (Django's
# collector loads them one by one); logging in or out reads session and user.
ROW_VALIDATED_MODELS = (
    "City",
    "PlannedBase",
    "PolicyDocument",
    "Sector",
    "Province",
    "BaseMembership",
    "BaseSource",
)
ZEAL_ALLOWLIST = [
    {"model": "clusters.BaseSource", "field": "document"},
    {"model": "clusters.BaseMembership", "field": "city"},
    {"model": "clusters.BaseMembership", "field": "base"},
    {"model": "clusters.BaseSource", "field": "base"},
    {"model": "sessions.Session", "field": "get()"},
    {"model": "auth.User", "field": "get()"},
    # The admin logs each changed inline row under its content type.
    {"model": "contenttypes.ContentType", "field": "get()"},
    *({"model": f"clusters.{model}", "field": "get()"} for model in ROW_VALIDATED_MODELS),
]
if DATABASES["default"]["ENGINE"].endswith(("sqlite3", "spatialite")):  # noqa: F405
    # A file, as the site runs on, rather than SQLite's shared in-memory
    # database, whose locks behave differently: tests/test_concurrency.py
    # writes from several connections at once. One file per test process.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"yangtze-test-{os.getpid()}.sqlite3")
    }
