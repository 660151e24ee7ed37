"""A GIS client opens the API's GeoJSON URLs directly: GDAL's `ogrinfo` (what
QGIS uses underneath) reads each as one layer with the right feature count."""

import re
import shutil
import subprocess

import pytest

from clusters.models import City, PlannedBase, Province

pytestmark = pytest.mark.usefixtures("reference_data")


def ogr_layer(url):
    """(geometry type, feature count) as ogrinfo reports the URL's layer."""
    ogrinfo = shutil.which("ogrinfo")
    assert ogrinfo, "ogrinfo is missing: install gdal-bin (make system-deps does)"
    result = subprocess.run(
        [ogrinfo, "-ro", "-al", "-so", url], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    geometry = re.search(r"^Geometry: (.+)$", result.stdout, re.MULTILINE)
    count = re.search(r"^Feature Count: (\d+)$", result.stdout, re.MULTILINE)
    assert geometry and count, result.stdout
    return geometry[1], int(count[1])


@pytest.mark.parametrize(
    ("path", "geometry", "expected_count"),
    [
        ("/api/v1/cities/geojson/", "Point", lambda: City.objects.exclude(location=None).count()),
        (
            "/api/v1/cities/geojson/?province=hubei",
            "Point",
            lambda: City.objects.filter(province__slug="hubei").exclude(location=None).count(),
        ),
        (
            "/api/v1/bases/geojson/?city=wuhan",
            "Multi Point",
            lambda: PlannedBase.objects.filter(cities__slug="wuhan").count(),
        ),
        (
            "/api/v1/provinces/geojson/",
            "Multi Point",
            lambda: Province.objects.filter(cities__location__isnull=False).distinct().count(),
        ),
    ],
)
def test_ogrinfo_reads_the_geojson_url_as_a_layer(live_server, path, geometry, expected_count):
    expected = expected_count()
    assert expected > 0
    assert ogr_layer(live_server.url + path) == (geometry, expected)
