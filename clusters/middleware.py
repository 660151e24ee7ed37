"""Query strings that no page could use are refused before any view runs.

A NUL character (PostgreSQL fails on it in text rather than matching
nothing), a parameter name or value longer than MAX_PARAMETER_CHARS, more
parameters than Django parses (DATA_UPLOAD_MAX_NUMBER_FIELDS) or a query
string longer than MAX_QUERY_STRING_CHARS is a 400, in the form the address
answers in: JSON under /api/ (keyed by the parameter, as the API's own
validation errors are) and for the map's GeoJSON layers (under "errors", as
their filter errors are), plain text for the Atom feeds, and the site's 400
page everywhere else.

`query_problem` is the one definition of these rules, for the API's own
check of its parameters (a second line of defence behind this one) as well.
"""

from dataclasses import dataclass

from django.contrib.syndication.views import Feed
from django.core.exceptions import NON_FIELD_ERRORS, TooManyFieldsSent
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

# Longer than any slug list or search a person types; refuses junk early.
MAX_PARAMETER_CHARS = 2000
# The whole query string as sent (percent-encoded), within what gunicorn
# accepts as a request line (limit_request_line in gunicorn.conf.py).
MAX_QUERY_STRING_CHARS = 8000
# How much of a refused parameter's name the 400 page repeats.
SHOWN_NAME_CHARS = 40


@dataclass(frozen=True)
class QueryProblem:
    """Why a query string is refused: `parameter` is None when the problem is
    the query string as a whole."""

    parameter: str | None
    message: str


def query_problem(parameters):
    """The first parameter (a QueryDict's name or one of its values) with a
    NUL character or longer than MAX_PARAMETER_CHARS, or None."""
    for name, values in parameters.lists():
        for text in [name, *values]:
            if "\x00" in text:
                return QueryProblem(name, _("Parameters may not contain NUL characters."))
            if len(text) > MAX_PARAMETER_CHARS:
                return QueryProblem(
                    name,
                    _("Parameters are limited to %(count)s characters.") % {"count": MAX_PARAMETER_CHARS},
                )
    return None


def request_problem(request):
    """What is wrong with the request's query string, or None."""
    try:
        problem = query_problem(request.GET)
    except TooManyFieldsSent:
        return QueryProblem(None, _("The address has too many parameters."))
    if problem is None and len(request.META.get("QUERY_STRING", "")) > MAX_QUERY_STRING_CHARS:
        message = _("The parameters are limited to %(count)s characters in all.")
        return QueryProblem(None, message % {"count": MAX_QUERY_STRING_CHARS})
    return problem


class QueryStringCheckMiddleware:
    """Answers 400 to a request whose query string `request_problem` refuses."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = request_problem(request)
        if problem is not None:
            return refusal(request, problem)
        return self.get_response(request)


def refusal(request, problem):
    path = request.path_info
    if path.startswith("/api/"):
        return JsonResponse({problem.parameter or "detail": problem.message}, status=400)
    if path.endswith(".geojson"):
        return JsonResponse(
            {"errors": {problem.parameter or NON_FIELD_ERRORS: [problem.message]}}, status=400
        )
    view = view_of(path)
    if isinstance(view, Feed):
        # As the feeds' own refusals: a feed reader or a person reads it, not a page.
        return HttpResponseBadRequest(problem.message + "\n", content_type="text/plain; charset=utf-8")
    context = {
        "message": problem.message,
        "parameter": shown_name(problem.parameter),
        # Offered only for one of the site's own pages (never "//elsewhere/").
        "clear_url": request.path if view is not None else "",
    }
    return render(request, "400.html", context, status=400)


def view_of(path):
    try:
        return resolve(path).func
    except Resolver404:
        return None


def shown_name(name):
    """A refused parameter's name as the page may repeat it: without NUL
    characters and not at any length."""
    if not name:
        return ""
    name = name.replace("\x00", "\ufffd")
    return name if len(name) <= SHOWN_NAME_CHARS else name[: SHOWN_NAME_CHARS - 1] + "…"
