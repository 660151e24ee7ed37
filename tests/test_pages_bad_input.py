"""The public pages under bad query input.

Every list page by every parameter it accepts (its FilterSet's filters, plus
`page`), the search, the map and its GeoJSON layers by the map's filters,
the Atom feeds by theirs, and the detail pages by malformed slugs. The
routes and parameters are read from the URLconf and the FilterSets, so a new
list or filter is covered without touching this file; the hostile values are
the API matrix's catalogue (tests/test_api_bad_input.py) plus some aimed
at page numbers, years and forms, and bytes only a raw query string carries.

The contract:

- nothing is a server error;
- a NUL character, a parameter longer than MAX_PARAMETER_CHARS, too many
  parameters or an over-long query string is a 400 before any view runs
  (clusters/middleware.py): the site's 400 page, JSON for the GeoJSON layers
  (naming the parameter), plain text for the feeds;
- filters that cannot be applied are a 400: a list page shows its form with
  the errors, a GeoJSON layer names the parameter, a feed says which;
- a page number that is not a page of the list is a 404.

To keep the time modest, the whole catalogue meets every parameter once, at
the FilterSet (section 1: applied, or an error of that parameter alone);
over HTTP each parameter of each page, feed and layer gets the values aimed
at its kind of field (section 2), and Chinese pages a sample (section 3).
Each test reports every value that broke the contract at once.
"""

import json
from http import HTTPStatus
from urllib.parse import quote

import django_filters as filters
import pytest
from django.contrib.syndication.views import Feed
from django.http import QueryDict
from django.urls import URLPattern, reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.http import urlencode

from clusters import urls as public_urls
from clusters.filters import CityFilter, PlannedBaseFilter
from clusters.middleware import MAX_PARAMETER_CHARS, MAX_QUERY_STRING_CHARS
from clusters.templatetags.clusters_tags import LIST_ARRANGEMENT_PARAMETERS
from clusters.views import FilteredListView, MapView
from tests.test_api_bad_input import BAD_VALUES, ODD_SLUGS

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------
# What there is to send bad input to, read from the URLconf
# ---------------------------------------------------------------------------


def public_routes():
    return [pattern for pattern in public_urls.urlpatterns if isinstance(pattern, URLPattern)]


def route(pattern):
    return f"{public_urls.app_name}:{pattern.name}"


def view_class(pattern):
    return getattr(pattern.callback, "view_class", None)


def list_pages():
    """(route, FilterSet) of every list page."""
    return {
        route(pattern): view_class(pattern).filterset_class
        for pattern in public_routes()
        if isinstance(view_class(pattern), type) and issubclass(view_class(pattern), FilteredListView)
    }


def feeds():
    """(route, FilterSet) of every Atom feed of a list."""
    return {
        route(pattern): pattern.callback.list_view.filterset_class
        for pattern in public_routes()
        if isinstance(pattern.callback, Feed)
    }


def detail_routes():
    return [route(pattern) for pattern in public_routes() if "slug" in pattern.pattern.converters]


def geojson_routes():
    return [route(pattern) for pattern in public_routes() if str(pattern.pattern).endswith(".geojson")]


# The FilterSet behind each map layer (the views pass it in; the test below
# pins the layers, so a new one must be added here).
MAP_LAYERS = {"clusters:map-cities": CityFilter, "clusters:map-bases": PlannedBaseFilter}

LIST_PAGES = list_pages()
FEEDS = feeds()
DETAIL_ROUTES = detail_routes()


def list_parameters(filterset_class):
    """What a list page reads from its query string: the filters (`ordering`
    among them) and the page number."""
    return sorted({*filterset_class.base_filters, "page"})


def feed_parameters(filterset_class):
    """A feed takes its list's filters; paging and ordering are the list's own."""
    return sorted(set(filterset_class.base_filters) - set(LIST_ARRANGEMENT_PARAMETERS))


def map_layer_parameters(route_name):
    """A layer gets the map page's query string: its own filters and the map's controls."""
    return sorted({*MAP_LAYERS[route_name].base_filters, *MapView.controls})


def route_id(route_name):
    return route_name.split(":")[1]


def test_the_matrix_covers_every_public_list_feed_layer_and_detail_page():
    """The routes are found from the URLconf; this pins what it finds."""
    assert sorted(LIST_PAGES) == sorted(
        f"clusters:{entity}-list" for entity in ("document", "base", "sector", "city", "province")
    )
    assert sorted(FEEDS) == ["clusters:base-feed", "clusters:document-feed"]
    assert sorted(geojson_routes()) == sorted(MAP_LAYERS)
    assert sorted(DETAIL_ROUTES) == sorted(
        f"clusters:{entity}-detail" for entity in ("document", "base", "sector", "city", "province")
    )


