"""The API's rate limit for anonymous clients (API_ANON_RATE per address).

Counts live in the default cache, which every worker shares (the database
cache on the embedded default, Redis with CACHE_URL): counts kept per worker
would let each worker allow the whole rate. A failed token login counts
against the same address as an anonymous request does, so guessing keys is
limited like reading.
"""

import logging
import math

from rest_framework.throttling import AnonRateThrottle

logger = logging.getLogger(__name__)


class AnonymousRateThrottle(AnonRateThrottle):
    """Counts requests in fixed windows of the rate's period (a minute for
    120/minute): one small number per address and window, read and written
    once a request. DRF's own throttle keeps a timestamp per request, a value
    that a generous rate makes large and that every request rewrites."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        try:
            count = self.count(f"{key}:{window}")
        except Exception:
            # A store that cannot be reached (a database cache during a lock,
            # Redis restarting) lets the request through: the limit protects
            # the site, and failing closed would turn every read into an error.
            logger.warning("API throttle store unavailable; request not counted", exc_info=True)
            return True
        return count <= self.num_requests

    def count(self, key):
        """This request's number in its window. Two workers counting at the
        same instant may both write the same number (as with DRF's throttle):
        the limit is kept to within a request or two."""
        count = self.cache.get(key, 0) + 1
        self.cache.set(key, count, math.ceil(self.window_ends - self.now))
        return count

    def wait(self):
        return max(self.window_ends - self.now, 1)


class FailedLoginThrottle(AnonymousRateThrottle):
    """Counts a request whose credentials were refused, as anonymous. Asked
    while authenticating, so it must not look at request.user."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
