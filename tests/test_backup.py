"""`manage.py backup` and `manage.py restore` (clusters/backup.py), on the
engine the suite runs on: SpatiaLite, or PostGIS under scripts/with-postgis.sh.

The suite's own test database cannot be backed up (on SpatiaLite it is held
in memory) and must not be replaced under the other tests, so the commands
run in subprocesses against databases of the tests' own: copies of a
template database, migrated and loaded with the reference data once per
module (a file in a temporary folder, or a database on the PostgreSQL
server the suite uses). What the databases hold is read directly with the
database driver, which is quicker than another manage.py and sees every
table, history and users included.
"""

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg.rows import dict_row

ENGINE = connection.vendor
SQLITE = ENGINE == "sqlite"
POSTGRES = ENGINE == "postgresql"
BACKUP_SUFFIX = ".sqlite3" if SQLITE else ".dump"
BACKUP_HEADER = b"SQLite format 3\x00" if SQLITE else b"PGDMP"
# Every table of the project, but the site revision, which a restore moves on
# on purpose (see test_restore_with_force_...).
COMPARED_TABLES = sorted(
    {*connection.introspection.django_table_names(include_views=False), "django_migrations"}
    - {"clusters_siterevision"}
)
COMMAND_TIMEOUT = 180

# The template database, and a backup of it written with --force over the
# file already there: in one manage.py, as each costs seconds.
PREPARE_TEMPLATE = """
import os
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
call_command("load_reference_data", verbosity=0)
call_command("backup", os.environ["REFERENCE_BACKUP"], force=True)
"""

# Writes sectors one transaction at a time (each with its history row) until
# the stop file appears, printing how many it has written so far.
WRITER = """
import itertools, os, pathlib
from django.db import transaction
from clusters.models import Sector
stop = pathlib.Path(os.environ["WRITER_STOP_FILE"])
for number in itertools.count(1):
    with transaction.atomic():
        Sector.objects.create(slug=f"writer-{number:05d}", name=f"Writer sector {number}")
    print(number, flush=True)
    if stop.exists():
        break
"""


# ---------------------------------------------------------------------------
# Databases of the tests' own


@dataclass
class Site:
    """One database, and the environment that points manage.py at it."""

    url: str
    name: str
    more_env: dict = field(default_factory=dict)

    @property
    def env(self):
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "yangtze.settings_test",
            "DATABASE_URL": self.url,
            **self.more_env,
        }


def prepare_template(template, reference_backup):
    reference_backup.write_text("Replace me.")
    env = {"REFERENCE_BACKUP": str(reference_backup)}
    manage(Site(template.url, template.name, env), "shell", "--command", PREPARE_TEMPLATE)


class SQLiteDatabases:
    def __init__(self, folder, reference_backup):
        self.folder = folder
        self.made = 0
        self.template = self.site(self.folder / "template.sqlite3")
        prepare_template(self.template, reference_backup)

    def populated(self):
        site = self.empty()
        Path(site.name).write_bytes(Path(self.template.name).read_bytes())
        return site

    def empty(self):
        """A database file that does not exist yet."""
        self.made += 1
        return self.site(self.folder / f"site-{self.made}.sqlite3")

    def site(self, path):
        return Site(f"spatialite:///{path}", str(path))

    def connect(self, site):
        database = sqlite3.connect(Path(site.name).as_uri(), uri=True)
        database.row_factory = sqlite3.Row
        return database

    def table_rows(self, site):
        with closing_connection(self.connect(site)) as database:
            existing = {row[0] for row in database.execute("SELECT name FROM sqlite_master")}
            return {
                table: in_order(dict(row) for row in database.execute(f'SELECT * FROM "{table}"'))
                for table in COMPARED_TABLES
                if table in existing
            }


