"""A trap in GDAL's geometry parser, to prove refused input never reaches it."""

from unittest import mock

import pytest


@pytest.fixture
def gdal_trap():
    """Make every way into GDAL's geometry parser fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("GDAL was handed the input")

    with (
        mock.patch("django.contrib.gis.gdal.OGRGeometry.from_json", side_effect=refuse) as from_json,
        mock.patch("django.contrib.gis.gdal.OGRGeometry._from_json", side_effect=refuse) as raw_from_json,
        mock.patch("django.contrib.gis.gdal.OGRGeometry.__init__", side_effect=refuse) as init,
    ):
        yield [from_json, raw_from_json, init]


def assert_gdal_not_called(trap):
    for entry in trap:
        entry.assert_not_called()
