"""Create (or bring up to date) the two editorial groups. Safe to run again."""

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError

from clusters.management.commands.load_reference_data import DOMAIN_MODELS
from clusters.models import PlannedBase, PolicyDocument

EDITORS = "Editors"
PUBLISHERS = "Publishers"
EDITOR_ACTIONS = ("add", "change", "view")
PUBLISHABLE_MODELS = (PolicyDocument, PlannedBase)


def codenames(actions, models):
    return [f"{action}_{model._meta.model_name}" for model in models for action in actions]


def editor_codenames():
    """Write drafts and change records, but neither publish nor delete."""
    return codenames(EDITOR_ACTIONS, DOMAIN_MODELS)


def publisher_codenames():
    """Everything an editor does, plus publishing and deleting."""
    return [
        *editor_codenames(),
        *codenames(["delete"], DOMAIN_MODELS),
        *codenames(["publish"], PUBLISHABLE_MODELS),
    ]


class Command(BaseCommand):
    help = (
        f"Create the '{EDITORS}' group (add, change and view the reference data) and the "
        f"'{PUBLISHERS}' group (also publish and delete). Run again after upgrades; it only "
        "sets these groups' permissions."
    )

    def handle(self, **options):
        for name, wanted in ((EDITORS, editor_codenames()), (PUBLISHERS, publisher_codenames())):
            group, created = Group.objects.get_or_create(name=name)
            permissions = Permission.objects.filter(content_type__app_label="clusters", codename__in=wanted)
            missing = set(wanted) - set(permissions.values_list("codename", flat=True))
            if missing:
                # Permissions are created by migrate; a gap means it has not run.
                raise CommandError(f"Missing permissions {sorted(missing)}: run `manage.py migrate` first.")
            group.permissions.set(permissions)
            state = "created" if created else "updated"
            self.stdout.write(f"{name}: {state}, {permissions.count()} permissions.")