class PostgresDatabases:
    def __init__(self, reference_backup):
        self.settings = connection.settings_dict
        self.server = self.connect(Site("", "postgres"))
        self.prefix = f"backup_test_{os.getpid()}"
        self.made = []
        self.template = self.site(self.create("template", "template0"))
        prepare_template(self.template, reference_backup)

    def populated(self):
        return self.site(self.create(f"site_{len(self.made)}", self.template.name))

    def empty(self):
        """A database without a table, not even PostGIS's."""
        return self.site(self.create(f"site_{len(self.made)}", "template0"))

    def create(self, suffix, template):
        name = f"{self.prefix}_{suffix}"
        self.server.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.made.append(name)
        return name

    def site(self, name):
        user = quote(self.settings["USER"] or "", safe="")
        password = f":{quote(self.settings['PASSWORD'], safe='')}" if self.settings["PASSWORD"] else ""
        address = f"{self.settings['HOST'] or 'localhost'}:{self.settings['PORT'] or 5432}"
        return Site(f"postgis://{user}{password}@{address}/{name}", name)

    def connect(self, site):
        return psycopg.connect(
            host=self.settings["HOST"] or None,
            port=self.settings["PORT"] or None,
            user=self.settings["USER"] or None,
            password=self.settings["PASSWORD"] or None,
            dbname=site.name,
            autocommit=True,
            row_factory=dict_row,
        )

    def table_rows(self, site):
        with self.connect(site) as database:
            existing = {
                row["tablename"]
                for row in database.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            }
            return {
                table: in_order(database.execute(f'SELECT * FROM "{table}"'))
                for table in COMPARED_TABLES
                if table in existing
            }

    def drop_all(self):
        for name in reversed(self.made):
            self.server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.server.close()


def in_order(rows):
    # By every column: history tables repeat the record's id, so no one
    # column orders all of them.
    return sorted(rows, key=repr)


class closing_connection:
    """sqlite3's own context manager commits but does not close."""

    def __init__(self, database):
        self.database = database

    def __enter__(self):
        return self.database

    def __exit__(self, *exc_info):
        self.database.close()


@pytest.fixture(scope="module")
def reference_backup_path(tmp_path_factory):
    return tmp_path_factory.mktemp("reference") / f"reference{BACKUP_SUFFIX}"


@pytest.fixture(scope="module")
def databases(tmp_path_factory, reference_backup_path):
    if SQLITE:
        # The files go with pytest's temporary folders.
        yield SQLiteDatabases(tmp_path_factory.mktemp("databases"), reference_backup_path)
        return
    made = PostgresDatabases(reference_backup_path)
    yield made
    made.drop_all()


@pytest.fixture(scope="module")
def reference_backup(databases, reference_backup_path):
    """A backup of the reference data, and every row it was taken from."""
    return reference_backup_path, databases.table_rows(databases.template)


# ---------------------------------------------------------------------------
# Running manage.py


def manage(site, *arguments, check=True):
    (result,) = manage_all(site, arguments)
    if check and result.returncode:
        pytest.fail(f"manage.py {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def manage_all(site, *commands):
    """Run manage.py commands side by side; return their results in order."""
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", *arguments],
            cwd=settings.BASE_DIR,
            env=site.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for arguments in commands
    ]
    results = []
    for process, arguments in zip(processes, commands, strict=True):
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
        results.append(subprocess.CompletedProcess(arguments, process.returncode, stdout, stderr))
    return results


def printed_counts(output, heading):
    """The row counts a command printed on its `heading: ...` line; tables
    it does not list are empty."""
    line = next(line for line in output.splitlines() if line.startswith(heading))
    listed = line.split(": ", 2)[-1]
    return {table: int(count) for table, count in (pair.split(" ") for pair in listed.split(", "))}


def backup_data_text(path, table):
    """What a backup file holds in `table`, as text to search."""
    if SQLITE:
        with closing_connection(sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)) as database:
            return repr(database.execute(f'SELECT * FROM "{table}"').fetchall())
    command = ["pg_restore", "--data-only", f"--table={table}", "--file=-", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


# ---------------------------------------------------------------------------
# Another process writing, as the running site would


@dataclass
class Writer:
    site: Site
    stop_file: Path
    written: int = 0
    output: list = field(default_factory=list)

    def start(self):
        env = {**self.site.env, "WRITER_STOP_FILE": str(self.stop_file)}
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "--command", WRITER],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # A thread keeps reading, so the writer never blocks on a full pipe.
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()
        return self

    def read(self):
        for line in self.process.stdout:
            self.output.append(line)
            if line.strip().isdigit():
                self.written = int(line)

    def wait_until_written(self, count):
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while self.written < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("The writer stopped early:\n" + "".join(self.output))
            time.sleep(0.02)

    def stop(self):
        self.stop_file.touch()
        self.process.wait(timeout=COMMAND_TIMEOUT)
        self.reader.join(timeout=COMMAND_TIMEOUT)
        assert self.process.returncode == 0, "".join(self.output)


