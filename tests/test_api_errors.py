"""Every error under /api/ is JSON: those DRF answers itself and those Django
answers before or after a view (an unknown address, an oversized body, a Host
header the site does not serve, an unexpected exception), while the site's
pages keep their HTML error pages. A write without credentials is a 401 that
names the token scheme; a signed-in user without permission gets a 403."""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.urls import path
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clusters.api.views import CityViewSet
from clusters.models import City
from yangtze.urls import handler400, handler403, handler404, handler500  # noqa: F401 (this urlconf's too)
from yangtze.urls import urlpatterns as site_urlpatterns

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reference_data")]

CITIES = "/api/v1/cities/"
WUHAN = "/api/v1/cities/wuhan/"


def client(**kwargs):
    # A server error comes back as a response the test can look at.
    return APIClient(raise_request_exception=False, **kwargs)


@pytest.fixture
def superuser_client():
    user = User.objects.create_superuser("boss", password="not-used")
    token_client = client()
    token_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return token_client


def assert_json_error(response, status):
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body, dict) and body, body
    return body


# ---------------------------------------------------------------------------
# What DRF answers (kept JSON whatever format was asked for)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        pytest.param("get", "/api/nowhere/", {}, HTTPStatus.NOT_FOUND, id="404-unknown-address"),
        pytest.param("get", "/api/v1/cities/no-such-city/", {}, HTTPStatus.NOT_FOUND, id="404-unknown-slug"),
        pytest.param("get", "/api/v1/cities/a.b/", {}, HTTPStatus.NOT_FOUND, id="404-malformed-slug"),
        pytest.param("get", f"{CITIES}?page=999", {}, HTTPStatus.NOT_FOUND, id="404-page-past-the-end"),
        pytest.param("put", CITIES, {}, HTTPStatus.METHOD_NOT_ALLOWED, id="405"),
        pytest.param("get", CITIES, {"HTTP_ACCEPT": "image/png"}, HTTPStatus.NOT_ACCEPTABLE, id="406"),
        pytest.param("get", f"{CITIES}?format=csv&page=0", {}, HTTPStatus.BAD_REQUEST, id="400-csv-asked"),
        pytest.param(
            "post",
            CITIES,
            {"data": "name=x", "content_type": "application/x-www-form-urlencoded"},
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            id="415",
        ),
        pytest.param(
            "post",
            CITIES,
            {"data": '{"name": ', "content_type": "application/json"},
            HTTPStatus.BAD_REQUEST,
            id="400-malformed-body",
        ),
    ],
)
def test_an_api_error_is_json(superuser_client, method, url, kwargs, status):
    response = getattr(superuser_client, method)(url, **kwargs)

    assert_json_error(response, status)


# ---------------------------------------------------------------------------
# What Django answers outside the API's views
# ---------------------------------------------------------------------------


def test_an_oversized_body_is_a_json_400_and_stores_nothing(superuser_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"name": "Xianning", "slug": "xianning", "summary": "' + "x" * 2000 + '"}'

    response = superuser_client.post(CITIES, body, content_type="application/json")

    body = assert_json_error(response, HTTPStatus.BAD_REQUEST)
    assert "larger" in body["detail"]
    assert not City.objects.filter(slug="xianning").exists()


@pytest.mark.parametrize("url", [CITIES, WUHAN, "/api/schema/", "/api/nowhere/"])
def test_a_host_the_site_does_not_serve_is_a_json_400(url):
    response = client().get(url, HTTP_HOST="elsewhere.example")

    body = assert_json_error(response, HTTPStatus.BAD_REQUEST)
    assert "Host" in body["detail"]


def test_an_unexpected_exception_in_an_api_view_is_a_json_500(monkeypatch):
    def fail(self, request, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(CityViewSet, "list", fail)

    response = client().get(CITIES, HTTP_ACCEPT="text/csv")

    body = assert_json_error(response, HTTPStatus.INTERNAL_SERVER_ERROR)
    assert "a bug" not in str(body)


def raise_suspicious(request):
    raise SuspiciousOperation("tampered")


def raise_permission_denied(request):
    raise PermissionDenied


def raise_runtime_error(request):
    raise RuntimeError("a bug")


# Plain Django views under /api/ and on the site, to reach each of the site's
# handlers (imported above) without a DRF view in between.
urlpatterns = [
    path("api/test-suspicious/", raise_suspicious),
    path("api/test-denied/", raise_permission_denied),
    path("api/test-failure/", raise_runtime_error),
    path("test-suspicious/", raise_suspicious),
    path("test-denied/", raise_permission_denied),
    path("test-failure/", raise_runtime_error),
    *site_urlpatterns,
]
HANDLED = [
    pytest.param("test-suspicious/", HTTPStatus.BAD_REQUEST, id="400"),
    pytest.param("test-denied/", HTTPStatus.FORBIDDEN, id="403"),
    pytest.param("test-failure/", HTTPStatus.INTERNAL_SERVER_ERROR, id="500"),
]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("url", "status"), HANDLED)
def test_the_sites_error_handlers_answer_json_under_the_api(url, status):
    response = client().get(f"/api/{url}")

    assert_json_error(response, status)


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("url", "status"), [*HANDLED, pytest.param("nowhere/", HTTPStatus.NOT_FOUND, id="404")]
)
def test_the_sites_error_handlers_answer_html_on_pages(url, status):
    response = client().get(f"/{url}")

    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html"), response["Content-Type"]


# ---------------------------------------------------------------------------
# Who is refused how: 401 without credentials, 403 without permission
# ---------------------------------------------------------------------------

WRITES = [
    pytest.param("post", CITIES, id="POST"),
    pytest.param("put", WUHAN, id="PUT"),
    pytest.param("patch", WUHAN, id="PATCH"),
    pytest.param("delete", WUHAN, id="DELETE"),
]


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_a_write_without_credentials_is_a_401_naming_the_token_scheme(method, url):
    response = getattr(client(), method)(url, {"name": "Renamed"}, format="json")

    assert_json_error(response, HTTPStatus.UNAUTHORIZED)
    assert response["WWW-Authenticate"] == "Token"
    assert City.objects.get(slug="wuhan").name == "Wuhan"


@pytest.mark.parametrize("header", ["Token " + "0" * 40, "Token not-a-key", "Token"])
def test_a_bad_token_is_a_401(header):
    bad = client()
    bad.credentials(HTTP_AUTHORIZATION=header)

    response = bad.get(CITIES)

    assert_json_error(response, HTTPStatus.UNAUTHORIZED)
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("signed_in", ["session", "token"])
@pytest.mark.parametrize(("method", "url"), WRITES)
def test_a_signed_in_user_without_permission_gets_a_403(signed_in, method, url):
    reader = User.objects.create_user("reader", password="not-used")
    reader_client = client()
    if signed_in == "session":
        reader_client.force_login(reader)
    else:
        reader_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=reader).key}")

    response = getattr(reader_client, method)(url, {"name": "Renamed"}, format="json")

    assert_json_error(response, HTTPStatus.FORBIDDEN)
    assert City.objects.get(slug="wuhan").name == "Wuhan"
