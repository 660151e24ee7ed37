"""The API's rate limit for anonymous clients: one count per client address,
kept in a store every worker shares, and failed token logins counted with it."""

import ipaddress
import json
import os
import secrets
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache, caches
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle

from clusters.api.throttling import AnonymousRateThrottle

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
CITIES = "/api/v1/cities/"
RATE = 3

# A failed login is a 401 (403 where DRF's first authenticator names no
# challenge); either way refused, not yet throttled.
REFUSED = {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}

BAD_CREDENTIALS = [
    pytest.param("Token " + "0" * 40, id="unknown-key"),
    pytest.param("Token not-a-key", id="malformed-key"),
    pytest.param("Token", id="no-key"),
    pytest.param("Token two keys", id="two-keys"),
]


@pytest.fixture
def three_a_minute(monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": f"{RATE}/minute"})
    cache.clear()
    yield
    cache.clear()


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
def test_failed_token_logins_are_limited_like_anonymous_requests(client, three_a_minute, credentials):
    for _ in range(RATE):
        assert client.get(CITIES, HTTP_AUTHORIZATION=credentials).status_code in REFUSED

    refused = client.get(CITIES, HTTP_AUTHORIZATION=credentials)

    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert refused["Content-Type"].startswith("application/json")
    assert "detail" in refused.json()
    assert int(refused["Retry-After"]) > 0


def test_failed_writes_are_counted_too(client, three_a_minute):
    credentials = "Token " + "1" * 40
    for _ in range(RATE):
        assert client.post(CITIES, {}, HTTP_AUTHORIZATION=credentials).status_code in REFUSED

    assert client.post(CITIES, {}, HTTP_AUTHORIZATION=credentials).status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_failed_logins_and_anonymous_requests_share_one_count(client, reference_data, three_a_minute):
    """Switching between a bad token and none gives no more requests."""
    assert client.get(CITIES).status_code == HTTPStatus.OK
    assert client.get(CITIES, HTTP_AUTHORIZATION="Token bad").status_code in REFUSED
    assert client.get(CITIES).status_code == HTTPStatus.OK

    assert client.get(CITIES, HTTP_AUTHORIZATION="Token bad").status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert client.get(CITIES).status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_failures_are_counted_per_client_address(client, reference_data, three_a_minute):
    for _ in range(RATE + 1):
        client.get(CITIES, HTTP_AUTHORIZATION="Token bad", REMOTE_ADDR="192.0.2.1")

    assert client.get(CITIES, REMOTE_ADDR="192.0.2.2").status_code == HTTPStatus.OK
    assert client.get(CITIES, REMOTE_ADDR="192.0.2.1").status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_a_valid_token_is_not_limited_by_its_address_failures(client, reference_data, three_a_minute):
    token = Token.objects.create(user=User.objects.create_user("reader"))
    for _ in range(RATE + 1):
        client.get(CITIES, HTTP_AUTHORIZATION="Token bad")

    assert client.get(CITIES, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == HTTPStatus.OK


class ClockedThrottle(AnonymousRateThrottle):
    """The throttle on a clock the test sets."""

    clock = 0.0
    THROTTLE_RATES = {"anon": "10/minute"}

    def timer(self):
        return ClockedThrottle.clock


def ask(at):
    ClockedThrottle.clock = at
    throttle = ClockedThrottle()
    request = Request(RequestFactory().get(CITIES, REMOTE_ADDR="192.0.2.9"))
    return throttle.allow_request(request, None), throttle


@pytest.mark.parametrize("start", [0.0, 30.0, 59.0], ids=["minute-start", "mid-minute", "minute-end"])
def test_the_limit_holds_over_any_minute_and_retry_after_is_right(start):
    """Wherever the requests fall on the clock, no more than the rate get
    through in any minute, and a client that waits what Retry-After says is
    let in again (not before)."""
    cache.clear()
    base = 6_000_000.0  # a whole number of minutes
    allowed = [at for at in (base + start + step * 0.5 for step in range(40)) if ask(at)[0]]
    assert len(allowed) == 10

    refused, throttle = ask(base + start + 20.0)
    assert not refused
    wait = throttle.wait()
    assert not ask(base + start + 20.0 + wait - 1)[0]
    assert ask(base + start + 20.0 + wait + 0.01)[0]
    cache.clear()


def test_the_throttle_lets_requests_through_when_its_store_fails(client, reference_data, settings):
    """A counter that cannot be read or written (here a Redis server that is
    not there) never turns a read into an error."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        },
    }

    assert client.get(CITIES).status_code == HTTPStatus.OK
    assert client.get(CITIES, HTTP_AUTHORIZATION="Token bad").status_code in REFUSED


# ---------------------------------------------------------------------------
# One count for every worker
# ---------------------------------------------------------------------------


def django_process(code, *arguments, environment):
    """Runs `code` with the project's own settings (not the test settings) in
    a new process; returns what it printed last, as JSON."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "CACHE_URL", "DATABASE_URL", "API_ANON_RATE"}
    }
    env.update(DJANGO_SETTINGS_MODULE="yangtze.settings", DEBUG="True", SECRET_KEY="x" * 50, **environment)
    setup = "import django, json, sys; django.setup()\n"
    done = subprocess.run(
        [sys.executable, "-c", setup + code, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_default_throttle_store_is_shared_by_every_worker():
    caches = django_process(
        "from django.conf import settings; print(json.dumps(settings.CACHES))", environment={}
    )

    assert caches["default"]["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert Path(caches["default"]["LOCATION"]).is_relative_to(ROOT)


ANONYMOUS_REQUESTS = """
from django.test import RequestFactory
from rest_framework.request import Request
from rest_framework.settings import api_settings

throttles = api_settings.DEFAULT_THROTTLE_CLASSES
request = Request(RequestFactory().get("/api/v1/cities/", REMOTE_ADDR=sys.argv[2]))
print(json.dumps([all(t().allow_request(request, None) for t in throttles) for _ in range(int(sys.argv[1]))]))
"""


def test_migrate_makes_the_database_cache_table(settings):
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "throttle_counts"},
    }
    assert "throttle_counts" not in connection.introspection.table_names()

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    assert "throttle_counts" in connection.introspection.table_names()
    caches["default"].set("a-count", 1)
    assert caches["default"].get("a-count") == 1


def test_a_redis_cache_url_makes_working_caches():
    """Options for local caches (MAX_ENTRIES) would reach the Redis client
    as connection arguments and fail every request."""
    failures = django_process(
        """
from django.core.cache import caches
failures = {}
for alias in ("default", "pages", "template_fragments"):
    try:
        caches[alias].get("probe")
    except Exception as error:
        failures[alias] = type(error).__name__
print(json.dumps(failures))
""",
        environment={"CACHE_URL": "redis://127.0.0.1:9/0"},  # nobody listens: a connection error
    )

    assert set(failures.values()) == {"ConnectionError"}, failures


@pytest.mark.parametrize("cache_url", ["", "dbcache://throttle_counts"], ids=["default", "database"])
def test_two_processes_share_one_count(tmp_path, cache_url):
    """As two gunicorn workers would: the second sees the first one's
    requests (from an address no earlier run used)."""
    environment = {"DATABASE_URL": f"spatialite:///{tmp_path / 'db.sqlite3'}", "API_ANON_RATE": "3/hour"}
    if cache_url:
        environment["CACHE_URL"] = cache_url
        django_process(
            "from django.core.management import call_command; call_command('createcachetable'); print('[]')",
            environment=environment,
        )
    address = str(ipaddress.IPv6Address("2001:db8::") + secrets.randbits(64))

    first = django_process(ANONYMOUS_REQUESTS, "2", address, environment=environment)
    second = django_process(ANONYMOUS_REQUESTS, "2", address, environment=environment)

    assert first == [True, True]
    assert second == [True, False]
