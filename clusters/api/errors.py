"""Errors are JSON, whatever format the request asked for."""

from django.core.exceptions import NON_FIELD_ERRORS, DisallowedHost, RequestDataTooBig
from django.db.models import ProtectedError, RestrictedError
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import renderers
from rest_framework.exceptions import APIException
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from clusters.editing import conflict_message, stored_version
from clusters.models import EditConflict


def exception_handler(exc, context):
    if isinstance(exc, ProtectedError | RestrictedError):
        exc = StillInUse(exc)
    elif isinstance(exc, EditConflict):
        exc = Outdated(exc)
    response = drf_exception_handler(exc, context)
    if isinstance(exc, Outdated):
        # APIException turns every value into text; a version is a number.
        response.data["version"] = exc.stored_version
    if response is not None and isinstance(response.data, dict) and NON_FIELD_ERRORS in response.data:
        # Errors of a whole filter form, named as DRF names errors of a whole body.
        response.data[api_settings.NON_FIELD_ERRORS_KEY] = response.data.pop(NON_FIELD_ERRORS)
    request = context.get("request")
    if response is not None and request is not None and not is_browsable(request):
        # A CSV or GeoJSON client gets the reason as JSON, not as a broken file.
        request.accepted_renderer = renderers.JSONRenderer()
        request.accepted_media_type = "application/json"
    return response


MAX_LISTED = 50


class StillInUse(APIException):
    """Deleting something that other records still point to (on_delete=PROTECT)."""

    status_code = 409
    default_code = "still_in_use"

    def __init__(self, error):
        blocking = getattr(error, "protected_objects", None) or getattr(error, "restricted_objects", ())
        names = sorted({f"{obj._meta.verbose_name}: {obj}" for obj in blocking})
        super().__init__(
            {
                "detail": "Not deleted: other records still use this one; remove those links first.",
                "used_by": names[:MAX_LISTED],
            }
        )


class Outdated(APIException):
    """A write based on an older version than the stored one (If-Match)."""

    status_code = 412
    default_code = "outdated"

    def __init__(self, conflict):
        self.stored_version = stored_version(conflict.current)
        super().__init__(
            {
                "detail": conflict_message(conflict.current, conflict.seen_version),
                "version": self.stored_version,
            }
        )


def is_browsable(request):
    return isinstance(getattr(request, "accepted_renderer", None), renderers.BrowsableAPIRenderer)


# ---------------------------------------------------------------------------
# The site's error handlers (yangtze/urls.py): what Django answers for errors
# that never reach a DRF view or escape it (an unknown address, an oversized
# body, a Host header the site does not serve, an unexpected exception). JSON
# under /api/, the site's pages everywhere else.
# ---------------------------------------------------------------------------


def is_api(request):
    return request.path_info.startswith("/api/")


def bad_request(request, exception=None):
    if is_api(request):
        return JsonResponse({"detail": bad_request_reason(exception)}, status=400)
    return defaults.bad_request(request, exception)


def bad_request_reason(exception):
    if isinstance(exception, RequestDataTooBig):
        return _("The request body is larger than the server accepts.")
    if isinstance(exception, DisallowedHost):
        return _("The Host header names a site this server does not serve.")
    return _("Bad request.")


def permission_denied(request, exception=None):
    if is_api(request):
        return JsonResponse({"detail": _("You do not have permission to perform this action.")}, status=403)
    return defaults.permission_denied(request, exception)


def not_found(request, exception=None):
    if is_api(request):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api(request):
        return JsonResponse({"detail": _("A server error occurred.")}, status=500)
    return defaults.server_error(request)