def test_the_parameters_are_read_from_the_filtersets():
    assert {"year_from", "year_to", "kind", "language", "ordering", "page"} <= set(
        list_parameters(LIST_PAGES["clusters:document-list"])
    )
    assert {"sector_all", "city_all", "document"} <= set(feed_parameters(FEEDS["clusters:base-feed"]))
    assert "page" not in feed_parameters(FEEDS["clusters:base-feed"])
    assert set(MapView.controls) <= set(map_layer_parameters("clusters:map-cities"))


# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------


class Raw(str):
    """A value sent exactly as written in the query string (percent-encoded),
    for bytes that no Python string encodes to: a lone surrogate, invalid UTF-8."""


# Beyond the API's catalogue: values aimed at page numbers, years, slugs and
# choices, and at the form rendering them back to the reader.
PAGE_VALUES = {
    "10**30": str(10**30),
    "page-past-the-end": "999999",
    "last": "last",
    "minus-zero": "-0",
    "plus-sign": "+1",
    "exponent": "2e3",
    "fullwidth-digits": "\uff12\uff10\uff11\uff19",
    "arabic-indic-digit": "٣",
    "date": "2019-02-30",
    "year-with-spaces": " 2019 ",
    "unknown-choice": "bogus",
    "upper-case": "MIDDLE",
    "path": "../../etc/passwd",
    "html": '"><script>alert(1)</script>',
    "chinese": "武汉",
    "right-to-left-override": "\u202egnp.exe",
    "zero-width-space": "\u200b",
    "replacement-character": "\ufffd",
    "many-repeats": ["wuhan"] * 100,
    "at-the-limit": "x" * MAX_PARAMETER_CHARS,
    "past-the-limit": "x" * (MAX_PARAMETER_CHARS + 1),
    "lone-high-surrogate": Raw("%ED%A0%80"),
    "lone-low-surrogate": Raw("%ED%B0%80"),
    "invalid-utf8": Raw("%FF%FE"),
    "overlong-slash": Raw("%C0%AF"),
    "overlong-nul": Raw("%C0%80"),
    "truncated-utf8": Raw("%E6%AD"),
    "bad-percent": Raw("%ZZ"),
    "raw-nul": Raw("%00"),
}
VALUES = {**BAD_VALUES, **PAGE_VALUES}


def query_string(parameter, value):
    if isinstance(value, Raw):
        return f"{quote(parameter)}={value}"
    return urlencode({parameter: value}, doseq=True)


def refused_early(value):
    """Whether the middleware refuses the value before any view sees it."""
    values = value if isinstance(value, list) else [value]
    return any("\x00" in text or len(text) > MAX_PARAMETER_CHARS or text == "%00" for text in values)


# ---------------------------------------------------------------------------
# What each kind of answer must look like (a description of what is wrong,
# or None)
# ---------------------------------------------------------------------------


def template_names(response):
    return [template.name for template in response.templates if template.name]


def server_error(response):
    if response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return f"{response.status_code}"
    return None


def early_refusal_problem(response):
    """A 400 page from the middleware: the message shown, nothing unescaped."""
    html = response.content.decode()
    if "400.html" not in template_names(response) or escape(response.context["message"]) not in html:
        return "not the site's 400 page with its message"
    if "\x00" in html:
        return "a NUL in the 400 page"
    return None


def list_page_problem(response, parameter, value):
    """A list page: 200 only for filters it applied; 400 with the form's
    errors shown (or the middleware's page); 404 only for a page number."""
    if error := server_error(response):
        return error
    status = response.status_code
    if refused_early(value):
        return f"{status}, not an early 400" if status != 400 else early_refusal_problem(response)
    if status == HTTPStatus.NOT_FOUND:
        return None if parameter == "page" else "404 for a filter"
    filterset = response.context["filterset"]
    if status == HTTPStatus.OK:
        return None if not filterset.is_bound or filterset.is_valid() else "200 with invalid filters"
    if status != HTTPStatus.BAD_REQUEST:
        return f"{status}"
    if filterset.is_valid():
        return "400 with valid filters"
    html = response.content.decode()
    errors = [error for errors in filterset.form.errors.values() for error in errors]
    missing = [error for error in errors if escape(error) not in html]
    return f"errors not shown: {missing}" if missing else None


