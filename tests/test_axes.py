"""Login protection on the admin login (django-axes): failures are counted per
username and client IP, five lock the pair for the cool-off time, and
administrators see and clear locks in the admin."""

import os
import subprocess
import sys
from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import yangtze.settings as production

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "a-long-and-correct-password"
WRONG = "not-the-password"
HOME_IP = "198.51.100.7"
OTHER_IP = "203.0.113.20"
LIMIT = 5


@pytest.fixture(autouse=True)
def default_configuration(settings):
    # The documented defaults, whatever AXES_COOLOFF_MINUTES or
    # TRUSTED_PROXY_COUNT the shell has.
    settings.AXES_COOLOFF_TIME = timedelta(hours=1)
    settings.TRUSTED_PROXY_COUNT = 0


@pytest.fixture
def editor():
    return User.objects.create_user("editor", password=PASSWORD, is_staff=True)


@pytest.fixture
def reviewer():
    return User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)


def attempt(username, password, ip=HOME_IP, path=LOGIN, **headers):
    """One admin login from a fresh browser at `ip`."""
    return Client().post(
        path, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip, **headers
    )


def assert_logged_in(response):
    assert response.status_code == HTTPStatus.FOUND, (response.status_code, response.content[:300])
    assert response.url == "/admin/"


def assert_refused(response):
    """The login form again, with Django's 'wrong password' message."""
    assert response.status_code == HTTPStatus.OK
    assert "Please enter the correct username and password" in response.content.decode()


def assert_locked(response):
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS, (
        response.status_code,
        response.content[:300],
    )
    assert "Account locked" in response.content.decode()


def lock(username, ip=HOME_IP, **headers):
    """Fail until the pair is locked; the last failure already gets the lockout page."""
    for _ in range(LIMIT - 1):
        assert_refused(attempt(username, WRONG, ip, **headers))
    response = attempt(username, WRONG, ip, **headers)
    assert_locked(response)
    return response


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------


def test_the_rule_is_five_failures_per_username_and_ip():
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_RESET_ON_SUCCESS is True
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    # Last in the site's own list (the test settings may append test-only tools).
    assert production.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert "axes.middleware.AxesMiddleware" in settings.MIDDLEWARE


def read_settings(**env):
    """AXES_COOLOFF_TIME and TRUSTED_PROXY_COUNT as a fresh interpreter reads
    them with `env` set (None: unset)."""
    code = "import yangtze.settings_test as s; print(s.AXES_COOLOFF_TIME, s.TRUSTED_PROXY_COUNT)"
    environment = {**os.environ, **env}
    environment = {key: value for key, value in environment.items() if value is not None}
    return subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, cwd=settings.BASE_DIR
    )


def test_the_cooloff_and_proxy_count_come_from_the_environment():
    default = read_settings(AXES_COOLOFF_MINUTES=None, TRUSTED_PROXY_COUNT=None)
    assert default.stdout.split() == ["1:00:00", "0"], default.stderr
    configured = read_settings(AXES_COOLOFF_MINUTES="15", TRUSTED_PROXY_COUNT="2")
    assert configured.stdout.split() == ["0:15:00", "2"], configured.stderr
    assert read_settings(AXES_COOLOFF_MINUTES="0").stdout.split()[0] == "None"
    refused = read_settings(AXES_COOLOFF_MINUTES="-5")
    assert refused.returncode != 0 and "AXES_COOLOFF_MINUTES" in refused.stderr


# ---------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------


def test_five_failures_lock_and_the_correct_password_is_then_refused(editor):
    lock("editor")

    response = attempt("editor", PASSWORD)

    assert_locked(response)
    assert "_auth_user_id" not in response.client.session
    (locked,) = AccessAttempt.objects.all()
    assert (locked.username, locked.ip_address) == ("editor", HOME_IP)
    # The refused sixth attempt counts too, and restarts the wait.
    assert locked.failures_since_start == LIMIT + 1


def test_four_failures_do_not_lock(editor):
    for _ in range(LIMIT - 1):
        assert_refused(attempt("editor", WRONG))

    assert_logged_in(attempt("editor", PASSWORD))


def test_the_same_username_from_another_ip_is_not_locked(editor):
    lock("editor", HOME_IP)

    assert_logged_in(attempt("editor", PASSWORD, OTHER_IP))
    assert_locked(attempt("editor", PASSWORD, HOME_IP))


def test_another_username_from_the_same_ip_is_not_locked(editor, reviewer):
    lock("editor", HOME_IP)

    assert_logged_in(attempt("reviewer", PASSWORD, HOME_IP))
    assert_locked(attempt("editor", PASSWORD, HOME_IP))


