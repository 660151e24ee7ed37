"""The site as `make serve` runs it: nginx (deploy/nginx.conf.template) in
front of gunicorn on a unix socket, both started by scripts/serving.py.

One pair is started for the module, with one gunicorn worker, on a migrated
SpatiaLite file of its own (whatever database the suite runs on). nginx must
be installed: `scripts/system-deps.sh nginx`, as `make serve` does.
"""

import http.client
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from clusters import resources

SCRIPTS = Path(settings.BASE_DIR) / "scripts"
ANON_RATE = 3


def load_serving():
    spec = importlib.util.spec_from_file_location("serving", SCRIPTS / "serving.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serving = load_serving()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin"):
        pytest.skip("nginx is not installed (scripts/system-deps.sh nginx)")
    directory = tmp_path_factory.mktemp("served")
    environment = {
        "DJANGO_SETTINGS_MODULE": "yangtze.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"spatialite:///{directory / 'db.sqlite3'}",
        "API_ANON_RATE": f"{ANON_RATE}/minute",
        "PAGE_CACHE_SECONDS": "0",
        # This site's throttle counts only: the default directory is the
        # checkout's, where earlier runs' counts may still be within the minute.
        "CACHE_URL": f"filecache://{directory / 'throttle'}",
    }
    subprocess.run(
        [sys.executable, "-c", MIGRATE],
        env=serving.served_environment(environment),
        cwd=settings.BASE_DIR,
        check=True,
        timeout=300,
    )
    with serving.behind_front(serving.free_port(), environment, workers=1) as server:
        yield server


MIGRATE = """
import django
from django.core.management import call_command
django.setup()
call_command("migrate", interactive=False, verbosity=0)
call_command("createcachetable", verbosity=0)
"""


def get(url, source="127.0.0.1", headers=None, data=None):
    """(status, headers, body) of one request sent from the loopback address
    `source` (127.0.0.0/8 is all this machine's): a POST when there is data."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request("GET" if data is None else "POST", parts.path, body=data, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_half_a_header_on_every_worker_does_not_stall_the_site(site):
    # One worker: without the front, this socket alone holds it until the
    # worker timeout (30 s).
    with socket.create_connection((urlsplit(site.url).hostname, urlsplit(site.url).port)) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slo")
        time.sleep(0.5)
        started = time.monotonic()
        status, _headers, _body = get(site.url + "/robots.txt")
        assert status == 200
        assert time.monotonic() - started < 2


def test_the_front_refuses_a_body_beyond_the_apps_limits_as_json_under_the_api(site):
    too_large = b"x" * (serving.max_body_bytes() + 1)
    status, headers, body = get(
        site.url + "/api/v1/cities/", headers={"Content-Type": "application/json"}, data=too_large
    )

    assert status == 413
    assert headers["Content-Type"].startswith("application/json")
    # The message states the limit.
    assert f"{serving.max_body_bytes() / 2**20:.1f} MB" in json.loads(body)["detail"]


def request(url, method):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, parts.path)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "media_type"), [("/api/v1/cities/", "application/json"), ("/", "text/html")]
)
def test_a_method_the_front_refuses_itself_is_a_405_with_allow_json_under_the_api(site, path, media_type):
    status, headers, body = request(site.url + path, "TRACE")

    assert status == 405
    assert headers["Content-Type"].startswith(media_type)
    assert "GET" in headers["Allow"]
    if media_type == "application/json":
        assert json.loads(body)["detail"]


def test_the_throttle_counts_the_client_nginx_saw_not_a_forwarded_for_it_sent(site):
    def api(source, forged):
        return get(site.url + "/api/v1/sectors/", source=source, headers={"X-Forwarded-For": forged})[0]

    # Every request claims another address; the limit still holds for the client.
    statuses = [api("127.0.0.2", f"203.0.113.{number}") for number in range(ANON_RATE + 1)]
    assert statuses == [200] * ANON_RATE + [429]
    # Another client is counted on its own, not as the front's address.
    assert api("127.0.0.3", "203.0.113.1") == 200


def test_the_scheme_and_host_are_the_fronts_whatever_the_client_claims(site):
    status, _headers, body = get(
        site.url + "/api/v1/",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on", "X-Forwarded-Host": "evil.example"},
    )

    # gunicorn trusts these headers from the socket nginx connects on.
    assert status == 200
    links = json.loads(body).values()
    assert links
    for link in links:
        assert not link.startswith("https:") and "evil.example" not in link, link


@pytest.mark.parametrize(
    ("proxies", "scheme"),
    [(None, "$scheme"), ("0", "$scheme"), ("1", "$scheme"), ("2", "$http_x_forwarded_proto")],
)
def test_the_scheme_comes_from_a_proxy_in_front_only_when_one_is_declared(tmp_path, proxies, scheme):
    environment = {"TRUSTED_PROXY_COUNT": proxies} if proxies else {}
    outer_proxy = serving.trusted_proxy_count(environment) > 1
    config = serving.write_front_files(listen="127.0.0.1:8000", run_dir=tmp_path, outer_proxy=outer_proxy)

    assert f"proxy_set_header X-Forwarded-Proto {scheme};" in config.read_text()
    # The app counts nginx's entry in X-Forwarded-For, and any declared before it.
    assert serving.trusted_proxy_count(environment) == max(1, int(proxies or 1))


def test_the_fronts_body_limit_follows_the_apps_upload_limits(settings, monkeypatch):
    framing = serving.MULTIPART_FRAMING_BYTES
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 2**20
    monkeypatch.setattr(resources, "ADMIN_IMPORT_LIMITS", None, raising=False)
    assert serving.max_body_bytes() == 2 * 2**20 + framing
    # An import limit larger than Django's own raises the front's.
    monkeypatch.setattr(resources, "ADMIN_IMPORT_LIMITS", SimpleNamespace(megabytes=20), raising=False)
    assert serving.max_body_bytes() == 20 * 2**20 + framing
    # No limit in Django: none in the front either (nginx's 0).
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None
    assert serving.max_body_bytes() == 0
