"""Settings of the project that runs ``reception_stats``.

Every value comes from the environment (or a ``.env`` file beside ``manage.py``), read with
django-environ. The README lists each variable.
"""

import os
from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# ``utf-8-sig`` strips the byte-order mark that some editors put at the start of a file;
# without it the first variable of such a file would silently be ignored.
environ.Env.read_env(BASE_DIR / ".env", encoding="utf-8-sig")

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment or in .env "
            "(a development default is only used when DEBUG=true)."
        )
    SECRET_KEY = "django-insecure-development-only-reception-stats"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# HTTPS and the browser protections `manage.py check --deploy` asks for, whenever DEBUG is off.
# Behind a proxy that terminates TLS, SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https is
# required (and safe only if the proxy sets that header and overwrites the client's): without it
# Django sees plain http, refuses the admin's login form (CSRF origin) and sends no HSTS.
# /healthz and /metrics answer over plain http too, for the container's healthcheck and
# Prometheus on the internal network. To try it over plain http, without TLS:
# SECURE_SSL_REDIRECT=false, and from another machine than localhost also
# SESSION_COOKIE_SECURE=false and CSRF_COOKIE_SECURE=false (check --deploy then warns).
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env.str("SECURE_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = tuple(
        part.strip() for part in env.list("SECURE_PROXY_SSL_HEADER") if part.strip()
    )
    if len(SECURE_PROXY_SSL_HEADER) != 2:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER is a header and its value, e.g. HTTP_X_FORWARDED_PROTO,https."
        )
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Locks out repeated failed sign-ins to the admin, which guards Recyclic passwords too.
    "axes",
    "reception_stats",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and the dashboard's static files under gunicorn (DEBUG off), with
    # caching headers, without a separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Every database wait of a request bounded, and a database outage answered 503, never 500.
    "reception_stats.middleware.BoundedDatabaseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # No LocaleMiddleware: the project speaks French (LANGUAGE_CODE) whatever the browser asks;
    # the app itself follows whatever i18n settings a host project has.
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: answers a locked-out sign-in with its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "recyclic.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "recyclic.wsgi.application"

# Django's own tables (accounts, sessions, API tokens) live in DATABASE_URL, a small database
# the app owns: a SQLite file by default. Recyclic's tables are read from RECYCLIC_DATABASE_URL
# (its database or a replica, with a role that may only SELECT), the alias "recyclic". Without
# it (`make demo`, the tests) both live in DATABASE_URL. RECEPTION_STATS_DATABASE_URL is its
# former name.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
RECYCLIC_DATABASE_URL = env.str("RECYCLIC_DATABASE_URL", default="") or env.str(
    "RECEPTION_STATS_DATABASE_URL", default=""
)
if RECYCLIC_DATABASE_URL:
    DATABASES["recyclic"] = env.db_url_config(RECYCLIC_DATABASE_URL)
for _database in DATABASES.values():
    # Persistent connections in production: a new PostgreSQL connection per request doubles
    # the API's latency (docs/performance.md). Not under runserver (DEBUG), whose thread per
    # request would leave one connection behind each time. The health check replaces a dead one.
    _database.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0 if DEBUG else 60))
    _database["CONN_HEALTH_CHECKS"] = True
    if _database["ENGINE"].endswith("postgresql"):
        # Bounded waits (reception_stats.W020): a server that accepts connections but never
        # answers stops a connection attempt after 2 s (libpq's minimum), and keepalives find a
        # kept connection whose server or network vanished. Query-string options win.
        _options = _database.setdefault("OPTIONS", {})
        _options.setdefault("connect_timeout", 2)
        _options.setdefault("keepalives", 1)
        _options.setdefault("keepalives_idle", 10)
        _options.setdefault("keepalives_interval", 5)
        _options.setdefault("keepalives_count", 3)
        _options.setdefault("application_name", "reception_stats")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The figures' cache, the API's request counts, sessions and account lookups. Under several
# worker processes use a shared cache (redis://host:6379/1): a per-process one computes the
# figures once per process. A Redis that stalls costs a quarter of a second, not a request.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if "redis" in CACHES["default"]["BACKEND"].lower():
    CACHES["default"].setdefault("OPTIONS", {})
    CACHES["default"]["OPTIONS"].setdefault("socket_connect_timeout", 0.25)
    CACHES["default"]["OPTIONS"].setdefault("socket_timeout", 0.25)

