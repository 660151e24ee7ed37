"""The API's rate limit for anonymous clients (API_ANON_RATE per address).

Counts live in the default cache, which every worker shares (files in one
directory by default, Redis with CACHE_URL): counts kept per worker would let
each worker allow the whole rate. A failed token login counts against the
same address as an anonymous request does, so guessing keys is limited like
reading.
"""

import logging

from rest_framework.throttling import AnonRateThrottle

logger = logging.getLogger(__name__)


class AnonymousRateThrottle(AnonRateThrottle):
    """DRF's throttle (a sliding window: the times of an address's requests
    in the last period, at most the rate's number of them), which lets
    requests through when its store cannot be reached."""

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:
            # A database cache during a lock, Redis restarting: the limit
            # protects the site, and failing closed would turn reads into errors.
            logger.warning("API throttle store unavailable; request not counted", exc_info=True)
            return True


class FailedLoginThrottle(AnonymousRateThrottle):
    """Counts a request whose credentials were refused, as anonymous. Asked
    while authenticating, so it must not look at request.user."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
