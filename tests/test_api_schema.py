"""The API's OpenAPI schema: valid, described and typed as the API behaves;
its documentation pages served from the site's own static files; a bounded
schemathesis run of every operation against it, anonymously and as a
superuser (no server error, no undocumented status, bodies as documented);
and every error answer documented and sent as documented."""

import json
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus

import pytest
import schemathesis
import yaml
from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import OperationalError, close_old_connections, transaction
from django.test import Client
from django.urls import resolve
from django_filters import (
    ChoiceFilter,
    ModelMultipleChoiceFilter,
    MultipleChoiceFilter,
    NumberFilter,
    OrderingFilter,
    TypedChoiceFilter,
)
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.errors import FailureGroup

from clusters.api.urls import router
from clusters.api.views import CityViewSet, EntityViewSet
from clusters.models import City, PlannedBase, PolicyDocument, Province, Sector
from tests.test_api_bad_input import LIST_ENDPOINTS, endpoint_id, is_paginated, viewset_of

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# The schema as drf-spectacular generates it, read once to parametrise the
# tests below; each test checks the schema the site serves.
GENERATED = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = [
    (method.upper(), path)
    for path, item in GENERATED["paths"].items()
    for method in item
    if method in HTTP_METHODS
]


def label(method, path):
    return f"{method} {path}"


LABELS = [label(method, path) for method, path in OPERATIONS]
GEOJSON_ENDPOINTS = [url for url in LIST_ENDPOINTS if not is_paginated(url)]
PAGINATED_ENDPOINTS = [url for url in LIST_ENDPOINTS if is_paginated(url)]


@pytest.fixture(scope="module")
def served_schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == HTTPStatus.OK
    return json.loads(response.content)


def resolved(schema, node):
    """`node`, or what its $ref points to."""
    while isinstance(node, dict) and "$ref" in node:
        reference = node["$ref"]
        assert reference.startswith("#/"), reference
        node = schema
        for part in reference[2:].split("/"):
            node = node[part]
    return node


def operation_of(schema, method, path):
    return schema["paths"][path][method.lower()]


def query_parameters(schema, url, method="GET"):
    """The documented query parameters of an operation, by name."""
    return {
        parameter["name"]: parameter
        for parameter in (
            resolved(schema, item) for item in operation_of(schema, method, url).get("parameters", [])
        )
        if parameter["in"] == "query"
    }


def every_parameter(schema):
    for method, path in OPERATIONS:
        for item in operation_of(schema, method, path).get("parameters", []):
            yield label(method, path), resolved(schema, item)


def filters_of(url):
    return viewset_of(url).filterset_class.base_filters


def per_endpoint(urls):
    return [pytest.param(url, id=endpoint_id(url)) for url in urls]


def per_filter(urls, predicate):
    """(url, filter name, filter) for every filter of those lists that
    satisfies `predicate`."""
    return [
        pytest.param(
            url,
            name,
            filter_,
            id=f"{endpoint_id(url)}-{name}",
        )
        for url in urls
        for name, filter_ in filters_of(url).items()
        if predicate(filter_)
    ]


# ---------------------------------------------------------------------------
# A valid OpenAPI 3 document
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "media_type", "load"),
    [
        ({}, "application/vnd.oai.openapi", yaml.safe_load),
        ({"format": "json"}, "application/vnd.oai.openapi+json", json.loads),
    ],
    ids=["default-yaml", "json"],
)
def test_the_schema_is_a_valid_openapi_3_document(client, params, media_type, load):
    response = client.get("/api/schema/", params)

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith(media_type)
    document = load(response.content)
    assert document["openapi"].startswith("3.")
    validate(document)
    assert document["info"]["title"] == settings.SPECTACULAR_SETTINGS["TITLE"]


def test_the_yaml_and_json_schemas_are_the_same_document(client):
    as_yaml = yaml.safe_load(client.get("/api/schema/").content)
    as_json = json.loads(client.get("/api/schema/", {"format": "json"}).content)

    assert as_yaml == as_json