def writer_number(row):
    slug = row.get("slug") or ""
    return int(slug.removeprefix("writer-")) if slug.startswith("writer-") else 0


def without_writes_after(rows, last):
    return {
        table: [row for row in table_rows if writer_number(row) <= last] for table, table_rows in rows.items()
    }


# ---------------------------------------------------------------------------
# Backing up


def test_backup_with_force_replaces_the_file_with_a_private_one_in_the_engines_format(reference_backup):
    path, _ = reference_backup

    assert path.read_bytes().startswith(BACKUP_HEADER)
    # No half-written file is left beside it.
    assert sorted(path.parent.iterdir()) == [path]
    assert path.stat().st_mode & 0o777 == 0o600
    assert "Wuhan" in backup_data_text(path, "clusters_city")


def test_a_backup_taken_while_another_process_writes_restores_one_moment(databases, tmp_path):
    source = databases.populated()
    writer = Writer(source, tmp_path / "stop").start()
    writer.wait_until_written(5)

    backup = tmp_path / f"backup{BACKUP_SUFFIX}"
    backed_up = manage(source, "backup", str(backup)).stdout
    # Writing goes on after the backup, as it went on during it.
    writer.wait_until_written(writer.written + 3)
    writer.stop()

    target = databases.empty()
    restored = manage(target, "restore", str(backup)).stdout

    assert printed_counts(restored, "Rows restored") == printed_counts(backed_up, "Rows in the backup")
    assert "the integrity check passed" in restored
    rows = databases.table_rows(target)
    # Each sector was written with its history row in one transaction: the
    # backup holds the first N sectors, each with its history, and all the
    # other data as it was.
    sectors = sorted(writer_number(row) for row in rows["clusters_sector"] if writer_number(row))
    last = len(sectors)
    assert sectors == list(range(1, last + 1))
    assert sorted(writer_number(row) for row in rows["clusters_historicalsector"]) == sectors
    assert 5 <= last < writer.written
    assert rows == without_writes_after(databases.table_rows(source), last)
    if SQLITE:
        assert rows == databases.table_rows(databases.site(backup))


def test_backup_refuses_an_existing_file_and_a_missing_folder(tmp_path):
    existing = tmp_path / f"existing{BACKUP_SUFFIX}"
    existing.write_text("Keep me.")

    # Refused before the database is opened (the suite would not allow it here).
    with pytest.raises(CommandError, match="already exists; pass --force"):
        call_command("backup", str(existing), stdout=StringIO())
    with pytest.raises(CommandError, match="nowhere does not exist"):
        call_command("backup", str(tmp_path / "nowhere" / "backup"), stdout=StringIO())

    assert existing.read_text() == "Keep me."
    assert sorted(tmp_path.iterdir()) == [existing]


# ---------------------------------------------------------------------------
# Restoring never loses data silently


def test_restore_refuses_a_database_that_holds_data_and_leaves_it_alone(
    databases, reference_backup, tmp_path
):
    path, _ = reference_backup
    site = databases.populated()
    truncated = bad_file("truncated", tmp_path, path, databases)
    before = databases.table_rows(site)

    without_force, bad_file_with_force = manage_all(
        site, ["restore", str(path)], ["restore", "--force", str(truncated)]
    )

    assert without_force.returncode == 1
    assert "holds data" in without_force.stderr
    assert "Pass --force" in without_force.stderr
    assert bad_file_with_force.returncode == 1
    assert f"CommandError: {truncated} is" in bad_file_with_force.stderr
    assert databases.table_rows(site) == before
    # No safety backup either: nothing was about to change.
    assert sorted(path.parent.iterdir()) == [path]
    assert sorted(tmp_path.iterdir()) == [truncated]


