"""Load and fault tests of the site as `make serve` runs it (nginx in front
of gunicorn, DEBUG off, WhiteNoise), on loopback, against a throwaway copy of
the database.

    python scripts/loadtest.py [all|load|faults|slow]      (make loadtest: all)

load    wrk keeps LOADTEST_CONNECTIONS (50) connections busy for
        LOADTEST_SECONDS (60) over a mix of URLs built from the database:
        home, every list with and without filters, the detail page of every
        published record, the map and its GeoJSON, search, /zh-hans/ pages
        and the API. Prints requests/s, errors, latency percentiles and the
        workers' peak memory. The bar: 0 errors.
faults  1. SIGKILL one gunicorn worker in the middle of a wrk run: at most the
           one request that worker was serving fails (sync workers serve one
           at a time), the master starts a replacement within seconds, and a
           second wrk run right after has 0 errors.
        2. The database is locked (BEGIN EXCLUSIVE from another connection)
           for a few seconds: pages get the 503 page and the API JSON 503,
           with Retry-After and never a 500 or a traceback; once the lock is
           released every request succeeds again, with no restart.
        3. Slow clients (also alone: `slow`): as many sockets as there are
           workers send half a request header, and as many again a body
           shorter than its Content-Length; meanwhile a normal client's
           requests are answered fast (p99 < 1 s), and the slow sockets end
           (closed, or a 4xx) within seconds, never with a 5xx.

Exits non-zero when any of that does not hold. Settings from the
environment: LOADTEST_SECONDS, LOADTEST_CONNECTIONS, LOADTEST_THREADS (wrk
threads), WEB_CONCURRENCY (gunicorn workers, default 2 per core as in
gunicorn.conf.py), LOADTEST_DATABASE (default db.sqlite3),
LOADTEST_MAX_DETAILS (detail pages per entity, default 100), LOADTEST_KEEP=1
(keep the temporary directory: database copy and the servers' logs),
LOADTEST_FRONT=0 (gunicorn alone, without nginx: to see what the front holds)."""

import argparse
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from serving import ROOT, behind_front, free_port, gunicorn, paths_lua, wrk

sys.path.insert(0, str(ROOT))

# The API allows an anonymous client 120 requests a minute (API_ANON_RATE),
# and every request of the load comes from one address; the load test lifts
# the limit so that it measures the API, not its throttle. Per second rather
# than per minute: the throttle keeps one timestamp per request in its window.
API_ANON_RATE = "100000/second"
# Worker pid, status, time in the worker (ms), path and query of every request.
ACCESS_LOG_FORMAT = "%(p)s %(s)s %(M)s %(U)s %(q)s"

SECONDS = int(os.environ.get("LOADTEST_SECONDS", 60))
CONNECTIONS = int(os.environ.get("LOADTEST_CONNECTIONS", 50))
THREADS = int(os.environ.get("LOADTEST_THREADS", 2))
WORKERS = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1)))
DATABASE = Path(os.environ.get("LOADTEST_DATABASE", ROOT / "db.sqlite3"))
# Detail pages per entity at most (a large synthetic database has thousands).
MAX_DETAILS = int(os.environ.get("LOADTEST_MAX_DETAILS", 100))
SLOWEST = 8

# Worker-kill fault: wrk runs this long, the kill comes this far into it.
KILL_RUN_SECONDS = 12
KILL_AFTER_SECONDS = 4
RECOVERY_RUN_SECONDS = 5
# Sync workers serve one request at a time: killing one can fail only that one.
IN_FLIGHT_PER_WORKER = 1
REPLACEMENT_DEADLINE_SECONDS = 10

# Database fault: the lock is held this much longer than a connection waits
# for it (the database's OPTIONS "timeout", sqlite3's default 5 s) before
# giving up with "database is locked": requests that start in those seconds
# fail, two or more per client in turn.
LOCK_BEYOND_TIMEOUT_SECONDS = 7
PROBERS = 4

