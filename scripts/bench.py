"""`make bench`: the site's speed at scale, as ratios to bare Django.

Builds two synthetic databases (10k cities with 100k bases and 20k
documents, and the same cities with 1k bases), serves them with gunicorn as
in production (DEBUG off, yangtze.settings_bench, which adds the baselines),
and drives every endpoint with wrk in interleaved rounds (A, B, C, A, B, C
…) so that machine noise hits all of them alike. Prints requests/s, p50,
p99, queries per request and the ratio to each endpoint's baseline, checks
the targets, and writes everything as JSON to bench-results/.

    python scripts/bench.py [--rounds 5] [--seconds 3] [--smoke] [--only TEXT ...]

--smoke is a one-minute run on small databases that checks the harness and
that nothing errs; it does not judge the ratios (small data, short runs).
--only keeps the endpoints whose names contain any of the texts (with their
baselines and scaling partners): a quick look at one figure while working
on it. Only a full run shows whether every target holds.
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

import serving

RESULTS = serving.ROOT / "bench-results"
CONNECTIONS = 16
PORTS = {"cached": 8701, "uncached": 8702, "small": 8703}


@dataclass
class Scale:
    cities: int
    bases: int
    documents: int

    def arguments(self):
        return [f"--cities={self.cities}", f"--bases={self.bases}", f"--documents={self.documents}"]


FULL = {"big": Scale(10_000, 100_000, 20_000), "small": Scale(10_000, 1_000, 200)}
SMOKE = {"big": Scale(1_000, 2_000, 400), "small": Scale(1_000, 200, 40)}


@dataclass
class Endpoint:
    name: str
    server: str
    path: str
    baseline: str = ""
    # The ratio to the baseline must be at least this (None: not judged).
    target: float | None = None
    headers: list = field(default_factory=list)
    # Fetch the ETag first and send it back: measures the 304 answer.
    conditional: bool = False


HELLO = "hello (baseline)"
CITIES_BASELINE = "50 cities .values() JSON (baseline)"
BASES_BASELINE = "50 bases .values() JSON (baseline)"


def endpoints(sample):
    province, city, sector, detail_city = (
        sample["province"],
        sample["city"],
        sample["sector"],
        sample["detail"],
    )
    city_page = f"/cities/?province={province}"
    api_cities = f"/api/v1/cities/?province={province}&page_size=50"
    filtered_bases = f"/api/v1/bases/?sector={sector}&city={city}&page_size=50"
    api_bases = "/api/v1/bases/?page_size=50"
    return [
        Endpoint("hello (baseline)", "cached", "/bench/hello"),
        Endpoint("50 cities .values() JSON (baseline)", "cached", f"/bench/cities.json?province={province}"),
        Endpoint("50 bases .values() JSON (baseline)", "cached", "/bench/bases.json"),
        Endpoint("10k coordinates .values()+orjson (baseline)", "cached", "/bench/coordinates.json"),
        Endpoint(
            "50 cities minimal template (baseline)", "cached", f"/bench/cities.html?province={province}"
        ),
        # The API lists are judged as served (answer cache on); the uncached
        # rows show what a request costs right after a change.
        Endpoint("API city list, 50, filtered", "cached", api_cities, CITIES_BASELINE, 0.6),
        Endpoint("API city list, 50, filtered, uncached", "uncached", api_cities, CITIES_BASELINE),
        Endpoint("API base list, 50, nested members", "cached", api_bases, BASES_BASELINE, 0.4),
        Endpoint("API base list, 50, nested, uncached", "uncached", api_bases, BASES_BASELINE),
        Endpoint(DEEP_BY_CURSOR, "uncached", sample["deep_pages"]["by_cursor"], BASES_BASELINE),
        Endpoint(DEEP_BY_NUMBER, "uncached", sample["deep_pages"]["by_number"], BASES_BASELINE),
        Endpoint(
            "API cities GeoJSON, 10k",
            "uncached",
            "/api/v1/cities/geojson/",
            "10k coordinates .values()+orjson (baseline)",
            0.9,
        ),
        Endpoint(
            "map layer cities.geojson, 10k",
            "uncached",
            "/map/cities.geojson",
            "10k coordinates .values()+orjson (baseline)",
            0.9,
        ),
        Endpoint("HTML city list, 50, uncached", "uncached", city_page, "hello (baseline)", 0.08),
        Endpoint("HTML city list, warm cache", "cached", city_page, "hello (baseline)", 0.6),
        Endpoint(
            "HTML city detail, warm cache", "cached", f"/cities/{detail_city}/", "hello (baseline)", 0.6
        ),
        Endpoint("HTML city list, 304", "cached", city_page, "hello (baseline)", 0.8, conditional=True),
        Endpoint("API city list, 304", "cached", api_cities, "hello (baseline)", 0.8, conditional=True),
        Endpoint(
            "map layer cities.geojson, 304",
            "cached",
            "/map/cities.geojson",
            "hello (baseline)",
            0.8,
            conditional=True,
        ),
        Endpoint("API bases by sector+city, 100k", "uncached", filtered_bases),
        Endpoint("API bases by sector+city, 1k", "small", filtered_bases),
        Endpoint("HTML bases by sector+city, 100k", "uncached", f"/bases/?sector={sector}&city={city}"),
        Endpoint("HTML bases by sector+city, 1k", "small", f"/bases/?sector={sector}&city={city}"),
    ]


DEEP_BY_CURSOR = "API base list, deep page by cursor, uncached"
DEEP_BY_NUMBER = "API base list, deep page by number, uncached"

# Cost of the first over cost of the second (the inverse ratio of
# requests/s): at 100k bases over at 1k bases, a deep page over the first.
SCALING = [
    ("API bases by sector+city, 100k", "API bases by sector+city, 1k", 1.5),
    ("HTML bases by sector+city, 100k", "HTML bases by sector+city, 1k", 1.5),
    (DEEP_BY_CURSOR, "API base list, 50, nested, uncached", 1.5),
]
MAX_TAIL_RATIO = 3.0
MAX_WORKER_MB = 200


def main():
    options = parse_arguments()
    scales = SMOKE if options.smoke else FULL
    RESULTS.mkdir(exist_ok=True)
    databases = {name: build_database(name, scale) for name, scale in scales.items()}
    sample = {**pick_sample(databases), "deep_pages": deep_page_paths(databases["big"], scales["big"])}
    plan = chosen(endpoints(sample), options.only)
    queries = count_queries(databases["big"], plan)
    environments = {
        "cached": {"DATABASE_URL": spatialite_url(databases["big"])},
        "uncached": {"DATABASE_URL": spatialite_url(databases["big"]), "PAGE_CACHE_SECONDS": "0"},
        "small": {"DATABASE_URL": spatialite_url(databases["small"]), "PAGE_CACHE_SECONDS": "0"},
    }
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                serving.gunicorn(
                    PORTS[name],
                    {**BENCH_ENVIRONMENT, **environment},
                    workers=options.workers,
                    log_path=RESULTS / f"gunicorn-{name}.log",
                )
            )
            for name, environment in environments.items()
        }
        headers = warm_up(servers, plan)
        runs = run_rounds(servers, plan, headers, options)
        memory = {name: server.peak_memory_mb() for name, server in servers.items()}
    report = summarise(plan, runs, queries, memory, options, scales, sample)
    print_report(report)
    path = RESULTS / f"bench-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nWritten to {path.relative_to(serving.ROOT)}")
    failures = report["failures"]
    if options.smoke:
        failures = [failure for failure in failures if failure.startswith("errors")]
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3, help="per endpoint and round")
    parser.add_argument("--workers", type=int, default=2 * os.cpu_count())
    parser.add_argument("--smoke", action="store_true", help="small data, one short round")
    parser.add_argument("--only", nargs="+", metavar="TEXT", help="endpoints whose names contain a text")
    options = parser.parse_args()
    if options.smoke:
        options.rounds, options.seconds = 1, 1
    return options


def chosen(plan, texts):
    """The endpoints named by `texts` (all if none), with what they are
    compared with."""
    if not texts:
        return plan
    names = {endpoint.name for endpoint in plan if any(text in endpoint.name for text in texts)}
    if not names:
        raise SystemExit(f"No endpoint's name contains any of {texts}.")
    for large, small, _limit in SCALING:
        if large in names or small in names:
            names |= {large, small}
    names |= {endpoint.baseline for endpoint in plan if endpoint.name in names and endpoint.baseline}
    return [endpoint for endpoint in plan if endpoint.name in names]


# The production settings, with the baselines; the benchmark's own rate is far
# beyond the anonymous API throttle, which is not what is measured.
BENCH_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "yangtze.settings_bench",
    "API_ANON_RATE": "100000000/minute",
    "PAGE_SIZE": "50",
    "GUNICORN_LOG_LEVEL": "warning",
}


def spatialite_url(path):
    return f"spatialite:///{path}"


def manage(database, *arguments):
    environment = {**os.environ, **BENCH_ENVIRONMENT, "DATABASE_URL": spatialite_url(database)}
    environment.pop("DJANGO_SETTINGS_MODULE")
    subprocess.run([sys.executable, "manage.py", *arguments], cwd=serving.ROOT, env=environment, check=True)


def build_database(name, scale):
    """A migrated database filled by generate_synthetic; reused while the
    scale and the migrations are unchanged."""
    path = RESULTS / f"{name}.sqlite3"
    stamp = path.with_suffix(".stamp")
    wanted = json.dumps({"scale": scale.arguments(), "migrations": migration_names()})
    if path.exists() and stamp.exists() and stamp.read_text() == wanted:
        print(f"Reusing {path.name} ({scale.bases} bases)")
        return path
    print(f"Building {path.name}: {scale.cities} cities, {scale.bases} bases, {scale.documents} documents")
    path.unlink(missing_ok=True)
    stamp.unlink(missing_ok=True)
    manage(path, "migrate", "--no-input", "--verbosity=0")
    manage(path, "generate_synthetic", *scale.arguments(), "--seed=1")
    stamp.write_text(wanted)
    return path


def migration_names():
    return sorted(path.name for path in (serving.ROOT / "clusters" / "migrations").glob("0*.py"))


def pick_sample(databases):
    """Slugs the endpoints ask for: the province with the most cities, a city
    and sector that share published bases in both databases, and a city to
    show in detail."""
    with sqlite3.connect(databases["small"]) as small:
        city, sector = small.execute(
            """SELECT c.slug, s.slug FROM clusters_basemembership m
               JOIN clusters_city c ON c.id = m.city_id
               JOIN clusters_plannedbase_sectors ps ON ps.plannedbase_id = m.base_id
               JOIN clusters_sector s ON s.id = ps.sector_id
               GROUP BY c.slug, s.slug ORDER BY count(*) DESC, c.slug, s.slug LIMIT 1"""
        ).fetchone()
    with sqlite3.connect(databases["big"]) as big:
        (province,) = big.execute(
            """SELECT p.slug FROM clusters_city c JOIN clusters_province p ON p.id = c.province_id
               GROUP BY p.slug ORDER BY count(*) DESC, p.slug LIMIT 1"""
        ).fetchone()
        (detail,) = big.execute(
            """SELECT c.slug FROM clusters_basemembership m JOIN clusters_city c ON c.id = m.city_id
               GROUP BY c.slug ORDER BY count(*) DESC, c.slug LIMIT 1"""
        ).fetchone()
    return {"province": province, "city": city, "sector": sector, "detail": detail}


def deep_page_paths(database, scale):
    """A page near the end of the API's base list (page 1,980 of 2,000 in
    the full run), by number and by the cursor in the previous page's `next`
    link."""
    script = (
        "import json, sys, django\n"
        "django.setup()\n"
        "from django.test import Client\n"
        "response = Client().get(sys.argv[1])\n"
        "assert response.status_code == 200, response.content\n"
        "from urllib.parse import urlsplit\n"
        "link = urlsplit(response.json()['next'])\n"
        "print(json.dumps(f'{link.path}?{link.query}'))\n"
    )
    page_size = 50
    page = max(2, scale.bases * 99 // 100 // page_size)
    by_cursor = run_django(database, script, f"{DEEP_BASES}?page_size={page_size}&page={page - 1}")
    by_number = f"{DEEP_BASES}?page_size={page_size}&page={page}"
    return {"page": page, "by_number": by_number, "by_cursor": by_cursor}


DEEP_BASES = "/api/v1/bases/"


def count_queries(database, plan):
    """Queries per request, counted in a separate process with the test
    client: the first request (cold) and the next one (warm cache)."""
    script = (
        "import json, sys, django\n"
        "django.setup()\n"
        "from django.db import connection\n"
        "from django.test import Client\n"
        "from django.test.utils import CaptureQueriesContext\n"
        "client = Client()\n"
        "counts = {}\n"
        "for path in json.loads(sys.argv[1]):\n"
        "    counts[path] = []\n"
        "    for attempt in range(2):\n"
        "        with CaptureQueriesContext(connection) as queries:\n"
        "            status = client.get(path).status_code\n"
        "        assert status == 200, (path, status)\n"
        "        counts[path].append(len(queries))\n"
        "print(json.dumps(counts))\n"
    )
    paths = sorted({endpoint.path for endpoint in plan})
    return run_django(database, script, json.dumps(paths))


def run_django(database, script, argument):
    """Runs `script` (which prints JSON last) with the benchmark's settings
    against `database`, in a separate process; returns what it printed."""
    environment = {
        **os.environ,
        **BENCH_ENVIRONMENT,
        "DATABASE_URL": spatialite_url(database),
        "DEBUG": "False",
        "ALLOWED_HOSTS": "testserver",
        "SITE_URL": "http://testserver",
    }
    output = subprocess.run(
        [sys.executable, "-c", script, argument],
        cwd=serving.ROOT,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.splitlines()[-1])


def warm_up(servers, plan):
    """One request per endpoint (fills caches, opens connections); returns
    each conditional endpoint's If-None-Match header."""
    headers = {}
    for endpoint in plan:
        with urllib.request.urlopen(servers[endpoint.server].url + endpoint.path, timeout=60) as response:
            response.read()
            if endpoint.conditional:
                etag = response.headers.get("ETag")
                if not etag:
                    raise SystemExit(f"{endpoint.path} sends no ETag, so it cannot answer 304.")
                headers[endpoint.name] = [f"If-None-Match: {etag}"]
    return headers


