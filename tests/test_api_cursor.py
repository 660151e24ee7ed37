"""Cursors in the API's `next` links: every row once, in every order (NULLs
too), constant cost, and clear refusals of cursors that are not ours."""

import base64
import json
from datetime import date
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest

from clusters.api import keyset
from clusters.filters import stable_order
from clusters.models import PolicyDocument, Sector
from tests import factories
from tests.test_api import SERVER, get_json, url

pytestmark = pytest.mark.django_db


def local(link):
    assert link.startswith(SERVER), link
    return link.removeprefix(SERVER)


def walk(client, endpoint, params):
    """Every page from the first by `next` links: (slugs in order, pages)."""
    data = get_json(client, url(endpoint), params)
    slugs, pages = [], [data]
    while True:
        slugs += [row["slug"] for row in data["results"]]
        if data["next"] is None:
            return slugs, pages
        assert len(pages) <= data["count"], "the next links go round in circles"
        data = get_json(client, local(data["next"]))
        pages.append(data)


def by_number(client, endpoint, params):
    """Every page by `page=N`: the slugs in order."""
    slugs, number = [], 1
    while True:
        data = get_json(client, url(endpoint), {**params, "page": number})
        slugs += [row["slug"] for row in data["results"]]
        if data["next"] is None:
            return slugs
        assert number <= data["count"], "the next links never end"
        number += 1


@pytest.fixture
def dated_documents(empty_database):
    """Documents with shared dates, no dates and shared names: every kind of tie."""
    dates = [date(2019, 1, 1), None, date(2020, 5, 1), date(2019, 1, 1), None, date(2021, 1, 1), None]
    for number, published_on in enumerate(dates):
        factories.PolicyDocumentFactory(
            slug=f"doc-{number}", name=f"Document {number % 3}", published_on=published_on
        )
    return dates


@pytest.mark.parametrize("ordering", [None, "name", "-name", "date", "-date"])
def test_next_links_give_every_row_once_in_the_order_of_page_numbers(client, dated_documents, ordering):
    params = {"page_size": 2, **({"ordering": ordering} if ordering else {})}

    slugs, pages = walk(client, "documents", params)

    assert sorted(slugs) == sorted(PolicyDocument.objects.values_list("slug", flat=True))
    assert slugs == by_number(client, "documents", params)
    assert [page["count"] for page in pages] == [len(dated_documents)] * len(pages)


def test_undated_documents_come_first_oldest_first_and_last_newest_first(client, dated_documents):
    oldest_first, _pages = walk(client, "documents", {"ordering": "date", "page_size": 3})
    newest_first, _pages = walk(client, "documents", {"ordering": "-date", "page_size": 3})

    undated = {f"doc-{n}" for n, published_on in enumerate(dated_documents) if published_on is None}
    assert set(oldest_first[:3]) == undated
    assert set(newest_first[-3:]) == undated


def test_a_cursor_page_links_back_by_page_number(client, reference_data):
    first = get_json(client, url("sectors"), {"page_size": 5})
    second = get_json(client, local(first["next"]))
    third = get_json(client, local(second["next"]))

    assert local(second["previous"]) == url("sectors") + "?page_size=5"
    assert parse_qs(urlsplit(third["previous"]).query) == {"page": ["2"], "page_size": ["5"]}
    assert get_json(client, local(third["previous"]))["results"] == second["results"]


def test_the_last_page_has_no_next_link(client, reference_data):
    _slugs, pages = walk(client, "sectors", {"page_size": 10})

    assert pages[-1]["next"] is None
    assert len(pages) == -(-Sector.objects.count() // 10)


def test_a_cursor_page_costs_the_same_queries_as_the_first(client, empty_database, django_assert_num_queries):
    factories.SectorFactory.create_batch(30)
    first = get_json(client, url("sectors"), {"page_size": 5})
    deep = first
    for _ in range(4):
        deep = get_json(client, local(deep["next"]))

    with django_assert_num_queries(2 + 1) as first_queries:
        client.get(url("sectors"), {"page_size": 5})
    with django_assert_num_queries(len(first_queries)):
        client.get(local(deep["next"]))


def cursor_of(link):
    return parse_qs(urlsplit(link).query)["cursor"][0]


def forged(payload):
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


NOT_OURS = "Not a cursor this API gave out"


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        ("not-a-cursor", NOT_OURS),
        ("%%%", NOT_OURS),
        (forged({"sort": ["name", "id"], "after": ["a"], "page": 2}), NOT_OURS),
        (forged({"sort": ["name", "id"], "after": ["a", "x"], "page": 2}), NOT_OURS),
        (forged({"sort": ["name", "id"], "after": ["a", 1], "page": 1}), NOT_OURS),
        (forged({"sort": ["name", "id"], "after": ["a", 1], "page": "2"}), NOT_OURS),
        (forged({"sort": ["name", "id"], "after": ["a", None], "page": 2}), NOT_OURS),
        (forged({"sort": ["name", "id"], "after": ["a", 1], "page": 10**12}), NOT_OURS),
        (forged({"sort": ["name", "id"], "after": "a", "page": 2}), NOT_OURS),
        (forged(["name"]), NOT_OURS),
        (forged({}), NOT_OURS),
        (base64.urlsafe_b64encode(b"\xff\xfe").decode(), NOT_OURS),
        (forged({"sort": ["slug", "id"], "after": ["a", 1], "page": 2}), "another order"),
    ],
)
def test_a_cursor_that_is_not_ours_is_a_json_400(client, reference_data, cursor, message):
    data = get_json(client, url("sectors"), {"cursor": cursor}, status=HTTPStatus.BAD_REQUEST)

    assert list(data) == ["cursor"]
    assert message in data["cursor"]


def test_the_forged_cursors_follow_the_shape_of_real_ones(client, reference_data):
    first = get_json(client, url("sectors"), {"page_size": 5})
    real = json.loads(base64.urlsafe_b64decode(cursor_of(first["next"]) + "==").decode())

    assert real["sort"] == ["name", "id"] and real["page"] == 2 and len(real["after"]) == 2


def test_a_cursor_from_another_order_or_with_a_page_number_is_a_json_400(client, reference_data):
    first = get_json(client, url("sectors"), {"page_size": 5, "ordering": "name"})
    cursor = cursor_of(first["next"])

    other_order = get_json(
        client, url("sectors"), {"cursor": cursor, "ordering": "-name"}, status=HTTPStatus.BAD_REQUEST
    )
    with_page = get_json(client, url("sectors"), {"cursor": cursor, "page": 2}, status=HTTPStatus.BAD_REQUEST)

    assert "order" in other_order["cursor"]
    assert "not both" in with_page["cursor"]


def test_a_forged_cursor_beyond_every_row_is_an_empty_last_page(client, reference_data):
    cursor = forged({"sort": ["name", "id"], "after": ["\uffff", 10**9], "page": 7})

    data = get_json(client, url("sectors"), {"cursor": cursor})

    assert data["results"] == [] and data["next"] is None
    assert data["count"] == Sector.objects.count()


def test_a_cursor_is_only_made_for_a_total_order_with_nulls_placed(db):
    documents = PolicyDocument.objects.all()

    assert keyset.sort_keys(stable_order(documents.order_by("published_on"))) is not None
    assert keyset.sort_keys(stable_order(documents.order_by("-name"))) is not None
    # NULLs where the database puts them, no pk last, or a relation: no cursor.
    assert keyset.sort_keys(documents.order_by("published_on", "pk")) is None
    assert keyset.sort_keys(documents.order_by("name")) is None
    assert keyset.sort_keys(documents.order_by("reports_on__name", "pk")) is None
