"""Token authentication that checks a key's shape before looking it up, and
counts refused keys against the client's address like anonymous requests."""

import re

from rest_framework import authentication, exceptions

from clusters.api.throttling import FailedLoginThrottle

# DRF's keys are 40 hexadecimal characters.
TOKEN_KEY = re.compile(r"[0-9a-f]{40}")


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            # Refused keys are never throttled otherwise (DRF throttles after
            # authentication), so guessing them would be unlimited.
            throttle = FailedLoginThrottle()
            if not throttle.allow_request(request, None):
                raise exceptions.Throttled(throttle.wait()) from None
            raise

    def authenticate_credentials(self, key):
        # A NUL or other junk would otherwise reach the database (PostgreSQL
        # refuses NUL in text with an error, not a non-match).
        if not TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
