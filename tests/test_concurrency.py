"""Editors writing at the same moment lose nothing.

Each test sends its writes from real threads, each with its own database
connection, released together, against a database that commits (a file on
SpatiaLite, as the site runs; the test database on PostGIS), not inside the
test's own transaction. Every write either lands whole or is refused with a
message (the admin form shown again with what the editor typed, a 409 or 412
in the API): never a 500 or 503, never a field or a member silently undone.
"""

import datetime
import html
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from clusters.models import BaseMembership, BaseSource, PolicyDocument
from tests import factories
from tests.test_editorial import admin_form_data, admin_url, member_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_data")]

ROUNDS = 4
CONFLICT = "Someone else saved this record"
PLAN = "middle-yangtze-city-cluster-plan-2015"
NEWS = "china-daily-2019-middle-reaches-clusters"
RESEARCH = "li-2020-advanced-manufacturing-clusters"


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@pytest.fixture
def groups():
    call_command("setup_groups", verbosity=0)


@pytest.fixture
def editors(groups):
    return [member_of("Editors", f"editor-{number}") for number in range(2)]


@pytest.fixture
def publisher(groups):
    return member_of("Publishers", "publisher")


def at_once(*calls):
    """Runs each call in its own thread, all released at the same moment;
    their results in order."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        try:
            return call()
        finally:
            # Each thread has its own connection; close it, as a worker would.
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result() for future in futures]


def browser(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def api(user):
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def opened_form(client, obj):
    """The admin change form of `obj` as its editor opened it: (url, page)."""
    url = admin_url(type(obj), "change", obj.pk)
    page = client.get(url)
    assert page.status_code == HTTPStatus.OK, url
    return url, page


def draft_document(number, **fields):
    return factories.PolicyDocumentFactory(
        name=f"Raced document {number}", slug=f"raced-document-{number}", status="draft", **fields
    )


def shows_typed_input(response, value):
    """The refused form is on the page again, with the editor's text in it."""
    page = html.unescape(response.content.decode())
    return response.status_code == HTTPStatus.OK and value in page and "<form" in page


# ---------------------------------------------------------------------------
# 1. Admin saves
# ---------------------------------------------------------------------------


def test_two_editors_saving_two_records_at_once_both_save(editors):
    documents = [draft_document(number) for number in range(2)]
    for round_number in range(ROUNDS):
        clients = [browser(editor) for editor in editors]
        forms = [opened_form(client, doc) for client, doc in zip(clients, documents, strict=True)]
        summaries = [f"Summary {round_number} by editor {number}" for number in range(2)]
        saves = [
            partial(client.post, url, admin_form_data(page, summary=summary))
            for client, (url, page), summary in zip(clients, forms, summaries, strict=True)
        ]

        responses = at_once(*saves)

        assert [r.status_code for r in responses] == [HTTPStatus.FOUND] * 2, [
            r.content[:2000] for r in responses
        ]
        for document, summary in zip(documents, summaries, strict=True):
            document.refresh_from_db()
            assert document.summary == summary


def test_two_editors_saving_one_record_at_once_one_saves_and_the_other_sees_why(editors):
    document = draft_document(0)
    for round_number in range(ROUNDS):
        clients = [browser(editor) for editor in editors]
        forms = [opened_form(client, document) for client in clients]
        summaries = [f"Summary {round_number} by editor {number}" for number in range(2)]
        saves = [
            partial(client.post, url, admin_form_data(page, summary=summary))
            for client, (url, page), summary in zip(clients, forms, summaries, strict=True)
        ]

        responses = at_once(*saves)

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [HTTPStatus.OK, HTTPStatus.FOUND], [r.content[:2000] for r in responses]
        saved = next(i for i, r in enumerate(responses) if r.status_code == HTTPStatus.FOUND)
        refused = responses[1 - saved]
        assert CONFLICT in html.unescape(refused.content.decode())
        assert shows_typed_input(refused, summaries[1 - saved])
        document.refresh_from_db()
        assert document.summary == summaries[saved]


def test_an_admin_save_and_an_api_patch_of_one_record_at_once_lose_nothing(editors):
    document = draft_document(0)
    for round_number in range(ROUNDS):
        admin_client, api_client = browser(editors[0]), api(editors[1])
        url, page = opened_form(admin_client, document)
        summary, citation = f"Admin summary {round_number}", f"API citation {round_number}"
        admin_save = partial(admin_client.post, url, admin_form_data(page, summary=summary))
        api_patch = partial(
            api_client.patch, f"/api/v1/documents/{document.slug}/", {"citation": citation}, format="json"
        )

        saved, patched = at_once(admin_save, api_patch)

        assert patched.status_code == HTTPStatus.OK, patched.content[:500]
        document.refresh_from_db()
        assert document.citation == citation
        if saved.status_code == HTTPStatus.FOUND:
            assert document.summary == summary
        else:
            # The patch came first: the admin form was opened before it.
            assert CONFLICT in html.unescape(saved.content.decode()), saved.content[:2000]
            assert shows_typed_input(saved, summary)


# Longer than SpatiaLite's own busy timeout (5 s), shorter than the site's.
LOCK_HELD_SECONDS = 6


@pytest.mark.skipif(connection.vendor != "sqlite", reason="holds SQLite's database-wide write lock")
def test_a_write_waits_for_another_connections_write_to_end(editors, settings):
    assert settings.DATABASES["default"]["OPTIONS"]["timeout"] > LOCK_HELD_SECONDS + 1
    document, client = draft_document(0), api(editors[0])
    writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    release = threading.Timer(LOCK_HELD_SECONDS, writer.execute, ["ROLLBACK"])
    release.start()
    try:
        response = client.patch(f"/api/v1/documents/{document.slug}/", {"summary": "Waited."}, format="json")
    finally:
        release.join()
        writer.close()

    assert response.status_code == HTTPStatus.OK, response.content[:300]
    document.refresh_from_db()
    assert document.summary == "Waited."


