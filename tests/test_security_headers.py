"""Security headers on every kind of response the site gives: pages, errors,
API answers in each format, feeds, documentation, redirects and 304s."""

from http import HTTPStatus
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.django_db

# (URL, expected status, start of the Content-Type; None for a body-less answer)
RESPONSES = [
    pytest.param("/", HTTPStatus.OK, "text/html", id="home"),
    pytest.param("/cities/", HTTPStatus.OK, "text/html", id="html-list"),
    pytest.param("/cities/wuhan/", HTTPStatus.OK, "text/html", id="html-detail"),
    pytest.param("/map/", HTTPStatus.OK, "text/html", id="map-page"),
    pytest.param("/no-such-page/", HTTPStatus.NOT_FOUND, "text/html", id="html-404"),
    pytest.param("/cities/?ordering=bogus", HTTPStatus.BAD_REQUEST, "text/html", id="form-error-400"),
    pytest.param("/api/v1/cities/", HTTPStatus.OK, "application/json", id="api-json-list"),
    pytest.param("/api/v1/cities/?format=csv", HTTPStatus.OK, "text/csv", id="api-csv"),
    pytest.param("/api/v1/cities/geojson/", HTTPStatus.OK, "application/geo+json", id="api-geojson"),
    pytest.param("/map/cities.geojson", HTTPStatus.OK, "application/geo+json", id="map-geojson"),
    pytest.param("/api/v1/cities/?ordering=bogus", HTTPStatus.BAD_REQUEST, "application/json", id="api-400"),
    pytest.param("/api/v1/cities/no-such-city/", HTTPStatus.NOT_FOUND, "application/json", id="api-404"),
    pytest.param("/api/schema/", HTTPStatus.OK, "application/vnd.oai.openapi", id="api-schema"),
    pytest.param("/admin/login/", HTTPStatus.OK, "text/html", id="admin-login"),
    pytest.param("/admin/", HTTPStatus.FOUND, None, id="admin-redirect"),
    pytest.param("/feeds/documents/", HTTPStatus.OK, "application/atom+xml", id="atom-feed"),
    pytest.param("/sitemap.xml", HTTPStatus.OK, "application/xml", id="sitemap"),
    pytest.param("/robots.txt", HTTPStatus.OK, "text/plain", id="robots"),
    pytest.param("/api/docs/", HTTPStatus.OK, "text/html", id="swagger-ui"),
    pytest.param("/api/redoc/", HTTPStatus.OK, "text/html", id="redoc"),
]


def directives(policy):
    """{"script-src": ["'self'"], ...} from a Content-Security-Policy header."""
    parsed = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


def assert_security_headers(response):
    policy = directives(response["Content-Security-Policy"])
    # Scripts are governed by script-src, or by default-src without it.
    scripts = policy.get("script-src", policy.get("default-src"))
    assert scripts == ["'self'"], scripts
    assert "'unsafe-inline'" not in policy.get("script-src-elem", [])
    assert "'unsafe-inline'" not in policy.get("script-src-attr", [])
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" not in policy.get("style-src", [])
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize(("url", "status", "content_type"), RESPONSES)
def test_every_kind_of_response_has_the_security_headers(client, reference_data, url, status, content_type):
    response = client.get(url)

    assert response.status_code == status
    if content_type:
        assert response["Content-Type"].startswith(content_type)
    assert_security_headers(response)


def test_the_redirect_goes_to_the_login(client):
    response = client.get("/admin/")

    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", ["/cities/", "/api/v1/cities/", "/map/cities.geojson"])
def test_a_not_modified_answer_carries_the_security_headers(client, reference_data, url):
    etag = client.get(url).get("ETag")
    if not etag:
        pytest.skip(f"{url} is served without an ETag")

    response = client.get(url, headers={"If-None-Match": etag})

    assert response.status_code == HTTPStatus.NOT_MODIFIED
    assert_security_headers(response)


def test_map_tiles_are_allowed_from_the_configured_server_only(client, settings):
    tiles = urlsplit(settings.LEAFLET_CONFIG["TILES"][0][1])
    origin = f"{tiles.scheme}://{tiles.netloc}"

    policy = directives(client.get("/robots.txt")["Content-Security-Policy"])

    assert policy["img-src"] == ["'self'", "data:", origin]


def style_nonces(response):
    sources = directives(response["Content-Security-Policy"]).get("style-src", [])
    return [source[len("'nonce-") : -1] for source in sources if source.startswith("'nonce-")]


def test_only_redoc_gets_a_style_nonce_and_it_differs_per_answer(client):
    first, second = style_nonces(client.get("/api/redoc/")), style_nonces(client.get("/api/redoc/"))

    assert len(first) == len(second) == 1
    assert first != second
    assert style_nonces(client.get("/api/docs/")) == []
    assert style_nonces(client.get("/")) == []


def test_the_redoc_page_uses_its_nonce_and_is_never_cached(client):
    response = client.get("/api/redoc/")

    [nonce] = style_nonces(response)
    assert response.content.decode().count(f'nonce="{nonce}"') == 2  # its <style> and redoc.js
    assert "no-store" in response["Cache-Control"]
