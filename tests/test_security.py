"""Cross-site request forgery, redirects after login and language switch, and
forged Host headers.

Every form is submitted as a browser would submit it (its fields as the page
renders them), once without its CSRF token (refused with a 403) and once with
it (accepted), so that the 403 is known to be the token's doing. The models
and import screens are read from the admin site, so a newly registered model
is covered without touching this file.
"""

from contextlib import nullcontext
from html.parser import HTMLParser
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from import_export.admin import ImportMixin
from rest_framework.authtoken.models import Token

from tests.test_api_writes import (
    DOMAIN_MODELS,
    ENDPOINTS,
    WRITE_METHODS,
    assert_unchanged,
    detail_url,
    list_url,
    logged_in,
    make_user,
    send,
    snapshot,
    token_client,
    write_permissions,
    write_request,
)
from tests.test_import_export import export, format_index

try:
    from zeal import zeal_ignore
except ImportError:  # without N+1 detection there is nothing to set aside
    zeal_ignore = nullcontext

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _query_patterns_are_tested_elsewhere():
    """These tests are about tokens, redirects and hosts. The N+1 detector
    (where the test settings enable it) is left to the tests of the admin and
    the API, so that a query pattern there does not pass for a CSRF failure here."""
    with zeal_ignore():
        yield


@pytest.fixture
def csrf_client():
    """A browser: CSRF checks enforced, as they are outside the test client."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def superuser():
    return User.objects.create_superuser("root", "root@example.com", PASSWORD)


@pytest.fixture
def signed_in(csrf_client, superuser):
    csrf_client.force_login(superuser)
    return csrf_client


# ---------------------------------------------------------------------------
# Forms as a browser submits them
# ---------------------------------------------------------------------------


class Forms(HTMLParser):
    """The forms of a page, each as (attributes, [(name, value), ...]) with the
    values a browser would send if the form were submitted as shown: checked
    boxes only, each select's selected options (else its first), no buttons
    or files."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._fields = None
        self._select = None
        self._option = None
        self._textarea = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._fields = []
            self.forms.append((attrs, self._fields))
        elif self._fields is None:
            return
        elif tag == "input" and attrs.get("name"):
            self.input(attrs)
        elif tag == "select" and attrs.get("name"):
            self._select = {
                "name": attrs["name"],
                "multiple": "multiple" in attrs,
                "first": None,
                "chosen": [],
            }
        elif tag == "option" and self._select is not None:
            self._option = attrs.get("value", "")
            if self._select["first"] is None:
                self._select["first"] = self._option
            if "selected" in attrs:
                self._select["chosen"].append(self._option)
        elif tag == "textarea" and attrs.get("name"):
            self._textarea = [attrs["name"], ""]

    def input(self, attrs):
        kind = attrs.get("type", "text").lower()
        if kind in {"submit", "button", "image", "reset", "file"}:
            return
        if kind in {"checkbox", "radio"} and "checked" not in attrs:
            return
        default = "on" if kind in {"checkbox", "radio"} else ""
        self._fields.append((attrs["name"], attrs.get("value", default)))

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._fields = None
        elif tag == "select" and self._select is not None:
            select, self._select = self._select, None
            chosen = select["chosen"] or (
                [select["first"]] if not select["multiple"] and select["first"] else []
            )
            self._fields += [(select["name"], value) for value in chosen]
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            self._textarea = None
            # A browser drops the newline that opens a textarea.
            self._fields.append((name, text.removeprefix("\r\n").removeprefix("\n")))


def page_form(response, *, field=None, action=None, form_id=None):
    """The data of the page's form that has the field `field` (or posts to
    `action`, or has the id `form_id`), as a dict of lists ready for the test
    client, its CSRF token included."""
    assert response.status_code == HTTPStatus.OK, response.status_code
    for attrs, fields in Forms(response.content.decode()).forms:
        names = {name for name, _value in fields}
        if (
            (field is None or field in names)
            and (action is None or attrs.get("action") == action)
            and (form_id is None or attrs.get("id") == form_id)
        ):
            data = {}
            for name, value in fields:
                data.setdefault(name, []).append(value)
            assert "csrfmiddlewaretoken" in data, "the form has no CSRF token"
            return data
    raise AssertionError(f"no form with the field {field!r} posting to {action!r} with the id {form_id!r}")


def without_token(data):
    return {name: values for name, values in data.items() if name != "csrfmiddlewaretoken"}


def assert_csrf_refusal(response):
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert b"CSRF" in response.content


