"""The shared answer cache and ETags (clusters/caching.py): answers are
reused until a committed change retires them, clients holding the current
answer get a 304, and editors never see or fill the shared cache."""

import shutil
import socket
import subprocess
import time
from http import HTTPStatus

import pytest
from django.core.cache import caches

from clusters.caching import current_revision
from clusters.models import City, PublicationStatus, SiteRevision
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_cache(settings, reference_data):
    settings.PAGE_CACHE_SECONDS = 600
    caches["pages"].clear()
    yield caches["pages"]
    caches["pages"].clear()


def committed(django_capture_on_commit_callbacks, change):
    """Run `change` and the callbacks its commit would run (the revision bump)."""
    with django_capture_on_commit_callbacks(execute=True):
        change()


CACHED_URLS = ["/cities/", "/cities/wuhan/", "/zh-hans/bases/", "/api/v1/cities/?page_size=5"]


@pytest.mark.parametrize("url", CACHED_URLS)
def test_a_repeated_anonymous_request_is_answered_from_the_cache(
    client, page_cache, django_assert_num_queries, url
):
    first = client.get(url)

    with django_assert_num_queries(1):  # the site revision only
        second = client.get(url)

    assert first.status_code == second.status_code == HTTPStatus.OK
    assert second.content == first.content
    assert second["ETag"] == first["ETag"]


def test_a_committed_change_retires_cached_answers(client, page_cache, django_capture_on_commit_callbacks):
    assert b"Wuhan" in client.get("/cities/wuhan/").content
    before = current_revision()

    city = City.objects.get(slug="wuhan")
    city.name = "Wuhan Renamed"
    committed(django_capture_on_commit_callbacks, city.save)

    assert current_revision() > before
    assert b"Wuhan Renamed" in client.get("/cities/wuhan/").content
    assert b"Wuhan Renamed" in client.get("/api/v1/cities/wuhan/").content


def test_a_rolled_back_change_keeps_the_revision(page_cache, django_capture_on_commit_callbacks):
    before = current_revision()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        City.objects.filter(slug="wuhan").get().save()

    assert callbacks  # one bump was waiting for a commit that did not come
    assert current_revision() == before


def test_many_saves_in_one_transaction_bump_the_revision_once(django_capture_on_commit_callbacks, page_cache):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for city in City.objects.all()[:5]:
            city.save()

    assert len(callbacks) == 1


