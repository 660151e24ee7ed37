"""Errors are JSON, whatever format the request asked for."""

from django.core.exceptions import NON_FIELD_ERRORS
from rest_framework import renderers
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and NON_FIELD_ERRORS in response.data:
        # Errors of a whole filter form, named as DRF names errors of a whole body.
        response.data[api_settings.NON_FIELD_ERRORS_KEY] = response.data.pop(NON_FIELD_ERRORS)
    request = context.get("request")
    if response is not None and request is not None and not is_browsable(request):
        # A CSV or GeoJSON client gets the reason as JSON, not as a broken file.
        request.accepted_renderer = renderers.JSONRenderer()
        request.accepted_media_type = "application/json"
    return response


def is_browsable(request):
    return isinstance(getattr(request, "accepted_renderer", None), renderers.BrowsableAPIRenderer)
