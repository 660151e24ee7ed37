"""Settings for Yangtze Clusters, read from environment variables.

Every value has a safe local default so that `make run` works on a fresh
clone; production sets the variables (or a `.env` file beside manage.py).
"""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from yangtze.safety import check_production_secrets, site_url_setting

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env (git-ignored, written by `make run`) holds the generated
# SECRET_KEY and DEBUG=True for development; real environments set variables.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Run `make run` once (it writes a random key to "
        ".env) or export SECRET_KEY in the environment."
    )

# Local development may rely on the loopback default; production (DEBUG off)
# must name its hosts, and a wildcard would accept forged Host headers.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])

if not DEBUG:
    check_production_secrets(SECRET_KEY, ALLOWED_HOSTS)

# The origin (scheme://host[:port]) of every absolute URL the site writes:
# stable addresses and citations, feeds, the sitemap, the API's links. Never
# the request's Host, which a client chooses (any port of an allowed host)
# and the shared answer cache would pass on to every reader. Required unless
# the site is served to this machine only (DEBUG, or loopback ALLOWED_HOSTS),
# where it is http://127.0.0.1:$PORT (as `make run` and `make serve` set it).
SITE_URL = site_url_setting(
    env.str("SITE_URL", default=""),
    debug=DEBUG,
    allowed_hosts=ALLOWED_HOSTS,
    local_port=env.int("PORT", default=8000),
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.gis",
    "django.forms",
    "django_filters",
    "leaflet",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_gis",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "import_export",
    "clusters",
    # Login protection (see the block below AUTH_PASSWORD_VALIDATORS).
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Absolute URLs on SITE_URL, whatever Host the request names.
    "clusters.links.SiteOriginMiddleware",
    # Static files straight from gunicorn, compressed and cached forever.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A database that cannot be reached gives a 503 page (JSON under /api/)
    # with Retry-After, not a 500 traceback. Near the top so that every
    # middleware below still adds its headers (CSP, ...) to that answer.
    "clusters.unavailable.DatabaseUnavailableMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "clusters.middleware.QueryStringCheckMiddleware",  # 400 for NUL or over-long parameters
    # After authentication (editors are never served from the cache).
    "clusters.caching.PublicCacheMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Records who made each change, for the history of every record.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Must stay last: it turns a login refused by django-axes into the
    # lockout page (see "Login protection" below).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "yangtze.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clusters.caching.fragment_cache",
                "clusters.links.site_url",
            ],
        },
    },
]

# Form widgets may be overridden or added in templates/ (templates/widgets/).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

WSGI_APPLICATION = "yangtze.wsgi.application"

# SpatiaLite in the repository root by default; PostGIS with
# DATABASE_URL=postgis://user:password@host:5432/name.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"spatialite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Reusing connections saves a connect (and loading SpatiaLite) per request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
SQLITE_BUSY_SECONDS = env.float("SQLITE_BUSY_SECONDS", default=10.0)
if DATABASES["default"]["ENGINE"].endswith(("sqlite3", "spatialite")):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # Writers queue instead of failing: a transaction takes the write
            # lock when it begins (a deferred one that reads, then writes,
            # cannot wait for the lock and fails with "database is locked"),
            # and waits up to SQLITE_BUSY_SECONDS for it, less than a
            # worker's timeout.
            "transaction_mode": "IMMEDIATE",
            "timeout": SQLITE_BUSY_SECONDS,
            # 4 MB of pages per connection instead of SQLite's 2 MB: a list
            # page's counts read a few thousand index entries, which
            # thrashed the default cache.
            "init_command": "PRAGMA cache_size=-4000",
        }
    )

# The API throttle's counters (clusters/api/throttling.py) must be shared
# by every worker, or each would allow the whole rate: by default files in
# one directory, which every worker on this machine reads; with
# CACHE_URL=redis://host:6379/0, Redis, which several app servers share
# (CACHE_URL=dbcache://yangtze_cache keeps them in a table that `migrate`
# creates). Not a table by default: on SQLite each count would be a
# committed write, some 20 ms and holding the one write lock.
THROTTLE_CACHE_DIR = BASE_DIR / ".cache" / "throttle"
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{THROTTLE_CACHE_DIR}")}
# Whole public answers (clusters/caching.py), in their own cache so that they
# never push out the API throttle's counters. In local memory each worker
# keeps at most PAGE_CACHE_ENTRIES answers of at most PAGE_CACHE_MAX_BYTES
# (answers are keyed by the site revision, so workers need not share them).
CACHES["pages"] = env.cache(
    "PAGE_CACHE_URL", default=env.str("CACHE_URL", default="") or "locmemcache://yangtze-pages"
)
PAGE_CACHE_ENTRIES = env.int("PAGE_CACHE_ENTRIES", default=200)
# Counters of 1,000 client addresses before a third of them are dropped (the
# file cache lists its directory on every write).
THROTTLE_CACHE_ENTRIES = 1_000