def test_the_current_etag_gets_a_304_without_the_view(
    client, page_cache, django_assert_num_queries, django_capture_on_commit_callbacks
):
    etag = client.get("/cities/")["ETag"]

    with django_assert_num_queries(1):
        unchanged = client.get("/cities/", HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == HTTPStatus.NOT_MODIFIED
    assert unchanged["ETag"] == etag
    assert unchanged.content == b""

    committed(django_capture_on_commit_callbacks, City.objects.get(slug="wuhan").save)
    changed = client.get("/cities/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == HTTPStatus.OK
    assert changed["ETag"] != etag


def test_etags_differ_by_address_language_and_format(client, page_cache):
    tags = {
        client.get(url)["ETag"]
        for url in ["/cities/", "/zh-hans/cities/", "/cities/?province=hubei", "/api/v1/cities/"]
    }
    tags.add(client.get("/api/v1/cities/", HTTP_ACCEPT="text/csv")["ETag"])

    assert len(tags) == 5


@pytest.mark.parametrize("url", ["/cities/", "/api/v1/cities/", "/map/cities.geojson", "/feeds/bases/"])
def test_etags_do_not_tell_the_site_revision(client, page_cache, django_capture_on_commit_callbacks, url):
    """Every committed save (drafts too) raises the revision: a reader who
    could read it from ETags would watch unpublished editing."""
    SiteRevision.objects.filter(pk=1).update(number=987654)
    before = client.get(url)["ETag"]
    committed(
        django_capture_on_commit_callbacks,
        lambda: factories.PlannedBaseFactory(status=PublicationStatus.DRAFT),
    )

    after = client.get(url)["ETag"]

    assert current_revision() == 987655
    assert "987654" not in before
    assert "987655" not in after
    assert after != before  # still retired by the change


@pytest.mark.parametrize(
    ("url", "same_answer_accepts"),
    [
        ("/cities/", ["", "text/html", "junk/one", "text/html;q=0.5, junk/two"]),
        ("/map/cities.geojson", ["", "*/*", "junk/three"]),
        ("/api/v1/cities/", ["*/*", "application/json", "application/json, */*;q=0.1", "junk/x, */*"]),
        ("/api/v1/cities/geojson/", ["*/*", "application/geo+json", "application/geo+json, */*"]),
    ],
)
def test_accept_headers_that_pick_the_same_answer_share_one_cache_entry(
    client, page_cache, django_assert_num_queries, url, same_answer_accepts
):
    """A header the answer does not vary on cannot steer the cache key: no
    client can fill the cache with copies of one answer or dodge the
    cached one."""
    first = client.get(url)

    for accept in same_answer_accepts:
        with django_assert_num_queries(1):  # the site revision: a cached answer
            again = client.get(url, HTTP_ACCEPT=accept)
        assert again["ETag"] == first["ETag"], accept
        assert again.content == first.content


def test_an_etag_from_another_page_is_not_a_304(client, page_cache):
    etag = client.get("/cities/")["ETag"]

    assert client.get("/sectors/", HTTP_IF_NONE_MATCH=etag).status_code == HTTPStatus.OK


def test_etags_work_with_the_cache_off(client, reference_data, settings):
    settings.PAGE_CACHE_SECONDS = 0
    etag = client.get("/map/cities.geojson")["ETag"]

    assert client.get("/map/cities.geojson", HTTP_IF_NONE_MATCH=etag).status_code == HTTPStatus.NOT_MODIFIED


def test_editors_neither_read_nor_fill_the_shared_cache(client, page_cache, admin_user):
    draft = factories.PlannedBaseFactory(slug="cached-draft", status=PublicationStatus.DRAFT)
    url = draft.get_absolute_url()
    client.force_login(admin_user)

    preview = client.get(url)
    listing = client.get("/bases/")

    assert preview.status_code == HTTPStatus.OK
    assert "ETag" not in listing
    client.logout()
    assert client.get(url).status_code == HTTPStatus.NOT_FOUND
    assert b"cached-draft" not in client.get("/bases/").content


def test_token_clients_get_fresh_answers(client, page_cache, admin_user):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=admin_user)
    draft = factories.PlannedBaseFactory(slug="token-draft", status=PublicationStatus.DRAFT)
    anonymous = client.get("/api/v1/bases/?page_size=100")  # fills the cache anonymously

    answer = client.get("/api/v1/bases/?page_size=100", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert draft.slug not in anonymous.content.decode()
    assert draft.slug in answer.content.decode()
    assert "ETag" not in answer


def test_answers_setting_cookies_are_not_stored(client, page_cache):
    response = client.get("/cities/")

    assert not response.cookies
    assert "no-cache" in response["Cache-Control"]
    assert "Cookie" in response["Vary"]


@pytest.fixture
def redis_url():
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (scripts/system-deps.sh redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_redis_cache_shares_answers(client, reference_data, settings, redis_url):
    """CACHE_URL=redis://… as several app servers would use it."""
    settings.PAGE_CACHE_SECONDS = 600
    settings.CACHES = {
        **settings.CACHES,
        "pages": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url},
    }
    first = client.get("/provinces/")
    assert any(key.startswith(b":1:public:") for key in redis_keys(redis_url))

    second = client.get("/provinces/")

    assert second.content == first.content


def redis_keys(url):
    import redis

    return redis.Redis.from_url(url).keys("*")


def test_cached_api_answers_are_stored_as_plain_bytes(client, page_cache):
    """Not the DRF Response with its serializer's data, which cost more to
    unpickle than to build afresh."""
    etag = client.get("/api/v1/bases/?page_size=5")["ETag"]

    stored = page_cache.get("public:" + etag.removeprefix('W/"').removesuffix('"'))

    assert type(stored).__name__ == "HttpResponse"
    assert stored["ETag"] == etag
    assert client.get("/api/v1/bases/?page_size=5").content == stored.content
