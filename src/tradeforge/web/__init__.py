"""The Django control plane (``tradeforge web``): backtests submitted from a browser or the JSON
API and run by a worker in the background, their reports and comparisons, research results,
and the operations page that drives running sessions through their control channel.

* `settings` — everything from the environment (embedded SQLite default, or PostgreSQL + Redis);
* `models` — Strategy, ParameterSet, Backtest, Report, BreakdownRow, Trade, RuntimeState,
  AuditLog, ApiToken, NotificationConfig, WebhookConfig;
* `jobs` — the backtest manager (submit, cancel, the worker, recovery); `queue` / `tasks` — Huey;
  `runjob` — the process of one backtest, forked from a fork server `warm` has loaded;
  `importer` — run folder → rows;
* `sessions` — state directories and control commands; `launch` — dry-run and live sessions
  started, stopped and resumed here; `compliance` — guard states, breaches, divergence alerts
  and the audit trail (market time and wall time apart); `notifications` — the chats and
  webhooks written to the notify file launched sessions run with and handed to them running;
  `research` — result folders;
* `views` / `urls` / `auth` — pages and roles; `api` / `tokens` — the JSON API and its bearer
  tokens; `server` — waitress + the local worker.

Django is an optional dependency (the ``web`` extra): nothing outside this package imports it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["setup"]

SETTINGS = "tradeforge.web.settings"


def setup(home: str | Path | None = None) -> None:
    """Configure Django for this process (the data home first: settings read it)."""
    if home is not None:
        os.environ["TRADEFORGE_HOME"] = str(Path(home).expanduser())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    import django

    django.setup()
