"""Settings for the realtime example site.

Embedded default: SQLite and the in-memory channel layer in one daphne process, no set-up.
`REDIS_URL=redis://host:port/0` switches the channel layer to channels-redis so several daphne
processes (on several machines) serve one site. `DATABASE_URL=postgres://user@host:port/name`
switches the database to PostgreSQL.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

from realtime.layers import memory_layer, redis_layer

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-insecure-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

INSTALLED_APPS = [
    "daphne",  # before staticfiles: `runserver` then serves ASGI through daphne
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "realtime",
    "realtime.streams",
    "realtime.announcements",
    "realtime.notifications",
    "realtime.live",
    "project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The page's language: the language menu's cookie, else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"

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


def _database(url: str | None) -> dict:
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", BASE_DIR / "db.sqlite3"),
            # IMMEDIATE takes the write lock when a transaction starts, so two writers queue up
            # (busy timeout) instead of one failing with "database is locked" on upgrade.
            # WAL: a commit is one append and one fsync instead of the rollback journal's create,
            # fsyncs and delete (bench/: 0.4 ms less CPU per stored comment, a tenth of a steady
            # room's server CPU), and readers (subscribes, replays) never wait for the writer. As
            # durable as before: `synchronous` stays FULL. The mode is kept in the file; setting it
            # again on each new connection costs nothing.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL",
            },
            # Keep connections: Channels closes stale ones around every database_sync_to_async call,
            # and opening one per call was a tenth of the subscribe path's time in bench/.
            "CONN_MAX_AGE": 600,
        }
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }


DATABASES = {"default": _database(os.environ.get("DATABASE_URL"))}

REDIS_URL = os.environ.get("REDIS_URL")
CHANNEL_LAYERS = {"default": redis_layer(REDIS_URL) if REDIS_URL else memory_layer()}

REALTIME = {
    # Coalesce a busy topic's events into one frame per window (seconds; 0 = off).
    "COALESCE_WINDOW": float(os.environ.get("REALTIME_COALESCE_WINDOW", "0.02")),
    # How often each process checks the database for events it was not sent (see realtime.conf).
    "SYNC_INTERVAL": float(os.environ.get("REALTIME_SYNC_INTERVAL", "5")),
    # On the in-memory layer: how often each process looks for events other processes stored.
    "WATCH_INTERVAL": float(os.environ.get("REALTIME_WATCH_INTERVAL", "1")),
    # Prometheus metrics at /realtime/ops/metrics/ (docs/operations.md): staff, or this bearer token.
    "METRICS": os.environ.get("REALTIME_METRICS", "1") == "1",
    "METRICS_TOKEN": os.environ.get("REALTIME_METRICS_TOKEN") or None,
}

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
# Named in their own language, as a language menu shows them.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
# The demo's own words (templates/); the realtime apps ship their catalogues inside the package.
LOCALE_PATHS = [BASE_DIR / "project" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line with its time and level, and the connection, user and topic where it has them;
    # REALTIME_LOG_FORMAT=json: one JSON object a line (docs/operations.md).
    "formatters": {
        "text": {"()": "realtime.ops.logs.TextFormatter"},
        "json": {"()": "realtime.ops.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("REALTIME_LOG_FORMAT", "text"),
        }
    },
    "loggers": {
        # Not propagated: daphne gives the root logger a handler of its own, and every line would be
        # printed twice (once bare, once in daphne's format).
        "realtime": {
            "handlers": ["console"],
            "level": os.environ.get("REALTIME_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
    },
}