def run_rounds(servers, plan, headers, options):
    runs = {endpoint.name: [] for endpoint in plan}
    for number in range(1, options.rounds + 1):
        started = time.monotonic()
        for endpoint in plan:
            server = servers[endpoint.server]
            server.wait_until_idle()
            url = server.url + endpoint.path
            runs[endpoint.name].append(
                serving.wrk(url, options.seconds, CONNECTIONS, headers=headers.get(endpoint.name, ()))
            )
        print(f"round {number}/{options.rounds} done in {time.monotonic() - started:.0f} s", flush=True)
    return runs


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def summarise(plan, runs, queries, memory, options, scales, sample):
    rows, failures = [], []
    by_name = {}
    for endpoint in plan:
        figures = runs[endpoint.name]
        row = {
            "endpoint": endpoint.name,
            "path": endpoint.path,
            "server": endpoint.server,
            "rps": sum(run["requests"] for run in figures) / (options.seconds * len(figures)),
            "p50_ms": median([run["p50_ms"] for run in figures]),
            "p99_ms": median([run["p99_ms"] for run in figures]),
            "errors": sum(run["socket_errors"] + run["bad_status"] for run in figures),
            "queries": queries[endpoint.path],
            "baseline": endpoint.baseline,
            "target": endpoint.target,
        }
        row["tail"] = row["p99_ms"] / row["p50_ms"] if row["p50_ms"] else 0
        by_name[endpoint.name] = row
        rows.append(row)
    for row in rows:
        if row["baseline"]:
            baseline_rps = by_name[row["baseline"]]["rps"]
            row["ratio"] = row["rps"] / baseline_rps if baseline_rps else 0.0
            if row["target"] is not None and row["ratio"] < row["target"]:
                failures.append(f"ratio {row['endpoint']}: {row['ratio']:.2f} < {row['target']}")
        # The tail bar is the project's; baselines only set the pace.
        if not row["endpoint"].endswith("(baseline)") and row["tail"] > MAX_TAIL_RATIO:
            failures.append(f"tail {row['endpoint']}: p99/p50 {row['tail']:.1f} > {MAX_TAIL_RATIO}")
        if row["errors"]:
            failures.append(f"errors {row['endpoint']}: {row['errors']}")
    scaling = []
    for large, small, limit in SCALING:
        if large not in by_name:
            continue
        cost = by_name[small]["rps"] / by_name[large]["rps"] if by_name[large]["rps"] else float("inf")
        scaling.append({"large": large, "small": small, "cost_ratio": cost, "limit": limit})
        if cost > limit:
            failures.append(f"scaling {large}: cost ratio {cost:.2f} > {limit}")
    peak = max(mb for workers in memory.values() for mb in workers.values())
    if peak > MAX_WORKER_MB:
        failures.append(f"memory: a worker peaked at {peak:.0f} MB > {MAX_WORKER_MB}")
    return {
        "when": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "rounds": options.rounds,
            "seconds": options.seconds,
            "connections": CONNECTIONS,
            "workers": options.workers,
            "smoke": options.smoke,
            "scales": {name: vars(scale) for name, scale in scales.items()},
            "sample": sample,
        },
        "endpoints": rows,
        "scaling": scaling,
        "worker_peak_mb": memory,
        "failures": failures,
    }