# Sessions read from the cache first, and users and API tokens looked up through it
# (reception_stats.accounts): while the database does not answer, a logged-in manager or a
# wall screen still gets the last good figures rather than a login page.
SESSION_ENGINE = "reception_stats.sessions"
AUTHENTICATION_BACKENDS = [
    # First, as django-axes asks: refuses a locked-out sign-in before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "reception_stats.backends.CachedModelBackend",
    # Recyclic's admins sign in with the user name and password they have in Recyclic.
    "reception_stats.backends.RecyclicBackend",
]

# django-axes: after 5 failed sign-ins for one user name from one address, that pair waits
# 15 minutes. Its records live in Django's own database (DATABASE_URL), never in Recyclic's.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The page in the admin's look, 429, with Retry-After (the cool-off in seconds).
AXES_LOCKOUT_CALLABLE = "recyclic.lockout.locked_out"
# The address is the TCP peer's (REMOTE_ADDR), never a header a client could write: behind a
# proxy every client shares the proxy's, and the lockout then holds per user name.

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="fr")
LANGUAGES = [("fr", "Français"), ("en", "English")]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Without collectstatic (make serve, the tests) WhiteNoise finds the apps' files itself.
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "admin:login"

REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

SPECTACULAR_SETTINGS = {
    "TITLE": "Recyclic — statistiques de réception en direct",
    "DESCRIPTION": (
        "Les chiffres en direct de la réception et de la caisse d'une ressourcerie, lus dans la "
        "base de Recyclic ; leur sens : docs/figures.fr.md (docs/figures.md en anglais)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files come from the drf-spectacular-sidecar package, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# The feature flag of docs/figures.md: false answers zeros with ``enabled: false`` everywhere,
# without touching Recyclic's tables. Read on every computation.
LIVE_RECEPTION_STATS_ENABLED = env.bool("LIVE_RECEPTION_STATS_ENABLED", default=True)

# The app's own options; the defaults live in reception_stats/conf.py.
RECEPTION_STATS = {
    "DEFERRAL_THRESHOLD_HOURS": env.float("RECEPTION_STATS_DEFERRAL_THRESHOLD_HOURS", default=24),
    "DATABASE": env.str(
        "RECEPTION_STATS_DATABASE", default="recyclic" if RECYCLIC_DATABASE_URL else "default"
    ),
    "CACHE_TIMEOUT": env.int("RECEPTION_STATS_CACHE_TIMEOUT", default=10),
    "STALE_MAX": env.int("RECEPTION_STATS_STALE_MAX", default=300),
    "THROTTLE_RATE": env.str("RECEPTION_STATS_THROTTLE_RATE", default="120/min"),
    # PostgreSQL cancels a KPI query past this, or one waiting this long for a lock.
    "STATEMENT_TIMEOUT_MS": env.int("RECEPTION_STATS_STATEMENT_TIMEOUT_MS", default=2000),
    "LOCK_TIMEOUT_MS": env.int("RECEPTION_STATS_LOCK_TIMEOUT_MS", default=500),
    # Seconds a database that left a statement unanswered is not asked again.
    "UNRESPONSIVE_PAUSE_SECONDS": env.int("RECEPTION_STATS_UNRESPONSIVE_PAUSE_SECONDS", default=5),
    # The API's rate is shared among gunicorn's workers when the cache is per-process;
    # gunicorn.conf.py sets GUNICORN_WORKERS (2 by default) for its workers.
    "WORKERS": env.int("GUNICORN_WORKERS", default=1),
}
# Recyclic's own SECRET_KEY: the API then accepts the tokens Recyclic gives its users
# (Authorization: Bearer), as Recyclic's frontend sends them.
RECEPTION_STATS["RECYCLIC_SECRET_KEY"] = env.str("RECYCLIC_SECRET_KEY", default="")
RECEPTION_STATS["RECYCLIC_LOGIN"] = env.bool("RECYCLIC_LOGIN", default=True)

# An alias without a database would only fail at the first figures, as a "connection does not
# exist" on every door. Compose's attach mode names "recyclic" whatever .env holds, so that a
# missing RECYCLIC_DATABASE_URL stops migrate and the app here, with this line.
if RECEPTION_STATS["DATABASE"] not in DATABASES:
    if RECEPTION_STATS["DATABASE"] == "recyclic":
        raise ImproperlyConfigured(
            "RECYCLIC_DATABASE_URL is not set: give the URL of Recyclic's PostgreSQL, e.g. "
            "postgres://reception_stats_reader:password@postgres:5432/recyclic."
        )
    raise ImproperlyConfigured(
        f"RECEPTION_STATS_DATABASE is {RECEPTION_STATS['DATABASE']!r}, an alias of no database "
        f"(configured: {', '.join(DATABASES)}). RECYCLIC_DATABASE_URL adds the alias recyclic."
    )
if env.str("RECEPTION_STATS_TIME_ZONE", default=""):
    RECEPTION_STATS["TIME_ZONE"] = env.str("RECEPTION_STATS_TIME_ZONE")

# Prometheus metrics (docs/runbook.md). With django-prometheus installed and METRICS_ENABLED
# not false, its middlewares time every request and its backends count every query and cache
# read; /metrics serves them with the app's own metrics, to METRICS_ALLOWED_IPS (addresses or
# networks) or with the bearer token METRICS_TOKEN, and answers 403 to anyone else.
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True) and bool(find_spec("django_prometheus"))
RECEPTION_STATS["METRICS_ALLOWED_IPS"] = env.list(
    "METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"]
)
RECEPTION_STATS["METRICS_TOKEN"] = env.str("METRICS_TOKEN", default="")
RECEPTION_STATS["METRICS"] = METRICS_ENABLED
# prometheus_client's multiprocess mode writes each process's counters into this directory and
# fails on the first count if it is missing: gunicorn.conf.py creates its own; a directory named
# for a command run before gunicorn's first start is created here, or refused in one line.
if _MULTIPROC_DIR := os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""):
    try:
        Path(_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as _error:
        raise ImproperlyConfigured(
            f"PROMETHEUS_MULTIPROC_DIR={_MULTIPROC_DIR} cannot be created ({_error.strerror})."
        ) from None
if METRICS_ENABLED:
    INSTALLED_APPS.append("django_prometheus")
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    # django-environ names Django's own backends; django-prometheus wraps the common ones.
    for _database in DATABASES.values():
        _package, _, _vendor = _database["ENGINE"].rpartition(".")
        if _package == "django.db.backends" and _vendor in ("postgresql", "sqlite3", "mysql"):
            _database["ENGINE"] = f"django_prometheus.db.backends.{_vendor}"
    _CACHE_BACKENDS = {
        "django.core.cache.backends.locmem.LocMemCache": "locmem.LocMemCache",
        "django.core.cache.backends.filebased.FileBasedCache": "filebased.FileBasedCache",
    }
    # django-prometheus' module for Django's Redis backend also imports django-redis (its
    # issue #492): the Redis cache is wrapped only when that package is installed too.
    if find_spec("django_redis"):
        _CACHE_BACKENDS["django.core.cache.backends.redis.RedisCache"] = "redis.NativeRedisCache"
    for _cache in CACHES.values():
        _wrapper = _CACHE_BACKENDS.get(_cache["BACKEND"])
        if _wrapper:
            _cache["BACKEND"] = f"django_prometheus.cache.backends.{_wrapper}"

# Logs go to stderr, one JSON object per line (LOG_FORMAT=plain for a terminal); stdout stays
# for what commands print, e.g. `manage.py reception_stats --format json | jq`. Each request for
# the figures logs event="reception_live_stats" with source, window, site, outcome, duration_ms
# and query_count: python-json-logger turns the record's ``extra`` into those fields.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}.")
if not find_spec("pythonjsonlogger"):
    LOG_FORMAT = "plain"
_LOG_FORMATTERS = {
    "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(levelname)s %(name)s %(message)s",
        "rename_fields": {"levelname": "level", "name": "logger"},
        "timestamp": True,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Only the formatter in use: dictConfig imports every one it is given.
    "formatters": {LOG_FORMAT: _LOG_FORMATTERS[LOG_FORMAT]},
    "filters": {
        "not_a_deliberate_503": {"()": "recyclic.log_filters.NotADeliberate503"},
        "client_error_as_warning": {"()": "recyclic.log_filters.ClientErrorAsWarning"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
        "client_errors": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["client_error_as_warning"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {
        "reception_stats": {
            "handlers": ["console"],
            "level": env.str("RECEPTION_STATS_LOG_LEVEL", default="INFO"),
            "propagate": False,
        },
        # Replaces Django's own console handler for "django", which would print each of its
        # records a second time next to ours.
        "django": {
            "handlers": ["console"],
            "level": env.str("DJANGO_LOG_LEVEL", default="INFO"),
            "propagate": False,
        },
        # A 503 is the app's own answer to an outage, logged by the app (recyclic/log_filters.py).
        "django.request": {
            "handlers": ["console"],
            "level": env.str("DJANGO_LOG_LEVEL", default="INFO"),
            "propagate": False,
            "filters": ["not_a_deliberate_503"],
        },
        # A foreign Host, a body too large: a client's 400, at WARNING (recyclic/log_filters.py).
        "django.security": {
            "handlers": ["client_errors"],
            "level": "WARNING",
            "propagate": False,
        },
    },
}
