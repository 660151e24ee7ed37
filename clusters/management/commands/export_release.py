"""Write a dated, versioned snapshot of the published data into a folder
(see clusters/release.py for what it holds)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clusters.release import ReleaseError, export_release


class Command(BaseCommand):
    help = (
        "Write the published data into OUT_DIR/yangtze-clusters-<date>-v<N>/: natural-key JSON, "
        "a CSV per entity, GeoJSON, a README and SHA256SUMS. Never overwrites an earlier release."
    )

    def add_arguments(self, parser):
        parser.add_argument("out_dir", type=Path, help="Folder to write the release folder into.")

    def handle(self, *args, out_dir, **options):
        try:
            release = export_release(out_dir, progress=self.stdout.write)
        except ReleaseError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"Release {release.name} written to {release.path}"))
