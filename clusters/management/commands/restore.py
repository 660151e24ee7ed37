"""Replace the whole database with a backup made by `manage.py backup`
(see clusters/backup.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clusters.backup import BackupError, describe_counts, restore_database


class Command(BaseCommand):
    help = (
        "Replace the whole database with the backup in IN, made by `manage.py backup` on the same "
        "engine. IN is checked first; a bad file changes nothing. A database that holds records or "
        "user accounts is replaced only with --force, and then a safety backup of it is written "
        "beside IN first."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", metavar="IN", type=Path, help="The backup file to restore.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace a database that holds data, after writing a safety backup of it beside IN.",
        )

    def handle(self, *args, source, force, **options):
        try:
            restored = restore_database(source, force=force, progress=self.stdout.write)
        except BackupError as error:
            raise CommandError(str(error)) from error
        if restored.safety_backup:
            self.stdout.write(f"The previous data is in {restored.safety_backup}.")
        self.stdout.write(f"Rows restored: {describe_counts(restored.counts)}")
        self.stdout.write(self.style.SUCCESS(f"Restored {source}; the integrity check passed."))