def machine():
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        "?",
    )
    memory_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} x {cpu}, {memory_kb / 2**20:.0f} GiB"


def print_report(report):
    print(f"\nMachine: {report['machine']}")
    settings = report["settings"]
    print(
        f"{settings['rounds']} interleaved rounds x {settings['seconds']} s per endpoint, "
        f"{settings['connections']} connections, {settings['workers']} gunicorn workers per server\n"
    )
    columns = ["req/s", "p50 ms", "p99 ms", "p99/50", "queries", "ratio", "target"]
    widths = [8, 7, 7, 6, 8, 6, 6]
    header = f"{'endpoint':<46} " + " ".join(
        f"{name:>{width}}" for name, width in zip(columns, widths, strict=True)
    )
    print(header)
    print("-" * len(header))
    for row in report["endpoints"]:
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else ""
        target = f"≥{row['target']}" if row["target"] is not None else ""
        queries = "/".join(str(count) for count in row["queries"])
        print(
            f"{row['endpoint']:<46} {row['rps']:>8.0f} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} "
            f"{row['tail']:>6.1f} {queries:>8} {ratio:>6} {target:>6}"
        )
    print("\nqueries: first request / next request (the next one may come from the cache)")
    for entry in report["scaling"]:
        cost = f"{entry['cost_ratio']:.2f} (limit {entry['limit']})"
        print(f"cost of {entry['large']} vs {entry['small']}: {cost}")
    for server, workers in report["worker_peak_mb"].items():
        peaks = ", ".join(f"{mb:.0f}" for mb in workers.values())
        print(f"peak worker memory ({server}): {peaks} MB (limit {MAX_WORKER_MB})")


if __name__ == "__main__":
    sys.exit(main())
