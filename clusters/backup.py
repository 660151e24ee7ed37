"""Whole-database backups and restores, on SpatiaLite and PostGIS alike.

SpatiaLite: a backup is a copy of the database file made with SQLite's
online backup API, which copies the database as it is at one moment even
while the site writes. PostGIS: a backup is a `pg_dump` archive in custom
format, restored with `pg_restore` in one transaction.

Every backup is checked after it is written (SQLite's integrity check; for
an archive, reading all of it back) and every backup file is checked before
anything is restored from it. A restore never replaces data silently: it
refuses a database that holds records or user accounts unless forced, and
then first writes a safety backup of what is there.
"""

import os
import re
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.backends.postgresql.client import DatabaseClient
from django.utils import timezone

from clusters.management.commands.load_reference_data import DOMAIN_MODELS
from clusters.models import SiteRevision, now

# Not a model's table, but counted too: it says which migrations a backup
# has applied, and its presence marks a database made by Django.
MIGRATIONS_TABLE = "django_migrations"
# The first bytes of each kind of backup file.
SQLITE_HEADER = b"SQLite format 3\x00"
PG_ARCHIVE_HEADER = b"PGDMP"
SQLITE_PAGE_SIZE = slice(16, 18)
SQLITE_PAGE_COUNT = slice(28, 32)
# A table's data in `pg_restore --data-only` output, e.g.
# `COPY public.clusters_city (id, name, ...) FROM stdin;`, one line a row.
COPY_START = re.compile(rb'^COPY (?:"?[^".\s]+"?\.)?"?([^"\s(]+)"? ')
COPY_END = b"\\.\n"
# The PostGIS extension stays out of a restore (see PostGIS.restore).
POSTGIS_ENTRY = re.compile(r"^\d+; \d+ \d+ (EXTENSION - postgis|COMMENT - EXTENSION postgis) ")


class BackupError(Exception):
    """The backup or restore was not made; the message says why."""


@dataclass
class Restored:
    counts: dict
    safety_backup: Path | None


def backup_database(out, *, force=False, progress=print):
    """Write a backup of the current database to `out`; return its row counts.

    The backup is written to a hidden file beside `out` and renamed once it
    has been checked, so a failed backup never leaves a half file behind.
    """
    out = Path(out)
    check_destination(out, force)
    engine = engine_kind()()  # an instance: backing up reads the current database
    if engine.live_file == out.resolve():
        raise BackupError(f"{out} is the current database itself; name another file.")
    progress(f"Backing up the {engine.describe()} ...")
    partial = partial_file_beside(out)
    try:
        counts = engine.dump(partial)
        publish(partial, out, force)
    finally:
        partial.unlink(missing_ok=True)
    progress(f"Rows in the backup ({engine.counted_in}): {describe_counts(counts)}")
    return counts


def restore_database(source, *, force=False, progress=print):
    """Replace the current database with the backup in `source`.

    Nothing is changed until the file has passed every check. A database
    that holds data is replaced only with `force`, after a safety backup of
    it has been written beside `source`.
    """
    source = Path(source)
    # The file first: a bad one is refused before the database is opened.
    kind = engine_kind()
    check_backup_format(source, kind)
    progress(f"Checking {source} ...")
    expected = kind.read_backup(source)
    check_is_project_backup(source, expected)
    engine = kind()
    if engine.live_file == source.resolve():
        raise BackupError(f"{source} is the current database itself; there is nothing to restore.")
    safety_backup = None
    worth_keeping = data_tables()
    held = {table: count for table, count in count_live_rows().items() if table in worth_keeping and count}
    if held:
        if not force:
            raise BackupError(
                f"The {engine.describe()} holds data ({describe_rows(held)}); restoring would replace it. "
                f"Pass --force to restore anyway: a safety backup of the current database is written "
                f"beside {source} first."
            )
        safety_backup = safety_backup_path(source, engine)
        progress(f"Writing a safety backup of the current database to {safety_backup} ...")
        backup_database(safety_backup, progress=progress)
    progress(f"Restoring {source} into the {engine.describe()} ...")
    revision_before = site_revision()
    engine.restore(source)
    counts = count_live_rows()
    check_restored_counts(counts, expected, safety_backup)
    retire_cached_answers(revision_before)
    return Restored(counts=counts, safety_backup=safety_backup)