def geojson_problem(response, parameter, value):
    """A map layer: GeoJSON, or a JSON 400 naming the parameter."""
    if error := server_error(response):
        return error
    body = json.loads(response.content)
    if response.status_code == HTTPStatus.OK:
        return None if body.get("type") == "FeatureCollection" else "200 without a FeatureCollection"
    if response.status_code != HTTPStatus.BAD_REQUEST:
        return f"{response.status_code}"
    if not response["Content-Type"].startswith("application/json"):
        return response["Content-Type"]
    return None if parameter in body.get("errors", {}) else f"400 not naming {parameter}: {body}"


def feed_problem(response, parameter, value):
    """A feed: Atom, or a plain-text 400 saying what is wrong."""
    if error := server_error(response):
        return error
    content_type = response["Content-Type"]
    if response.status_code == HTTPStatus.OK:
        return None if content_type.startswith("application/atom+xml") else content_type
    if response.status_code != HTTPStatus.BAD_REQUEST:
        return f"{response.status_code}"
    if content_type != "text/plain; charset=utf-8" or not response.content.strip():
        return f"400 as {content_type}"
    if not refused_early(value) and parameter not in response.content.decode():
        return f"400 not naming {parameter}"
    return None


def html_page_problem(response, parameter, value):
    """The search and the map page: 200 or 400, never a server error."""
    if error := server_error(response):
        return error
    if refused_early(value):
        return early_refusal_problem(response) if response.status_code == 400 else "not an early 400"
    if response.status_code not in {HTTPStatus.OK, HTTPStatus.BAD_REQUEST}:
        return f"{response.status_code}"
    return None


def sweep(client, url, parameter, check, values):
    """Send each value (by id) as `parameter`; the ones that broke the contract."""
    failures = {}
    for value_id in values:
        value = VALUES[value_id]
        response = client.get(f"{url}?{query_string(parameter, value)}")
        if problem := check(response, parameter, value):
            failures[value_id] = problem
    return failures


# ---------------------------------------------------------------------------
# 1. Every parameter by the whole catalogue, at the FilterSet: each value is
#    either applied or refused as an error of that parameter alone.
# ---------------------------------------------------------------------------


def as_received(parameter, value):
    """The QueryDict a view gets for `parameter=value`."""
    return QueryDict(query_string(parameter, value))


@pytest.mark.parametrize("route_name", LIST_PAGES, ids=route_id)
def test_every_filter_applies_or_refuses_every_value_of_the_catalogue(reference_data, route_name):
    """The full cross product, cheaply: the values the middleware refuses
    never reach a FilterSet; every other one is applied (and the query runs)
    or is a form error of its own parameter only."""
    filterset_class = LIST_PAGES[route_name]
    model = filterset_class._meta.model
    failures = {}
    for parameter in sorted(filterset_class.base_filters):
        for value_id, value in VALUES.items():
            if refused_early(value):
                continue
            queryset = model.objects.public().for_list()
            filterset = filterset_class(as_received(parameter, value), queryset=queryset)
            if filterset.is_valid():
                list(filterset.qs[:1])
            elif set(filterset.form.errors) != {parameter}:
                failures[f"{parameter}={value_id}"] = dict(filterset.form.errors)
    assert failures == {}


# ---------------------------------------------------------------------------
# 2. Every parameter of every page, feed and layer, over HTTP, by the values
#    aimed at its kind of field (a page number, a year, a slug, a choice).
# ---------------------------------------------------------------------------

# Refused before any view runs, so cheap: sent to every parameter.
EARLY_SAMPLE = ("inner-nul", "repeated-with-nul", "past-the-limit", "raw-nul")
NUMBER_SAMPLE = (
    "letters",
    "fraction",
    "1e309",
    "NaN",
    "10**30",
    "minus-one",
    "zero",
    "page-past-the-end",
    "fullwidth-digits",
    "arabic-indic-digit",
    "year-with-spaces",
)
SLUG_SAMPLE = (
    "unknown-slug",
    "many-repeats",
    "repeated-number-then-letters",
    "lone-high-surrogate",
    "at-the-limit",
    "sql",
)
CHOICE_SAMPLE = ("unknown-choice", "upper-case", "comma-list", "repeated", "invalid-utf8", "at-the-limit")