# ---------------------------------------------------------------------------
# CSRF: the editors' forms
# ---------------------------------------------------------------------------


def login_form(client):
    data = page_form(client.get(reverse("admin:login")), field="username")
    return {**data, "username": ["root"], "password": [PASSWORD]}


def test_admin_login_without_a_token_is_refused(csrf_client, superuser):
    response = csrf_client.post(reverse("admin:login"), without_token(login_form(csrf_client)))

    assert_csrf_refusal(response)
    assert "_auth_user_id" not in csrf_client.session


def test_admin_login_with_the_token_signs_in(csrf_client, superuser):
    response = csrf_client.post(reverse("admin:login"), login_form(csrf_client))

    assert response.status_code == HTTPStatus.FOUND
    assert csrf_client.session["_auth_user_id"] == str(superuser.pk)


def registered_models():
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


def sign_in_attempts():
    """What the login protection records: a failed and a successful login."""
    client = Client()
    client.post(reverse("admin:login"), {"username": "nobody", "password": "wrong"})
    client.post(reverse("admin:login"), {"username": "root", "password": PASSWORD})


def an_instance(model, superuser):
    """A stored object of every registered model (the reference data holds
    the domain's; logins make the login protection's records)."""
    if model is User:
        return superuser
    if model is Group:
        return Group.objects.create(name="Editors of test")
    if issubclass(model, Token):
        return model.objects.get_or_create(user=superuser)[0]
    if not model._default_manager.exists():
        sign_in_attempts()
    instance = model._default_manager.order_by("pk").first()
    assert instance is not None, f"no {model._meta.label} to change"
    return instance


def change_url(model, instance):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[instance.pk])


def change_form(client, model, instance):
    """The change form of `instance` as its page shows it."""
    return page_form(client.get(change_url(model, instance)), form_id=f"{model._meta.model_name}_form")


@pytest.mark.parametrize("model", registered_models(), ids=lambda model: model._meta.label)
def test_an_admin_change_form_needs_its_token(signed_in, superuser, reference_data, model):
    instance = an_instance(model, superuser)
    data = change_form(signed_in, model, instance)

    refused = signed_in.post(change_url(model, instance), without_token(data))
    accepted = signed_in.post(change_url(model, instance), data)

    assert_csrf_refusal(refused)
    # Saved as shown, back to the list.
    assert accepted.status_code == HTTPStatus.FOUND, accepted.content.decode()[:2000]


def importing_models():
    return [
        model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, ImportMixin)
    ]


def import_url(model, view="import"):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}")


def import_form(client, model):
    data = page_form(client.get(import_url(model)), field="format")
    upload = SimpleUploadedFile("import.csv", export(model, "csv").encode("utf-8"))
    return {**data, "resource": ["0"], "format": [format_index("csv")], "import_file": upload}


@pytest.mark.parametrize("model", sorted(importing_models(), key=str), ids=lambda model: model.__name__)
def test_the_admin_import_form_needs_its_token(signed_in, reference_data, model):
    refused = signed_in.post(import_url(model), without_token(import_form(signed_in, model)))
    preview = signed_in.post(import_url(model), import_form(signed_in, model))

    assert_csrf_refusal(refused)
    assert preview.status_code == HTTPStatus.OK
    assert preview.context["confirm_form"] is not None
    # Confirming the import is a form of its own, with its own token.
    confirmation = page_form(preview, field="import_file_name")
    assert_csrf_refusal(signed_in.post(import_url(model, "process_import"), without_token(confirmation)))
    confirmed = signed_in.post(import_url(model, "process_import"), confirmation)
    assert confirmed.status_code == HTTPStatus.FOUND


def logout_form(client):
    """The logout button every admin page carries."""
    return page_form(client.get(reverse("admin:index")), action=reverse("admin:logout"))


def test_admin_logout_needs_its_token(signed_in, superuser):
    data = logout_form(signed_in)

    refused = signed_in.post(reverse("admin:logout"), without_token(data))
    assert_csrf_refusal(refused)
    assert signed_in.session["_auth_user_id"] == str(superuser.pk)

    accepted = signed_in.post(reverse("admin:logout"), data)
    assert accepted.status_code == HTTPStatus.OK
    assert "_auth_user_id" not in signed_in.session


# ---------------------------------------------------------------------------
# CSRF: the language switch
# ---------------------------------------------------------------------------


def a_token(client):
    """A CSRF token as a page hands it out (the login page's form)."""
    return page_form(client.get(reverse("admin:login")), field="username")["csrfmiddlewaretoken"][0]


