"""Refuses production settings that would be unsafe to serve with."""

from urllib.parse import urlsplit

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


# Hosts that only this machine reaches, as `make serve` and the tests name them.
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1", "testserver"}


def site_url_setting(value, *, debug, allowed_hosts, local_port=8000):
    """SITE_URL as `scheme://host[:port]`, the origin of every absolute URL the
    site writes. Unset, it is the local server's origin (on `local_port`),
    which only a site served to this machine alone (DEBUG, or loopback
    ALLOWED_HOSTS) may rely on."""
    if not value:
        if debug or all(host.strip() in LOCAL_HOSTS for host in allowed_hosts):
            return f"http://127.0.0.1:{local_port}"
        raise ImproperlyConfigured(
            "SITE_URL is not set: name the origin readers reach the site at, "
            "e.g. SITE_URL=https://clusters.example.org (links in pages, feeds and the API use it)."
        )
    parts = urlsplit(value.strip())
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in {"http", "https"}
        or not parts.hostname
        or parts.username is not None
        or parts.path not in {"", "/"}
        or parts.query
        or parts.fragment
        or any(char.isspace() for char in parts.netloc)
    ):
        raise ImproperlyConfigured(
            f"SITE_URL must be an origin such as https://clusters.example.org "
            f"(scheme, host and optional port, no path): {value!r}"
        )
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