def sample_for(filterset_class, parameter):
    """The catalogue values aimed at one parameter: by its kind of filter,
    and the whole catalogue for a kind this test does not know yet."""
    filter_ = filterset_class.base_filters.get(parameter)
    if parameter == "page" or isinstance(filter_, filters.NumberFilter):
        aimed = NUMBER_SAMPLE
    elif isinstance(filter_, filters.ModelMultipleChoiceFilter):
        aimed = SLUG_SAMPLE
    elif isinstance(filter_, filters.ChoiceFilter | filters.MultipleChoiceFilter | filters.TypedChoiceFilter):
        aimed = CHOICE_SAMPLE
    else:
        aimed = tuple(VALUES)
    return dict.fromkeys([*EARLY_SAMPLE, *aimed])


def test_the_samples_are_taken_from_the_catalogue():
    for value_id in (*EARLY_SAMPLE, *NUMBER_SAMPLE, *SLUG_SAMPLE, *CHOICE_SAMPLE):
        assert value_id in VALUES
    assert all(refused_early(VALUES[value_id]) for value_id in EARLY_SAMPLE)
    assert sample_for(LIST_PAGES["clusters:document-list"], "year_from").keys() >= set(NUMBER_SAMPLE)
    assert sample_for(LIST_PAGES["clusters:city-list"], "province").keys() >= set(SLUG_SAMPLE)
    assert sample_for(LIST_PAGES["clusters:sector-list"], "top_level").keys() >= set(CHOICE_SAMPLE)


LIST_MATRIX = [
    pytest.param(route_name, parameter, id=f"{route_id(route_name)}-{parameter}")
    for route_name, filterset_class in LIST_PAGES.items()
    for parameter in list_parameters(filterset_class)
]


@pytest.mark.parametrize(("route_name", "parameter"), LIST_MATRIX)
def test_a_list_page_answers_bad_values_with_a_4xx(client, reference_data, route_name, parameter):
    values = sample_for(LIST_PAGES[route_name], parameter)
    assert sweep(client, reverse(route_name), parameter, list_page_problem, values) == {}


GEOJSON_MATRIX = [
    pytest.param(route_name, parameter, id=f"{route_id(route_name)}-{parameter}")
    for route_name in MAP_LAYERS
    for parameter in map_layer_parameters(route_name)
]


@pytest.mark.parametrize(("route_name", "parameter"), GEOJSON_MATRIX)
def test_a_map_layer_answers_bad_values_with_geojson_or_a_json_400(
    client, reference_data, route_name, parameter
):
    values = sample_for(MAP_LAYERS[route_name], parameter)
    assert sweep(client, reverse(route_name), parameter, geojson_problem, values) == {}


FEED_MATRIX = [
    pytest.param(route_name, parameter, id=f"{route_id(route_name)}-{parameter}")
    for route_name, filterset_class in FEEDS.items()
    for parameter in feed_parameters(filterset_class)
]


@pytest.mark.parametrize(("route_name", "parameter"), FEED_MATRIX)
def test_a_feed_answers_bad_values_with_atom_or_a_plain_400(client, reference_data, route_name, parameter):
    values = sample_for(FEEDS[route_name], parameter)
    assert sweep(client, reverse(route_name), parameter, feed_problem, values) == {}


@pytest.mark.parametrize("parameter", MapView.controls)
def test_the_map_page_answers_bad_values_without_a_server_error(client, reference_data, parameter):
    values = sample_for(PlannedBaseFilter, parameter)
    assert sweep(client, reverse("clusters:map"), parameter, html_page_problem, values) == {}


def test_the_search_answers_the_whole_catalogue_with_a_200_or_a_400(client, reference_data):
    assert sweep(client, reverse("clusters:search"), "q", html_page_problem, VALUES) == {}


# ---------------------------------------------------------------------------
# 3. In Chinese: a sample of the catalogue, in every parameter at once.
# ---------------------------------------------------------------------------

CHINESE_SAMPLE = ("letters", "unknown-slug", "lone-high-surrogate", "inner-nul")


def everywhere(parameters, value):
    return "&".join(query_string(parameter, value) for parameter in parameters)


CHINESE_ROUTES = [
    pytest.param(route_name, check, parameters, id=route_id(route_name))
    for route_name, check, parameters in [
        *[(name, list_page_problem, sorted(LIST_PAGES[name].base_filters)) for name in LIST_PAGES],
        *[(name, feed_problem, feed_parameters(FEEDS[name])) for name in FEEDS],
        *[(name, geojson_problem, map_layer_parameters(name)) for name in MAP_LAYERS],
        ("clusters:search", html_page_problem, ["q"]),
        ("clusters:map", html_page_problem, MapView.controls),
    ]
]


