"""Back up the whole database into one file (see clusters/backup.py), safely
while the site is running."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clusters.backup import BackupError, backup_database


class Command(BaseCommand):
    help = (
        "Back up the whole database into OUT: on SpatiaLite a copy of the database file made with "
        "SQLite's online backup API, on PostGIS a pg_dump archive (custom format). Safe while the site "
        "runs and writes. The backup is checked before it is put in place; OUT is never replaced "
        "unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", type=Path, help="The backup file to write; its folder must exist.")
        parser.add_argument("--force", action="store_true", help="Replace OUT if it already exists.")

    def handle(self, *args, out, force, **options):
        try:
            backup_database(out, force=force, progress=self.stdout.write)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"Backup written to {out} and checked."))
