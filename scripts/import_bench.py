"""How long the admin takes to preview and confirm a large import.

Builds a throwaway SpatiaLite database with the reference data, writes a CSV
of ROWS new cities (or policy documents), and posts it to the admin's import
page as a superuser would: the preview (a dry run of every row), then the
confirmation. Prints the seconds each step took (wall clock and CPU); --profile prints the
functions where the preview spends its time (cProfile).

    python scripts/import_bench.py [--rows 5000] [--model city|document] [--profile]
"""

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django(database):
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "yangtze.settings_test"
    os.environ["DATABASE_URL"] = f"spatialite:///{database}"
    import django
    from django.test.utils import setup_test_environment

    from yangtze import settings_test

    # The test settings without django-zeal, whose query tracking is not
    # part of what a server does.
    settings_test.INSTALLED_APPS.remove("zeal")
    settings_test.MIDDLEWARE.remove("zeal.middleware.zeal_middleware")
    django.setup()
    setup_test_environment()  # so that the client keeps each page's context
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_reference_data", stdout=StringIO())


def city_rows(count):
    import tablib

    dataset = tablib.Dataset(headers=["slug", "name", "name_zh", "province", "level", "location"])
    for number in range(count):
        # Spread over a 5 by 5 degree square inside the Belt.
        x, y = 110 + (number % 100) / 20, 28 + (number // 100 % 100) / 20
        dataset.append([f"town-{number}", f"Town {number}", "", "hubei", "county", f"POINT ({x} {y})"])
    return dataset.export("csv")


def document_rows(count):
    import tablib

    headers = ["slug", "name", "status", "kind", "language", "sectors", "cities", "summary"]
    dataset = tablib.Dataset(headers=headers)
    for number in range(count):
        dataset.append(
            [f"doc-{number}", f"Plan {number}", "draft", "plan", "zh", "steel,copper", "wuhan", "A plan."]
        )
    return dataset.export("csv")


MODELS = {"city": ("city", city_rows), "document": ("policydocument", document_rows)}


def main():
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--model", choices=MODELS, default="city")
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        setup_django(Path(folder) / "bench.sqlite3")
        run(options)


def run(options):
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.urls import reverse

    model_name, rows = MODELS[options.model]
    content = rows(options.rows).encode()
    client = Client()
    client.force_login(User.objects.create_superuser("bench", password="unused"))
    upload = SimpleUploadedFile("bench.csv", content)
    data = {"resource": "0", "format": "0", "import_file": upload}

    profiler = cProfile.Profile() if options.profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    preview = client.post(reverse(f"admin:clusters_{model_name}_import"), data)
    if profiler:
        profiler.disable()
    preview_seconds, preview_cpu = time.perf_counter() - started, time.process_time() - cpu
    form = preview.context["confirm_form"]
    if form is None:
        sys.exit(f"The preview refused the file: {preview.context['result'].invalid_rows[:3]}")
    confirm = {name: form.initial.get(name, field.initial) for name, field in form.fields.items()}

    started, cpu = time.perf_counter(), time.process_time()
    response = client.post(reverse(f"admin:clusters_{model_name}_process_import"), confirm)
    confirm_seconds, confirm_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{options.rows} {options.model} rows ({len(content)} bytes)")
    # CPU time too: on a busy machine it varies less than the wall clock.
    print(f"preview: {preview_seconds:.2f} s, {preview_cpu:.2f} s CPU ({len(preview.content)} bytes of HTML)")
    print(f"confirm: {confirm_seconds:.2f} s, {confirm_cpu:.2f} s CPU (status {response.status_code})")
    if profiler:
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(40)


if __name__ == "__main__":
    main()