def test_restore_with_force_writes_a_safety_backup_of_the_previous_data_first(databases, reference_backup):
    path, reference_rows = reference_backup
    site = databases.populated()
    with closing_connection(databases.connect(site)) as database:
        database.execute("UPDATE clusters_city SET name = 'Renamed before the restore' WHERE slug = 'wuhan'")
        database.commit()
        revision_before = site_revision(database)

    result = manage(site, "restore", "--force", str(path))

    line = next(line for line in result.stdout.splitlines() if line.startswith("The previous data is in "))
    safety_backup = Path(line.removeprefix("The previous data is in ").rstrip("."))
    assert safety_backup.parent == path.parent
    assert safety_backup.name.endswith(BACKUP_SUFFIX)
    assert "Renamed before the restore" in backup_data_text(safety_backup, "clusters_city")
    assert databases.table_rows(site) == reference_rows
    # Answers cached before the restore are never served after it.
    with closing_connection(databases.connect(site)) as database:
        assert site_revision(database) > revision_before
    safety_backup.unlink()


@pytest.mark.skipif(not POSTGRES, reason="the PostGIS extension: PostGIS only")
def test_a_postgis_restore_keeps_the_extension_that_other_tables_need(databases, reference_backup):
    path, reference_rows = reference_backup
    site = databases.populated()
    with databases.connect(site) as database:
        # Not in the backup: dropping and recreating PostGIS would fail on it.
        database.execute("CREATE TABLE survey_points (point geometry)")
        database.execute("INSERT INTO survey_points VALUES ('POINT(114.3 30.6)')")

    result = manage(site, "restore", "--force", str(path))

    assert "the integrity check passed" in result.stdout
    assert databases.table_rows(site) == reference_rows
    with databases.connect(site) as database:
        assert database.execute("SELECT count(*) AS n FROM survey_points").fetchone()["n"] == 1
    next(path.parent.glob(f"*-before-restore-*{BACKUP_SUFFIX}")).unlink()


def site_revision(database):
    return database.execute("SELECT number FROM clusters_siterevision").fetchone()["number"]


# ---------------------------------------------------------------------------
# Bad backup files change nothing


def other_engines_backup(path):
    if POSTGRES:
        with closing_connection(sqlite3.connect(path)) as database:
            database.execute("CREATE TABLE clusters_city (id integer)")
    else:
        # The format is told by the first bytes; the file is refused on them.
        path.write_bytes(b"PGDMP\x01\x0f\x00" + bytes(1000))


def foreign_database(path, databases):
    """A database of the engine's kind, but not of this project."""
    if SQLITE:
        with closing_connection(sqlite3.connect(path)) as database:
            database.execute("CREATE TABLE notes (text varchar)")
        return
    server = connection.settings_dict
    command = ["pg_dump", "--format=custom", f"--file={path}", "--no-password"]
    for option, key in [("host", "HOST"), ("port", "PORT"), ("username", "USER")]:
        if server[key]:
            command.append(f"--{option}={server[key]}")
    command.append(f"--dbname={databases.empty().name}")
    env = {**os.environ, "PGPASSWORD": server["PASSWORD"] or ""}
    subprocess.run(command, env=env, capture_output=True, check=True)


BAD_FILES = {
    "missing": "does not exist",
    "garbage": "is not a backup",
    "empty": "is not a backup",
    "truncated": "is truncated" if SQLITE else "is not a readable pg_dump archive",
    "other engine": f"restore it into a {'PostGIS' if SQLITE else 'SpatiaLite'} database",
    "foreign": "not one of this project",
}


def bad_file(kind, folder, good_backup, databases):
    path = folder / f"{kind.replace(' ', '-')}{BACKUP_SUFFIX}"
    if kind == "garbage":
        path.write_bytes(b"Not a database at all.\n" * 500)
    elif kind == "empty":
        path.touch()
    elif kind == "truncated":
        path.write_bytes(good_backup.read_bytes()[: good_backup.stat().st_size * 2 // 3])
    elif kind == "other engine":
        other_engines_backup(path)
    elif kind == "foreign":
        foreign_database(path, databases)
    return path


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_backup_file_is_refused_before_the_database_is_opened(
    kind, databases, reference_backup, tmp_path
):
    path = bad_file(kind, tmp_path, reference_backup[0], databases)
    files_before = sorted(tmp_path.iterdir())

    # The suite allows no database access here: the refusal comes first.
    with pytest.raises(CommandError, match=re.escape(BAD_FILES[kind])):
        call_command("restore", "--force", str(path), stdout=StringIO())

    assert sorted(tmp_path.iterdir()) == files_before
