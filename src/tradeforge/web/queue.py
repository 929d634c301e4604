"""The task queue: Huey, on Redis in production (``TRADEFORGE_WEB_QUEUE_URL=redis://…``) and
on a SQLite file under the data home in the embedded default. Both keep queued tasks on disk
(or in Redis) so they survive a restart of the web process and of the worker; a task a dead
worker had already taken is requeued by `jobs.recover` from the database's own record."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from huey import Huey, RedisHuey, SqliteHuey


def make_huey(url: str, web_home: Path, name: str) -> Huey:
    """Huey on ``url`` (``redis://``), or on ``<web_home>/queue.sqlite3`` when ``url`` is empty;
    ``name`` keeps several control planes apart on one Redis."""
    if not url:
        return SqliteHuey(name, filename=str(web_home / "queue.sqlite3"), results=False)
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured(f"TRADEFORGE_WEB_QUEUE_URL must be redis://…, got {url!r}")
    return RedisHuey(name, url=url, results=False)


huey = make_huey(settings.QUEUE_URL, settings.WEB_HOME, settings.QUEUE_NAME)
