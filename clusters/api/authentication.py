"""Token authentication that checks a key's shape before looking it up."""

import re

from rest_framework import authentication, exceptions

# DRF's keys are 40 hexadecimal characters.
TOKEN_KEY = re.compile(r"[0-9a-f]{40}")


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        # A NUL or other junk would otherwise reach the database (PostgreSQL
        # refuses NUL in text with an error, not a non-match).
        if not TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
