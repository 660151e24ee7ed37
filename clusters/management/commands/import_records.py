"""Import a file too large for the admin's import page: outside the web
server, all or nothing, with the rules and history of an import in the admin."""

import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from import_export.exceptions import ImportError as RowImportError

from clusters.models import (
    BaseMembership,
    BaseSource,
    City,
    PlannedBase,
    PolicyDocument,
    Province,
    Sector,
)
from clusters.resources import COMMAND_IMPORT_LIMITS, FORMATS, RESOURCES, ImportTooLarge

MODELS = {
    "province": Province,
    "city": City,
    "sector": Sector,
    "document": PolicyDocument,
    "base": PlannedBase,
    "membership": BaseMembership,
    "source": BaseSource,
}
FORMAT_CLASSES = {format_class().get_extension(): format_class for format_class in FORMATS}


class Command(BaseCommand):
    help = (
        "Import a CSV, XLSX or JSON file of one model as the admin's import does (same columns, "
        "rules and history), for files beyond the import page's limits. All or nothing: the first "
        "bad row stops the import, names the row and the reason, and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", choices=MODELS, help="What the file holds.")
        parser.add_argument("file", type=Path, help="The file, e.g. an export from the admin.")
        parser.add_argument(
            "--user",
            required=True,
            help="Username to import as: the history names them, and their permissions apply "
            "(an editor cannot publish).",
        )
        parser.add_argument(
            "--format", choices=FORMAT_CLASSES, help="The file's format (default: from its extension)."
        )
        parser.add_argument(
            "--progress-every", type=int, default=1000, metavar="ROWS", help="Rows between progress lines."
        )

    def handle(self, *args, model, file, user, format, progress_every, **options):
        importer = self.find_user(user)
        file_format = self.file_format(file, format)
        dataset = self.read(file, file_format)
        total = len(dataset)
        self.stdout.write(f"Importing {total:,} rows of {file.name} as {importer.get_username()}")
        started = time.monotonic()

        def progress(number):
            if number % max(progress_every, 1) == 0 or number == total:
                seconds = time.monotonic() - started
                self.stdout.write(f"Row {number:,} of {total:,} ({number * 100 // total}%), {seconds:.0f} s")

        resource = RESOURCES[MODELS[model]](user=importer, progress=progress)
        try:
            with transaction.atomic():
                result = resource.import_data(
                    dataset, dry_run=False, raise_errors=True, user=importer, file_name=file.name
                )
        except RowImportError as error:
            raise CommandError(
                f"Nothing was imported: row {error.number} failed: {reason(error.error)}"
            ) from None
        totals = ", ".join(f"{count:,} {kind}" for kind, count in result.totals.items() if count)
        self.stdout.write(self.style.SUCCESS(f"Imported {file.name}: {totals or 'no rows'}."))

    def find_user(self, username):
        try:
            return get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"There is no user {username!r}.") from None

    def file_format(self, path, name):
        name = name or path.suffix.lstrip(".").lower()
        if name not in FORMAT_CLASSES:
            choices = ", ".join(FORMAT_CLASSES)
            raise CommandError(f"Cannot tell the format of {path.name}: give --format ({choices}).")
        file_format = FORMAT_CLASSES[name](encoding="utf-8-sig")
        file_format.limits = COMMAND_IMPORT_LIMITS
        return file_format

    def read(self, path, file_format):
        try:
            COMMAND_IMPORT_LIMITS.check_size(path.stat().st_size)
            data = path.read_bytes()
            return file_format.create_dataset(data)
        except ImportTooLarge as error:
            raise CommandError(str(error)) from None
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from None
        except Exception as error:
            # Whatever the format's reader makes of a file that is not of its format.
            raise CommandError(f"Cannot read {path.name} as {file_format.get_title()}: {error}") from None


def reason(error):
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return "; ".join(
                f"{column}: {' '.join(messages)}" if column != "__all__" else " ".join(messages)
                for column, messages in error.message_dict.items()
            )
        return " ".join(error.messages)
    return str(error)