# ---------------------------------------------------------------------------
# 2. API PATCHes of different fields
# ---------------------------------------------------------------------------

FIELD_VALUES = {
    "name": "Raced name",
    "name_zh": "竞争名称",
    "description": "Raced description.",
    "issuer": "Raced issuer",
    "publisher": "Raced publisher",
    "authors": "Raced authors",
    "citation": "Raced citation.",
    "summary": "Raced summary.",
    "source_url": "https://example.org/raced",
    "kind": "research",
    "language": "en",
    "status": "published",
    "published_on": "2020-06-01",
    "published_on_precision": "month",
    "approved_on": "2019-01-01",
    "approved_on_precision": "year",
    "reports_on": PLAN,
    "sectors": ["integrated-circuits"],
    "cities": ["wuhan"],
}
M2M_FIELDS = {"sectors", "cities"}


def stored_value(record, field):
    if field in M2M_FIELDS:
        return sorted(getattr(record, field).values_list("slug", flat=True))
    if field == "reports_on":
        return record.reports_on.slug if record.reports_on_id else None
    value = getattr(record, field)
    return value.isoformat() if isinstance(value, datetime.date) else value


def test_parallel_patches_of_different_fields_all_land_and_history_never_undoes_one(publisher):
    document = draft_document(0)
    url = f"/api/v1/documents/{document.slug}/"
    patches = [
        partial(api(publisher).patch, url, {field: value}, format="json")
        for field, value in FIELD_VALUES.items()
    ]

    responses = at_once(*patches)

    assert [r.status_code for r in responses] == [HTTPStatus.OK] * len(patches), [
        r.content[:300] for r in responses if r.status_code != HTTPStatus.OK
    ]
    document = PolicyDocument.objects.get(pk=document.pk)
    for field, value in FIELD_VALUES.items():
        expected = sorted(value) if field in M2M_FIELDS else value
        assert stored_value(document, field) == expected, field
    assert document.version == 1 + len(patches)
    assert_history_never_undoes_a_field(document)


def assert_history_never_undoes_a_field(document):
    """Once a field holds the value sent for it, no later history row has
    another value."""
    rows = document.history.order_by("history_date", "history_id")
    landed = set()
    for row in rows:
        for field, value in FIELD_VALUES.items():
            if field in M2M_FIELDS:
                continue
            stored = stored_value(row, field) if field != "reports_on" else row.reports_on_id
            sent = value if field != "reports_on" else PolicyDocument.objects.get(slug=PLAN).pk
            if stored == sent:
                landed.add(field)
            else:
                assert field not in landed, f"history row {row.history_id} undid {field}"
    assert landed == set(FIELD_VALUES) - M2M_FIELDS


# ---------------------------------------------------------------------------
# 3. Members and sources of one base
# ---------------------------------------------------------------------------

MEMBER_SETS = [
    ["wuhan", "changsha"],
    ["changsha", "nanchang"],
    ["nanchang", "wuhan", "changsha"],
    ["wuhan"],
    ["changsha"],
    [],
]
SOURCE_SETS = [
    [(PLAN, "Chapter 1")],
    [(PLAN, "Chapter 1"), (NEWS, "")],
    [(NEWS, ""), (RESEARCH, "Part 2")],
    [(RESEARCH, "Part 2")],
    [(PLAN, "Chapter 2"), (PLAN, "Chapter 1")],
    [(NEWS, "")],
]


@pytest.fixture
def raced_base():
    base = factories.PlannedBaseFactory(slug="raced-base", status="draft", source=None)
    BaseSource.objects.create(base=base, document=PolicyDocument.objects.get(slug=PLAN), section="Chapter 1")
    return base


def members_body(cities):
    return [{"city": city, "role": "member"} for city in cities]


def sources_body(sources):
    return [{"document": document, "section": section} for document, section in sources]


def stored_members(base):
    return list(
        BaseMembership.objects.filter(base=base).order_by("position").values_list("city__slug", flat=True)
    )


def stored_sources(base):
    return sorted(BaseSource.objects.filter(base=base).values_list("document__slug", "section"))


@pytest.mark.parametrize("method", ["patch", "put"])
def test_parallel_member_and_source_writes_of_one_base_leave_them_whole(editors, raced_base, method):
    url = f"/api/v1/bases/{raced_base.slug}/"
    whole = api(editors[0]).get(url).json()
    bodies = [
        {"members": members_body(cities), "sources": sources_body(sources)}
        for cities, sources in zip(MEMBER_SETS, SOURCE_SETS, strict=True)
    ]
    if method == "put":
        bodies = [{**whole, **body} for body in bodies]
    for _round in range(2):
        clients = [api(editors[number % 2]) for number in range(len(bodies))]
        writes = [
            partial(getattr(client, method), url, body, format="json")
            for client, body in zip(clients, bodies, strict=True)
        ]

        responses = at_once(*writes)

        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {HTTPStatus.OK, HTTPStatus.CONFLICT}, [r.content[:300] for r in responses]
        assert HTTPStatus.OK in statuses
        for response in responses:
            assert response["Content-Type"].startswith("application/json")
        # The base holds, whole, the members and sources of one write that succeeded.
        landed = [i for i, status in enumerate(statuses) if status == HTTPStatus.OK]
        members, sources = stored_members(raced_base), stored_sources(raced_base)
        assert any(members == MEMBER_SETS[i] and sources == sorted(SOURCE_SETS[i]) for i in landed), (
            members,
            sources,
        )
