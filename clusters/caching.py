"""Shared caching of public answers, retired by any change to the data.

Every answer an anonymous reader gets from the public pages or the API is
keyed by the site revision (one row, bumped after each committed write to
the clusters app's tables) and by what was asked: method, path and query,
language and, for the API, the format the Accept header selects. A keyed
hash of the two is both the cache key and the answer's ETag, so a client
that already holds the current answer gets a 304 without the view running,
and a cached answer is served without rendering it again. The hash keeps
the revision itself private: it counts every save, drafts included, which
anonymous readers must not watch.

Editors (anyone logged in, or sending an API token) always get a fresh
answer: they may see drafts, which must never reach the shared cache.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from django.db import DatabaseError, connections, transaction
from django.db.models import F
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.crypto import salted_hmac
from django.utils.functional import SimpleLazyObject
from django.utils.http import parse_etags
from rest_framework.exceptions import NotAcceptable
from rest_framework.request import Request
from rest_framework.views import APIView

from clusters.models import SiteRevision, now

# URL namespaces whose GET answers are public data and may be shared; the
# API's schema and docs pages do not change with the data.
CACHED_NAMESPACES = {"clusters", "api"}
UNCACHED_VIEWS = {"api:schema", "api:docs", "api:redoc"}
SAFE_METHODS = {"GET", "HEAD"}

# The revision as last read or written by this process, with the time it was
# read: other processes' writes are seen within REVISION_CHECK_SECONDS.
_revision = {"number": None, "read_at": 0.0}


def current_revision():
    """The site revision; read from the database at most once per
    REVISION_CHECK_SECONDS in each process."""
    moment = time.monotonic()
    if _revision["number"] is None or moment - _revision["read_at"] >= settings.REVISION_CHECK_SECONDS:
        _revision.update(number=read_revision(), read_at=moment)
    return _revision["number"]


def read_revision():
    number = SiteRevision.objects.filter(pk=1).values_list("number", flat=True).first()
    return number or 0


def bump_revision():
    updated = SiteRevision.objects.filter(pk=1).update(number=F("number") + 1, changed_at=now())
    if not updated:
        SiteRevision.objects.get_or_create(pk=1)
    _revision.update(number=read_revision(), read_at=time.monotonic())


def note_change(sender, using="default", **kwargs):
    """Signal receiver: schedules one revision bump for when the current
    transaction commits (at once outside a transaction). A rolled-back
    transaction drops it, as it drops the change."""
    if not is_cached_model(sender):
        return
    pending = connections[using].run_on_commit
    if any(callback is bump_revision for _savepoints, callback, *_rest in pending):
        return
    transaction.on_commit(bump_revision, using=using)


def is_cached_model(model):
    meta = model._meta
    # History rows and the revision itself change no public answer.
    return (
        meta.app_label == "clusters"
        and model is not SiteRevision
        and not meta.model_name.startswith("historical")
    )


def create_cache_tables(using="default", **kwargs):
    """post_migrate receiver: the tables of database caches (the API
    throttle's counters by default) are made with the rest of the schema,
    by `migrate` (so `make db`) and the test database's set-up alike."""
    call_command("createcachetable", database=using, verbosity=0)


def fragment_cache(request):
    """Template context for `{% cache fragment_seconds name site_revision … %}`:
    fragments are retired with the revision like whole answers."""
    return {
        "fragment_seconds": settings.FRAGMENT_CACHE_SECONDS,
        "site_revision": SimpleLazyObject(current_revision),
    }


class PublicCacheMiddleware:
    """Answers 304 to a current If-None-Match, serves cached answers, and
    stores new ones (200s without cookies, no larger than
    PAGE_CACHE_MAX_BYTES) for PAGE_CACHE_SECONDS (0: ETags only)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        etag = getattr(request, "public_etag", None)
        if etag is None or response.status_code != 200:
            return response
        if not response.has_header("ETag"):
            response["ETag"] = etag
        # Stored by browsers and proxies, but checked with the server each time.
        patch_cache_control(response, no_cache=True)
        patch_vary_headers(response, ["Accept", "Cookie", "Authorization"])
        if is_storable(response):
            caches["pages"].set(request.public_cache_key, plain_copy(response), settings.PAGE_CACHE_SECONDS)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not is_public_request(request):
            return None
        try:
            revision = current_revision()
        except DatabaseError:
            # No revision, no shared answer: the view runs (and reports the
            # database's state as it does without the cache).
            return None
        tag = answer_tag(revision=revision, digest=request_digest(request, view_func, view_kwargs))
        request.public_etag = f'W/"{tag}"'
        request.public_cache_key = f"public:{tag}"
        if request.public_etag in parse_etags(request.headers.get("If-None-Match", "")):
            response = HttpResponseNotModified()
            response["ETag"] = request.public_etag
            request.public_etag = None
            return response
        if settings.PAGE_CACHE_SECONDS:
            cached = caches["pages"].get(request.public_cache_key)
            if cached is not None:
                request.public_etag = None
                return cached
        return None


def is_public_request(request):
    match = request.resolver_match
    return (
        request.method in SAFE_METHODS
        and match is not None
        and match.namespace in CACHED_NAMESPACES
        and match.view_name not in UNCACHED_VIEWS
        and "HTTP_AUTHORIZATION" not in request.META
        and is_anonymous(request)
    )


def is_anonymous(request):
    # Without a session cookie there is nobody logged in to look up (the
    # lookup was a large part of a 304's cost).
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return True
    return not request.user.is_authenticated


def request_digest(request, view_func, view_kwargs):
    parts = [
        request.method,
        request.get_full_path(),
        getattr(request, "LANGUAGE_CODE", ""),
        answer_format(request, view_func, view_kwargs),
    ]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=12).hexdigest()


def answer_format(request, view_func, view_kwargs):
    """What of the Accept header the answer depends on: nothing for pages,
    the media type DRF picks for an API view. Keyed by the header as sent,
    every variant of it would be one more copy of the same answer."""
    view_class = getattr(view_func, "cls", None)
    if view_class is None or not issubclass(view_class, APIView):
        return ""
    renderer_classes = view_func.initkwargs.get("renderer_classes", view_class.renderer_classes)
    try:
        _renderer, media_type = view_class.content_negotiation_class().select_renderer(
            Request(request), [renderer() for renderer in renderer_classes], view_kwargs.get("format")
        )
    except (NotAcceptable, Http404):
        # A 406, or an unknown ?format= that the view refuses with a 400:
        # neither is stored, and the view must be the one to say why.
        return request.META.get("HTTP_ACCEPT", "")
    return media_type


def answer_tag(*, revision, digest):
    """Names one answer at one revision, opaquely (keyed with SECRET_KEY)."""
    value = f"{revision}:{digest}"
    return salted_hmac("clusters.caching.answer_tag", value, algorithm="sha256").hexdigest()[:32]


def plain_copy(response):
    """The answer as bytes and headers: an API answer pickled whole would
    carry its serializer's data (model instances, geometries), which took
    longer to unpickle than to build afresh."""
    copy = HttpResponse(response.content, status=response.status_code)
    for header, value in response.items():
        copy[header] = value
    return copy


def is_storable(response):
    return (
        settings.PAGE_CACHE_SECONDS > 0
        and not response.streaming
        and not response.cookies
        and "private" not in response.get("Cache-Control", "")
        and len(response.content) <= settings.PAGE_CACHE_MAX_BYTES
    )
