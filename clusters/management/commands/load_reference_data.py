"""Load the reference data into an empty database, and only an empty one.

`make run` calls this on every start, so it must never overwrite what
editors have changed: as soon as any domain table holds a row, it loads
nothing and says so.
"""

import json
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.base import DeserializationError
from django.db import DatabaseError, IntegrityError

from clusters.models import (
    BaseMembership,
    BaseSource,
    City,
    PlannedBase,
    PolicyDocument,
    Province,
    Sector,
)
from clusters.synthetic import refresh_planner_statistics

DOMAIN_MODELS = [Province, City, Sector, PolicyDocument, PlannedBase, BaseMembership, BaseSource]
DEFAULT_FIXTURES_DIR = Path(settings.BASE_DIR) / "fixtures"


class Command(BaseCommand):
    help = "Load the reference data from fixtures/ into an empty database; never overwrite edits."

    def add_arguments(self, parser):
        parser.add_argument(
            "--fixtures-dir",
            type=Path,
            default=DEFAULT_FIXTURES_DIR,
            help="Folder of JSON fixtures, loaded in file-name order (default: fixtures/).",
        )

    def handle(self, *args, fixtures_dir, **options):
        existing = domain_row_counts()
        if any(existing.values()):
            self.stdout.write(
                "The database already holds data ("
                + describe_counts(existing)
                + "); nothing loaded, so editors' changes stay as they are."
            )
            return
        fixture_files = sorted(fixtures_dir.glob("*.json"))
        if not fixture_files:
            raise CommandError(f"No fixtures (*.json) found in {fixtures_dir}.")
        self.stdout.write(f"Loading {len(fixture_files)} fixture files from {fixtures_dir} ...")
        problems = unresolved_references(fixture_files)
        if problems:
            raise CommandError(
                "The reference data was not loaded; nothing was changed.\n" + "\n".join(problems)
            )
        load_atomically(fixture_files)
        refresh_planner_statistics()
        self.stdout.write(
            self.style.SUCCESS("Loaded reference data: " + describe_counts(domain_row_counts()))
        )


def domain_row_counts():
    return {model._meta.verbose_name_plural: model.objects.count() for model in DOMAIN_MODELS}


def describe_counts(counts):
    return ", ".join(f"{count} {name}" for name, count in counts.items())


def load_atomically(fixture_files):
    """One loaddata call is one transaction: a bad row leaves every table as it was."""
    try:
        call_command("loaddata", *[str(path) for path in fixture_files], verbosity=0)
    except (DeserializationError, IntegrityError, DatabaseError) as error:
        raise CommandError(f"The reference data was not loaded; nothing was changed.\n{error}") from error


def unresolved_references(fixture_files):
    """List every slug a fixture refers to that no fixture defines.

    loaddata would fail on these too, but only with "X has no city"; this
    names the file, the object and the missing slug.
    """
    records = []
    for path in fixture_files:
        try:
            objects = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            return [f"{path.name}: not valid JSON ({error})."]
        records += [(path.name, index, obj) for index, obj in enumerate(objects, start=1)]
    defined = {}
    for _name, _index, obj in records:
        slug = obj.get("fields", {}).get("slug")
        if slug:
            defined.setdefault(obj["model"].lower(), set()).add(slug)
    return [
        f"{name}, object {index} ({obj['model']}): {field} {slug!r} is not defined in any fixture."
        for name, index, obj in records
        for field, label, slug in slug_references(obj)
        if slug not in defined.get(label, set())
    ]


def slug_references(obj):
    """Yield (field name, target model label, slug) for each relation given by slug."""
    model = apps.get_model(obj["model"])
    for field_name, value in obj.get("fields", {}).items():
        field = model._meta.get_field(field_name)
        if not field.is_relation or value is None:
            continue
        label = field.related_model._meta.label_lower
        keys = value if field.many_to_many else [value]
        for key in keys:
            if isinstance(key, list) and len(key) == 1:
                yield field_name, label, key[0]
