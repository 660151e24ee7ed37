"""Fill a database with synthetic data for load and performance testing.

See clusters/synthetic.py for what is generated and how it is marked.
"""

import argparse

from django.core.management.base import BaseCommand, CommandError

from clusters import synthetic


def count_argument(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= synthetic.MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be from 0 to {synthetic.MAX_COUNT:,}, not {value}")
    return value


def seed_argument(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value


def plain(text):
    # Not the error style Django gives stderr on a terminal: progress is no error.
    return text


class Command(BaseCommand):
    help = (
        "Fill the database with realistic, reproducible synthetic data: cities spread over the Belt, "
        "planned bases with 2 to 10 member cities, 1 to 5 sectors and 1 to 3 sources each, and policy "
        "documents. The same --seed gives the same data. Every synthetic record's slug starts with "
        "'syn-' (e.g. syn-city-000001, syn-base-000001, syn-doc-000001). Synthetic records already in "
        "the database (and only those) are deleted first, so a re-run replaces them. The command "
        "refuses to run when the database holds any province, city, sector, document or base whose "
        "slug does not start with 'syn-', unless --force is given: then those records are kept and "
        "the synthetic ones are added beside them, in the existing provinces and with the existing "
        "sectors. Everything happens in one transaction; rows are inserted in batches, without "
        "history records. A progress line per phase goes to stderr, a summary to stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--cities", type=count_argument, default=100, help="Number of cities (default: 100)."
        )
        parser.add_argument(
            "--bases", type=count_argument, default=200, help="Number of planned bases (default: 200)."
        )
        parser.add_argument(
            "--documents", type=count_argument, default=50, help="Number of policy documents (default: 50)."
        )
        parser.add_argument("--seed", type=seed_argument, default=0, help="Random seed (default: 0).")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even though the database holds non-synthetic data; that data is left untouched.",
        )

    def handle(self, *args, cities, bases, documents, seed, force, verbosity, **options):
        self.show_progress = verbosity > 0
        self.on_tty = self.stderr.isatty()
        self.current_phase = None
        try:
            result = synthetic.generate(
                cities=cities,
                bases=bases,
                documents=documents,
                seed=seed,
                force=force,
                progress=self.progress,
            )
        except synthetic.SyntheticDataError as error:
            raise CommandError(str(error)) from error
        finally:
            self.end_progress_line()
        if verbosity > 0:
            if result["deleted"]:
                self.stdout.write(
                    "Replaced the previous synthetic data ("
                    + synthetic.describe_counts(result["deleted"])
                    + ")."
                )
            if result["reused"]:
                self.stdout.write(
                    "Used the existing "
                    + " and ".join(f"{count} {name}" for name, count in result["reused"].items())
                    + "."
                )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Generated synthetic data with seed {seed}: "
                    + synthetic.describe_counts(result["created"])
                    + f" in {result['seconds']:.1f} s."
                )
            )

    def progress(self, phase, done, total):
        """One line per phase: rewritten in place on a terminal, written once
        when the phase is complete otherwise (logs, pipes)."""
        if not self.show_progress:
            return
        line = f"{phase}: {done}/{total}"
        if self.on_tty:
            if self.current_phase not in (None, phase):
                self.stderr.write("", style_func=plain)
            self.stderr.write(f"\r{line}", style_func=plain, ending="")
            self.stderr.flush()
            self.current_phase = phase
        elif done >= total:
            self.stderr.write(line, style_func=plain)

    def end_progress_line(self):
        if self.on_tty and self.current_phase is not None:
            self.stderr.write("", style_func=plain)
            self.current_phase = None
