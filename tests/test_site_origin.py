"""Absolute URLs name the configured site origin (SITE_URL), never the
request's Host: a client may pick any port of an allowed host, and the shared
answer cache would hand links to that origin to every reader."""

from http import HTTPStatus

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured

from yangtze.safety import site_url_setting

pytestmark = pytest.mark.django_db

POISON = "127.0.0.1:9999"  # an allowed host on a port the site does not serve
SITE = "https://clusters.example.org"

# One address of each kind of cached answer that carries absolute URLs.
ANSWERS = [
    pytest.param("/cities/wuhan/", id="html-detail"),
    pytest.param("/zh-hans/bases/middle-reaches-automobile-alliance/", id="html-detail-zh"),
    pytest.param("/feeds/bases/", id="feed"),
    pytest.param("/api/v1/cities/?page_size=5", id="api-json"),
    pytest.param("/api/v1/cities/wuhan/", id="api-json-detail"),
    pytest.param("/api/v1/cities/geojson/", id="api-geojson"),
    pytest.param("/api/v1/bases/geojson/", id="api-geojson-bases"),
    pytest.param("/api/v1/cities/?format=csv", id="api-csv"),
    pytest.param("/api/v1/", id="api-root"),
    pytest.param("/api/v1/cities/?format=api", id="browsable-api"),
]

# Ways a client can name another origin: the Host header, with an odd port;
# X-Forwarded-Host (ignored unless a proxy is trusted to set it).
POISONED_HEADERS = [
    pytest.param({"HTTP_HOST": POISON}, id="host"),
    pytest.param({"HTTP_X_FORWARDED_HOST": POISON}, id="x-forwarded-host"),
    pytest.param({"HTTP_HOST": POISON, "HTTP_X_FORWARDED_PROTO": "https"}, id="host-and-proto"),
]


@pytest.fixture
def page_cache(settings, reference_data):
    settings.PAGE_CACHE_SECONDS = 600
    caches["pages"].clear()
    yield caches["pages"]
    caches["pages"].clear()


@pytest.fixture
def site(settings):
    settings.SITE_URL = SITE
    return SITE


def body(response):
    assert response.status_code == HTTPStatus.OK, response.status_code
    return response.content.decode()


@pytest.mark.parametrize("headers", POISONED_HEADERS)
@pytest.mark.parametrize("url", ANSWERS)
def test_a_poisoned_host_never_reaches_a_cached_answer(client, page_cache, site, url, headers):
    poisoned = body(client.get(url, **headers))
    normal = body(client.get(url))

    assert POISON not in poisoned
    assert POISON not in normal
    assert SITE in normal
    assert poisoned == normal  # one answer, whatever the headers said


def test_absolute_urls_name_the_site_origin(client, reference_data, site):
    """Every place the site writes an absolute URL."""
    detail = body(client.get("/cities/wuhan/", HTTP_HOST=POISON))
    assert f'href="{SITE}/cities/wuhan/"' in detail  # the stable address
    assert f"{SITE}/cities/wuhan/ (accessed" in detail  # the citation
    assert f"url = {{{SITE}/cities/wuhan/}}" in detail  # BibTeX

    page = client.get("/api/v1/cities/?page_size=2", HTTP_HOST=POISON).json()
    assert page["next"].startswith(f"{SITE}/api/v1/cities/?")
    assert page["results"][0]["url"].startswith(f"{SITE}/api/v1/cities/")
    assert client.get(page["next"].removeprefix(SITE)).json()["previous"].startswith(f"{SITE}/api/v1/")

    feed = body(client.get("/feeds/documents/", HTTP_HOST=POISON))
    assert f'href="{SITE}/documents/"' in feed
    assert f"<id>{SITE}/documents/" in feed

    sitemap = body(client.get("/sitemap.xml", HTTP_HOST=POISON))
    assert f"<loc>{SITE}/cities/wuhan/</loc>" in sitemap
    assert f'href="{SITE}/zh-hans/cities/wuhan/"' in sitemap

    assert f"Sitemap: {SITE}/sitemap.xml" in body(client.get("/robots.txt", HTTP_HOST=POISON))

    for text in (detail, feed, sitemap):
        assert POISON not in text
        assert "http://testserver" not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://clusters.example.org", "https://clusters.example.org"),
        ("https://clusters.example.org/", "https://clusters.example.org"),
        ("HTTP://Clusters.Example.org:8080", "http://clusters.example.org:8080"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_the_site_url_setting_is_an_origin(value, expected):
    assert site_url_setting(value, debug=False, allowed_hosts=["clusters.example.org"]) == expected


@pytest.mark.parametrize(
    "value",
    [
        "clusters.example.org",
        "ftp://clusters.example.org",
        "https://",
        "https://clusters.example.org/site/",
        "https://clusters.example.org?x=1",
        "https://clusters.example.org#top",
        "https://user@clusters.example.org",
        "https://clusters.example.org:port",
        "https://clusters example.org",
    ],
)
def test_a_site_url_that_is_not_an_origin_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match="SITE_URL"):
        site_url_setting(value, debug=True, allowed_hosts=[])


def test_production_names_its_site_url():
    with pytest.raises(ImproperlyConfigured, match="SITE_URL is not set"):
        site_url_setting("", debug=False, allowed_hosts=["clusters.example.org"])


@pytest.mark.parametrize(
    ("debug", "allowed_hosts"),
    [(True, []), (True, ["clusters.example.org"]), (False, ["127.0.0.1", "localhost"])],
)
def test_local_serving_defaults_to_the_loopback_origin(debug, allowed_hosts):
    assert site_url_setting("", debug=debug, allowed_hosts=allowed_hosts) == "http://127.0.0.1:8000"
    assert (
        site_url_setting("", debug=debug, allowed_hosts=allowed_hosts, local_port=9000)
        == "http://127.0.0.1:9000"
    )
