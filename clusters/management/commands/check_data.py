"""List what editors should fix in the data (see clusters/quality.py).

Exits with status 0 when there is nothing to fix and 1 when anything is
listed, so a script or CI job can stop on bad data.
"""

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils.translation import ngettext

from clusters.quality import by_category, find_problems


class Command(BaseCommand):
    help = "List what editors should fix (bases without sources, unused records, missing names...)."

    def handle(self, *args, **options):
        findings = find_problems()
        groups = by_category(findings)
        for category, group in groups:
            self.stdout.write(self.style.WARNING(f"{category.label} ({len(group)})"))
            for finding in group:
                self.stdout.write(f"  {describe(finding)}")
        if not findings:
            self.stdout.write(self.style.SUCCESS("No problems found: nothing to fix."))
            return
        self.stdout.write(summary(findings, groups))
        raise CommandError(
            f"The data has problems to fix; fix them in the admin, where {reverse('data-quality')} "
            "lists them with links."
        )


def describe(finding):
    return (
        f"{finding.model_name} {finding.slug!r} (“{finding.name}”): {finding.message} [{finding.admin_url}]"
    )


def summary(findings, groups):
    problems = ngettext("%(count)d problem", "%(count)d problems", len(findings)) % {"count": len(findings)}
    categories = ngettext("%(count)d category", "%(count)d categories", len(groups)) % {"count": len(groups)}
    return f"{problems} in {categories}."
