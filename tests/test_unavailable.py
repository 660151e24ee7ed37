"""A database that cannot be reached: 503 with Retry-After (HTML for pages,
JSON under /api/ and for the map's GeoJSON), never a traceback; the site
answers again as soon as the database does."""

import contextlib
import json
import logging
from http import HTTPStatus
from unittest import mock

import pytest
from django.db import IntegrityError, InterfaceError, OperationalError, connection
from django.test import override_settings

from clusters.api.views import PlannedBaseViewSet
from clusters.unavailable import RETRY_AFTER
from clusters.views import PlannedBaseDetailView, PlannedBaseListView

pytestmark = pytest.mark.django_db

BASE = "central-china-home-appliance-base"
FAILURE = "database is locked (an internal detail that must not be shown)"


@pytest.fixture
def client(client):
    """As a real server does: Django's answer, even when an exception was
    raised on the way (the test client would raise it again by default)."""
    client.raise_request_exception = False
    return client


class QueryingMiddleware:
    """A middleware that queries the database before the view runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        list(connection.cursor().execute("SELECT 1"))


def with_querying_middleware(settings):
    return [*settings.MIDDLEWARE, f"{__name__}.QueryingMiddleware"]


@contextlib.contextmanager
def database_down(error=OperationalError):
    """Every query fails, as when the database is locked or unreachable."""

    def refuse(execute, sql, params, many, context):
        raise error(FAILURE)

    with connection.execute_wrapper(refuse):
        yield


def assert_unavailable(response, content_type):
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response["Retry-After"] == str(RETRY_AFTER)
    assert response["Content-Type"].startswith(content_type)
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "Traceback" not in body
    assert FAILURE not in body
    return body


@pytest.mark.parametrize(
    "path", ["/", "/bases/", "/bases/?sector=home-appliances", f"/bases/{BASE}/", "/map/"]
)
def test_a_page_gets_the_503_page_when_every_query_fails(client, reference_data, path):
    with database_down():
        response = client.get(path)
    body = assert_unavailable(response, "text/html")
    assert "Temporarily unavailable" in body
    assert '<html lang="en">' in body
    # The page goes through every middleware like any other answer.
    assert "Content-Security-Policy" in response
    assert response["X-Frame-Options"] == "DENY"


def test_the_503_page_is_in_the_language_of_the_address(client, reference_data):
    with database_down():
        response = client.get("/zh-hans/bases/")
    body = assert_unavailable(response, "text/html")
    assert '<html lang="zh-hans">' in body
    assert "暂时无法访问" in body and "Temporarily unavailable" not in body


@pytest.mark.parametrize(
    "path",
    ["/api/v1/bases/", f"/api/v1/bases/{BASE}/", "/api/v1/cities/geojson/", "/api/v1/bases/?format=csv"],
)
def test_the_api_gets_json(client, reference_data, path):
    with database_down():
        response = client.get(path)
    assert_unavailable(response, "application/json")
    assert "temporarily unavailable" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/map/bases.geojson", "/map/cities.geojson?province=hubei"])
def test_the_map_layers_get_json(client, reference_data, path):
    with database_down():
        response = client.get(path)
    assert_unavailable(response, "application/json")
    assert json.loads(response.content)["detail"]


def test_a_view_whose_queryset_raises_gets_a_503(client, reference_data):
    with mock.patch.object(PlannedBaseListView, "get_queryset", side_effect=OperationalError(FAILURE)):
        response = client.get("/bases/")
    assert_unavailable(response, "text/html")


def test_a_detail_view_whose_lookup_raises_gets_a_503(client, reference_data):
    with mock.patch.object(PlannedBaseDetailView, "get_object", side_effect=OperationalError(FAILURE)):
        response = client.get(f"/bases/{BASE}/")
    assert_unavailable(response, "text/html")


def test_an_api_view_whose_queryset_raises_gets_json(client, reference_data):
    with mock.patch.object(PlannedBaseViewSet, "get_queryset", side_effect=OperationalError(FAILURE)):
        response = client.get("/api/v1/bases/")
    assert_unavailable(response, "application/json")


def test_a_middleware_that_fails_before_the_view_gives_a_503_too(client, reference_data, settings):
    """Django answers 500 at once for an exception in process_view; it becomes the 503."""
    with override_settings(MIDDLEWARE=with_querying_middleware(settings)), database_down():
        page = client.get("/bases/")
        api = client.get("/api/v1/bases/")
    assert "Temporarily unavailable" in assert_unavailable(page, "text/html")
    assert "Content-Security-Policy" in page
    assert page["X-Frame-Options"] == "DENY"
    assert_unavailable(api, "application/json")


def test_a_lost_connection_counts_too(client, reference_data):
    with database_down(InterfaceError):
        response = client.get("/cities/")
    assert_unavailable(response, "text/html")


def test_the_failure_is_logged_with_its_traceback(client, reference_data, caplog):
    with caplog.at_level(logging.ERROR, logger="clusters.unavailable"), database_down():
        client.get("/bases/")
    [record] = [record for record in caplog.records if record.name == "clusters.unavailable"]
    assert record.levelno == logging.ERROR
    assert "/bases/" in record.getMessage()
    assert record.exc_info and isinstance(record.exc_info[1], OperationalError)


def test_the_site_answers_again_once_the_database_is_back(client, reference_data):
    with database_down():
        assert client.get("/bases/").status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert client.get("/api/v1/bases/").status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert client.get("/bases/").status_code == HTTPStatus.OK
    assert client.get("/api/v1/bases/").status_code == HTTPStatus.OK


def test_other_database_errors_are_still_server_errors(client, reference_data):
    """An IntegrityError or a bad query is a bug, not an outage."""
    client.raise_request_exception = False
    with mock.patch.object(PlannedBaseListView, "get_queryset", side_effect=IntegrityError("a bug")):
        response = client.get("/bases/")
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert "Retry-After" not in response


def test_the_city_layers_do_not_rely_on_a_remembered_json_probe(client, reference_data, monkeypatch):
    """Django's JSONObject asks the database once whether it has JSON
    functions and remembers a "no" given while the database was unreachable;
    the layers must keep working after such an outage."""
    monkeypatch.setattr(type(connection.features), "has_json_object_function", False)

    for url in ("/map/cities.geojson", "/api/v1/cities/geojson/"):
        response = client.get(url)
        assert response.status_code == HTTPStatus.OK, url
        assert response.json()["features"]