def test_the_language_switch_needs_a_token(csrf_client):
    refused = csrf_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/cities/"})
    token = a_token(csrf_client)
    accepted = csrf_client.post(
        reverse("set_language"), {"language": "zh-hans", "next": "/cities/", "csrfmiddlewaretoken": token}
    )

    assert_csrf_refusal(refused)
    assert accepted.status_code == HTTPStatus.FOUND
    assert accepted["Location"] == "/zh-hans/cities/"
    assert accepted.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"


# ---------------------------------------------------------------------------
# CSRF: API writes signed in by session, and by token
# ---------------------------------------------------------------------------

SUCCESS = {
    "POST": HTTPStatus.CREATED,
    "PUT": HTTPStatus.OK,
    "PATCH": HTTPStatus.OK,
    "DELETE": HTTPStatus.NO_CONTENT,
}
API_WRITES = [
    pytest.param(endpoint, method, id=f"{endpoint}-{method}")
    for endpoint in ENDPOINTS
    for method in WRITE_METHODS
]


@pytest.fixture
def api_editor(reference_data):
    return make_user("csrf-editor", write_permissions(*DOMAIN_MODELS), via="group")


def refused_write(client, endpoint, method):
    """The write of `write_request`, its target made first; with the
    database as it was just before sending."""
    _model, body, factory = ENDPOINTS[endpoint]
    if method == "POST":
        url, payload = list_url(endpoint), body()
    else:
        target = factory()
        url = detail_url(endpoint, target.slug)
        payload = {"PUT": body(slug=target.slug, name="Replaced"), "PATCH": {"name": "Renamed"}}.get(method)
    before = snapshot()
    return send(client, method, url, payload), before


@pytest.mark.parametrize(("endpoint", "method"), API_WRITES)
def test_a_session_api_write_without_a_csrf_token_is_refused(api_editor, endpoint, method):
    client = logged_in(api_editor, enforce_csrf_checks=True)

    response, before = refused_write(client, endpoint, method)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "CSRF" in response.json()["detail"]
    assert_unchanged(before)


@pytest.mark.parametrize(("endpoint", "method"), API_WRITES)
def test_a_session_api_write_with_a_csrf_token_succeeds(api_editor, endpoint, method):
    client = logged_in(api_editor, enforce_csrf_checks=True)
    client.defaults["HTTP_X_CSRFTOKEN"] = a_token(client)

    response = write_request(client, endpoint, method)

    assert response.status_code == SUCCESS[method], response.content[:300]


@pytest.mark.parametrize(("endpoint", "method"), API_WRITES)
def test_a_token_api_write_needs_no_csrf_token(api_editor, endpoint, method):
    client = token_client(api_editor, enforce_csrf_checks=True)

    response = write_request(client, endpoint, method)

    assert response.status_code == SUCCESS[method], response.content[:300]


# ---------------------------------------------------------------------------
# Redirects stay on the site
# ---------------------------------------------------------------------------

ELSEWHERE = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example",
    "//evil.example/%2F..",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "https:evil.example",
    "https:/evil.example",
    " //evil.example",
    "/\t/evil.example",
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://testserver@evil.example/",
    "https://evil.example\\@testserver/",
]


def is_local(location):
    """A path on this site, whatever a browser makes of it."""
    parts = urlsplit(location)
    return (
        location.startswith("/")
        and not location.startswith(("//", "/\\"))
        and not parts.scheme
        and not parts.netloc
        and url_has_allowed_host_and_scheme(location, allowed_hosts=set())
    )


def test_the_locality_check_itself():
    assert is_local("/documents/?kind=plan")
    for url in ELSEWHERE:
        assert not is_local(url.strip()), url


@pytest.mark.parametrize("next_url", ELSEWHERE)
def test_admin_login_never_redirects_off_the_site(csrf_client, superuser, next_url):
    data = page_form(csrf_client.get(reverse("admin:login"), {"next": next_url}), field="username")
    assert data["next"] == [""]  # the form does not carry it on
    # A form made elsewhere (with a token from this site) may still send it.
    data = {**data, "next": next_url, "username": "root", "password": PASSWORD}

    response = csrf_client.post(reverse("admin:login"), data)

    assert response.status_code == HTTPStatus.FOUND
    assert is_local(response["Location"]), response["Location"]
    assert csrf_client.session["_auth_user_id"] == str(superuser.pk)


