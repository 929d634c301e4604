"""The backtest manager on both backends — the embedded default (SQLite database, SQLite
queue) and production (PostgreSQL + Redis) — with real worker processes: refusals, a job
queued before any worker exists, cancel, a worker SIGKILLed mid-job and its job finished by
the next worker, the concurrency limit, a failure with its error, and the imported rows
checked against the run folder. Each backend runs `scenario.py` in a process of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.support import make_home, postgres_database, redis_queue, web_env

SCENARIO = Path(__file__).with_name("scenario.py")

pytestmark = pytest.mark.slow


def _run(env: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, str(SCENARIO)], env=env, capture_output=True, text=True, timeout=420
    )
    assert out.returncode == 0 and "scenario ok" in out.stdout, out.stdout + out.stderr[-4000:]


def test_sqlite_and_local_queue(tmp_path):
    _run(web_env(make_home(tmp_path / "home"), TRADEFORGE_WEB_STALE_AFTER="60"))


def test_postgresql_and_redis(tmp_path):
    with postgres_database() as db, redis_queue() as (url, name):
        env = web_env(
            make_home(tmp_path / "home"),
            TRADEFORGE_WEB_DATABASE_URL=db,
            TRADEFORGE_WEB_QUEUE_URL=url,
            TRADEFORGE_WEB_QUEUE_NAME=name,
            TRADEFORGE_WEB_SECRET_KEY="test-secret",
        )
        _run(env)