def engine_kind():
    """The class that backs up and restores the current database's engine."""
    if connection.vendor == "sqlite":
        return SpatiaLite
    if connection.vendor == "postgresql":
        return PostGIS
    raise BackupError(f"Backups are made of SpatiaLite and PostGIS databases only, not {connection.vendor}.")


# ---------------------------------------------------------------------------
# Checks


def check_destination(out, force):
    if out.is_dir():
        raise BackupError(f"{out} is a folder; name the backup file to write.")
    if not out.parent.is_dir():
        raise BackupError(f"The folder {out.parent} does not exist; create it first.")
    if out.exists() and not force:
        raise BackupError(f"{out} already exists; pass --force to replace it.")


def check_backup_format(source, expected):
    if not source.is_file():
        reason = "is not a file" if source.exists() else "does not exist"
        raise BackupError(f"{source} {reason}.")
    with source.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    kind = next((kind for kind in (SpatiaLite, PostGIS) if header.startswith(kind.header)), None)
    if kind is None:
        raise BackupError(
            f"{source} is not a backup: it is neither a SQLite database nor a pg_dump archive "
            "(custom format)."
        )
    if kind is not expected:
        raise BackupError(
            f"{source} is a {kind.label} backup, but the current database is {expected.label}; "
            f"restore it into a {kind.label} database (set DATABASE_URL)."
        )


def check_is_project_backup(source, counts):
    domain_tables = {model._meta.db_table for model in DOMAIN_MODELS}
    if MIGRATIONS_TABLE not in counts or not domain_tables <= counts.keys():
        raise BackupError(
            f"{source} is a database, but not one of this project: it lacks the {MIGRATIONS_TABLE} "
            "table or the tables of the clusters app."
        )


def check_restored_counts(counts, expected, safety_backup):
    differ = [
        f"{table} {counts.get(table, 'missing')} (backup: {count})"
        for table, count in expected.items()
        if counts.get(table) != count
    ]
    if differ:
        where = f" The previous data is in {safety_backup}." if safety_backup else ""
        raise BackupError(
            "The restored database does not hold what the backup holds: " + ", ".join(differ) + "." + where
        )


def site_revision():
    if SiteRevision._meta.db_table not in connection.introspection.table_names():
        return None
    return SiteRevision.objects.filter(pk=1).values_list("number", flat=True).first() or 0


def retire_cached_answers(revision_before):
    """Move the site revision past both the one before the restore and the
    restored one. Cached answers and ETags are keyed by it
    (clusters/caching.py), and the restored number may be one that already
    named other data before the restore."""
    restored = site_revision()
    if restored is None:
        return
    number = max(restored, revision_before or 0) + 1
    SiteRevision.objects.update_or_create(pk=1, defaults={"number": number, "changed_at": now()})


# ---------------------------------------------------------------------------
# Row counts: the tables of every installed model, and the migrations.


def counted_tables():
    return {*connection.introspection.django_table_names(include_views=False), MIGRATIONS_TABLE}


def data_tables():
    """The tables whose rows are the site's data: the records, their links
    and their history, and the user accounts. Not what `migrate` fills in
    by itself (content types, permissions, the site revision), so a freshly
    migrated database counts as empty."""
    models = [get_user_model()]
    for model in DOMAIN_MODELS:
        models += [model, model.history.model]
        models += [field.remote_field.through for field in model._meta.local_many_to_many]
    return {model._meta.db_table for model in models}


def count_live_rows():
    with connection.cursor() as cursor:
        return count_rows(cursor, connection.introspection.table_names(cursor), connection.ops.quote_name)


def count_rows(cursor, existing_tables, quote_name):
    counts = {}
    for table in sorted(counted_tables() & set(existing_tables)):
        # The table names come from the database's own catalogue, quoted.
        cursor.execute(f"SELECT COUNT(*) FROM {quote_name(table)}")  # nosec B608
        counts[table] = cursor.fetchone()[0]
    return counts


