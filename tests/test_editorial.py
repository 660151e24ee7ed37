"""Editorial workflow: drafts stay invisible to the public, only publishers
publish, every write leaves a history row that can be reverted, and an edit
made on an outdated copy is refused instead of overwriting someone's work."""

import datetime
import html
import re
from http import HTTPStatus
from io import StringIO
from unittest import mock
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import tablib
from django import forms
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db import IntegrityError, OperationalError
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clusters.api.views import EntityViewSet
from clusters.models import (
    BaseMembership,
    BaseSource,
    City,
    EditConflict,
    PlannedBase,
    PolicyDocument,
    Province,
    PublicationStatus,
    Sector,
)
from clusters.resources import PolicyDocumentResource
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reference_data")]

DRAFT = PublicationStatus.DRAFT
PUBLISHED = PublicationStatus.PUBLISHED
DRAFT_FLAG = "Draft: a preview for editors, not public"

# Reference data the drafts are tied to.
PLAN = "middle-yangtze-city-cluster-plan-2015"
STEEL_BASE = "middle-reaches-steel-cluster"


# ---------------------------------------------------------------------------
# Users and clients
# ---------------------------------------------------------------------------


@pytest.fixture
def groups():
    call_command("setup_groups", stdout=StringIO())


def member_of(group_name, username):
    user = User.objects.create_user(username, password="not-used", is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    return User.objects.get(pk=user.pk)  # afresh: permissions are cached on the object


@pytest.fixture
def editor(groups):
    return member_of("Editors", "editor")


@pytest.fixture
def second_editor(groups):
    return member_of("Editors", "second-editor")


@pytest.fixture
def publisher(groups):
    return member_of("Publishers", "publisher")


def browser(user=None):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def api(user=None):
    # A 500 comes back as a response the test can assert on, not as an exception.
    client = APIClient(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def token_api(user):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


# ---------------------------------------------------------------------------
# 1. Drafts leave no trace for the public
# ---------------------------------------------------------------------------

DOC_SLUG = "zzdraftdoc"
DOC_NAME = "Zzdraftdoc plan"
DOC_NAME_ZH = "草稿文件甲"
DOC_CITATION = "Zzdraftdoc citation"
DOC_SECTION = "Zzdraftdoc section"
BASE_SLUG = "zzdraftbase"
BASE_NAME = "Zzdraftbase cluster"
BASE_NAME_ZH = "草稿基地乙"
BASE_SECTION = "Zzdraftbase section"
DRAFT_TEXTS = [
    DOC_SLUG,
    DOC_NAME,
    DOC_NAME_ZH,
    DOC_CITATION,
    DOC_SECTION,
    BASE_SLUG,
    BASE_NAME,
    BASE_NAME_ZH,
    BASE_SECTION,
]
# Published records that only the drafts use: whatever a public page shows
# of their links can only come from a draft.
LONELY_SECTOR = "solitary-sector"
LONELY_CITY = "solitary-city"
ECHO_DOC = "echo-report"  # a published news report on the draft document


@pytest.fixture
def lonely():
    """Published records, created before the public's first look."""
    return {
        "sector": factories.SectorFactory(name="Solitary sector", slug=LONELY_SECTOR),
        "city": factories.CityFactory(
            name="Solitary city", slug=LONELY_CITY, province=Province.objects.get(slug="hubei")
        ),
        "echo": factories.PolicyDocumentFactory(
            name="Echo report", slug=ECHO_DOC, kind="news", published_on=datetime.date(2020, 1, 1)
        ),
    }


def make_drafts(lonely):
    """A draft document and a draft base, each tied to published records the
    public does see. Published records are linked with update() or through
    rows of their own, so they are not saved and look exactly as before."""
    steel, wuhan = Sector.objects.get(slug="steel"), City.objects.get(slug="wuhan")
    document = factories.PolicyDocumentFactory(
        slug=DOC_SLUG,
        name=DOC_NAME,
        name_zh=DOC_NAME_ZH,
        citation=DOC_CITATION,
        summary="Zzdraftdoc summary",
        published_on=datetime.date(2030, 1, 1),  # the newest: first in every list and feed
        status=DRAFT,
    )
    document.sectors.add(steel, lonely["sector"])
    document.cities.add(wuhan, lonely["city"])
    # A published base sourced in the draft; a published report on it.
    BaseSource.objects.create(
        base=PlannedBase.objects.get(slug=STEEL_BASE), document=document, section=DOC_SECTION
    )
    PolicyDocument.objects.filter(slug=ECHO_DOC).update(reports_on=document)

    base = factories.PlannedBaseFactory(
        slug=BASE_SLUG,
        name=BASE_NAME,
        name_zh=BASE_NAME_ZH,
        description="Zzdraftbase description",
        reach="downstream",
        status=DRAFT,
        source__document=PolicyDocument.objects.get(slug=PLAN),
        source__section=BASE_SECTION,
    )
    BaseSource.objects.create(base=base, document=document, section=BASE_SECTION)
    BaseSource.objects.create(base=base, document=lonely["echo"], section=BASE_SECTION)
    BaseMembership.objects.create(base=base, city=wuhan, role="leading", position=0)
    BaseMembership.objects.create(base=base, city=lonely["city"], position=1)
    base.sectors.add(steel, lonely["sector"])
    return document, base


def p(url, *marks):
    return pytest.param(url, marks=marks, id=url)


PAGES = [
    p("/"),
    p("/documents/"),
    p("/documents/?sector=steel"),
    p(f"/documents/?sector={LONELY_SECTOR}"),
    p("/documents/?city=wuhan"),
    p(f"/documents/?city={LONELY_CITY}"),
    p("/documents/?reach=downstream"),
    p("/documents/?kind=plan&language=zh"),
    p("/documents/?ordering=-date"),
    p("/bases/"),
    p("/bases/?sector=steel"),
    p(f"/bases/?sector={LONELY_SECTOR}"),
    p("/bases/?city=wuhan"),
    p(f"/bases/?city={LONELY_CITY}"),
    p("/bases/?province=hubei"),
    p(f"/bases/?document={PLAN}"),
    p(f"/bases/?document={ECHO_DOC}"),
    p("/bases/?reach=downstream&kind=base"),
    p("/sectors/"),
    p("/sectors/?page=2"),
    p("/sectors/?top_level=false"),
    p("/cities/"),
    p("/cities/?sector=steel"),
    p(f"/cities/?sector={LONELY_SECTOR}"),
    p(f"/cities/?base={STEEL_BASE}"),
    p("/cities/?province=hubei"),
    p("/cities/?reach=middle"),
    p("/provinces/"),
    p("/provinces/?reach=middle"),
    # Detail pages of what the drafts are tied to.
    p("/cities/wuhan/"),
    p(f"/cities/{LONELY_CITY}/"),
    p("/sectors/steel/"),
    p(f"/sectors/{LONELY_SECTOR}/"),
    p("/provinces/hubei/"),
    p(f"/documents/{PLAN}/"),
    p(f"/documents/{ECHO_DOC}/"),
    p(f"/bases/{STEEL_BASE}/"),
    # The drafts' own pages (a 404, before and after).
    p(f"/documents/{DOC_SLUG}/"),
    p(f"/bases/{BASE_SLUG}/"),
    # Map and search.
    p("/map/"),
    p(f"/map/?sector={LONELY_SECTOR}"),
    p("/map/cities.geojson"),
    p("/map/cities.geojson?sector=steel"),
    p(f"/map/cities.geojson?sector={LONELY_SECTOR}"),
    p("/map/bases.geojson"),
    p("/map/bases.geojson?sector=steel"),
    p(f"/map/bases.geojson?city={LONELY_CITY}"),
    p("/search/?q=Zzdraft"),
    p("/search/?q=Zzdraftdoc"),
    p("/search/?q=Zzdraftbase"),
    p("/search/?q=草稿"),
    p("/search/?q=solitary"),
]
ZH_PAGES = [
    pytest.param(f"/zh-hans{param.values[0]}", marks=param.marks, id=f"/zh-hans{param.values[0]}")
    for param in PAGES
]
FEEDS = [
    p("/feeds/documents/"),
    p("/feeds/documents/?sector=steel"),
    p(f"/feeds/documents/?city={LONELY_CITY}"),
    p("/feeds/bases/"),
    p("/feeds/bases/?sector=steel"),
    p(f"/feeds/bases/?city={LONELY_CITY}"),
    p(f"/feeds/bases/?document={PLAN}"),
    p("/zh-hans/feeds/documents/"),
    p("/zh-hans/feeds/bases/"),
]
API_URLS = [
    p("/api/v1/documents/?page_size=100"),
    p("/api/v1/documents/?page_size=100&format=csv"),
    p("/api/v1/bases/?page_size=100"),
    p("/api/v1/bases/?page_size=100&format=csv"),
    p("/api/v1/sectors/?page_size=100"),
    p("/api/v1/cities/?page_size=100"),
    p("/api/v1/provinces/?page_size=100"),
    p("/api/v1/documents/?search=Zzdraft"),
    p("/api/v1/bases/?search=Zzdraft"),
    p("/api/v1/documents/?sector=steel"),
    p("/api/v1/documents/?city=wuhan"),
    p("/api/v1/documents/?reach=downstream"),
    p(f"/api/v1/bases/?document={PLAN}"),
    p("/api/v1/bases/?city=wuhan"),
    p(f"/api/v1/bases/?sector={LONELY_SECTOR}"),
    p(f"/api/v1/cities/?sector={LONELY_SECTOR}"),
    p("/api/v1/cities/wuhan/"),
    p(f"/api/v1/cities/{LONELY_CITY}/"),
    p("/api/v1/sectors/steel/"),
    p(f"/api/v1/sectors/{LONELY_SECTOR}/"),
    p("/api/v1/provinces/hubei/"),
    p(f"/api/v1/documents/{PLAN}/"),
    p(f"/api/v1/documents/{ECHO_DOC}/"),
    p(f"/api/v1/bases/{STEEL_BASE}/"),
    p(f"/api/v1/documents/{DOC_SLUG}/"),
    p(f"/api/v1/bases/{BASE_SLUG}/"),
    p("/api/v1/bases/geojson/"),
    p("/api/v1/cities/geojson/"),
    p("/api/v1/provinces/geojson/"),
    p(f"/api/v1/bases/geojson/?city={LONELY_CITY}"),
    p(f"/api/v1/cities/geojson/?sector={LONELY_SECTOR}"),
]

CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
FEED_UPDATED = re.compile(r"<updated>[^<]*</updated>")


def echoes(url):
    """Texts a page may repeat from its own address (the language switch's
    `next`, the search box): not a trace of a draft."""
    parts = urlsplit(url)
    texts = {url, html.escape(url), quote(url, safe="/?=&"), parts.path}
    for _name, value in parse_qsl(parts.query):
        texts |= {value, html.escape(value)}
    return sorted(texts, key=len, reverse=True)


def public_view(url):
    """(status, body) as an anonymous visitor gets them, without the CSRF
    token (new on every request) and what the page echoes of its address."""
    response = Client().get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = CSRF_TOKEN.sub("", body.decode())
    if "<feed" in text and "<entry>" not in text:
        text = FEED_UPDATED.sub("", text)  # an empty feed is updated "now"
    for echo in echoes(url):
        text = text.replace(echo, "<echo>")
    return response.status_code, text


def assert_no_trace(url, lonely):
    before = public_view(url)
    make_drafts(lonely)
    after = public_view(url)

    status, body = after
    assert [text for text in DRAFT_TEXTS if text in body] == [], url
    # Nothing else changed either: no count, no link, no extra row.
    assert after == before, url
    return status


@pytest.mark.parametrize("url", [*PAGES, *ZH_PAGES, p("/sitemap.xml")])
def test_pages_show_no_trace_of_drafts(lonely, url):
    assert assert_no_trace(url, lonely) in (HTTPStatus.OK, HTTPStatus.NOT_FOUND)


@pytest.mark.parametrize("url", FEEDS)
def test_feeds_show_no_trace_of_drafts(lonely, url):
    if Client().get(urlsplit(url).path).status_code == HTTPStatus.NOT_FOUND:
        pytest.skip(f"{urlsplit(url).path} does not exist (no feeds in this version)")
    assert assert_no_trace(url, lonely) == HTTPStatus.OK


@pytest.mark.parametrize("url", API_URLS)
def test_api_shows_no_trace_of_drafts(lonely, url):
    assert assert_no_trace(url, lonely) in (HTTPStatus.OK, HTTPStatus.NOT_FOUND)


@pytest.mark.parametrize(
    "url",
    [
        f"/documents/{DOC_SLUG}/",
        f"/bases/{BASE_SLUG}/",
        f"/zh-hans/documents/{DOC_SLUG}/",
        f"/zh-hans/bases/{BASE_SLUG}/",
        f"/api/v1/documents/{DOC_SLUG}/",
        f"/api/v1/bases/{BASE_SLUG}/",
    ],
)
@pytest.mark.parametrize("who", ["anonymous", "signed-in reader"])
def test_a_drafts_own_address_is_a_404(lonely, url, who):
    make_drafts(lonely)
    user = User.objects.create_user("reader") if who != "anonymous" else None

    response = browser(user).get(url)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert DRAFT_FLAG not in response.content.decode()


def test_home_page_counts_ignore_drafts(lonely):
    counts = [count for _label, count, _url in browser().get("/").context["counts"]]
    make_drafts(lonely)
    response = browser().get("/")
    assert [count for _label, count, _url in response.context["counts"]] == counts
    assert DOC_NAME not in [d.name for d in response.context["latest_documents"]]


def base_counts():
    """Every base count the public sees: the API's and the list pages'."""
    counts = {}
    for endpoint in ("sectors", "cities"):
        for row in api().get(f"/api/v1/{endpoint}/?page_size=100").json()["results"]:
            counts[f"api {endpoint} {row['slug']}"] = row["base_count"]
    for url in ("/sectors/", "/sectors/?page=2", "/cities/"):
        for obj in browser().get(url).context["object_list"]:
            counts[f"page {url} {obj.slug}"] = obj.base_total
    for province in browser().get("/provinces/hubei/").context["cities"]:
        counts[f"province page {province.slug}"] = province.base_total
    return counts


def test_base_counts_ignore_drafts(lonely):
    before = base_counts()
    on_pages = [
        count for key, count in before.items() if key.startswith("page /sectors/") and key.endswith(" steel")
    ]
    assert on_pages == [before["api sectors steel"]]
    make_drafts(lonely)
    assert base_counts() == before


def test_a_draft_document_cannot_be_named_in_a_public_filter(lonely):
    """Filtering by a draft's slug answers as for a slug that does not exist."""
    make_drafts(lonely)
    for template in ("/bases/?document={}", "/api/v1/bases/?document={}", "/feeds/bases/?document={}"):
        draft = public_view(template.format(DOC_SLUG))
        missing = public_view(template.format("no-such-document"))
        assert draft[0] == missing[0], template
        assert draft[1].replace(DOC_SLUG, "?") == missing[1].replace("no-such-document", "?"), template


# ---------------------------------------------------------------------------
# 2. Editors write drafts; only publishers publish
# ---------------------------------------------------------------------------


def admin_url(model, view="changelist", *args):
    path = f"/admin/clusters/{model._meta.model_name}/"
    return path + {
        "changelist": "",
        "add": "add/",
        "change": "{}/change/",
        "history": "{}/history/",
        "revert": "{}/history/{}/",
        "delete": "{}/delete/",
    }[view].format(*args)


MULTIPLE_CHOICE_FIELDS = (forms.MultipleChoiceField, forms.ModelMultipleChoiceField)


def field_value(bound):
    value = bound.value()
    if value is None:
        # Nothing chosen in a multiple choice is sent as no value at all.
        return None if isinstance(bound.field, MULTIPLE_CHOICE_FIELDS) else ""
    if isinstance(value, bool):
        return "on" if value else None
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def admin_form_data(response, **changes):
    """What the admin page's form (and its inlines) would post back unchanged,
    with `changes` on top."""
    context = response.context
    bound_fields = list(context["adminform"].form)
    for inline in context.get("inline_admin_formsets", []):
        bound_fields += list(inline.formset.management_form)
        for form in inline.formset.forms:
            bound_fields += list(form)
    data = {bound.html_name: field_value(bound) for bound in bound_fields}
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def post_admin_form(client, url, **changes):
    """Open the admin form at `url`, then post it back with `changes`."""
    page = client.get(url)
    assert page.status_code == HTTPStatus.OK, url
    return client.post(url, admin_form_data(page, **changes))


def form_errors(response):
    form = response.context["adminform"].form
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


def action_choices(client, model):
    response = client.get(admin_url(model))
    assert response.status_code == HTTPStatus.OK
    form = response.context["action_form"]  # None when no action is offered
    return [] if form is None else [name for name, _label in form.fields["action"].choices]


def run_action(client, model, action, *objects):
    return client.post(
        admin_url(model),
        {"action": action, "_selected_action": [obj.pk for obj in objects], "index": 0},
    )


def draft_document(**fields):
    return factories.PolicyDocumentFactory(
        **{"name": "Zzdraftname document", "slug": "zzdraftname-document", "status": DRAFT, **fields}
    )


def draft_base(**fields):
    base = factories.PlannedBaseFactory(
        **{"name": "Zzdraftname base", "slug": "zzdraftname-base", "status": DRAFT, **fields}
    )
    BaseMembership.objects.create(base=base, city=City.objects.get(slug="wuhan"), role="leading")
    return base


DRAFTS = {"document": (PolicyDocument, draft_document), "base": (PlannedBase, draft_base)}
API_ENDPOINT = {PolicyDocument: "documents", PlannedBase: "bases"}
LIST_PAGE = {PolicyDocument: "/documents/", PlannedBase: "/bases/"}


def publicly_visible(obj):
    """Whether an anonymous visitor finds `obj` on its list page, its own
    page and the API."""
    endpoint = API_ENDPOINT[type(obj)]
    found = [
        obj.name in browser().get(LIST_PAGE[type(obj)]).content.decode(),
        browser().get(obj.get_absolute_url()).status_code == HTTPStatus.OK,
        obj.slug
        in [row["slug"] for row in api().get(f"/api/v1/{endpoint}/?page_size=100").json()["results"]],
        api().get(f"/api/v1/{endpoint}/{obj.slug}/").status_code == HTTPStatus.OK,
    ]
    assert len(set(found)) == 1, found  # all or nothing
    return found[0]


@pytest.mark.parametrize("kind", DRAFTS)
@pytest.mark.parametrize("language", ["", "/zh-hans"])
def test_an_editor_previews_a_draft(editor, kind, language):
    _model, make = DRAFTS[kind]
    draft = make()

    response = browser(editor).get(language + draft.get_absolute_url())

    assert response.status_code == HTTPStatus.OK
    assert 'class="draft-flag"' in response.content.decode()
    if not language:
        assert DRAFT_FLAG in response.content.decode()
    assert not publicly_visible(draft)


@pytest.mark.parametrize("kind", DRAFTS)
def test_a_published_page_carries_no_draft_flag_for_editors(editor, kind):
    _model, make = DRAFTS[kind]
    record = make(status=PUBLISHED)

    response = browser(editor).get(record.get_absolute_url())

    assert response.status_code == HTTPStatus.OK
    assert 'class="draft-flag"' not in response.content.decode()


@pytest.mark.parametrize("kind", DRAFTS)
def test_an_editor_sees_drafts_in_the_admin_list(editor, kind):
    model, make = DRAFTS[kind]
    draft = make()

    response = browser(editor).get(admin_url(model))

    assert response.status_code == HTTPStatus.OK
    assert draft in response.context["cl"].result_list
    assert draft.name in response.content.decode()


@pytest.mark.parametrize("kind", DRAFTS)
def test_an_editor_cannot_publish_through_the_admin_form(editor, kind):
    model, make = DRAFTS[kind]
    draft = make()
    client = browser(editor)
    page = client.get(admin_url(model, "change", draft.pk))
    assert "status" not in page.context["adminform"].form.fields  # shown read-only

    response = client.post(
        admin_url(model, "change", draft.pk),
        admin_form_data(page, status="published", description="Edited by an editor."),
    )

    assert response.status_code == HTTPStatus.FOUND, form_errors(response)
    draft.refresh_from_db()
    assert draft.description == "Edited by an editor."  # the rest of the edit was saved
    assert draft.status == DRAFT
    assert draft.published_at is None
    assert not publicly_visible(draft)


def test_an_editor_adding_a_document_in_the_admin_makes_a_draft(editor):
    client = browser(editor)
    page = client.get(admin_url(PolicyDocument, "add"))
    assert "status" not in page.context["adminform"].form.fields

    response = client.post(
        admin_url(PolicyDocument, "add"),
        admin_form_data(
            page,
            name="Zzdraftname added",
            slug="zzdraftname-added",
            kind="plan",
            language="zh",
            status="published",
        ),
    )

    assert response.status_code == HTTPStatus.FOUND, form_errors(response)
    document = PolicyDocument.objects.get(slug="zzdraftname-added")
    assert (document.status, document.published_at) == (DRAFT, None)
    assert latest_history(document).first().history_user == editor
    assert not publicly_visible(document)


@pytest.mark.parametrize("kind", DRAFTS)
def test_an_editor_is_not_offered_the_publish_actions(editor, publisher, kind):
    model, make = DRAFTS[kind]
    draft = make()
    client = browser(editor)

    assert not {"publish_selected", "unpublish_selected", "delete_selected"} & set(
        action_choices(client, model)
    )
    assert {"publish_selected", "unpublish_selected"} <= set(action_choices(browser(publisher), model))

    response = run_action(client, model, "publish_selected", draft)

    assert response.status_code in (HTTPStatus.OK, HTTPStatus.FOUND)
    draft.refresh_from_db()
    assert draft.status == DRAFT
    assert not publicly_visible(draft)


def test_an_editor_cannot_unpublish_with_the_action(editor):
    document = draft_document(status=PUBLISHED)

    run_action(browser(editor), PolicyDocument, "unpublish_selected", document)

    document.refresh_from_db()
    assert document.status == PUBLISHED


def document_body(**changes):
    return {
        "name": "Zzdraftname API document",
        "slug": "zzdraftname-api-document",
        "kind": "plan",
        "language": "zh",
        "citation": "A citation.",
        **changes,
    }


def base_body(**changes):
    return {
        "name": "Zzdraftname API base",
        "slug": "zzdraftname-api-base",
        "kind": "base",
        "stage": "planned",
        "reach": "middle",
        "members": [{"city": "wuhan", "role": "leading"}],
        "sources": [{"document": PLAN, "section": "Chapter 5"}],
        **changes,
    }


BODIES = {PolicyDocument: document_body, PlannedBase: base_body}


@pytest.mark.parametrize("kind", DRAFTS)
def test_the_api_refuses_an_editors_publishing(editor, kind):
    model, make = DRAFTS[kind]
    draft = make()
    endpoint = API_ENDPOINT[model]
    client = api(editor)

    patch = client.patch(f"/api/v1/{endpoint}/{draft.slug}/", {"status": "published"}, format="json")
    create = client.post(f"/api/v1/{endpoint}/", BODIES[model](status="published"), format="json")

    assert patch.status_code == HTTPStatus.FORBIDDEN, patch.content[:300]
    assert "publish" in patch.json()["detail"]
    assert create.status_code == HTTPStatus.FORBIDDEN, create.content[:300]
    draft.refresh_from_db()
    assert (draft.status, draft.published_at) == (DRAFT, None)
    assert not model.objects.filter(slug=BODIES[model]()["slug"]).exists()
    assert not publicly_visible(draft)


@pytest.mark.parametrize("kind", DRAFTS)
def test_the_api_refuses_an_editors_unpublishing(editor, kind):
    model, make = DRAFTS[kind]
    record = make(status=PUBLISHED)

    response = api(editor).patch(
        f"/api/v1/{API_ENDPOINT[model]}/{record.slug}/", {"status": "draft"}, format="json"
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    record.refresh_from_db()
    assert record.status == PUBLISHED


@pytest.mark.parametrize("kind", DRAFTS)
def test_an_editor_writes_drafts_through_the_api(editor, kind):
    """The counterpart of the refusals above: what is refused is publishing,
    not writing."""
    model, make = DRAFTS[kind]
    draft = make()
    endpoint = API_ENDPOINT[model]
    client = api(editor)

    create = client.post(f"/api/v1/{endpoint}/", BODIES[model](), format="json")
    explicit = client.post(
        f"/api/v1/{endpoint}/", BODIES[model](slug="zzdraftname-explicit", status="draft"), format="json"
    )
    patch = client.patch(
        f"/api/v1/{endpoint}/{draft.slug}/", {"status": "draft", "description": "Edited."}, format="json"
    )

    assert create.status_code == HTTPStatus.CREATED, create.content[:300]
    assert create.json()["status"] == "draft"
    assert explicit.status_code == HTTPStatus.CREATED, explicit.content[:300]
    assert patch.status_code == HTTPStatus.OK, patch.content[:300]
    assert model.objects.get(slug=BODIES[model]()["slug"]).status == DRAFT
    draft.refresh_from_db()
    assert (draft.status, draft.description) == (DRAFT, "Edited.")


@pytest.mark.parametrize("kind", DRAFTS)
def test_a_publisher_publishes_and_unpublishes_through_the_admin_form(publisher, kind):
    model, make = DRAFTS[kind]
    draft = make()
    client = browser(publisher)
    url = admin_url(model, "change", draft.pk)

    response = post_admin_form(client, url, status="published")

    assert response.status_code == HTTPStatus.FOUND, form_errors(response)
    draft.refresh_from_db()
    assert draft.status == PUBLISHED
    assert draft.published_at is not None
    assert publicly_visible(draft)

    response = post_admin_form(client, url, status="draft")

    assert response.status_code == HTTPStatus.FOUND, form_errors(response)
    draft.refresh_from_db()
    assert draft.status == DRAFT
    assert not publicly_visible(draft)


@pytest.mark.parametrize("kind", DRAFTS)
def test_a_publisher_publishes_and_unpublishes_with_the_actions(publisher, kind):
    model, make = DRAFTS[kind]
    draft = make()
    other = make(name="Zzdraftname other", slug="zzdraftname-other")
    client = browser(publisher)

    response = run_action(client, model, "publish_selected", draft, other)

    assert response.status_code == HTTPStatus.FOUND
    assert set(model.objects.filter(pk__in=[draft.pk, other.pk]).values_list("status", flat=True)) == {
        PUBLISHED
    }
    assert publicly_visible(draft)
    assert publicly_visible(other)

    run_action(client, model, "unpublish_selected", draft)

    draft.refresh_from_db()
    assert draft.status == DRAFT
    assert not publicly_visible(draft)
    assert publicly_visible(other)


@pytest.mark.parametrize("kind", DRAFTS)
def test_a_publisher_publishes_and_unpublishes_through_the_api(publisher, kind):
    model, make = DRAFTS[kind]
    draft = make()
    endpoint = API_ENDPOINT[model]
    client = api(publisher)

    response = client.patch(f"/api/v1/{endpoint}/{draft.slug}/", {"status": "published"}, format="json")

    assert response.status_code == HTTPStatus.OK, response.content[:300]
    assert response.json()["published_at"] is not None
    assert publicly_visible(draft)

    response = client.patch(f"/api/v1/{endpoint}/{draft.slug}/", {"status": "draft"}, format="json")

    assert response.status_code == HTTPStatus.OK, response.content[:300]
    assert not publicly_visible(draft)

    response = client.post(f"/api/v1/{endpoint}/", BODIES[model](status="published"), format="json")

    assert response.status_code == HTTPStatus.CREATED, response.content[:300]
    assert publicly_visible(model.objects.get(slug=BODIES[model]()["slug"]))


def latest_history(obj):
    return type(obj).history.filter(id=obj.pk).order_by("-history_date", "-history_id")


def test_an_editor_cannot_publish_by_reverting_to_a_published_version(editor, publisher):
    document = draft_document()
    run_action(browser(publisher), PolicyDocument, "publish_selected", document)
    published_version = latest_history(document).first()
    run_action(browser(publisher), PolicyDocument, "unpublish_selected", document)
    document.refresh_from_db()
    assert document.status == DRAFT

    post_admin_form(
        browser(editor), admin_url(PolicyDocument, "revert", document.pk, published_version.history_id)
    )

    document.refresh_from_db()
    assert document.status == DRAFT


def test_a_user_who_may_only_view_cannot_revert(editor):
    document = draft_document(summary="Old summary.")
    old = latest_history(document).first()
    post_admin_form(browser(editor), admin_url(PolicyDocument, "change", document.pk), summary="New summary.")
    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_policydocument"))
    client = browser(viewer)
    page = client.get(admin_url(PolicyDocument, "revert", document.pk, old.history_id))
    assert page.status_code == HTTPStatus.OK  # may look at old versions

    client.post(admin_url(PolicyDocument, "revert", document.pk, old.history_id), admin_form_data(page))

    document.refresh_from_db()
    assert document.summary == "New summary."


# ---------------------------------------------------------------------------
# 3. Every write path leaves a history row, and can be reverted
# ---------------------------------------------------------------------------


def revert_in_admin(client, obj, record):
    """Open the admin's revert form for history `record` of `obj` and post it."""
    url = admin_url(type(obj), "revert", obj.pk, record.history_id)
    page = client.get(url)
    assert page.status_code == HTTPStatus.OK, url
    assert page.context["original"].pk == obj.pk
    response = client.post(url, admin_form_data(page))
    assert response.status_code == HTTPStatus.FOUND, form_errors(response)
    return response


def test_history_of_an_admin_edit_and_its_revert(editor):
    document = draft_document(summary="Old summary.")
    before = latest_history(document).first()
    client = browser(editor)

    response = post_admin_form(
        client, admin_url(PolicyDocument, "change", document.pk), summary="New summary."
    )

    assert response.status_code == HTTPStatus.FOUND, form_errors(response)
    record = latest_history(document).first()
    assert record.history_id != before.history_id
    assert (record.history_type, record.history_user, record.summary) == ("~", editor, "New summary.")
    assert record.version == before.version + 1
    assert [change.field for change in record.diff_against(before).changes] == ["summary"]
    history_page = client.get(admin_url(PolicyDocument, "history", document.pk))
    assert history_page.status_code == HTTPStatus.OK
    assert "editor" in history_page.content.decode()

    revert_in_admin(client, document, before)

    document.refresh_from_db()
    assert document.summary == "Old summary."
    assert document.status == DRAFT
    reverted = latest_history(document).first()
    assert (reverted.history_user, reverted.summary) == (editor, "Old summary.")


def test_a_revert_racing_past_the_forms_check_shows_the_form_again(editor, second_editor):
    document = draft_document(summary="Old summary.")
    before = latest_history(document).first()
    post_admin_form(browser(editor), admin_url(PolicyDocument, "change", document.pk), summary="New summary.")
    url = admin_url(PolicyDocument, "revert", document.pk, before.history_id)
    client = browser(editor)
    page = client.get(url)
    seen = page.context["adminform"].form["seen_version"].value()
    post_admin_form(browser(second_editor), admin_url(PolicyDocument, "change", document.pk), name="Theirs")

    with mock.patch("clusters.admin.stored_version", return_value=seen):
        response = client.post(url, admin_form_data(page))

    assert response.status_code == HTTPStatus.OK
    assert "Someone else saved this record" in html.unescape(form_errors(response))
    document.refresh_from_db()
    assert (document.name, document.summary) == ("Theirs", "New summary.")


def test_a_revert_the_database_refuses_half_way_saves_nothing(editor):
    document = draft_document(summary="Old summary.")
    document.sectors.set([Sector.objects.first()])
    before = latest_history(document).first()
    post_admin_form(browser(editor), admin_url(PolicyDocument, "change", document.pk), summary="New summary.")
    url = admin_url(PolicyDocument, "revert", document.pk, before.history_id)
    client = browser(editor)
    page = client.get(url)

    busy = OperationalError("database is locked")
    with mock.patch.object(forms.ModelForm, "_save_m2m", side_effect=busy):
        response = client.post(url, admin_form_data(page))

    assert response.status_code == HTTPStatus.OK
    assert "Your changes were not saved" in html.unescape(form_errors(response))
    document.refresh_from_db()
    assert document.summary == "New summary."


def test_history_of_the_publish_action_and_its_revert(publisher):
    document = draft_document()
    draft_record = latest_history(document).first()
    client = browser(publisher)

    run_action(client, PolicyDocument, "publish_selected", document)

    record = latest_history(document).first()
    assert (record.history_type, record.history_user, record.status) == ("~", publisher, PUBLISHED)
    assert record.history_change_reason == "Set to published from the list"
    assert record.published_at is not None
    assert publicly_visible(document)

    revert_in_admin(client, document, draft_record)

    document.refresh_from_db()
    assert document.status == DRAFT
    assert latest_history(document).first().history_user == publisher
    assert not publicly_visible(document)


@pytest.mark.parametrize("auth", ["session", "token"])
def test_history_of_an_api_patch_and_its_revert(editor, auth):
    document = draft_document(summary="Old summary.")
    before = latest_history(document).first()
    client = api(editor) if auth == "session" else token_api(editor)

    response = client.patch(
        f"/api/v1/documents/{document.slug}/", {"summary": "Patched summary."}, format="json"
    )

    assert response.status_code == HTTPStatus.OK, response.content[:300]
    record = latest_history(document).first()
    assert (record.history_type, record.history_user, record.summary) == ("~", editor, "Patched summary.")
    assert record.version == before.version + 1 == response.json()["version"]

    before.instance.save()

    document.refresh_from_db()
    assert document.summary == "Old summary."
    assert latest_history(document).first().summary == "Old summary."


def test_reverting_with_history_instance_save_moves_the_version_on(editor):
    document = draft_document(summary="Old summary.")
    client = api(editor)
    stale = client.get(detail(document.slug))["ETag"]
    client.patch(detail(document.slug), {"summary": "New summary."}, format="json")
    old = latest_history(document)[1]
    assert old.summary == "Old summary."

    old.instance.save()

    document.refresh_from_db()
    assert document.summary == "Old summary."
    assert document.version == old.version + 2
    response = client.patch(detail(document.slug), {"name": "Late"}, format="json", HTTP_IF_MATCH=stale)
    assert response.status_code == HTTPStatus.PRECONDITION_FAILED


def test_history_of_an_import_and_its_revert(editor):
    document = draft_document(status=PUBLISHED, summary="Old summary.")
    before = latest_history(document).first()
    exported = PolicyDocumentResource().export(PolicyDocument.objects.filter(pk=document.pk))
    row = {**exported.dict[0], "summary": "Imported summary."}
    dataset = tablib.Dataset(headers=exported.headers)
    dataset.append([row[header] for header in exported.headers])

    result = PolicyDocumentResource().import_data(dataset, dry_run=False, user=editor, file_name="edit.csv")

    assert not result.has_errors() and not result.has_validation_errors()
    document.refresh_from_db()
    assert document.summary == "Imported summary."
    record = latest_history(document).first()
    assert (record.history_type, record.history_user, record.summary) == ("~", editor, "Imported summary.")
    assert record.history_change_reason == "Imported from edit.csv"

    revert_in_admin(browser(editor), document, before)

    document.refresh_from_db()
    assert (document.summary, document.status) == ("Old summary.", PUBLISHED)


def base_page(client, base):
    return client.get(admin_url(PlannedBase, "change", base.pk))


def test_history_of_inline_member_edits_and_their_revert(editor, publisher):
    base = draft_base()
    membership = base.memberships.get()
    before = membership.history.latest("history_date", "history_id")
    changsha = City.objects.get(slug="changsha")
    client = browser(editor)
    page = base_page(client, base)
    data = admin_form_data(
        page,
        **{
            "memberships-0-role": "member",
            "memberships-TOTAL_FORMS": "2",
            "memberships-1-city": str(changsha.pk),
            "memberships-1-role": "upgrading",
            "memberships-1-position": "1",
            "memberships-1-base": str(base.pk),
        },
    )

    response = client.post(admin_url(PlannedBase, "change", base.pk), data)

    assert response.status_code == HTTPStatus.FOUND, form_errors(response)
    changed = membership.history.latest("history_date", "history_id")
    assert (changed.history_type, changed.history_user, changed.role) == ("~", editor, "member")
    added = BaseMembership.objects.get(base=base, city=changsha)
    assert [(r.history_type, r.history_user, r.role) for r in added.history.all()] == [
        ("+", editor, "upgrading")
    ]

    # Revert the role in the membership's own admin.
    revert_in_admin(client, membership, before)
    membership.refresh_from_db()
    assert membership.role == "leading"

    # Removing a member is deleting: an editor's request is ignored, a
    # publisher's is done; the history keeps the row and restores it.
    for user in (editor, publisher):
        client = browser(user)
        page = base_page(client, base)
        formset = page.context["inline_admin_formsets"][0].formset
        index = [form.instance.city_id for form in formset.forms].index(changsha.pk)
        response = client.post(
            admin_url(PlannedBase, "change", base.pk),
            admin_form_data(page, **{f"memberships-{index}-DELETE": "on"}),
        )
        assert response.status_code == HTTPStatus.FOUND, form_errors(response)
        assert BaseMembership.objects.filter(pk=added.pk).exists() == (user == editor)
    deleted = BaseMembership.history.filter(id=added.pk).latest("history_date", "history_id")
    assert (deleted.history_type, deleted.history_user) == ("-", publisher)

    deleted.instance.save()

    assert BaseMembership.objects.get(pk=added.pk).role == "upgrading"


def test_history_of_inline_source_edits_and_their_revert(editor):
    base = draft_base()
    source = base.sources.get()
    before = source.history.latest("history_date", "history_id")
    client = browser(editor)

    response = client.post(
        admin_url(PlannedBase, "change", base.pk),
        admin_form_data(
            base_page(client, base), **{"sources-0-note": "A new note.", "sources-0-section": "New"}
        ),
    )

    assert response.status_code == HTTPStatus.FOUND, form_errors(response)
    record = source.history.latest("history_date", "history_id")
    assert (record.history_type, record.history_user, record.note, record.section) == (
        "~",
        editor,
        "A new note.",
        "New",
    )

    revert_in_admin(client, source, before)

    source.refresh_from_db()
    assert (source.note, source.section) == (before.note, before.section)
    assert source.history.latest("history_date", "history_id").history_user == editor


# ---------------------------------------------------------------------------
# 4. An edit on an outdated copy is refused, saying what changed
# ---------------------------------------------------------------------------


def test_the_second_of_two_admin_saves_is_refused_with_what_changed(editor, second_editor):
    document = draft_document(summary="Original summary.")
    url = admin_url(PolicyDocument, "change", document.pk)
    first, second = browser(editor), browser(second_editor)
    first_page, second_page = first.get(url), second.get(url)
    seen = first_page.context["adminform"].form["seen_version"].value()
    assert seen == second_page.context["adminform"].form["seen_version"].value() == document.version
    assert f'name="seen_version" value="{seen}"' in first_page.content.decode()

    response = first.post(url, admin_form_data(first_page, summary="First editor's summary."))
    assert response.status_code == HTTPStatus.FOUND, form_errors(response)

    response = second.post(url, admin_form_data(second_page, name="Second editor's name"))

    assert response.status_code == HTTPStatus.OK
    errors = form_errors(response)
    assert "Someone else saved this record" in errors
    assert "summary" in errors
    assert "First editor&#x27;s summary." in errors or "First editor's summary." in errors
    assert "First editor" in response.content.decode()
    document.refresh_from_db()
    assert (document.summary, document.name) == ("First editor's summary.", "Zzdraftname document")
    assert document.version == seen + 1


def test_an_admin_form_without_its_version_is_refused(editor):
    document = draft_document()
    url = admin_url(PolicyDocument, "change", document.pk)
    client = browser(editor)
    data = admin_form_data(client.get(url), summary="Edited.")
    del data["seen_version"]

    response = client.post(url, data)

    assert response.status_code == HTTPStatus.OK
    assert "out of date" in form_errors(response)
    document.refresh_from_db()
    assert document.summary != "Edited."


def test_a_save_racing_past_the_forms_check_is_refused_too(editor, second_editor):
    """Someone saves between the form's version check and the write: the
    conditional write catches it and nothing of the late edit is saved."""
    document = draft_document(summary="Original summary.")
    url = admin_url(PolicyDocument, "change", document.pk)
    first, second = browser(editor), browser(second_editor)
    first_page, second_page = first.get(url), second.get(url)
    seen = document.version
    first.post(url, admin_form_data(first_page, summary="First editor's summary."))

    # The check sees the version the second editor holds, as if the first
    # save had not yet happened when it ran.
    with mock.patch("clusters.admin.stored_version", return_value=seen):
        response = second.post(url, admin_form_data(second_page, name="Second editor's name"))

    # The form again, with what the second editor typed and why it was not saved.
    assert response.status_code == HTTPStatus.OK
    errors = html.unescape(form_errors(response))
    assert "Someone else saved this record" in errors and "First editor's summary." in errors
    assert response.context["adminform"].form["name"].value() == "Second editor's name"
    document.refresh_from_db()
    assert (document.summary, document.name) == ("First editor's summary.", "Zzdraftname document")
    assert latest_history(document).first().history_user == editor


@pytest.mark.parametrize(
    "failure",
    [OperationalError("database is locked"), IntegrityError("UNIQUE constraint failed")],
    ids=["database-busy", "unique-value-taken"],
)
def test_a_save_the_database_refuses_shows_the_form_again_with_what_was_typed(editor, failure):
    document = draft_document(summary="Original summary.")
    url = admin_url(PolicyDocument, "change", document.pk)
    client = browser(editor)
    page = client.get(url)

    with mock.patch.object(PolicyDocument, "save", side_effect=failure):
        response = client.post(url, admin_form_data(page, summary="Typed summary."))

    assert response.status_code == HTTPStatus.OK
    assert "Your changes were not saved" in html.unescape(form_errors(response))
    assert response.context["adminform"].form["summary"].value() == "Typed summary."
    document.refresh_from_db()
    assert (document.summary, document.version) == (
        "Original summary.",
        page.context["adminform"].form["seen_version"].value(),
    )
    # Saved again once the database is free, with the form as it came back.
    response = client.post(url, admin_form_data(response))
    assert response.status_code == HTTPStatus.FOUND, form_errors(response)
    document.refresh_from_db()
    assert document.summary == "Typed summary."


def test_the_second_of_two_saves_of_a_source_is_refused(editor, second_editor):
    source = draft_base().sources.get()
    url = admin_url(BaseSource, "change", source.pk)
    first, second = browser(editor), browser(second_editor)
    first_page, second_page = first.get(url), second.get(url)
    first.post(url, admin_form_data(first_page, note="First editor's note."))

    second.post(url, admin_form_data(second_page, section="Second editor's section"))

    source.refresh_from_db()
    assert source.note == "First editor's note."


def test_saving_a_base_does_not_undo_a_later_change_to_its_member(editor, second_editor):
    base = draft_base()
    membership = base.memberships.get()
    first, second = browser(editor), browser(second_editor)
    base_form = first.get(admin_url(PlannedBase, "change", base.pk))
    post_admin_form(second, admin_url(BaseMembership, "change", membership.pk), role="upgrading")
    membership.refresh_from_db()
    assert membership.role == "upgrading"

    first.post(admin_url(PlannedBase, "change", base.pk), admin_form_data(base_form, description="Edited."))

    membership.refresh_from_db()
    assert membership.role == "upgrading"


def test_a_publish_action_after_an_editor_opened_the_form_refuses_the_editors_save(editor, publisher):
    document = draft_document()
    url = admin_url(PolicyDocument, "change", document.pk)
    client = browser(editor)
    page = client.get(url)
    run_action(browser(publisher), PolicyDocument, "publish_selected", document)

    response = client.post(url, admin_form_data(page, summary="Late edit."))

    assert response.status_code == HTTPStatus.OK
    assert "status: 'draft' → 'published'" in html.unescape(form_errors(response))
    document.refresh_from_db()
    assert (document.status, document.summary) == (PUBLISHED, "")


def detail(slug):
    return f"/api/v1/documents/{slug}/"


def test_if_match_lets_the_first_write_through_and_refuses_the_second(editor, second_editor):
    document = draft_document(summary="Original summary.")
    first, second = api(editor), api(second_editor)
    first_read, second_read = first.get(detail(document.slug)), second.get(detail(document.slug))
    etag = first_read["ETag"]
    assert etag == second_read["ETag"] == f'"{document.version}"'

    response = first.patch(
        detail(document.slug), {"summary": "First summary."}, format="json", HTTP_IF_MATCH=etag
    )

    assert response.status_code == HTTPStatus.OK, response.content[:300]
    assert response["ETag"] == f'"{document.version + 1}"' != etag

    response = second.patch(detail(document.slug), {"name": "Second name"}, format="json", HTTP_IF_MATCH=etag)

    assert response.status_code == HTTPStatus.PRECONDITION_FAILED, response.content[:300]
    body = response.json()
    assert "Someone else saved this record" in body["detail"]
    assert "summary" in body["detail"] and "First summary." in body["detail"]
    assert int(body["version"]) == document.version + 1
    document.refresh_from_db()
    assert (document.summary, document.name) == ("First summary.", "Zzdraftname document")

    # With the new tag, the second editor's write goes through.
    fresh = second.get(detail(document.slug))["ETag"]
    response = second.put(
        detail(document.slug),
        document_body(slug=document.slug, name="Second name"),
        format="json",
        HTTP_IF_MATCH=fresh,
    )
    assert response.status_code == HTTPStatus.OK, response.content[:300]
    document.refresh_from_db()
    assert document.name == "Second name"


def test_the_412_names_the_stored_version_as_a_number(editor):
    document = draft_document()
    client = api(editor)
    etag = client.get(detail(document.slug))["ETag"]
    client.patch(detail(document.slug), {"summary": "Moved on."}, format="json")

    response = client.patch(detail(document.slug), {"name": "Late"}, format="json", HTTP_IF_MATCH=etag)

    assert response.status_code == HTTPStatus.PRECONDITION_FAILED
    assert response.json()["version"] == client.get(detail(document.slug)).json()["version"]


def test_a_put_with_an_outdated_tag_is_refused(editor):
    document = draft_document()
    etag = api(editor).get(detail(document.slug))["ETag"]
    api(editor).patch(detail(document.slug), {"summary": "Moved on."}, format="json")

    response = api(editor).put(
        detail(document.slug),
        document_body(slug=document.slug, name="Replaced"),
        format="json",
        HTTP_IF_MATCH=etag,
    )

    assert response.status_code == HTTPStatus.PRECONDITION_FAILED
    document.refresh_from_db()
    assert (document.name, document.summary) == ("Zzdraftname document", "Moved on.")


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        '"garbage"',
        '""',
        "",
        '"-1"',
        '"1.0"',
        '"99999999999999999999"',
        'W/"x"',
        '"\u0661"',
        '"1", "2"',
    ],
)
def test_if_match_naming_no_version_is_412_not_500(editor, header):
    document = draft_document()

    response = api(editor).patch(
        detail(document.slug), {"summary": "Edited."}, format="json", HTTP_IF_MATCH=header
    )

    assert response.status_code == HTTPStatus.PRECONDITION_FAILED, response.content[:300]
    assert "detail" in response.json()
    document.refresh_from_db()
    assert document.summary != "Edited."


@pytest.mark.parametrize("headers", [{}, {"HTTP_IF_MATCH": "*"}, {"HTTP_IF_MATCH": 'W/"{version}"'}])
def test_if_match_is_optional(editor, headers):
    document = draft_document()
    headers = {name: value.format(version=document.version) for name, value in headers.items()}

    response = api(editor).patch(detail(document.slug), {"summary": "Edited."}, format="json", **headers)

    assert response.status_code == HTTPStatus.OK, response.content[:300]
    assert response["ETag"] == f'"{document.version + 1}"'
    document.refresh_from_db()
    assert document.summary == "Edited."


def test_an_api_write_racing_past_the_check_is_412(editor):
    """Someone saves between the API's If-Match check and its write."""
    document = draft_document(summary="Original summary.")
    etag = api(editor).get(detail(document.slug))["ETag"]
    original_get_object = EntityViewSet.get_object

    def get_object_then_someone_saves(view):
        stale = original_get_object(view)
        theirs = PolicyDocument.objects.get(pk=stale.pk)
        theirs.summary = "Their summary."
        theirs.save()
        return stale

    with mock.patch.object(EntityViewSet, "get_object", get_object_then_someone_saves):
        response = api(editor).patch(
            detail(document.slug), {"name": "Mine"}, format="json", HTTP_IF_MATCH=etag
        )

    assert response.status_code == HTTPStatus.PRECONDITION_FAILED, response.content[:300]
    assert "Their summary." in response.json()["detail"]
    document.refresh_from_db()
    assert (document.name, document.summary) == ("Zzdraftname document", "Their summary.")


@pytest.mark.parametrize(
    "make", [draft_document, lambda: City.objects.get(slug="wuhan")], ids=["document", "city"]
)
def test_save_with_an_outdated_expected_version_raises(make):
    record = make()
    mine, theirs = type(record).objects.get(pk=record.pk), type(record).objects.get(pk=record.pk)
    seen = mine.version
    theirs.description = "Theirs."
    theirs.save(expected_version=seen)
    rows = type(record).history.filter(id=record.pk).count()

    mine.description = "Mine."
    with pytest.raises(EditConflict) as raised:
        mine.save(expected_version=seen)

    assert raised.value.seen_version == seen
    assert raised.value.current.version == seen + 1
    stored = type(record).objects.get(pk=record.pk)
    assert (stored.description, stored.version) == ("Theirs.", seen + 1)
    assert type(record).history.filter(id=record.pk).count() == rows  # no history of the refused save

    mine.save(expected_version=seen + 1)  # on top of the current version it goes through
    stored.refresh_from_db()
    assert (stored.description, stored.version) == ("Mine.", seen + 2)


def test_every_save_raises_the_version_by_one():
    city = City.objects.get(slug="wuhan")
    version = city.version
    city.save()
    city.save(update_fields=["name"])
    City.objects.get(pk=city.pk).save()
    city.refresh_from_db()
    assert city.version == version + 3


# ---------------------------------------------------------------------------
# 5. The two groups
# ---------------------------------------------------------------------------


def group_codenames():
    return {
        group.name: sorted(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.filter(name__in=["Editors", "Publishers"])
    }


def test_setup_groups_is_idempotent():
    call_command("setup_groups", stdout=StringIO())
    first = group_codenames()
    call_command("setup_groups", stdout=StringIO())
    assert group_codenames() == first
    assert set(first) == {"Editors", "Publishers"}
    assert Group.objects.filter(name__in=["Editors", "Publishers"]).count() == 2


def test_setup_groups_takes_back_permissions_added_by_hand(groups):
    expected = group_codenames()
    Group.objects.get(name="Editors").permissions.add(Permission.objects.get(codename="publish_plannedbase"))

    call_command("setup_groups", stdout=StringIO())

    assert group_codenames() == expected


DOMAIN_MODELS = [
    "province",
    "city",
    "sector",
    "policydocument",
    "plannedbase",
    "basemembership",
    "basesource",
]
PUBLISHABLE = ["policydocument", "plannedbase"]


def test_editors_may_write_but_neither_delete_nor_publish(editor):
    for model in DOMAIN_MODELS:
        for action in ("add", "change", "view"):
            assert editor.has_perm(f"clusters.{action}_{model}"), (action, model)
        assert not editor.has_perm(f"clusters.delete_{model}"), model
    for model in PUBLISHABLE:
        assert not editor.has_perm(f"clusters.publish_{model}"), model
    assert not editor.is_superuser


def test_publishers_may_also_delete_and_publish(publisher):
    for model in DOMAIN_MODELS:
        for action in ("add", "change", "view", "delete"):
            assert publisher.has_perm(f"clusters.{action}_{model}"), (action, model)
    for model in PUBLISHABLE:
        assert publisher.has_perm(f"clusters.publish_{model}"), model
    assert not publisher.is_superuser
    assert not publisher.has_perm("auth.change_user")


def test_an_editor_cannot_delete_in_the_admin(editor):
    document = draft_document()

    response = browser(editor).post(admin_url(PolicyDocument, "delete", document.pk), {"post": "yes"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert PolicyDocument.objects.filter(pk=document.pk).exists()
