"""One settings module for every environment; everything that varies comes from SIYU_* variables."""

import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DATA_DIR = Path(os.environ.get("SIYU_DATA_DIR", Path.cwd() / "var")).resolve()


def _secret_key() -> str:
    # A demo or a developer should not have to invent a key; production sets SIYU_SECRET_KEY.
    # The generated one is kept in the data directory so sessions and encrypted credentials
    # survive a restart.
    if key := os.environ.get("SIYU_SECRET_KEY"):
        return key
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
# Credentials at rest are encrypted with this; defaults to a key derived from SECRET_KEY.
SIYU_ENCRYPTION_KEY = os.environ.get("SIYU_ENCRYPTION_KEY", "")
DEBUG = _env_bool("SIYU_DEBUG", False)
# The fake WeCom under /sandbox/: on in `siyu demo`, the tests and the benchmarks, off otherwise,
# since its scan page creates customers and sends signed callbacks for any sandbox corp.
SIYU_SANDBOX = _env_bool("SIYU_SANDBOX", False)
# Where WeCom reaches this server: the callback URL shown to operators is built on it.
# Threads per web process that send welcome messages right after the add callback commits
# (0: leave every send to the task worker).
SIYU_WELCOME_THREADS = int(os.environ.get("SIYU_WELCOME_THREADS", "4"))
SIYU_PUBLIC_URL = os.environ.get("SIYU_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Callbacks whose timestamp is further than this from now are refused (replays).
SIYU_CALLBACK_MAX_AGE = int(os.environ.get("SIYU_CALLBACK_MAX_AGE", "3600"))
# A worker holds a claimed callback this long before another may take it over (crash recovery).
SIYU_CALLBACK_LEASE = int(os.environ.get("SIYU_CALLBACK_LEASE", "300"))
# A worker that picks up a callback younger than this waits until it is this old (seconds) before
# it takes the others due into its batch: a stream of adds is handled in batches, not one by one.
# A backlog is not waited for, nor is a `siyu worker --batch` run. Welcomes do not wait: they are
# sent by the process that took the callback.
SIYU_CALLBACK_GATHER = float(os.environ.get("SIYU_CALLBACK_GATHER", "0.5"))
# A full sync per corp at least this often (hours; 0 = only on demand), started by the worker.
SIYU_SYNC_EVERY_HOURS = float(os.environ.get("SIYU_SYNC_EVERY_HOURS", "24"))
# A running sync that saved no progress for this long belongs to a dead worker and may be resumed.
SIYU_SYNC_STALE_SECONDS = int(os.environ.get("SIYU_SYNC_STALE_SECONDS", "600"))
# Exact-mode live codes: a guide shown on a landing page is held for the visitor this long, so a
# burst of scans spreads over the pool before their adds arrive (caps count adds).
SIYU_LIVE_CODE_HOLD_MINUTES = float(os.environ.get("SIYU_LIVE_CODE_HOLD_MINUTES", "10"))
# Public pages (landing pages, lead forms): requests per network ("N/second|minute|hour|day").
SIYU_PUBLIC_PAGE_RATE = os.environ.get("SIYU_PUBLIC_PAGE_RATE", "60/minute")
# Reverse proxies in front of Siyu that append the client's address to X-Forwarded-For (and say
# https in X-Forwarded-Proto). 0: the socket's peer is the client and those headers are ignored.
SIYU_PROXY_COUNT = int(os.environ.get("SIYU_PROXY_COUNT", "0"))
# A WeCom call a visitor's page waits on (lead forms, a landing page's first showing of a guide)
# gives up after this many seconds, retries included; the page asks them to try again.
SIYU_WECOM_PAGE_SECONDS = float(os.environ.get("SIYU_WECOM_PAGE_SECONDS", "4"))
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("SIYU_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("SIYU_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves Swagger UI from its own static files, not a CDN
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "siyu.kit",
    "siyu.corps",
    "siyu.tags",
    "siyu.customers",
    "siyu.groups",
    "siyu.acquisition",
    "siyu.autotag",
    "siyu.orders",
    "siyu.analytics",
    "siyu.messaging",
    "siyu.engagement",
    "siyu.guides",
    "siyu.journeys",
    "siyu.wecom",
    "siyu.sandbox",
    "siyu.console",
    "siyu.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "siyu.console.middleware.ChineseFirstMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout into the page below.
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes) for the console and /admin/: an account is locked after
# AXES_FAILURE_LIMIT failures from anywhere, and so is a network after that many for any account;
# the wait doubles with each further failure (siyu.kit.auth.login_cooloff).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("SIYU_LOGIN_FAILURE_LIMIT", "5"))
SIYU_LOGIN_COOLOFF_MINUTES = float(os.environ.get("SIYU_LOGIN_COOLOFF_MINUTES", "15"))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = "siyu.kit.auth.login_cooloff"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "console/locked_out.html"
AXES_VERBOSE = False
# The same visitor address as every other per-network limit (SIYU_PROXY_COUNT decides).
AXES_CLIENT_IP_CALLABLE = "siyu.kit.http.client_ip"

ROOT_URLCONF = "siyu.urls"
WSGI_APPLICATION = "siyu.wsgi.application"

FORM_RENDERER = "siyu.console.renderer.ConsoleFormRenderer"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "siyu.console.context.console",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("SIYU_DATABASE_URL", f"sqlite:///{DATA_DIR / 'siyu.sqlite3'}"),
        # Kept connections: opening one (and SQLite's pragmas) per request was a fifth of a
        # callback's cost (benchmarks/welcome_latency.py); health checks drop broken ones.
        conn_max_age=int(os.environ.get("SIYU_DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# House rule 1: one request is one transaction.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share one SQLite file: WAL lets readers run beside the
    # writer, IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        # Seconds a connection waits for the write lock before `database is locked`.
        "timeout": float(os.environ.get("SIYU_SQLITE_TIMEOUT", "30")),
    }
    # A file, not memory: tests start `siyu worker` subprocesses that must see the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-siyu.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "corps.User"
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:dashboard"
LOGOUT_REDIRECT_URL = "console:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True
SIYU_DEFAULT_CORP_TIMEZONE = "Asia/Shanghai"

STATIC_URL = "static/"
# Only for deployments that run collectstatic behind a web server; the app serves from finders.
STATIC_ROOT = os.environ.get("SIYU_STATIC_ROOT") or None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve straight from the installed packages: no collectstatic step in the two-command set-up.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

TASKS = {
    "default": {
        # The queue is a table in the same database: a task enqueued inside a transaction commits
        # or vanishes with the rows it is about (callbacks rely on this).
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "priority"],
    }
}

# Process memory serves one `siyu serve` (one process, many threads); several web processes
# share a Redis instead (SIYU_CACHE_URL=redis://host:6379/0), or each would count on its own.
SIYU_CACHE_URL = os.environ.get("SIYU_CACHE_URL", "")


def _cache(prefix: str, entries: int) -> dict:
    if SIYU_CACHE_URL:
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": SIYU_CACHE_URL, "KEY_PREFIX": prefix}
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": prefix, "OPTIONS": {"MAX_ENTRIES": entries}}


CACHES = {
    "default": _cache("siyu", 1000),
    # Per-network counters of public pages (siyu.kit.throttle): room for a crowd of networks.
    "throttle": _cache("siyu-throttle", 200_000),
}

SESSION_COOKIE_HTTPONLY = True
# How long a console login lasts without signing in again (hours).
SESSION_COOKIE_AGE = int(float(os.environ.get("SIYU_SESSION_HOURS", "12")) * 3600)

# An HTTPS deployment (SIYU_HTTPS=1): cookies only over HTTPS, HSTS, plain HTTP redirected. Behind
# reverse proxies (SIYU_PROXY_COUNT) that terminate TLS, their X-Forwarded-Proto says the scheme.
SIYU_HTTPS = _env_bool("SIYU_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SIYU_HTTPS
SECURE_SSL_REDIRECT = SIYU_HTTPS
# A load balancer checks health over plain HTTP inside the network: answered, not redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SIYU_HSTS_SECONDS", "31536000")) if SIYU_HTTPS else 0
# Only when every subdomain is HTTPS too: the operator's call.
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SIYU_HSTS_SUBDOMAINS", False)
if SIYU_PROXY_COUNT > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Scripts only from Siyu itself or with the page's nonce (django-csp): an injected <script> or
# onclick= does not run. Styles may be inline (the phone pages carry theirs; charts set styles).
# Images may come from WeCom's CDN (QR codes, avatars).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        # SIYU_PUBLIC_URL too: the sandbox's QR images are served from it, possibly over http.
        "img-src": [SELF, "data:", "https:", SIYU_PUBLIC_URL],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SIYU_LOG_LEVEL", "INFO")},
    # A line per outgoing HTTP request would drown the rest; SIYU_LOG_LEVEL=DEBUG brings them back.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING" if os.environ.get("SIYU_LOG_LEVEL", "INFO") != "DEBUG" else "DEBUG"},
    },
}