def describe_counts(counts):
    """One line: the totals, then every table that has rows."""
    total = sum(counts.values())
    empty = sum(1 for count in counts.values() if not count)
    return f"{len(counts)} tables, {total} rows ({empty} tables empty): {describe_rows(counts)}"


def describe_rows(counts):
    return ", ".join(f"{table} {count}" for table, count in counts.items() if count)


# ---------------------------------------------------------------------------
# Files


def partial_file_beside(out):
    # Private (mkstemp's 0600), and stays so once renamed: a backup holds
    # password hashes and API tokens.
    descriptor, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(descriptor)
    return Path(name)


def publish(partial, out, force):
    if out.exists() and not force:
        raise BackupError(f"{out} appeared while the backup was being written; nothing was replaced.")
    os.replace(partial, out)


def safety_backup_path(source, engine):
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    name = f"{engine.database_name()}-before-restore-{stamp}"
    path = source.parent / f"{name}{engine.suffix}"
    number = 1
    while path.exists():
        number += 1
        path = source.parent / f"{name}-{number}{engine.suffix}"
    return path


# ---------------------------------------------------------------------------
# SpatiaLite: the database is one file.


class SpatiaLite:
    label = "SpatiaLite"
    header = SQLITE_HEADER
    suffix = ".sqlite3"
    counted_in = "counted in the copy"

    def __init__(self):
        if connection.is_in_memory_db():
            raise BackupError("The database is held in memory; there is no file to back up or restore.")
        self.path = Path(connection.settings_dict["NAME"]).resolve()

    @property
    def live_file(self):
        return self.path

    def describe(self):
        return f"SpatiaLite database {self.path}"

    def database_name(self):
        return self.path.stem

    def dump(self, out):
        if not self.path.is_file():
            raise BackupError(f"The database file {self.path} does not exist.")
        with closing(open_read_only(self.path)) as live, closing(sqlite3.connect(out)) as copy:
            copy_database(live, copy)
        # Counted in the copy, so the numbers are those of the moment it was taken.
        return self.read_backup(out)

    @staticmethod
    def read_backup(path):
        check_sqlite_length(path)
        try:
            with closing(open_read_only(path)) as database:
                check_integrity(database, path)
                tables = [
                    row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                ]
                return count_rows(database.cursor(), tables, quote_sqlite_name)
        except sqlite3.DatabaseError as error:
            raise BackupError(f"{path} is not a readable SQLite database: {error}.") from error

    def restore(self, source):
        # Django's connection would otherwise keep reading the old database.
        connection.close()
        with closing(open_read_only(source)) as backup, closing(sqlite3.connect(self.path)) as live:
            copy_database(backup, live)
            check_integrity(live, self.path)


def open_read_only(path):
    try:
        return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise BackupError(f"Cannot open {path}: {error}.") from error


def copy_database(source, target):
    """Copy every page of `source` into `target` in one step.

    One step runs inside one read transaction of the source, so the copy is
    the database at one moment; writers wait for that moment only (or not at
    all in WAL mode). Copying in several steps would start over each time
    another connection wrote in between. On the target, the step is one
    write transaction: it replaces the whole database or nothing.
    """
    try:
        source.backup(target)
    except sqlite3.Error as error:
        raise BackupError(f"The SQLite copy failed: {error}.") from error