# Slow clients: a normal client keeps asking while they hold their sockets,
# each request given this long; the bar for its p99.
NORMAL_REQUEST_TIMEOUT_SECONDS = 5
NORMAL_P99_BAR_SECONDS = 1.0
# The front ends a stalled header or body after 5 s; a slow socket must be
# ended by this. Each is watched this long at most: past gunicorn's 30 s
# worker timeout, to show what happens without the front.
SLOW_END_DEADLINE_SECONDS = 15
SLOW_WATCH_SECONDS = 40
# Half a request header: no blank line ever comes.
HALF_HEADER = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: loadtest-slow\r\nAccept: te"
# A form whose body stops short of its Content-Length. The CSRF cookie makes
# Django read the body to look for the form's token, rather than refuse the
# request before reading it.
SHORT_BODY = (
    b"POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: loadtest-slow\r\n"
    b"Cookie: csrftoken=loadtestloadtestloadtestloadtest\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
    b"username=slow&password="
)
# gunicorn alone, as `make serve` ran before it had a front (LOADTEST_FRONT=0).
FRONT = os.environ.get("LOADTEST_FRONT", "1") != "0"


# ---------------------------------------------------------------------------
# The mix of URLs, from the database copy
# ---------------------------------------------------------------------------


def build_paths(database_url):
    """[(path, weight)]: every kind of page and API answer the site serves,
    with real slugs and filter values that match records."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yangtze.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.urls import reverse
    from django.utils import translation

    from clusters.models import City, PlannedBase, PolicyDocument, Province, Sector

    def sample(queryset):
        rows = list(queryset.order_by("pk"))
        return rows if len(rows) <= MAX_DETAILS else random.Random(1).sample(rows, MAX_DETAILS)

    documents = sample(PolicyDocument.objects.public())
    bases = sample(PlannedBase.objects.public().prefetch_related("sectors", "cities__province"))
    sectors = sample(Sector.objects.all())
    cities = sample(City.objects.select_related("province"))
    provinces = sample(Province.objects.all())
    if not (documents and bases and sectors and cities and provinces):
        raise SystemExit(f"{DATABASE} has no published records; run `make db` first.")

    def query(path, **params):
        return f"{path}?{urlencode(params)}" if params else path

    # Filters that match records: a base's own sector, city, province...
    based = [base for base in bases if base.sectors.all() and base.cities.all()][:8] or bases[:1]
    base_filters = [{"sector": b.sectors.all()[0].slug, "city": b.cities.all()[0].slug} for b in based]
    base_filters += [{"province": b.cities.all()[0].province.slug} for b in based[:3] if b.cities.all()]
    base_filters += [{"kind": kind} for kind in sorted({b.kind for b in bases})[:3]]
    base_filters += [{"stage": stage} for stage in sorted({b.stage for b in bases if b.stage})[:2]]
    base_filters += [{"reach": reach} for reach in sorted({b.reach for b in bases if b.reach})[:2]]
    document_filters = [{"sector": s.slug} for s in sectors[:3]] + [{"city": c.slug} for c in cities[:3]]
    document_filters += [{"kind": kind} for kind in sorted({d.kind for d in documents})[:2]]
    document_filters += [{"ordering": "-date"}]
    city_filters = [{"province": p.slug} for p in provinces[:4]] + [{"reach": "middle"}]
    city_filters += [{"sector": s.slug} for s in sectors[:2]] + [{"level": "prefecture"}]
    sector_filters = [{"top_level": "true"}, {"intensity": "labour"}]
    sector_filters += [{"parent": s.parent.slug} for s in sectors if s.parent_id][:3]
    province_filters = [{"reach": "upstream"}, {"reach": "downstream"}, {"ordering": "-name"}]
    filters = {
        "document-list": document_filters,
        "base-list": base_filters,
        "city-list": city_filters,
        "sector-list": sector_filters,
        "province-list": province_filters,
    }
    counts = {
        "document-list": PolicyDocument.objects.public().count(),
        "base-list": PlannedBase.objects.public().count(),
        "city-list": City.objects.count(),
        "sector-list": Sector.objects.count(),
        "province-list": Province.objects.count(),
    }
    terms = [cities[0].name, sectors[0].name.split()[0], bases[0].name_zh or bases[0].name, "plan", "xyzzy"]

    weighted = []
    for language in ("en", "zh-hans"):
        # English is the default; Chinese pages get a third of the traffic.
        share = 3 if language == "en" else 1
        with translation.override(language):
            weighted.append((reverse("clusters:home"), 5 * share))
            for name, list_filters in filters.items():
                path = reverse(f"clusters:{name}")
                weighted.append((path, 2 * share))
                if counts[name] > settings.PAGE_SIZE:
                    weighted.append((query(path, page=2), share))
                weighted += [(query(path, **params), 1) for params in list_filters]
            for record in (*documents, *bases, *sectors, *cities, *provinces):
                weighted.append((record.get_absolute_url(), 1))
            weighted.append((reverse("clusters:map"), 2 * share))
            weighted += [(query(reverse("clusters:search"), q=term), share) for term in terms]
    weighted += [
        ("/map/cities.geojson", 4),
        ("/map/bases.geojson", 4),
        (query("/map/bases.geojson", sector=bases[0].sectors.all()[0].slug), 2) if based else None,
        (query("/map/bases.geojson", province=provinces[0].slug), 2),
        (query("/map/cities.geojson", province=provinces[0].slug), 2),
        ("/feeds/documents/", 1),
        ("/sitemap.xml", 1),
        ("/robots.txt", 1),
    ]
    api = {
        "documents": (documents, document_filters),
        "bases": (bases, base_filters),
        "cities": (cities, city_filters),
        "sectors": (sectors, sector_filters),
        "provinces": (provinces, province_filters),
    }
    for entity, (records, api_filters) in api.items():
        path = f"/api/v1/{entity}/"
        weighted += [(path, 3), (query(path, page_size=100), 1), (query(path, search=terms[0]), 1)]
        weighted += [(query(path, **params), 1) for params in api_filters[:4]]
        weighted += [(f"{path}{record.slug}/", 1) for record in records]
        if entity in ("bases", "cities", "provinces"):
            weighted += [(f"{path}geojson/", 2), (query(f"{path}geojson/", reach="middle"), 1)]
    weighted.append(("/api/v1/bases/?format=csv", 1))
    connection.close()
    return [entry for entry in weighted if entry]


def expand(weighted):
    return [path for path, weight in weighted for _ in range(weight)]


GROUPS = [
    ("API GeoJSON", re.compile(r"^/api/v1/\w+/geojson/$")),
    ("API detail", re.compile(r"^/api/v1/\w+/[^/]+/$")),
    ("API list", re.compile(r"^/api/v1/\w+/$")),
    ("Map GeoJSON", re.compile(r"^/map/\w+\.geojson$")),
    ("Map page", re.compile(r"^/map/$")),
    ("Search", re.compile(r"^/search/$")),
    ("Home", re.compile(r"^/$")),
    ("List", re.compile(r"^/(documents|bases|sectors|cities|provinces)/$")),
    ("Detail", re.compile(r"^/(documents|bases|sectors|cities|provinces)/[^/]+/$")),
]


def group_of(path, query_string=""):
    chinese = path.startswith("/zh-hans/")
    bare = path.removeprefix("/zh-hans")
    for name, pattern in GROUPS:
        if pattern.match(bare):
            if name in ("List", "API list") and query_string:
                name += ", filtered"
            return name + (" (zh-hans)" if chinese else "")
    return "Other (feeds, sitemap, robots)"


# ---------------------------------------------------------------------------
# Reading the results
# ---------------------------------------------------------------------------


class AccessLog:
    """gunicorn's access log in ACCESS_LOG_FORMAT; read from an offset on."""

    def __init__(self, path):
        self.path = path

    def offset(self):
        return self.path.stat().st_size if self.path.exists() else 0

    def entries(self, start=0, end=None):
        with open(self.path, "rb") as log:
            log.seek(start)
            data = log.read(None if end is None else end - start)
        for line in data.decode(errors="replace").splitlines():
            parts = line.split(" ", 4)
            if len(parts) >= 4 and parts[0].startswith("<"):
                pid, status, ms, path = int(parts[0].strip("<>")), int(parts[1]), int(parts[2]), parts[3]
                yield pid, status, ms, path, parts[4] if len(parts) > 4 else ""


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0


