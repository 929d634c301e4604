"""Helpers of the web tests: a data home with a few weeks of seeded bars, the services
PostgreSQL and Redis (a database and a queue name of the test's own), users, and a
`tradeforge web` server started through the console script."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRADEFORGE = Path(sys.executable).with_name("tradeforge")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
#: the small backtest every test submits (~1,000 H1 bars)
SPEC = {
    "strategy": {"name": "sma_cross", "params": {}},
    "symbols": ["EURUSD"],
    "timeframe": "H1",
    "start": "2024-01-01",
    "end": "2024-03-01",
}


def make_home(path: Path) -> Path:
    """A data home holding seeded synthetic EURUSD H1 bars for January–February 2024."""
    from tradeforge.core.timeframes import Timeframe
    from tradeforge.data.cache import ParquetStore
    from tradeforge.data.sources.synthetic import generate_bars

    tf = Timeframe.parse("H1")
    frame = generate_bars("EURUSD", tf, "2024-01-01", "2024-03-01", seed=7)
    ParquetStore(path).write("EURUSD", tf, frame, source="synthetic(seed=7)")
    return path


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI starts PostgreSQL and Redis before the run)")
    pytest.skip(reason)


@contextmanager
def postgres_database():
    """A fresh database on the local PostgreSQL (dropped afterwards): its URL."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # the service is absent: say so
        _unavailable(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({exc})")
    name = f"tfweb_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def redis_queue():
    """(Redis URL, a queue name of this test's own); its keys are deleted afterwards."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
        client.ping()
    except Exception as exc:
        _unavailable(f"Redis at 127.0.0.1:6379 is not reachable ({exc})")
    name = f"tfweb-{uuid.uuid4().hex[:10]}"
    try:
        yield REDIS, name
    finally:
        for key in client.scan_iter(match=f"*{name}*"):
            client.delete(key)
        client.close()


def web_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEFORGE_WEB_")}
    env.update(TRADEFORGE_HOME=str(home), TRADEFORGE_WEB_STATE_DIRS=str(home / "sessions"))
    env.update(extra)
    return env


def add_user(env: dict[str, str], name: str, role: str) -> None:
    out = subprocess.run(
        [str(TRADEFORGE), "web", "user", name, "--role", role],
        env={**env, "TRADEFORGE_WEB_PASSWORD": f"{name}-pw"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr


@contextmanager
def web_server(env: dict[str, str], *args: str):
    """``tradeforge web --port 0`` through the console script: yields (base URL, process)."""
    proc = subprocess.Popen(
        [str(TRADEFORGE), "web", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"serving on (http://\S+)/", line)
        assert match, f"no 'serving on' line: {line!r} {proc.stderr.read() if proc.poll() else ''}"
        yield match[1], proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(check, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def screenshot(page, name: str, fallback: Path) -> Path:
    """Save a PNG of ``page`` as ``name`` in $TRADEFORGE_TEST_SHOTS (to keep and look at) or
    else in ``fallback`` (a test's temporary folder)."""
    folder = Path(os.environ.get("TRADEFORGE_TEST_SHOTS") or fallback)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    return path