def test_an_unknown_username_is_locked_the_same_way(editor):
    lock("nobody")

    assert_locked(attempt("nobody", WRONG))
    assert_logged_in(attempt("editor", PASSWORD))


def set_back(delta):
    AccessAttempt.objects.update(attempt_time=timezone.now() - delta)


def test_the_lock_ends_after_the_cooloff(editor):
    lock("editor")

    set_back(timedelta(minutes=59))
    assert_locked(attempt("editor", PASSWORD))  # and the wait starts again

    set_back(timedelta(minutes=59))
    assert_locked(attempt("editor", PASSWORD))

    set_back(timedelta(minutes=61))
    assert_logged_in(attempt("editor", PASSWORD))
    assert not AccessAttempt.objects.exists()


def test_a_failure_after_the_cooloff_starts_a_new_count(editor):
    lock("editor")
    set_back(timedelta(hours=2))

    assert_refused(attempt("editor", WRONG))

    (fresh,) = AccessAttempt.objects.all()
    assert fresh.failures_since_start == 1


def test_a_success_before_the_limit_resets_the_count(editor):
    for _ in range(LIMIT - 1):
        assert_refused(attempt("editor", WRONG))

    assert_logged_in(attempt("editor", PASSWORD))
    assert not AccessAttempt.objects.exists()

    # A full set of failures is needed again.
    lock("editor")


# ---------------------------------------------------------------------------
# The lockout page
# ---------------------------------------------------------------------------


def test_the_lockout_page_says_the_account_is_locked_and_for_how_long(editor):
    response = lock("editor")

    html = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "this account is locked for 1 hour." in html
    assert "<strong>editor</strong>" in html
    assert "even with the correct password" in html
    assert 'href="/admin/login/"' in html
    # Still behind the site's other middleware: security headers are there.
    assert "Content-Security-Policy" in response.headers
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("cooloff", "text"),
    [
        (timedelta(hours=2), "locked for 2 hours."),
        (timedelta(minutes=30), "locked for 30 minutes."),
        (timedelta(minutes=1), "locked for 1 minute."),
        (timedelta(minutes=90), "locked for 90 minutes."),
        (None, "locked until an administrator unlocks it."),
    ],
)
def test_the_lockout_page_states_the_configured_cooloff(editor, settings, cooloff, text):
    settings.AXES_COOLOFF_TIME = cooloff

    response = lock("editor")

    assert text in response.content.decode()


def test_the_username_on_the_lockout_page_is_escaped():
    response = lock("<b>x</b>")

    html = response.content.decode()
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html


def test_the_chinese_admin_login_is_protected_too(editor):
    for _ in range(LIMIT - 1):
        assert attempt("editor", WRONG, path="/zh-hans/admin/login/").status_code == HTTPStatus.OK
    response = attempt("editor", WRONG, path="/zh-hans/admin/login/")

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    html = response.content.decode()
    assert 'lang="zh-hans"' in html
    assert "账户已锁定" in html and "Account locked" not in html
    assert 'href="/zh-hans/admin/login/"' in html
    # The count is the same whichever language the form was in.
    assert_locked(attempt("editor", PASSWORD))


def test_an_ajax_login_gets_json(editor):
    lock("editor")

    response = attempt("editor", PASSWORD, HTTP_X_REQUESTED_WITH="XMLHttpRequest")

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json()["failure_limit"] == LIMIT


# ---------------------------------------------------------------------------
# The client IP
# ---------------------------------------------------------------------------