@pytest.mark.parametrize(("route_name", "check", "parameters"), CHINESE_ROUTES)
def test_chinese_pages_feeds_and_layers_answer_bad_values_with_a_4xx(
    client, reference_data, route_name, check, parameters
):
    with translation.override("zh-hans"):
        url = reverse(route_name)
    assert url.startswith("/zh-hans/")
    failures = {}
    for value_id in CHINESE_SAMPLE:
        value = VALUES[value_id]
        response = client.get(f"{url}?{everywhere(parameters, value)}")
        # Every parameter is bad at once: the answer must be right for one of them.
        problems = [check(response, parameter, value) for parameter in parameters]
        if all(problems):
            failures[value_id] = problems[0]
        elif response["Content-Type"].startswith("text/html"):
            if 'lang="zh-hans"' not in response.content.decode():
                failures[value_id] = "not in Chinese"
    assert failures == {}


# ---------------------------------------------------------------------------
# The contract in detail, on one example each
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/zh-hans"])
@pytest.mark.parametrize("route_name", LIST_PAGES, ids=route_id)
def test_an_invalid_filter_is_a_400_page_showing_the_form_errors(client, reference_data, route_name, prefix):
    response = client.get(f"{prefix}{reverse(route_name)}", {"ordering": "bogus"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    form = response.context["filterset"].form
    assert set(form.errors) == {"ordering"}
    html = response.content.decode()
    assert 'class="form-errors"' in html
    assert escape(form.errors["ordering"][0]) in html
    assert list(response.context["object_list"]) == []
    assert response.context["active_filters"] == []


@pytest.mark.parametrize("route_name", LIST_PAGES, ids=route_id)
def test_valid_filters_and_no_filters_are_still_a_200(client, reference_data, route_name):
    assert client.get(reverse(route_name)).status_code == HTTPStatus.OK
    assert client.get(reverse(route_name), {"ordering": "-name"}).status_code == HTTPStatus.OK
    # A parameter the list does not know is ignored, as before.
    assert client.get(reverse(route_name), {"utm_source": "x"}).status_code == HTTPStatus.OK


@pytest.mark.parametrize("page", ["0", "-1", "abc", str(10**30), "999999", "1.5", "٣٣"])
@pytest.mark.parametrize("route_name", LIST_PAGES, ids=route_id)
def test_a_page_that_is_not_a_page_of_the_list_is_a_404(client, reference_data, route_name, page):
    response = client.get(reverse(route_name), {"page": page})

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "404.html" in template_names(response)


def test_an_unsearchable_query_is_a_400_showing_why(client, reference_data):
    response = client.get(reverse("clusters:search"), {"q": "x" * 201})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.context["error"]
    assert escape(str(response.context["error"])) in response.content.decode()
    assert response.context["groups"] == []


HTML_PAGES = [
    *[(route_name, {}) for route_name in [*LIST_PAGES, "clusters:home", "clusters:map", "clusters:search"]],
    ("clusters:city-detail", {"slug": "wuhan"}),
]


@pytest.mark.parametrize("prefix", ["", "/zh-hans"])
@pytest.mark.parametrize(("route_name", "kwargs"), HTML_PAGES, ids=[route_id(name) for name, _ in HTML_PAGES])
def test_a_nul_or_an_over_long_parameter_is_the_sites_400_page(
    client, reference_data, route_name, kwargs, prefix
):
    url = f"{prefix}{reverse(route_name, kwargs=kwargs)}"
    for params in ({"anything": "a\x00b"}, {"sec\x00tor": "x"}, {"q": "x" * (MAX_PARAMETER_CHARS + 1)}):
        response = client.get(url, params)

        assert response.status_code == HTTPStatus.BAD_REQUEST, params
        assert response["Content-Type"].startswith("text/html")
        assert early_refusal_problem(response) is None
        html = response.content.decode()
        assert f'lang="{prefix.strip("/") or "en"}"' in html
        assert f'href="{url}"' in html  # the same page, without the parameters


def test_the_400_page_speaks_the_language_of_the_address(client, reference_data):
    english = client.get("/cities/", {"q": "x" * (MAX_PARAMETER_CHARS + 1)}).content.decode()
    chinese = client.get("/zh-hans/cities/", {"q": "x" * (MAX_PARAMETER_CHARS + 1)}).content.decode()

    assert "Bad request" in english
    assert "请求有误" in chinese and "Bad request" not in chinese
    assert f"每个参数最多 {MAX_PARAMETER_CHARS} 个字符" in chinese


def test_the_400_page_names_the_parameter_without_its_nul(client, reference_data):
    response = client.get(reverse("clusters:city-list"), {"pro\x00vince": "x"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "<code>pro\ufffdvince</code>" in response.content.decode()


def test_an_unknown_address_with_a_bad_parameter_offers_no_link_back_to_it(client, reference_data):
    response = client.get("//evil.example/", {"q": "\x00"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "evil.example" not in response.content.decode()


@pytest.mark.parametrize("route_name", MAP_LAYERS, ids=route_id)
def test_a_map_layer_refuses_a_nul_or_an_over_long_parameter_as_json(client, reference_data, route_name):
    for params in ({"sector": "a\x00b"}, {"sec\x00tor": "x"}, {"province": "x" * (MAX_PARAMETER_CHARS + 1)}):
        response = client.get(reverse(route_name), params)

        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert response["Content-Type"].startswith("application/json")
        assert set(json.loads(response.content)["errors"]) == set(params)


@pytest.mark.parametrize("route_name", FEEDS, ids=route_id)
def test_a_feed_refuses_a_nul_or_an_over_long_parameter_as_text(client, reference_data, route_name):
    for params in ({"sector": "a\x00b"}, {"sector": "x" * (MAX_PARAMETER_CHARS + 1)}):
        response = client.get(reverse(route_name), params)

        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert response.content.strip()


def long_query(size):
    """Many parameters, each well within the limit, adding up to `size` characters."""
    chunk = "sector=" + "x" * 93 + "&"
    return (chunk * (size // len(chunk) + 1))[:size].rstrip("&")


def too_many_fields():
    return "&".join(f"p{index}=" for index in range(1100))


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        ("/cities/", "text/html"),
        ("/zh-hans/documents/", "text/html"),
        ("/feeds/bases/", "text/plain"),
        ("/map/bases.geojson", "application/json"),
        ("/api/v1/cities/", "application/json"),
    ],
)
@pytest.mark.parametrize(
    "query", [long_query(MAX_QUERY_STRING_CHARS + 1), too_many_fields()], ids=["long", "many"]
)
def test_an_over_long_query_string_or_too_many_parameters_is_a_400(
    client, reference_data, url, content_type, query
):
    response = client.get(f"{url}?{query}")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Content-Type"].startswith(content_type)
    assert response.content.strip()


def test_a_query_string_within_the_bound_reaches_the_view(client, reference_data):
    response = client.get(f"/cities/?{long_query(MAX_QUERY_STRING_CHARS)}")

    # Read by the view: the unknown sectors are a form error, not a refusal of the query.
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "sector" in response.context["filterset"].form.errors


# ---------------------------------------------------------------------------
# The map page itself
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{"reach": "bogus"}, {"sector": "atlantis"}])
def test_the_map_page_with_invalid_filters_is_a_400_showing_the_errors(client, reference_data, params):
    response = client.get(reverse("clusters:map"), params)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    errors = [error for field in response.context["filter_fields"] for error in field.errors]
    assert errors
    assert all(escape(error) in response.content.decode() for error in errors)


# ---------------------------------------------------------------------------
# Detail pages
# ---------------------------------------------------------------------------


def detail_url(route_name, slug, prefix=""):
    """The detail URL of `slug`, which may be already percent-encoded."""
    return prefix + reverse(route_name, kwargs={"slug": "SLUG"}).replace("SLUG", slug)


PAGE_SLUGS = [
    *ODD_SLUGS,
    ("lone-surrogate", "%ED%A0%80"),
    ("overlong-slash", "%C0%AF"),
    ("encoded-slash", "wuhan%2F.."),
    ("unknown", "does-not-exist"),
]


@pytest.mark.parametrize("prefix", ["", "/zh-hans"])
@pytest.mark.parametrize("route_name", DETAIL_ROUTES, ids=route_id)
def test_a_malformed_slug_is_a_404_page(client, reference_data, route_name, prefix):
    failures = {}
    for slug_id, slug in PAGE_SLUGS:
        response = client.get(detail_url(route_name, slug, prefix))
        if response.status_code != HTTPStatus.NOT_FOUND or "404.html" not in template_names(response):
            failures[slug_id] = response.status_code
    assert failures == {}
