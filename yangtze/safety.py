"""Refuses production settings that would be unsafe to serve with."""

from django.core.exceptions import ImproperlyConfigured

# Django's own check (security.W009) asks for at least this much.
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_CHARACTERS = 5


def check_production_secrets(secret_key, allowed_hosts):
    """Raise ImproperlyConfigured, naming the setting and the fix, when the
    key is guessable or the hosts are missing or a wildcard."""
    if (
        len(secret_key) < MIN_SECRET_KEY_LENGTH
        or len(set(secret_key)) < MIN_SECRET_KEY_CHARACTERS
        or secret_key.startswith("django-insecure-")
    ):
        raise ImproperlyConfigured(
            f"SECRET_KEY is unsafe for production: use at least {MIN_SECRET_KEY_LENGTH} random characters, "
            "e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(50))'. "
            "(Set DEBUG=True only for local development.)"
        )
    if not allowed_hosts:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is not set: list the host names the site answers to, comma-separated, "
            "e.g. ALLOWED_HOSTS=clusters.example.org"
        )
    if any(host.strip() in ("*", "") for host in allowed_hosts):
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS may not contain '*' or an empty name in production: "
            "list the host names the site answers to."
        )