def test_the_served_schema_has_the_operations_these_tests_cover(served_schema):
    served = [
        label(method.upper(), path)
        for path, item in served_schema["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]
    assert sorted(served) == sorted(LABELS)


def test_every_viewset_route_is_in_the_schema(served_schema):
    expected = set()
    for prefix, viewset, _basename in router.registry:
        methods = [
            method.upper() for method in viewset.http_method_names if method not in ("head", "options")
        ]
        expected |= {label(method, f"/api/v1/{prefix}/") for method in methods if method in ("GET", "POST")}
        expected |= {label(method, f"/api/v1/{prefix}/{{slug}}/") for method in methods if method != "POST"}
    assert expected <= set(LABELS)
    for url in LIST_ENDPOINTS:
        assert label("GET", url) in LABELS


# ---------------------------------------------------------------------------
# Described
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=LABELS)
def test_every_operation_has_a_summary_or_description(served_schema, method, path):
    operation = operation_of(served_schema, method, path)

    assert (operation.get("summary") or operation.get("description") or "").strip()


# Parameter names the schema leaves without a description (checked to be so).
PARAMETER_NAMES = sorted(
    {
        item["name"]
        for method, path in OPERATIONS
        for item in operation_of(GENERATED, method, path).get("parameters", [])
    }
)


@pytest.mark.parametrize("name", PARAMETER_NAMES)
def test_every_parameter_has_a_description(served_schema, name):
    occurrences = [
        (where, parameter) for where, parameter in every_parameter(served_schema) if parameter["name"] == name
    ]
    undescribed = [where for where, parameter in occurrences if not parameter.get("description", "").strip()]

    assert occurrences
    assert not undescribed, f"`{name}` has no description in: {undescribed}"


# ---------------------------------------------------------------------------
# Typed as the API behaves
# ---------------------------------------------------------------------------


def is_multi_valued(filter_):
    return isinstance(filter_, MultipleChoiceFilter)


def fixed_choices(filter_):
    """The values of a filter with fixed choices; None for one over database rows."""
    if isinstance(filter_, ModelMultipleChoiceFilter):
        return None
    return {str(value) for value, _label in filter_.extra["choices"]}


def test_the_multi_valued_filters_named_in_the_docs_are_among_those_checked():
    multi_valued = {
        name for url in LIST_ENDPOINTS for name, f in filters_of(url).items() if is_multi_valued(f)
    }

    assert {"sector", "city", "province", "reach", "kind", "sector_all", "city_all"} <= multi_valued


@pytest.mark.parametrize(("url", "name", "filter_"), per_filter(LIST_ENDPOINTS, is_multi_valued))
def test_a_multi_valued_filter_is_an_array_of_strings(served_schema, url, name, filter_):
    parameter = query_parameters(served_schema, url).get(name)

    assert parameter is not None, f"{name} is not documented on {url}"
    schema = resolved(served_schema, parameter["schema"])
    assert schema["type"] == "array"
    items = resolved(served_schema, schema["items"])
    assert items["type"] == "string"
    # Repeated, not comma-separated: `city=wuhan&city=changsha`.
    assert parameter.get("style", "form") == "form"
    assert parameter.get("explode", True) is True
    choices = fixed_choices(filter_)
    if choices is None:
        assert "enum" not in items
    else:
        assert set(items["enum"]) == choices


def is_single_choice(filter_):
    # OrderingFilter is a ChoiceFilter too, over comma-separated fields.
    single = isinstance(filter_, ChoiceFilter | TypedChoiceFilter)
    return single and not isinstance(filter_, MultipleChoiceFilter | OrderingFilter)


@pytest.mark.parametrize(
    ("url", "name", "filter_"),
    per_filter(LIST_ENDPOINTS, is_single_choice),
)
def test_a_single_choice_filter_is_a_string_with_its_choices(served_schema, url, name, filter_):
    parameter = query_parameters(served_schema, url).get(name)

    assert parameter is not None, f"{name} is not documented on {url}"
    schema = resolved(served_schema, parameter["schema"])
    assert schema["type"] == "string"
    assert set(schema["enum"]) == {str(value) for value, _label in filter_.extra["choices"]}


@pytest.mark.parametrize(
    ("url", "name", "filter_"), per_filter(LIST_ENDPOINTS, lambda filter_: isinstance(filter_, NumberFilter))
)
def test_a_number_filter_is_typed_with_its_bounds(served_schema, url, name, filter_):
    parameter = query_parameters(served_schema, url).get(name)

    assert parameter is not None, f"{name} is not documented on {url}"
    schema = resolved(served_schema, parameter["schema"])
    # (A DecimalField is an IntegerField to Django.)
    whole = issubclass(filter_.field_class, forms.IntegerField) and not issubclass(
        filter_.field_class, (forms.DecimalField, forms.FloatField)
    )
    assert schema["type"] == ("integer" if whole else "number")
    assert schema.get("minimum") == filter_.extra.get("min_value")
    assert schema.get("maximum") == filter_.extra.get("max_value")


def test_year_filters_are_integers(served_schema):
    parameters = query_parameters(served_schema, "/api/v1/documents/")

    for name in ("year_from", "year_to"):
        assert parameters[name]["schema"]["type"] == "integer"


@pytest.mark.parametrize("url", PAGINATED_ENDPOINTS, ids=endpoint_id)
def test_page_and_page_size_are_bounded_integers(served_schema, url):
    parameters = query_parameters(served_schema, url)
    page = parameters["page"]["schema"]
    page_size = parameters["page_size"]["schema"]

    assert page["type"] == "integer"
    assert page["minimum"] == 1
    assert page_size["type"] == "integer"
    assert page_size["minimum"] == 1
    assert page_size["maximum"] == settings.API_MAX_PAGE_SIZE == 100


@pytest.mark.parametrize("url", per_endpoint(LIST_ENDPOINTS))
def test_every_list_endpoint_documents_its_filters(served_schema, url):
    expected = {*filters_of(url), "format"} | ({"page", "page_size"} if is_paginated(url) else set())

    missing = expected - set(query_parameters(served_schema, url))

    assert not missing, f"{url} does not document {sorted(missing)}"


@pytest.mark.parametrize("url", GEOJSON_ENDPOINTS, ids=endpoint_id)
def test_a_geojson_layer_documents_a_feature_collection(served_schema, url):
    content = operation_of(served_schema, "GET", url)["responses"]["200"]["content"]

    assert "application/geo+json" in content
    schema = resolved(served_schema, content["application/geo+json"]["schema"])
    assert schema.get("type") == "object"
    assert {"type", "features"} <= set(schema.get("properties", {}))


# ---------------------------------------------------------------------------
# The documentation pages
# ---------------------------------------------------------------------------

DOCS_PAGES = [
    pytest.param("/api/docs/", "swagger-ui-dist/swagger-ui-bundle.js", id="swagger-ui"),
    pytest.param("/api/redoc/", "redoc/bundles/redoc.standalone.js", id="redoc"),
]


def asset_references(html):
    return re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize(("url", "bundle"), DOCS_PAGES)
def test_a_docs_page_renders_with_its_bundle_from_the_sidecar(client, url, bundle):
    response = client.get(url)

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f"{settings.STATIC_URL}drf_spectacular_sidecar/{bundle}" in asset_references(html)
    assert "/api/schema/" in html


@pytest.mark.parametrize("url", [pytest.param(page.values[0], id=page.id) for page in DOCS_PAGES])
def test_a_docs_page_loads_nothing_from_a_cdn(client, url):
    html = client.get(url).content.decode().lower()

    for cdn in ("cdn.", "jsdelivr", "unpkg", "cdnjs"):
        assert cdn not in html


@pytest.mark.parametrize(
    ("url", "bundle"),
    DOCS_PAGES,
)
def test_every_asset_of_a_docs_page_is_one_of_the_sites_own_static_files(client, url, bundle):
    html = client.get(url).content.decode()
    references = asset_references(html)

    assert references
    foreign = [reference for reference in references if not reference.startswith(settings.STATIC_URL)]
    assert not foreign, foreign
    for reference in references:
        assert finders.find(reference.removeprefix(settings.STATIC_URL)), reference


# ---------------------------------------------------------------------------
# Schemathesis: every operation, bounded and deterministic
# ---------------------------------------------------------------------------

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# Real records for the {slug} operations, beside the generated slugs (which
# find nothing): one that other records refer to and one with fewer ties.
REAL_SLUGS = {
    "province": ["hubei", "anhui"],
    "city": ["wuhan", "ningxiang"],
    "sector": ["transport-equipment", "biomedicine"],
    "document": ["middle-yangtze-city-cluster-plan-2015", "li-2020-advanced-manufacturing-clusters"],
    "base": ["middle-reaches-equipment-manufacturing-base", "central-china-home-appliance-base"],
}
MODELS = {
    "province": Province,
    "city": City,
    "sector": Sector,
    "document": PolicyDocument,
    "base": PlannedBase,
}

OPERATION_PARAMS = [pytest.param(label_, id=label_) for label_ in LABELS]


@pytest.fixture(scope="module")
def fuzzed_schema(django_db_setup, django_db_blocker):
    """The served schema, loaded by schemathesis from the WSGI application,
    which its calls then go to in-process."""
    with django_db_blocker.unblock():
        return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


def operation_named(fuzzed_schema, label_):
    method, path = label_.split(" ", 1)
    return fuzzed_schema[path][method]


@contextmanager
def requests_keep_the_test_connection():
    """As in Django's test client: a request does not close the database
    connection that holds the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def basename_of(path):
    return resolve(path.replace("{slug}", "x")).url_name.rsplit("-", 1)[0]


def case_strategy(operation):
    strategies = [operation.as_strategy()]
    if "{slug}" in operation.path:
        strategies += [
            operation.as_strategy(path_parameters={"slug": slug})
            for slug in REAL_SLUGS[basename_of(operation.path)]
        ]
    return st.one_of(strategies)


@dataclass
class FuzzOutcome:
    label: str
    examples: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: dict = field(default_factory=dict)

    def record(self, title, case, response, detail=""):
        self.failures.setdefault(
            title,
            f"{title}: {case.as_curl_command()}\n"
            f"  -> {response.status_code} {response.content[:300]!r}\n"
            f"  {detail[:1000]}",
        )

    def summary(self):
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        return (
            f"schemathesis {self.label}: {self.examples} examples [{statuses}], {len(self.failures)} failures"
        )

    def report(self):
        return "\n\n".join(self.failures.values())


def fuzz(operation, *, headers, anonymous):
    """Run `operation` for up to MAX_EXAMPLES generated cases, each in a
    savepoint rolled back after its request."""
    outcome = FuzzOutcome(operation.label)

    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=case_strategy(operation))
    def run(case):
        outcome.examples += 1
        with transaction.atomic():
            response = case.call(headers=headers)
            transaction.set_rollback(True)
        outcome.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                outcome.record(failure.title, case, response, failure.message)
        if anonymous and case.method in WRITE_METHODS and response.status_code not in (401, 403):
            outcome.record("An anonymous write was not refused", case, response)

    with requests_keep_the_test_connection():
        run()
    print(outcome.summary())
    return outcome


@pytest.fixture
def superuser_headers(admin_user):
    return {"Authorization": f"Token {Token.objects.create(user=admin_user).key}"}


def test_schemathesis_sees_every_operation(fuzzed_schema):
    loaded = [result.ok().label for result in fuzzed_schema.get_all_operations()]

    assert sorted(loaded) == sorted(LABELS)


@pytest.mark.django_db
def test_the_real_slugs_are_in_the_reference_data(reference_data):
    assert set(REAL_SLUGS) == {basename for _prefix, _viewset, basename in router.registry} == set(MODELS)
    for basename, slugs in REAL_SLUGS.items():
        assert MODELS[basename].objects.filter(slug__in=slugs).count() == len(slugs), basename


@pytest.mark.django_db
@pytest.mark.parametrize("label_", OPERATION_PARAMS)
def test_schemathesis_anonymously(fuzzed_schema, reference_data, label_):
    outcome = fuzz(operation_named(fuzzed_schema, label_), headers={}, anonymous=True)

    assert outcome.examples >= MAX_EXAMPLES // 2
    assert not outcome.failures, outcome.report()


@pytest.mark.django_db
@pytest.mark.parametrize("label_", OPERATION_PARAMS)
def test_schemathesis_as_a_superuser(fuzzed_schema, reference_data, superuser_headers, label_):
    outcome = fuzz(operation_named(fuzzed_schema, label_), headers=superuser_headers, anonymous=False)

    assert outcome.examples >= MAX_EXAMPLES // 2
    assert not outcome.failures, outcome.report()
    # The token is accepted: writes get past authentication.
    assert set(outcome.statuses) - {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}


# ---------------------------------------------------------------------------
# What schemathesis found, as plain reproductions
# ---------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client, superuser_headers):
    client.raise_request_exception = False
    client.defaults["HTTP_AUTHORIZATION"] = superuser_headers["Authorization"]
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cities/wuhan/",  # a member of bases
        "/api/v1/provinces/hubei/",  # has cities
        "/api/v1/sectors/transport-equipment/",  # has sub-sectors
        "/api/v1/documents/middle-yangtze-city-cluster-plan-2015/",  # a source of bases
    ],
)
def test_deleting_a_record_others_refer_to_is_a_json_409_not_a_500(superuser_client, reference_data, path):
    """Found by the superuser run: ProtectedError was a 500."""
    response = superuser_client.delete(path)

    assert response.status_code == HTTPStatus.CONFLICT
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content)
    assert superuser_client.get(path).status_code == HTTPStatus.OK


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/bases/central-china-home-appliance-base/", "/api/v1/provinces/anhui/"]
)
def test_deleting_a_record_nothing_protects_works(superuser_client, reference_data, path):
    assert superuser_client.delete(path).status_code == HTTPStatus.NO_CONTENT
    assert superuser_client.get(path).status_code == HTTPStatus.NOT_FOUND


# ---------------------------------------------------------------------------
# Error answers: documented on every operation, and sent as documented
# ---------------------------------------------------------------------------

ERROR_STATUSES_OF_EVERY_OPERATION = {"400", "401", "406", "414", "429", "503"}


def expected_error_statuses(method, path):
    """What each kind of operation can answer besides success."""
    statuses = set(ERROR_STATUSES_OF_EVERY_OPERATION)
    if "{slug}" in path or (method == "GET" and is_paginated(path)):
        statuses.add("404")
    if method in WRITE_METHODS:
        statuses |= {"403", "409"}
    if method in {"POST", "PUT", "PATCH"}:
        statuses |= {"413", "415"}
    if method in {"PUT", "PATCH"}:
        statuses.add("412")
    return statuses


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=LABELS)
def test_every_operation_documents_its_error_answers_as_json(served_schema, method, path):
    responses = operation_of(served_schema, method, path)["responses"]

    errors = {status for status in responses if status >= "400"}
    assert errors == expected_error_statuses(method, path)
    for status in errors:
        assert responses[status]["description"].strip()
        assert list(responses[status]["content"]) == ["application/json"], status
        schema = resolved(served_schema, responses[status]["content"]["application/json"]["schema"])
        assert schema.get("type") == "object", status


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=LABELS)
def test_reads_are_documented_as_open_and_writes_as_needing_credentials(served_schema, method, path):
    security = operation_of(served_schema, method, path)["security"]

    assert ({} in security) == (method == "GET")
    assert {"tokenAuth": []} in security


def test_a_401_documents_the_www_authenticate_header(served_schema):
    for method, path in OPERATIONS:
        header = operation_of(served_schema, method, path)["responses"]["401"]["headers"]["WWW-Authenticate"]
        assert header["required"] is True
        assert header["schema"]["enum"] == ["Token"]


def documented_error(served_schema, method, path, status):
    return operation_of(served_schema, method, path)["responses"][str(status)]


def assert_sent_as_documented(served_schema, response, method, path):
    """`response` has a documented status, a body valid against its
    documented schema and every documented required header."""
    documented = documented_error(served_schema, method, path, response.status_code)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    schema = {
        **documented["content"]["application/json"]["schema"],
        "components": served_schema["components"],
    }
    OAS30Validator(schema).validate(json.loads(response.content))
    for name, header in documented.get("headers", {}).items():
        if header.get("required"):
            assert name in response, name


class Refusing:
    """A throttle that refuses every request, asking for a minute's wait."""

    def allow_request(self, request, view):
        return False

    def wait(self):
        return 60


@pytest.fixture
def error_clients(admin_user):
    def make(user=None, token=None):
        client = APIClient(raise_request_exception=False)
        if user is not None:
            client.force_login(user)
        if token is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    reader = User.objects.create_user("reader", password="not-used")
    return {
        "anonymous": make(),
        "superuser": make(token=Token.objects.create(user=admin_user).key),
        "reader": make(reader),
        "bad token": make(token="0" * 40),
    }


ERROR_CASES = [
    # (client, method, path as documented, url, body, extra headers, status)
    ("anonymous", "GET", "/api/v1/cities/", "/api/v1/cities/?page_size=0", None, {}, 400),
    ("anonymous", "GET", "/api/v1/cities/geojson/", "/api/v1/cities/geojson/?near=x", None, {}, 400),
    ("anonymous", "GET", "/api/v1/cities/{slug}/", "/api/v1/cities/wuhan/?format=nope", None, {}, 400),
    ("superuser", "POST", "/api/v1/cities/", "/api/v1/cities/", {"name": ""}, {}, 400),
    (
        "superuser",
        "POST",
        "/api/v1/bases/",
        "/api/v1/bases/",
        {"name": "B", "slug": "b", "members": [{"city": "wuhan"}, {"role": "nonsense"}]},
        {},
        400,
    ),
    ("superuser", "PATCH", "/api/v1/cities/{slug}/", "/api/v1/cities/wuhan/", '{"name": ', {}, 400),
    ("anonymous", "POST", "/api/v1/cities/", "/api/v1/cities/", {"name": "x"}, {}, 401),
    ("bad token", "GET", "/api/v1/cities/", "/api/v1/cities/", None, {}, 401),
    ("reader", "DELETE", "/api/v1/cities/{slug}/", "/api/v1/cities/wuhan/", None, {}, 403),
    ("anonymous", "GET", "/api/v1/cities/{slug}/", "/api/v1/cities/nowhere/", None, {}, 404),
    ("anonymous", "GET", "/api/v1/cities/", "/api/v1/cities/?page=999", None, {}, 404),
    ("anonymous", "GET", "/api/v1/cities/", "/api/v1/cities/", None, {"HTTP_ACCEPT": "image/png"}, 406),
    ("superuser", "DELETE", "/api/v1/cities/{slug}/", "/api/v1/cities/wuhan/", None, {}, 409),
    (
        "superuser",
        "PATCH",
        "/api/v1/cities/{slug}/",
        "/api/v1/cities/wuhan/",
        {"name": "Renamed"},
        {"HTTP_IF_MATCH": '"999999"'},
        412,
    ),
    (
        "superuser",
        "POST",
        "/api/v1/cities/",
        "/api/v1/cities/",
        b"name=x",
        {"CONTENT_TYPE": "text/plain"},
        415,
    ),
]


def send_case(client, method, url, body, headers):
    """`body`: data sent as JSON, or bytes or text sent as they are (as JSON
    unless `headers` name another CONTENT_TYPE)."""
    if body is None:
        return client.generic(method, url, **headers)
    if isinstance(body, dict):
        body = json.dumps(body)
    content_type = headers.get("CONTENT_TYPE", "application/json")
    others = {name: value for name, value in headers.items() if name != "CONTENT_TYPE"}
    return client.generic(method, url, body, content_type=content_type, **others)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "method", "path", "url", "body", "headers", "status"),
    [pytest.param(*case, id=f"{case[-1]}-{case[0]}-{case[1]}-{case[3]}") for case in ERROR_CASES],
)
def test_a_real_error_is_sent_as_documented(
    served_schema, reference_data, error_clients, who, method, path, url, body, headers, status
):
    response = send_case(error_clients[who], method, url, body, headers)

    assert response.status_code == status, response.content[:300]
    assert_sent_as_documented(served_schema, response, method, path)


@pytest.mark.django_db
def test_a_throttled_request_is_a_429_as_documented(served_schema, reference_data, monkeypatch):
    monkeypatch.setattr(EntityViewSet, "get_throttles", lambda self: [Refusing()])

    response = APIClient().get("/api/v1/cities/")

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert_sent_as_documented(served_schema, response, "GET", "/api/v1/cities/")
    assert response["Retry-After"] == "60"


@pytest.mark.django_db
def test_an_unavailable_database_is_a_503_as_documented(served_schema, reference_data, monkeypatch):
    def unavailable(self, request, *args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(CityViewSet, "retrieve", unavailable)

    response = APIClient().get("/api/v1/cities/wuhan/")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert_sent_as_documented(served_schema, response, "GET", "/api/v1/cities/{slug}/")
    assert "Retry-After" in response