def _bounded(cache, max_entries):
    """The cache with MAX_ENTRIES where its backend counts entries (local
    memory, database, files); Redis bounds itself and refuses the option."""
    if cache["BACKEND"].rpartition(".")[2] in {"LocMemCache", "DatabaseCache", "FileBasedCache"}:
        cache.setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", max_entries)
    return cache


_bounded(CACHES["default"], THROTTLE_CACHE_ENTRIES)
_bounded(CACHES["pages"], PAGE_CACHE_ENTRIES)
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=600)
# Parts of pages that cost most to render (the filter forms), cached by
# revision, language and address even when whole answers are not.
CACHES["template_fragments"] = dict(CACHES["pages"])
FRAGMENT_CACHE_SECONDS = env.int("FRAGMENT_CACHE_SECONDS", default=600)
PAGE_CACHE_MAX_BYTES = env.int("PAGE_CACHE_MAX_BYTES", default=512 * 1024)
# How stale another worker's view of the site revision may be.
REVISION_CHECK_SECONDS = env.float("REVISION_CHECK_SECONDS", default=1.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login protection (django-axes). The only password login is the admin's
# (/admin/ and /zh-hans/admin/); the API takes a session or an
# `Authorization: Token` key and has no password endpoint. Failures are
# counted per username *and* client IP: after AXES_FAILURE_LIMIT of them that
# pair is locked for AXES_COOLOFF_MINUTES (default 60): even the right
# password is then refused, with a "locked" page (HTTP 429, templates/axes/),
# and each attempt during the lock starts the wait again. The same username
# from another IP, and other usernames from the same IP, are not affected; a
# successful login before the limit clears the count. Administrators see
# locks under "Axes > Access attempts" in the admin (every failure is also
# kept in "Access failures"); deleting the attempt unlocks the pair.
# `manage.py axes_reset` clears every lock, `axes_reset_ip_username IP NAME`
# one pair. AXES_COOLOFF_MINUTES=0 keeps locks until an administrator clears
# them. Open sessions and API tokens are not touched by a lock.
# Where a login goes when it has no `next`, or one that leaves the site:
# the admin (in the login page's language), since the site has no profile page.
LOGIN_REDIRECT_URL = "admin:index"
AUTHENTICATION_BACKENDS = [
    # First, so that a locked pair is refused before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
_axes_cooloff_minutes = env.int("AXES_COOLOFF_MINUTES", default=60)
if _axes_cooloff_minutes < 0:
    raise ImproperlyConfigured("AXES_COOLOFF_MINUTES must be 0 (no expiry) or a number of minutes.")
AXES_COOLOFF_TIME = timedelta(minutes=_axes_cooloff_minutes) if _axes_cooloff_minutes else None
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "axes/lockout.html"

# The client IP a failure is counted against. By default REMOTE_ADDR only:
# any client can send an X-Forwarded-For header, and trusting it would let an
# attacker claim a fresh address for every guess, or a victim's address to
# lock the victim out. Behind reverse proxies, set TRUSTED_PROXY_COUNT to the
# number of them that append to X-Forwarded-For (1 for one nginx with
# `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`): the client
# is then that many entries from the right of the header, the part the
# proxies wrote, and the app must be reachable only through them. Left at 0
# behind a proxy, every visitor would share the proxy's address, and failed
# guesses from anyone would lock an editor out for everyone. (django-axes'
# AXES_IPWARE_* settings only act when django-ipware is installed, which it
# is not; this function decides instead.)
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")


def _login_client_ip(request):
    from django.conf import settings

    address = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if count and hops:
        try:
            address = str(ipaddress.ip_address(hops[-min(count, len(hops))]))
        except ValueError:
            pass  # not an address: keep the proxy's rather than store junk
    return address


AXES_CLIENT_IP_CALLABLE = _login_client_ip

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("zh-hans", _("Simplified Chinese")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# Rows per page on every public list.
PAGE_SIZE = env.int("PAGE_SIZE", default=25)

# The API (clusters/api/). Anyone may read; writes need a login (session or
# token) and the model's Django permissions. Anonymous clients, and requests
# whose token is refused, are throttled per IP address in the shared default
# cache (clusters/api/throttling.py); the rate is documented in the README.
API_MAX_PAGE_SIZE = 100
API_ANON_RATE = env.str("API_ANON_RATE", default="120/minute")
REST_FRAMEWORK = {
    # Token first: DRF names the first class in WWW-Authenticate, so a write
    # without credentials is a 401 that says how to authenticate (sessions
    # cannot be asked for in a header). A session write still needs its CSRF token.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clusters.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.DjangoModelPermissionsOrAnonReadOnly"],
    "DEFAULT_RENDERER_CLASSES": [
        "clusters.api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
        "clusters.api.renderers.CSVRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["clusters.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "clusters.api.pagination.PageNumberPagination",
    "PAGE_SIZE": PAGE_SIZE,
    "DEFAULT_THROTTLE_CLASSES": ["clusters.api.throttling.AnonymousRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": API_ANON_RATE},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clusters.api.errors.exception_handler",
    # Count anonymous clients by the address the trusted proxies saw (as the
    # login lock does), never by a header a client may forge.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "URL_FORMAT_OVERRIDE": "format",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Yangtze Clusters API",
    "DESCRIPTION": (
        "Policy documents, sectors, cities, provinces and planned industrial bases of the "
        "Yangtze River Economic Belt. Read access is open; writes need an editor account "
        "with the model's permissions (session or `Authorization: Token <key>`). "
        "Lists are paginated (`page`, `page_size` up to 100) and available as CSV with "
        "`?format=csv`; mapped entities are also served as GeoJSON."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "clusters.api.schema.describe_generic_parameters",
        "clusters.api.schema.document_error_responses",
        "clusters.api.schema.document_anonymous_reads",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ReachEnum": "clusters.models.Reach",
        "ProvinceKindEnum": "clusters.models.ProvinceKind",
        "CityLevelEnum": "clusters.models.CityLevel",
        "IntensityEnum": "clusters.models.Intensity",
        "DocumentKindEnum": "clusters.models.DocumentKind",
        "LanguageEnum": "clusters.models.Language",
        "DatePrecisionEnum": "clusters.models.DatePrecision",
        "BaseKindEnum": "clusters.models.BaseKind",
        "BaseStageEnum": "clusters.models.BaseStage",
        "MembershipRoleEnum": "clusters.models.MembershipRole",
    },
}

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Production serves hashed, compressed copies made by `collectstatic`
# (`make serve` runs it); development serves the files as they are.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# HTTPS. Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER=true (the
# proxy must set X-Forwarded-Proto), plus the three below; see deploy.env.
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Security headers on every response.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# The Content-Security-Policy follows the map settings, whose tile servers it allows.

# Maps: centred on the middle reaches, kept to the Belt and its surroundings.
# Tiles come from one setting so a deployment can point at its own server.
LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (29.5, 113.5),
    "DEFAULT_ZOOM": 6,
    "MIN_ZOOM": 4,
    "MAX_ZOOM": 16,
    "SPATIAL_EXTENT": (90.0, 18.0, 130.0, 38.0),
    "RESET_VIEW": False,
    "TILES": [
        (
            "OpenStreetMap",
            env.str("MAP_TILES_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
            {
                "attribution": "&copy; OpenStreetMap contributors",
                "maxZoom": 19,
            },
        )
    ],
}

# Content-Security-Policy (django-csp), on every response. Scripts only from
# this site's static files, never inline: templates hand them settings and
# data in data-* attributes and JSON data blocks (static/js/, and the
# overrides in templates/leaflet/ and templates/drf_spectacular/). Styles
# likewise only from stylesheets: no <style> elements, no style="" attributes
# (scripts may still set element.style). The one exception is Redoc, whose
# page adds a per-request nonce for the <style> elements Redoc injects
# (clusters/api/urls.py); third-party pages that still use style attributes
# (the DRF browsable API, the admin's export page) lose only cosmetic
# touches. Images: this site, data: URIs (Leaflet's blank tile, Swagger UI's
# icons) and each map tile server in LEAFLET_CONFIG, so a deployment's
# MAP_TILES_URL is allowed without editing this. tests/browser/test_csp.py
# checks that the pages work under this policy.


def _tile_origins(layers):
    """The origin of each tile layer's URL as a CSP source. Leaflet's "{s}"
    subdomain becomes a wildcard; a scheme-relative "//host/..." keeps the
    page's scheme; tiles served from this site need nothing beyond 'self'."""
    from urllib.parse import urlsplit

    origins = []
    for _label, url, *_options in layers:
        parts = urlsplit(url.replace("{s}", "*"))
        host = parts.netloc.rpartition("@")[2]
        if host:
            origins.append(f"{parts.scheme}://{host}" if parts.scheme else host)
    return origins


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [
            SELF,
            "data:",
            *_tile_origins([*LEAFLET_CONFIG["TILES"], *LEAFLET_CONFIG.get("OVERLAYS", [])]),
        ],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# Geometry from users is parsed by clusters.geo.parse_geometry, which accepts
# GeoJSON or WKT in EPSG:4326 only and refuses any other CRS reference (a
# GeoJSON "crs" member, an SRID= prefix) before GDAL sees the input. GDAL
# therefore never resolves a user-supplied spatial reference, which is the
# file and network access gis.W001 warns about on GDAL < 3.9.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

# Import and export in the admin (clusters/resources.py, which also sets the
# formats: CSV, XLSX and JSON). Every import is previewed before it is
# confirmed and runs in one transaction. Importing needs the model's change
# permission (and the add permission for new rows), exporting its view
# permission.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_CONFIRM = False
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_IMPORT_IGNORE_BLANK_LINES = True