def table(rows, headers, aligns):
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells):
        return "  ".join(
            str(cell).ljust(width) if align == "<" else str(cell).rjust(width)
            for cell, width, align in zip(cells, widths, aligns, strict=True)
        )

    return "\n".join([line(headers), line(["-" * width for width in widths]), *map(line, rows)])


def print_groups(entries):
    by_group, by_url = defaultdict(list), defaultdict(list)
    failures = Counter()
    for _pid, status, ms, path, query_string in entries:
        url = path + ("?" + query_string if query_string else "")
        by_group[group_of(path, query_string)].append(ms)
        by_url[url].append(ms)
        if status >= 400:
            failures[(status, url)] += 1
    rows = []
    for name in sorted(by_group, key=lambda name: -len(by_group[name])):
        times = by_group[name]
        rows.append(
            [name, len(times), f"{statistics.median(times):.0f}", percentile(times, 0.95), max(times)]
        )
    print("\nTime spent in the worker per kind of URL (ms; queueing not included):")
    print(table(rows, ["kind", "requests", "p50", "p95", "max"], "<>>>>"))
    slowest = sorted(by_url.items(), key=lambda item: -statistics.mean(item[1]))[:SLOWEST]
    print(f"\nThe {SLOWEST} slowest URLs (mean time in the worker, ms):")
    for url, times in slowest:
        print(f"  {statistics.mean(times):6.0f}  {url}  ({len(times)} requests)")
    if failures:
        print("\nAnswers >= 400 (status, URL, count):")
        for (status, url), count in failures.most_common(30):
            print(f"  {status}  {url}  x{count}")
    return failures