def test_a_forged_x_forwarded_for_does_not_change_the_counted_ip(editor):
    for number in range(LIMIT):
        response = attempt("editor", WRONG, HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")
    assert_locked(response)

    assert_locked(attempt("editor", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200"))
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {HOME_IP}


PROXY = "10.0.0.2"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_one_proxy_the_address_it_appended_is_counted(editor):
    # The proxy appends the address it saw; anything before it is the client's.
    for number in range(LIMIT):
        response = attempt("editor", WRONG, PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.{number}, {HOME_IP}")
    assert_locked(response)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {HOME_IP}

    assert_locked(attempt("editor", PASSWORD, PROXY, HTTP_X_FORWARDED_FOR=HOME_IP))
    # Another visitor through the same proxy is not locked.
    assert_logged_in(attempt("editor", PASSWORD, PROXY, HTTP_X_FORWARDED_FOR=OTHER_IP))


def client_ip(remote_addr, forwarded_for=None):
    meta = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return settings.AXES_CLIENT_IP_CALLABLE(RequestFactory().post(LOGIN, **meta))


@pytest.mark.parametrize(
    ("count", "forwarded_for", "expected"),
    [
        (0, None, PROXY),
        (0, "192.0.2.1", PROXY),
        (1, None, PROXY),
        (1, "198.51.100.7", "198.51.100.7"),
        (1, "192.0.2.1, 198.51.100.7", "198.51.100.7"),
        (1, " 192.0.2.1 ,198.51.100.7 ", "198.51.100.7"),
        (2, "192.0.2.1, 198.51.100.7, 10.0.0.1", "198.51.100.7"),
        (2, "198.51.100.7", "198.51.100.7"),
        (1, "2001:db8::1", "2001:db8::1"),
        (1, "unknown", PROXY),
        (1, "198.51.100.7:4431", PROXY),
        (1, "", PROXY),
    ],
)
def test_the_client_ip_with_trusted_proxies(settings, count, forwarded_for, expected):
    settings.TRUSTED_PROXY_COUNT = count

    assert client_ip(PROXY, forwarded_for) == expected


# ---------------------------------------------------------------------------
# Administrators see and clear locks
# ---------------------------------------------------------------------------


def test_an_administrator_sees_the_lock_and_deletes_it_to_unlock(editor, admin_client):
    lock("editor")
    locked = AccessAttempt.objects.get()

    listing = admin_client.get("/admin/axes/accessattempt/")
    assert listing.status_code == HTTPStatus.OK
    html = listing.content.decode()
    assert "editor" in html
    assert HOME_IP in html
    assert "Locked Out" in html

    detail = admin_client.get(f"/admin/axes/accessattempt/{locked.pk}/change/")
    assert detail.status_code == HTTPStatus.OK

    failures = admin_client.get("/admin/axes/accessfailurelog/")
    assert failures.status_code == HTTPStatus.OK
    assert AccessFailureLog.objects.filter(username="editor", ip_address=HOME_IP).count() == LIMIT
    assert AccessFailureLog.objects.filter(locked_out=True).count() == 1

    deleted = admin_client.post(f"/admin/axes/accessattempt/{locked.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == HTTPStatus.FOUND
    assert not AccessAttempt.objects.exists()

    assert_logged_in(attempt("editor", PASSWORD))
    # The failure history stays for the record.
    assert AccessFailureLog.objects.filter(username="editor").count() == LIMIT


def test_the_admin_index_lists_the_axes_section(admin_client):
    html = admin_client.get("/admin/").content.decode()

    assert "/admin/axes/accessattempt/" in html
    assert "/admin/axes/accessfailurelog/" in html


def test_an_editor_without_permission_does_not_see_the_locks(editor):
    client = Client()
    client.force_login(editor)

    assert client.get("/admin/axes/accessattempt/").status_code == HTTPStatus.FORBIDDEN


def test_axes_reset_clears_every_lock(editor, reviewer):
    lock("editor")
    lock("reviewer", OTHER_IP)

    output = StringIO()
    call_command("axes_reset", stdout=output)

    assert output.getvalue().strip() == "2 attempts removed."

    assert not AccessAttempt.objects.exists()
    assert_logged_in(attempt("editor", PASSWORD))
    assert_logged_in(attempt("reviewer", PASSWORD, OTHER_IP))


# ---------------------------------------------------------------------------
# Nothing else is locked
# ---------------------------------------------------------------------------

# Django's test client comes from 127.0.0.1.
TEST_CLIENT_IP = "127.0.0.1"


def test_the_api_token_of_a_locked_account_still_works(editor):
    editor.user_permissions.set(Permission.objects.filter(codename="delete_city"))
    lock("editor", TEST_CLIENT_IP)
    key = Token.objects.create(user=editor).key
    api = APIClient(HTTP_AUTHORIZATION=f"Token {key}")

    assert api.get("/api/v1/cities/").status_code == HTTPStatus.OK
    # Authenticated and permitted: the missing city is a 404, not a 401/403/429.
    assert api.delete("/api/v1/cities/no-such-city/").status_code == HTTPStatus.NOT_FOUND
    assert APIClient().delete("/api/v1/cities/no-such-city/").status_code in {401, 403}


def test_public_pages_are_served_from_a_locked_address(editor):
    lock("editor", TEST_CLIENT_IP)
    client = Client()

    for path in ["/", "/documents/", "/zh-hans/", "/api/v1/sectors/", "/robots.txt"]:
        assert client.get(path).status_code == HTTPStatus.OK, path
    # The login form itself is still shown; only attempts for the pair are refused.
    assert client.get(LOGIN).status_code == HTTPStatus.OK


def test_an_open_session_is_not_ended_by_a_lock(editor):
    session = Client()
    session.force_login(editor)

    lock("editor", TEST_CLIENT_IP)

    assert session.get("/admin/").status_code == HTTPStatus.OK
