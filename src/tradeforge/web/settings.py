"""Django settings of the control plane, all from the environment.

Embedded default (nothing set): SQLite database and SQLite task queue under
``<data home>/web/``, a secret key generated once into ``<data home>/web/secret_key``.
Production: ``TRADEFORGE_WEB_DATABASE_URL=postgresql://user[:password]@host:port/name``,
``TRADEFORGE_WEB_QUEUE_URL=redis://host:port/db`` and ``TRADEFORGE_WEB_SECRET_KEY`` (required
once a database URL is set), ``TRADEFORGE_WEB_ALLOWED_HOSTS`` (comma-separated). ``DEBUG`` is
never on: errors are logged, not shown.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from tradeforge.core.paths import resolve_home

HOME = resolve_home()
WEB_HOME = HOME / "web"
WEB_HOME.mkdir(parents=True, exist_ok=True)
#: run folders the worker writes (one per backtest id)
RUNS_DIR = Path(os.environ.get("TRADEFORGE_WEB_RUNS", str(WEB_HOME / "runs")))
#: state directories of dry-run/live sessions shown by the operations page (os.pathsep-separated;
#: each entry is a state directory or a folder of them)
STATE_DIRS = [
    Path(p)
    for p in os.environ.get("TRADEFORGE_WEB_STATE_DIRS", str(HOME / "sessions")).split(os.pathsep)
    if p
]

DATABASE_URL = os.environ.get("TRADEFORGE_WEB_DATABASE_URL", "")
QUEUE_URL = os.environ.get("TRADEFORGE_WEB_QUEUE_URL", "")
QUEUE_NAME = os.environ.get("TRADEFORGE_WEB_QUEUE_NAME", "tradeforge")
EMBEDDED = not DATABASE_URL


def _database(url: str) -> dict:
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(WEB_HOME / "db.sqlite3"),
            # several worker threads and processes write at once: take the write lock when
            # a transaction begins (a deferred one upgrading its read lock fails at once with
            # "database is locked" instead of waiting), and let readers run beside a writer
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(
            f"TRADEFORGE_WEB_DATABASE_URL must be postgresql://…, got scheme {parts.scheme!r}"
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "tradeforge",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 60,
    }


def _secret_key() -> str:
    key = os.environ.get("TRADEFORGE_WEB_SECRET_KEY")
    if key:
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "TRADEFORGE_WEB_SECRET_KEY must be set when TRADEFORGE_WEB_DATABASE_URL is"
        )
    path = WEB_HOME / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = False
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("TRADEFORGE_WEB_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
    if h.strip()
]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tradeforge.web.apps.WebConfig",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tradeforge.web.auth.TokenAuthMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
]
ROOT_URLCONF = "tradeforge.web.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tradeforge.web.auth.roles",
            ]
        },
    }
]
WSGI_APPLICATION = "tradeforge.web.wsgi.application"
DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "/static/"
STATIC_ROOT = str(WEB_HOME / "static")
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# the report page embeds the run's report.html from the same origin
X_FRAME_OPTIONS = "SAMEORIGIN"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = os.environ.get("TRADEFORGE_WEB_HTTPS") == "1"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

#: backtests one worker process runs at once (each in its own child process)
WORKER_CONCURRENCY = int(os.environ.get("TRADEFORGE_WEB_CONCURRENCY", "2"))
#: backtests running at once over every worker (0: no limit beyond each worker's own); each
#: claim counts the running jobs under a database lock, so it holds across worker processes
MAX_RUNNING = int(os.environ.get("TRADEFORGE_WEB_MAX_RUNNING", "0"))
#: seconds between two claim attempts of a job waiting for a free slot under ``MAX_RUNNING``
CLAIM_RETRY_S = 0.5
#: a self-hosted Telegram Bot API server for the notification config the GUI writes (empty:
#: Telegram's own)
TELEGRAM_URL = os.environ.get("TRADEFORGE_WEB_TELEGRAM_URL", "")
#: seconds without a heartbeat after which a running job counts as lost and is requeued
STALE_AFTER_S = float(os.environ.get("TRADEFORGE_WEB_STALE_AFTER", "30"))
#: folders searched for optimisation / walk-forward results (``tradeforge optimize|walkforward
#: --out``), os.pathsep-separated
RESEARCH_DIRS = [
    Path(p)
    for p in os.environ.get("TRADEFORGE_WEB_RESEARCH_DIRS", str(HOME / "research")).split(
        os.pathsep
    )
    if p
]