# ---------------------------------------------------------------------------
# Phases
# ---------------------------------------------------------------------------


def fetch(url, timeout=30):
    """(status, headers, body) without raising for HTTP errors."""
    request = urllib.request.Request(url, headers={"User-Agent": "loadtest"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def check_every_path(server, paths):
    """Each URL once, before the load: all must answer 2xx/3xx (warms the workers too)."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        statuses = list(pool.map(lambda path: fetch(server.url + path)[0], paths))
    bad = [(status, path) for status, path in zip(statuses, paths, strict=True) if status >= 400]
    print(f"Checked each of the {len(paths)} URLs once: {len(paths) - len(bad)} answered 2xx/3xx.")
    for status, path in bad:
        print(f"  {status}  {path}")
    return not bad


def load_phase(server, lua, log):
    print(
        f"\nLoad: {CONNECTIONS} connections, {THREADS} wrk threads, {SECONDS} s, "
        f"{WORKERS} gunicorn workers (sync)..."
    )
    start = log.offset()
    result = wrk(server.url + "/", SECONDS, CONNECTIONS, THREADS, lua=lua)
    time.sleep(0.5)
    memory = server.peak_memory_mb()
    errors = result["socket_errors"] + result["bad_status"]
    rows = [
        ["requests/s", f"{result['rps']:.1f}"],
        ["requests", result["requests"]],
        ["errors", f"{errors} ({result['socket_errors']} socket, {result['bad_status']} status >= 400)"],
        ["latency p50", f"{result['p50_ms']:.1f} ms"],
        ["latency p95", f"{result['p95_ms']:.1f} ms"],
        ["latency p99", f"{result['p99_ms']:.1f} ms"],
        ["latency max", f"{result['max_ms']:.1f} ms"],
        [
            "worker peak memory",
            f"{max(memory.values()):.0f} MB max per worker, {sum(memory.values()):.0f} MB "
            f"for all {len(memory)} (VmHWM)",
        ],
    ]
    print("\n" + table(rows, ["Load test", "result"], "<<"))
    failures = print_groups(log.entries(start))
    ok = errors == 0
    print(f"\nLoad: {'PASS' if ok else 'FAIL'}: {errors} errors (the bar is 0).")
    if failures and not ok:
        print("The gunicorn log holds the tracebacks of any 500s.")
    return ok, result, memory


def worker_kill_fault(server, lua, log):
    print(
        f"\nFault 1: SIGKILL one worker {KILL_AFTER_SECONDS} s into a {KILL_RUN_SECONDS} s wrk run "
        f"({CONNECTIONS} connections)..."
    )
    before = server.worker_pids()
    outcome = {}
    run = threading.Thread(
        target=lambda: outcome.update(wrk(server.url + "/", KILL_RUN_SECONDS, CONNECTIONS, THREADS, lua=lua))
    )
    run.start()
    time.sleep(KILL_AFTER_SECONDS)
    victim = random.choice(before)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    kill_offset = log.offset()
    replacement, replaced_after = None, None
    while time.monotonic() - killed_at < REPLACEMENT_DEADLINE_SECONDS:
        now = server.worker_pids()
        new = set(now) - set(before)
        if new and victim not in now and len(now) == len(before):
            replacement, replaced_after = new.pop(), time.monotonic() - killed_at
            break
        time.sleep(0.02)
    run.join()
    after_kill = list(log.entries(kill_offset))
    by_replacement = sum(1 for pid, *_ in after_kill if pid == replacement)
    failed_after_kill = sum(1 for _pid, status, *_ in after_kill if status >= 400)
    errors = outcome["socket_errors"] + outcome["bad_status"]
    bound = IN_FLIGHT_PER_WORKER  # one worker killed
    print(f"  killed worker {victim}; workers before: {sorted(before)}")
    if replacement:
        print(f"  the master started worker {replacement} {replaced_after:.2f} s later; it then served")
        print(f"  {by_replacement} of the {len(after_kill)} requests answered after the kill")
    else:
        print(f"  NO replacement worker within {REPLACEMENT_DEADLINE_SECONDS} s: {server.worker_pids()}")
    print(
        f"  wrk during the kill: {outcome['requests']} requests, {outcome['rps']:.1f}/s, "
        f"{errors} errors ({outcome['socket_errors']} socket, {outcome['bad_status']} status >= 400); "
        f"allowed: {bound} (the request in flight on the killed sync worker)"
    )
    recovery = wrk(server.url + "/", RECOVERY_RUN_SECONDS, CONNECTIONS, THREADS, lua=lua)
    recovery_errors = recovery["socket_errors"] + recovery["bad_status"]
    print(
        f"  wrk after the kill ({RECOVERY_RUN_SECONDS} s): {recovery['requests']} requests, "
        f"{recovery['rps']:.1f}/s, {recovery_errors} errors; workers now: {sorted(server.worker_pids())}"
    )
    checks = {
        f"errors during the run <= {bound}": errors <= bound,
        "every request answered after the kill succeeded": failed_after_kill == 0,
        "replacement started": replacement is not None,
        "replacement serves requests": by_replacement > 0,
        "0 errors after the kill": recovery_errors == 0,
    }
    return report("Fault 1 (worker killed)", checks)


class Prober(threading.Thread):
    """Requests the given paths in turn until stopped, noting each answer."""

    def __init__(self, base_url, paths, stop):
        super().__init__()
        self.base_url, self.paths, self.stop = base_url, paths, stop
        self.results = []

    def run(self):
        index = 0
        while not self.stop.is_set():
            path = self.paths[index % len(self.paths)].replace("{n}", f"{id(self)}-{index}")
            index += 1
            started = time.monotonic()
            try:
                status, headers, body = fetch(self.base_url + path)
            except OSError as error:  # a refused or reset connection
                status, headers, body = f"socket error: {error}", {}, b""
            text = body.decode(errors="replace")
            self.results.append(
                {
                    "path": path,
                    "started": started,
                    "ended": time.monotonic(),
                    "status": status,
                    "type": headers.get("Content-Type", ""),
                    "retry_after": headers.get("Retry-After"),
                    "traceback": "Traceback" in text or "OperationalError" in text,
                    "page": "Temporarily unavailable" in text,
                    "excerpt": excerpt(text),
                }
            )


def excerpt(text):
    """An HTML page's title, or the start of anything else."""
    title = re.search(r"<title>(.*?)</title>", text, re.S)
    return " ".join((title.group(1) if title else text[:100]).split())


def database_fault(server, database_path, log_path, paths):
    from django.conf import settings

    busy_timeout = settings.DATABASES["default"].get("OPTIONS", {}).get("timeout", 5)
    lock_seconds = busy_timeout + LOCK_BEYOND_TIMEOUT_SECONDS
    print(
        f"\nFault 2: the database locked (BEGIN EXCLUSIVE) for {lock_seconds} s "
        f"while {PROBERS} clients read..."
    )
    # Pages and API answers that all query the database, HTML and JSON mixed.
    html = [p for p in paths if not p.startswith("/api/") and "geojson" not in p and p != "/robots.txt"]
    json_paths = [p for p in paths if p.startswith("/api/") and "format=csv" not in p]
    random.Random(2).shuffle(html)
    random.Random(3).shuffle(json_paths)
    # And searches never asked before, which no cache can answer.
    unique = ["/search/?q=outage-{n}", "/api/v1/bases/?search=outage-{n}"]
    probe_paths = [
        path for pair in zip(html[:10], json_paths[:10], strict=False) for path in (*pair, *unique)
    ]
    pids_before = sorted(server.worker_pids())
    stop = threading.Event()
    probers = [Prober(server.url, probe_paths[i:] + probe_paths[:i], stop) for i in range(PROBERS)]
    for prober in probers:
        prober.start()
    # Some answers before the outage, to compare with.
    started = time.monotonic()
    while time.monotonic() - started < 15 and (
        time.monotonic() - started < 2 or not all(prober.results for prober in probers)
    ):
        time.sleep(0.1)
    lock = sqlite3.connect(database_path, timeout=30, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    locked_at = time.monotonic()
    time.sleep(lock_seconds)
    lock.execute("ROLLBACK")
    lock.close()
    released_at = time.monotonic()
    time.sleep(6)
    stop.set()
    for prober in probers:
        prober.join()
    results = sorted((r for prober in probers for r in prober.results), key=lambda r: r["started"])
    before = [r for r in results if r["ended"] < locked_at]
    during = [r for r in results if r["ended"] >= locked_at and r["started"] < released_at]
    after = [r for r in results if r["started"] >= released_at]
    unavailable = [r for r in during if r["status"] == 503]
    html_503 = [r for r in unavailable if r["type"].startswith("text/html") and r["page"]]
    json_503 = [r for r in unavailable if r["type"].startswith("application/json")]

    def summary(rows):
        return ", ".join(
            f"{count} x {status}" for status, count in Counter(r["status"] for r in rows).items()
        )

    print(f"  before the lock: {len(before)} requests: {summary(before) or '-'}")
    print(f"  during the lock: {len(during)} requests: {summary(during) or '-'}")
    print(f"    503 as the HTML page: {len(html_503)}, as JSON: {len(json_503)}; e.g.:")
    for r in (html_503[:1] + json_503[:1]) or during[:2]:
        print(
            f"      {r['status']} {r['path']}  {r['type']}  Retry-After: {r['retry_after']}  "
            f"after {r['ended'] - r['started']:.1f} s"
        )
        print(f"        {r['excerpt']}")
    print(f"  after the lock:  {len(after)} requests: {summary(after) or '-'}")
    logged = Path(log_path).read_text(errors="replace").count("Database unavailable:")
    print(f"  logged at error level with the traceback (gunicorn log): {logged}")
    print(f"  workers before: {pids_before}, after: {sorted(server.worker_pids())}")
    checks = {
        "all 200 before the lock": bool(before) and all(r["status"] == 200 for r in before),
        "only 200 or 503 during the lock, never 500": all(r["status"] in (200, 503) for r in during),
        "503 page for HTML": bool(html_503),
        "JSON 503 for the API": bool(json_503),
        "every 503 has Retry-After": all(r["retry_after"] for r in unavailable),
        "no traceback in any answer": not any(r["traceback"] for r in results),
        "the 503s are logged": logged >= len(unavailable) > 0,
        "all 200 after the lock, without a restart": bool(after)
        and all(r["status"] == 200 for r in after)
        and sorted(server.worker_pids()) == pids_before,
    }
    return report("Fault 2 (database unavailable)", checks)


class SlowClient(threading.Thread):
    """Sends `head` on a new connection, then nothing more, and notes how
    and when the server ends it: a status code, "closed", or "still open"."""

    def __init__(self, address, kind, head):
        super().__init__()
        self.kind = kind
        self.sock = socket.create_connection(address, timeout=SLOW_WATCH_SECONDS)
        self.sock.sendall(head)
        self.sent_at = time.monotonic()
        self.outcome, self.seconds = None, None

    def run(self):
        with self.sock:
            try:
                answer = self.sock.recv(4096)
                status = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
                self.outcome = int(status.group(1)) if status else "closed"
            except ConnectionResetError:
                self.outcome = "closed"
            except TimeoutError:
                self.outcome = "still open"
        self.seconds = time.monotonic() - self.sent_at


def normal_requests(base_url, paths, slow):
    """A normal client's requests, one after another, as long as any of the
    `slow` clients holds its socket: [(status or the error, seconds taken)]."""
    results, index = [], 0
    while not results or any(client.is_alive() for client in slow):
        started = time.monotonic()
        try:
            status = fetch(base_url + paths[index % len(paths)], timeout=NORMAL_REQUEST_TIMEOUT_SECONDS)[0]
        except OSError as error:  # a timeout, refused or reset connection
            status = type(error).__name__
        results.append((status, time.monotonic() - started))
        index += 1
    return results


def slow_clients_fault(server, paths):
    url = urlsplit(server.url)
    address = (url.hostname, url.port)
    print(
        f"\nFault 3: slow clients: {WORKERS} sockets send half a request header and {WORKERS} a body "
        "shorter than its Content-Length, while a normal client asks for pages..."
    )
    slow = [SlowClient(address, "half header", HALF_HEADER) for _ in range(WORKERS)]
    slow += [SlowClient(address, "short body", SHORT_BODY) for _ in range(WORKERS)]
    for client in slow:
        client.start()
    # Pages and API answers, each of which needs a worker.
    normal_paths = [path for path in paths if path.startswith(("/api/v1/", "/bases/", "/cities/"))][:20]
    normal = normal_requests(server.url, normal_paths or ["/"], slow)
    for client in slow:
        client.join()
    times = [seconds for _status, seconds in normal]
    failed = [(status, seconds) for status, seconds in normal if not isinstance(status, int) or status >= 400]
    print(
        f"  normal client: {len(normal)} requests, p50 {percentile(times, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(times, 0.99) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms, "
        f"{len(failed)} failed" + (f" (e.g. {failed[0][0]})" if failed else "")
    )
    for kind in ("half header", "short body"):
        ends = Counter(str(client.outcome) for client in slow if client.kind == kind)
        longest = max(client.seconds for client in slow if client.kind == kind)
        print(f"  {kind}: " + ", ".join(f"{count} x {outcome}" for outcome, count in ends.items()), end="")
        print(f", the last after {longest:.1f} s")
    checks = {
        f"normal requests answered fast meanwhile (p99 < {NORMAL_P99_BAR_SECONDS:.0f} s)": bool(times)
        and percentile(times, 0.99) < NORMAL_P99_BAR_SECONDS,
        "every normal request succeeded": not failed,
        "no slow socket got a 5xx": not any(
            isinstance(client.outcome, int) and client.outcome >= 500 for client in slow
        ),
        f"every slow socket ended (closed or a 4xx) within {SLOW_END_DEADLINE_SECONDS} s": all(
            client.outcome != "still open" and client.seconds < SLOW_END_DEADLINE_SECONDS for client in slow
        ),
    }
    return report("Fault 3 (slow clients)", checks)


# The last line of a traceback, and Django's line naming the URL.
EXCEPTION_LINE = re.compile(
    r"^[\w.]+(Error|Exception|DoesNotExist|NoReverseMatch): .*|^Internal Server Error: .*"
)


def print_server_errors(log_path):
    """What the gunicorn log says went wrong, most frequent first."""
    lines = Counter(
        line for line in Path(log_path).read_text(errors="replace").splitlines() if EXCEPTION_LINE.match(line)
    )
    if lines:
        print("\nErrors in the gunicorn log (count, line; the tracebacks are in the log):")
        for line, count in lines.most_common(20):
            print(f"  {count:5d}  {line[:200]}")


def report(title, checks):
    ok = all(checks.values())
    print(f"{title}: {'PASS' if ok else 'FAIL'}")
    for check, passed in checks.items():
        print(f"  [{'x' if passed else ' '}] {check}")
    return ok


# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phase", nargs="?", choices=["all", "load", "faults", "slow"], default="all")
    phase = parser.parse_args().phase
    for tool in ("wrk", "nginx") if FRONT else ("wrk",):
        if not shutil.which(tool, path=f"{os.environ.get('PATH', '')}:/usr/sbin"):
            raise SystemExit(
                f"{tool} is missing: `bash scripts/system-deps.sh nginx wrk` installs it (Debian/Ubuntu)."
            )
    if not DATABASE.exists():
        raise SystemExit(f"No database at {DATABASE}; run `make db` first.")

    workdir = Path(tempfile.mkdtemp(prefix="yangtze-loadtest-"))
    database_path = workdir / "db.sqlite3"
    # A consistent copy even if the site is writing to it now.
    with sqlite3.connect(DATABASE) as source, sqlite3.connect(database_path) as copy:
        source.backup(copy)
    database_url = f"spatialite:///{database_path}"
    weighted = build_paths(database_url)
    paths = sorted({path for path, _weight in weighted})
    lua = paths_lua(expand(weighted))
    log_path, access_path = workdir / "server.log", workdir / "access.log"
    environment = {
        "DATABASE_URL": database_url,
        "API_ANON_RATE": API_ANON_RATE,
        "ACCESS_LOG": str(access_path),
        "GUNICORN_CMD_ARGS": f"--access-logformat '{ACCESS_LOG_FORMAT}'",
    }
    kinds = Counter(group_of(*path.partition("?")[::2]) for path in expand(weighted))
    print(f"Database: a copy of {DATABASE} in {workdir}")
    print(f"URL mix: {len(paths)} distinct URLs, weighted to {sum(kinds.values())} entries:")
    print("  " + ", ".join(f"{kind} {count}" for kind, count in kinds.most_common()))
    print(
        f"NOTE: API_ANON_RATE={API_ANON_RATE} for this run: all the load comes from one address, "
        "which the default (120/minute) would throttle to 429s."
    )

    cores, load = os.cpu_count(), os.getloadavg()[0]
    print(f"Machine: {cores} cores, load average {load:.1f} before the run.")
    if load > cores / 2:
        print("  (other processes are busy: they share the CPU with gunicorn and wrk and lower the figures)")

    passed = True
    serve = behind_front if FRONT else gunicorn
    with serve(free_port(), environment, WORKERS, log_path) as server:
        served = "nginx in front of gunicorn" if FRONT else "gunicorn alone (LOADTEST_FRONT=0)"
        print(f"{served} (make serve's settings, DEBUG off) on {server.url}, workers {server.worker_pids()}")
        log = AccessLog(access_path)
        passed = check_every_path(server, paths)
        if not passed:
            print("Not loading a site that fails on its own; nothing else was run.")
        if passed and phase in ("all", "load"):
            load_ok, _result, _memory = load_phase(server, lua, log)
            passed &= load_ok
        if passed and phase in ("all", "faults"):
            passed &= worker_kill_fault(server, lua, log)
            passed &= database_fault(server, database_path, log_path, paths)
        if passed and phase in ("all", "faults", "slow"):
            passed &= slow_clients_fault(server, paths)

    if not passed:
        print_server_errors(log_path)
    ran = {
        "all": "load test and fault tests",
        "load": "load test",
        "faults": "fault tests",
        "slow": "slow clients",
    }[phase]
    print(f"\n{'PASS' if passed else 'FAIL'}: {ran}.")
    if passed and not os.environ.get("LOADTEST_KEEP"):
        shutil.rmtree(workdir)
    else:
        print(f"gunicorn's and nginx's log: {log_path}; gunicorn's access log: {access_path}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
