"""Schemathesis against the API as `make serve` runs it (nginx in front of
gunicorn, DEBUG off), on loopback, against a throwaway copy of the database.

    python scripts/api_fuzz.py            (make api-fuzz)

Every operation of the served schema (/api/schema/), with an editor's token
(an account in the Editors and Publishers groups, created in the copy), in
schemathesis' phases: the schema's examples, its coverage of edge values,
random fuzzing and stateful sequences. The checks: no server error, every
status and header documented, every body and content type as documented,
reads open and writes refused without the token, a created record found and
a deleted one gone (see EXCLUDED_CHECKS for the two left out).
The run is bounded: at most API_FUZZ_EXAMPLES cases per operation (30) and
API_FUZZ_SECONDS in all (150). Exits non-zero on any failure; the report
(JUnit XML, and the log of nginx and gunicorn) stays in the temporary
directory then.

Settings from the environment: API_FUZZ_EXAMPLES, API_FUZZ_SECONDS,
API_FUZZ_SEED (a fixed seed by default, so that a run can be repeated),
API_FUZZ_DATABASE (default db.sqlite3), WEB_CONCURRENCY (gunicorn workers,
default 2), API_FUZZ_KEEP=1 (keep the temporary directory after a pass)."""

import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from serving import ROOT, VENV_BIN, behind_front, free_port

sys.path.insert(0, str(ROOT))

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", 30))
SECONDS = int(os.environ.get("API_FUZZ_SECONDS", 150))
SEED = os.environ.get("API_FUZZ_SEED", "20260101")
DATABASE = Path(os.environ.get("API_FUZZ_DATABASE", ROOT / "db.sqlite3"))
WORKERS = int(os.environ.get("WEB_CONCURRENCY", 2))
# One schemathesis worker: with several threads, CPython 3.11 sometimes fails
# compiling hypothesis' strategies ("AST constructor recursion depth mismatch").
FUZZ_WORKERS = 1
USERNAME = "api-fuzz-editor"
# The run sends thousands of requests from one address; some go without the
# token (schemathesis checks that they are refused), and the anonymous
# throttle must not turn those into 429s that hide what is being tested.
API_ANON_RATE = "100000/second"
# Every check but two that do not fit this API: a filter or a body names
# records by slug, and a slug that names nothing is refused (400), which the
# schema cannot express (positive_data_acceptance); an empty query parameter
# means "not given", as in the pages' filter forms (negative_data_rejection).
EXCLUDED_CHECKS = ["positive_data_acceptance", "negative_data_rejection"]


def copy_database(workdir):
    path = workdir / "db.sqlite3"
    # A consistent copy even if the site is writing to it now.
    with sqlite3.connect(DATABASE) as source, sqlite3.connect(path) as copy:
        source.backup(copy)
    return f"spatialite:///{path}"


def editor_token(database_url):
    """An editor and publisher in the copy, and the key of its API token."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yangtze.settings")
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from clusters.management.commands.setup_groups import EDITORS, PUBLISHERS

    call_command("setup_groups", verbosity=0)
    user, _created = User.objects.get_or_create(username=USERNAME)
    user.groups.set(Group.objects.filter(name__in=[EDITORS, PUBLISHERS]))
    key = io.StringIO()
    call_command("issue_api_token", USERNAME, stdout=key, stderr=io.StringIO())
    return key.getvalue().strip()


def schemathesis_command(server, token, workdir):
    return [
        str(VENV_BIN / "schemathesis"),
        "run",
        f"{server.url}/api/schema/?format=json",
        "--url",
        server.url,
        "--header",
        f"Authorization: Token {token}",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(EXAMPLES),
        "--max-time",
        str(SECONDS),
        "--seed",
        SEED,
        "--workers",
        str(FUZZ_WORKERS),
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(workdir),
    ]


def print_server_errors(log_path):
    """Each distinct server error in gunicorn's log: the request and the
    exception it ended with."""
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    errors = {}
    for number, line in enumerate(lines):
        if line.startswith("Internal Server Error:"):
            exception = next(
                (later for later in lines[number + 2 :] if later and not later[0].isspace()), "(no exception)"
            )
            errors.setdefault(exception, line)
    for exception, request in errors.items():
        print(f"  {request}\n    {exception}")


def main():
    if not DATABASE.exists():
        raise SystemExit(f"No database at {DATABASE}; run `make db` first.")
    if not shutil.which("nginx"):
        raise SystemExit("nginx is missing: `bash scripts/system-deps.sh nginx` installs it (Debian/Ubuntu).")
    workdir = Path(tempfile.mkdtemp(prefix="yangtze-api-fuzz-"))
    database_url = copy_database(workdir)
    token = editor_token(database_url)
    log_path = workdir / "server.log"
    environment = {"DATABASE_URL": database_url, "API_ANON_RATE": API_ANON_RATE}
    print(f"Database: a copy of {DATABASE} in {workdir}; token of {USERNAME} (Editors, Publishers)")
    print(f"Bounds: {EXAMPLES} examples per operation, {SECONDS} s in all, seed {SEED}")

    with behind_front(free_port(), environment, WORKERS, log_path) as server:
        print(f"nginx in front of gunicorn (make serve's settings, DEBUG off) on {server.url}", flush=True)
        returncode = subprocess.run(schemathesis_command(server, token, workdir), cwd=workdir).returncode

    passed = returncode == 0
    if not passed:
        print("\nServer errors in the log:")
        print_server_errors(log_path)
    print(f"\n{'PASS' if passed else 'FAIL'}: schemathesis over every API operation.")
    if passed and not os.environ.get("API_FUZZ_KEEP"):
        shutil.rmtree(workdir)
    else:
        print(f"Report and server log: {workdir}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