@pytest.mark.parametrize(("language", "admin_index"), [("en", "/admin/"), ("zh-hans", "/zh-hans/admin/")])
@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example", "javascript:alert(1)"])
def test_admin_login_with_an_unsafe_next_lands_on_the_admin_index(
    csrf_client, superuser, language, admin_index, next_url
):
    """Not on Django's default /accounts/profile/, which this site does not have."""
    with translation.override(language):
        login_url = reverse("admin:login")
    data = page_form(csrf_client.get(login_url), field="username")

    response = csrf_client.post(
        login_url, {**data, "next": next_url, "username": "root", "password": PASSWORD}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == admin_index
    assert csrf_client.get(response["Location"]).status_code == HTTPStatus.OK


def test_admin_login_honours_a_local_next(csrf_client, superuser):
    page = csrf_client.get(reverse("admin:login"), {"next": "/documents/?kind=plan"})
    data = page_form(page, field="username")

    response = csrf_client.post(reverse("admin:login"), {**data, "username": "root", "password": PASSWORD})

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/documents/?kind=plan"


@pytest.mark.parametrize("next_url", ELSEWHERE[:4])
def test_a_signed_in_editor_at_the_login_page_stays_on_the_site(signed_in, next_url):
    response = signed_in.get(reverse("admin:login"), {"next": next_url})

    assert response.status_code == HTTPStatus.FOUND
    assert is_local(response["Location"]), response["Location"]


@pytest.mark.parametrize("next_url", ELSEWHERE)
def test_the_language_switch_never_redirects_off_the_site(csrf_client, next_url):
    token = a_token(csrf_client)

    response = csrf_client.post(
        reverse("set_language"),
        {"language": "zh-hans", "next": next_url, "csrfmiddlewaretoken": token},
        HTTP_REFERER=next_url.strip(),
    )

    assert response.status_code == HTTPStatus.FOUND
    assert is_local(response["Location"]), response["Location"]


@pytest.mark.parametrize(("language", "expected"), [("zh-hans", "/zh-hans/map/"), ("en", "/map/")])
def test_the_language_switch_honours_a_local_next(csrf_client, language, expected):
    token = a_token(csrf_client)

    response = csrf_client.post(
        reverse("set_language"), {"language": language, "next": "/map/", "csrfmiddlewaretoken": token}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == expected


@pytest.mark.parametrize("next_url", ELSEWHERE[:4])
def test_admin_logout_never_redirects_off_the_site(signed_in, next_url):
    response = signed_in.post(reverse("admin:logout"), {**logout_form(signed_in), "next": next_url})

    assert response.status_code in {HTTPStatus.OK, HTTPStatus.FOUND}
    if response.status_code == HTTPStatus.FOUND:
        assert is_local(response["Location"]), response["Location"]
    assert "evil.example" not in response.content.decode()


# ---------------------------------------------------------------------------
# Forged Host headers
# ---------------------------------------------------------------------------

FORGED_HOSTS = ["evil.example", "evil.example:80", "testserver.evil.example", "testserver@evil.example"]
ADDRESSES = [
    "/",
    "/zh-hans/",
    "/documents/",
    "/map/cities.geojson",
    "/feeds/documents/",
    "/search/?q=wuhan",
    "/api/v1/cities/",
    "/api/v1/cities/wuhan/",
    "/admin/login/",
    "/sitemap.xml",
]


def test_the_test_settings_name_their_hosts():
    """What the tests below rely on: no wildcard, and not the forged host."""
    assert "*" not in settings.ALLOWED_HOSTS
    assert not any(host.endswith("evil.example") for host in settings.ALLOWED_HOSTS)
    assert not settings.USE_X_FORWARDED_HOST


@pytest.mark.parametrize("host", FORGED_HOSTS)
@pytest.mark.parametrize("address", ADDRESSES)
def test_a_forged_host_is_a_400(client, reference_data, address, host):
    response = client.get(address, HTTP_HOST=host)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"evil.example" not in response.content


def test_a_forged_host_is_a_400_for_a_post_too(csrf_client, superuser):
    response = csrf_client.post(reverse("admin:login"), {"username": "root"}, HTTP_HOST="evil.example")

    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_a_forwarded_host_header_is_ignored(client, reference_data):
    """Absolute URLs (a feed's links) name the site's own host, never one a
    client claims in X-Forwarded-Host."""
    response = client.get("/feeds/documents/", HTTP_X_FORWARDED_HOST="evil.example")

    assert response.status_code == HTTPStatus.OK
    assert b"evil.example" not in response.content
    assert b"http://testserver/" in response.content