def check_integrity(database, path):
    problems = [row[0] for row in database.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError(f"{path} failed SQLite's integrity check: {'; '.join(problems[:3])}.")


def check_sqlite_length(path):
    """A cut-off file whose remaining pages happen to be consistent would pass
    the integrity check; its header still says how long it should be."""
    with Path(path).open("rb") as file:
        header = file.read(100)
    if len(header) < 100:
        raise BackupError(f"{path} is truncated: it is shorter than a SQLite header.")
    page_size = int.from_bytes(header[SQLITE_PAGE_SIZE], "big")
    page_size = 65536 if page_size == 1 else page_size
    expected = page_size * int.from_bytes(header[SQLITE_PAGE_COUNT], "big")
    actual = Path(path).stat().st_size
    if actual < expected:
        raise BackupError(f"{path} is truncated: {actual} bytes, but its header says {expected}.")


def quote_sqlite_name(name):
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------
# PostGIS: pg_dump and pg_restore, with the connection settings of Django.


class PostGIS:
    label = "PostGIS"
    header = PG_ARCHIVE_HEADER
    suffix = ".dump"
    counted_in = "counted in the snapshot pg_dump read"
    # The database lives on the server, never in a file a backup could name.
    live_file = None

    def describe(self):
        return f"PostGIS database {connection.settings_dict['NAME']}"

    def database_name(self):
        return connection.settings_dict["NAME"]

    def dump(self, out):
        """Dump the database and return the row counts of the same snapshot:
        pg_dump adopts the snapshot exported here, so the counts are those in
        the archive even while the site writes."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            counts = count_rows(
                cursor, connection.introspection.table_names(cursor), connection.ops.quote_name
            )
            # The snapshot lives as long as this transaction: keep it open until pg_dump ends.
            run_pg_tool(
                "pg_dump",
                "--format=custom",
                f"--snapshot={snapshot}",
                f"--file={out}",
                *connection_arguments(),
            )
        archived = self.read_backup(out)
        if archived != counts:
            raise BackupError(
                f"The archive read back holds other rows ({describe_rows(archived)}) than were dumped "
                f"into it ({describe_rows(counts)})."
            )
        return counts

    @staticmethod
    def read_backup(path):
        """Read the whole archive: `--list` reads its table of contents only,
        which survives when the data after it is cut off."""
        list_archive(path)
        return {
            table: count for table, count in count_archive_rows(path).items() if table in counted_tables()
        }

    def restore(self, source):
        # The archive's CREATE/DROP EXTENSION postgis stay out: dropping would
        # fail on any geometry column the archive does not hold, and only the
        # extension's owner (often a superuser) may drop or comment on it.
        # Migrate creates the extension the same way when it is missing.
        connection.prepare_database()
        connection.close()
        entries = [line for line in list_archive(source).splitlines() if not POSTGIS_ENTRY.match(line)]
        with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as listing:
            listing.write("\n".join(entries) + "\n")
            listing.flush()
            run_pg_tool(
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                # All or nothing: a failure rolls back and leaves the previous data.
                "--single-transaction",
                f"--use-list={listing.name}",
                *connection_arguments(),
                str(source),
            )


def connection_arguments():
    settings = connection.settings_dict
    arguments = ["--no-password"]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if settings.get(key):
            arguments.append(f"{option}={settings[key]}")
    return [*arguments, f"--dbname={settings['NAME']}"]


def pg_environment():
    # What `manage.py dbshell` gives psql: the password (never on the command
    # line, where other users could read it), service and SSL settings.
    _, client_env = DatabaseClient.settings_to_cmd_args_env(connection.settings_dict, [])
    return {**os.environ, **(client_env or {})}


def run_pg_tool(*command):
    try:
        result = subprocess.run(command, env=pg_environment(), capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise BackupError(f"{command[0]} is not installed (it comes with the PostgreSQL client).") from error
    if result.returncode:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()}")
    return result.stdout


def list_archive(path):
    try:
        return run_pg_tool("pg_restore", "--list", str(path))
    except BackupError as error:
        raise BackupError(f"{path} is not a readable pg_dump archive: {error}") from error


def count_archive_rows(path):
    """Rows per table in the archive, read by decoding all of its data."""
    counts, table = {}, None
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            ["pg_restore", "--data-only", "--file=-", str(path)],
            stdout=subprocess.PIPE,
            stderr=errors,
            env=pg_environment(),
        )
        with process.stdout:
            for line in process.stdout:
                if table is None:
                    if match := COPY_START.match(line):
                        table = match[1].decode()
                        counts[table] = 0
                elif line == COPY_END:
                    table = None
                else:
                    counts[table] += 1
        if process.wait():
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()
            raise BackupError(f"{path} is not a readable pg_dump archive: {message}")
    return counts
