"""A database that cannot be reached gives a 503, not a 500 traceback.

When the database is briefly unavailable (locked, restarting, the network to
it down), a query raises OperationalError or InterfaceError. Those are not
bugs: the reader gets "503 Service Unavailable" with Retry-After — JSON under
/api/ and for the map's GeoJSON, a small HTML page elsewhere — and the site
answers normally again once the database is back, without a restart (Django
discards a broken connection at the end of the request and opens a new one
for the next).

The page is rendered without touching the database: no context processors,
no user, no session. Other database errors (IntegrityError, ProgrammingError
...) are bugs and stay 500s.

A failure in a view (or while rendering its template) reaches
process_exception, and the 503 then passes through every middleware below
this one like any answer. A failure in another middleware's process_view
(the public cache reads the site revision there) never reaches
process_exception: Django turns it into a 500 at once (and logs it as an
"Internal Server Error"). The got_request_exception signal notes such a
failure on the request, and __call__ replaces that 500 with the 503.
"""

import logging
import sys

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.cache import add_never_cache_headers

logger = logging.getLogger(__name__)

# Seconds a client should wait before trying again.
RETRY_AFTER = 30
TEMPLATE = "503.html"
MESSAGE = "The database is temporarily unavailable. Please try again in a moment."


# Headers that middleware below this one added to the 500 it replaces.
PASSED_ON = (
    "Content-Security-Policy",
    "Content-Security-Policy-Report-Only",
    "X-Frame-Options",
    "Content-Language",
)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        got_request_exception.connect(note_failure, dispatch_uid=__name__)

    def __call__(self, request):
        response = self.get_response(request)
        exception = getattr(request, "database_unavailable", None)
        if exception is None or response.status_code != 500:
            return response
        log(request, exception)
        replacement = unavailable_response(request)
        for header in PASSED_ON:
            if header in response:
                replacement[header] = response[header]
        return replacement

    def process_exception(self, request, exception):
        if not is_unavailable(exception):
            return None
        log(request, exception)
        return unavailable_response(request)


def is_unavailable(exception):
    return isinstance(exception, OperationalError | InterfaceError)


def note_failure(sender, request=None, **kwargs):
    """Signal receiver, called while Django handles an uncaught exception."""
    exception = sys.exc_info()[1]
    if request is not None and is_unavailable(exception):
        request.database_unavailable = exception


def log(request, exception):
    logger.error("Database unavailable: %s %s answered 503", request.method, request.path, exc_info=exception)


def wants_json(request):
    return request.path.startswith("/api/") or request.path.endswith(".geojson")


def unavailable_response(request):
    if wants_json(request):
        response = JsonResponse({"detail": MESSAGE}, status=503)
    else:
        try:
            body = loader.get_template(TEMPLATE).render({"retry_after": RETRY_AFTER})
        except Exception:  # the page must not fail in turn: plain text then
            logger.exception("The %s page could not be rendered", TEMPLATE)
            response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
        else:
            response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    # Never kept by a browser or proxy: the next request should reach the site.
    add_never_cache_headers(response)
    return response
