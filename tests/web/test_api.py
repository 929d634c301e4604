"""The JSON API through ``tradeforge web`` (the console script) with tokens made by
``tradeforge web token``, on the embedded default (SQLite) and on PostgreSQL + Redis:
401 without or with a bad token, a viewer's token reads and is refused acting (403), an
operator's submits (refusals name the problem, 400), cancels (409 once finished), drives
sessions (a refusal is 409 and audited) and reads the compliance events; a token opens only
the API. Then two real workers (``tradeforge web worker --concurrency 2`` each) under a
global limit of one running backtest: the jobs' recorded run intervals never overlap."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from tests.web.support import (
    SPEC,
    TRADEFORGE,
    add_user,
    make_home,
    postgres_database,
    redis_queue,
    wait_for,
    web_env,
    web_server,
)
from tradeforge.live.decisions import append_decisions, decision
from tradeforge.live.state import STATE_FILE

pytestmark = pytest.mark.slow


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def call(url: str, token: str | None = None, body: object = None, raw: bytes | None = None):
    """(status, parsed JSON or text) of a GET, or a POST when a body is given."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data:
        request.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=60) as resp:
            status, text, ctype = resp.status, resp.read().decode(), resp.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        status, text, ctype = exc.code, exc.read().decode(), exc.headers["Content-Type"] or ""
    return status, json.loads(text) if "json" in (ctype or "") else text


def make_token(env: dict[str, str], user: str) -> str:
    out = subprocess.run(
        [str(TRADEFORGE), "web", "token", user, "--name", "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("tf_") and len(token) > 40
    return token


def _workers(env: dict[str, str], n: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen([str(TRADEFORGE), "web", "worker", "--concurrency", "2"], env=env)
        for _ in range(n)
    ]


def scenario(env: dict[str, str]) -> None:
    add_user(env, "olga", "operator")
    add_user(env, "victor", "viewer")
    olga, victor = make_token(env, "olga"), make_token(env, "victor")
    with web_server(env, "--no-worker") as (url, _proc):
        api = f"{url}/api"
        assert call(f"{api}/backtests/")[0] == 401
        status, doc = call(f"{api}/backtests/", "tf_not-a-token")
        assert (status, doc) == (401, {"error": "invalid API token"})
        assert call(f"{api}/backtests/", victor) == (
            200,
            {"backtests": [], "page": 1, "next": False},
        )
        # a token opens the API only: the pages still want a login
        request = urllib.request.Request(f"{url}/", headers={"Authorization": f"Bearer {olga}"})
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.build_opener(_NoRedirect).open(request, timeout=30)
        assert exc.value.code == 302 and exc.value.headers["Location"].startswith("/login/")

        # acting: viewers are refused, bad input is named, no CSRF token needed with a token
        status, doc = call(f"{api}/backtests/", victor, SPEC)
        assert status == 403 and "only operators" in doc["error"]
        status, doc = call(f"{api}/backtests/", olga, {**SPEC, "symbols": []})
        assert status == 400 and "symbol" in doc["error"]
        status, doc = call(f"{api}/backtests/", olga, raw=b"{not json")
        assert status == 400 and "not JSON" in doc["error"]
        status, job = call(f"{api}/backtests/", olga, SPEC)
        assert status == 201 and job["status"] == "queued"
        assert call(f"{api}/backtests/{job['id']}/", victor)[1]["status"] == "queued"
        assert call(f"{api}/backtests/{job['id']}/cancel/", victor, {})[0] == 403
        status, doc = call(f"{api}/backtests/{job['id']}/cancel/", olga, {})
        assert (status, doc) == (200, {"id": job["id"], "outcome": "cancelled"})
        status, doc = call(f"{api}/backtests/{job['id']}/cancel/", olga, {})
        assert status == 409 and "already finished" in doc["error"]

        # sessions: the list, a refused command, a refused start and stop
        assert call(f"{api}/sessions/", victor) == (200, {"sessions": []})  # none yet
        command = {"state_dir": "/nowhere", "action": "pause", "args": {}}
        assert call(f"{api}/sessions/command/", victor, command)[0] == 403
        status, doc = call(f"{api}/sessions/command/", olga, command)
        assert status == 409 and "not a session this control plane watches" in doc["error"]
        start = {"name": "s1", "strategy": "nope", "symbol": "EURUSD", "timeframe": "H1"}
        status, doc = call(f"{api}/sessions/start/", olga, {**start, "replay": "2024-01-01:"})
        assert status == 400 and "nope" in doc["error"]
        status, doc = call(f"{api}/sessions/stop/", olga, {"state_dir": "/nowhere"})
        assert status == 409 and "not started from the control plane" in doc["error"]
        status, doc = call(f"{api}/sessions/resume/", olga, {"state_dir": "/nowhere"})
        assert status == 409 and "not started from the control plane" in doc["error"]

        # everything above is in the compliance events (the audit trail), with the user, and
        # a session's divergence alerts from its decision log, as the monitor appends them
        divergence = monitor_records(Path(env["TRADEFORGE_WEB_STATE_DIRS"]) / "s9")
        status, doc = call(f"{api}/compliance/", victor)
        alerts = [e for e in doc["events"] if e["category"] == "divergence"]
        assert [
            (e["market_time"], e["kind"], e["subject"], e["detail"]) for e in alerts
        ] == divergence
        assert all(e["recorded"] > e["market_time"] for e in alerts)  # written now, not in 2024
        audit = [
            (e["kind"], e["user"], e["detail"].split(":")[0])
            for e in doc["events"]
            if e["category"] == "audit"
        ]
        assert audit == [
            ("backtest_submit", "olga", "ok"),
            ("backtest_cancel", "olga", "ok"),
            ("backtest_cancel", "olga", "refused"),
            ("pause", "olga", "refused"),
            ("session_start", "olga", "refused"),
            ("session_stop", "olga", "refused"),
            ("session_resume", "olga", "refused"),
        ]

        # the global limit: 2 workers x 2 threads, at most one backtest running at once
        ids = [call(f"{api}/backtests/", olga, SPEC)[1]["id"] for _ in range(2)]
        workers = _workers(env, 2)
        try:
            jobs = wait_for(lambda: _finished(api, victor, ids), 900, "the two backtests")
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(30)
        spans = sorted(
            (datetime.fromisoformat(j["started"]), datetime.fromisoformat(j["finished"]))
            for j in jobs
        )
        for (_, end), (start_next, _) in zip(spans, spans[1:], strict=False):
            assert start_next >= end, spans
        assert {j["worker"].rpartition(":")[2] for j in jobs} <= {str(w.pid) for w in workers}


def monitor_records(state_dir: Path) -> list[tuple]:
    """A session folder whose decision log holds a divergence alert and its clearing, in the
    divergence monitor's record form (`tradeforge.notify.monitor`); the expected events."""
    state_dir.mkdir(parents=True)
    (state_dir / STATE_FILE).write_text("{}")  # unreadable as a state: the row shows why
    alert = "divergence from the backtest: win_rate_delta_pct = 14 (max 10)"
    cleared = "divergence cleared: win_rate_delta_pct = 4 (max 10)"
    check = {"check": "win_rate_delta_pct", "limit": 10.0, "limit_kind": "max"}
    t1, t2 = pd.Timestamp("2024-02-01", tz="UTC").value, pd.Timestamp("2024-02-02", tz="UTC").value
    append_decisions(
        state_dir,
        3,
        [
            decision(t1, "skip", "slot busy (symbol)"),
            decision(t1, "divergence", alert, value=14.0, passed=False, **check),
            decision(t2, "divergence_cleared", cleared, value=4.0, passed=True, **check),
        ],
    )
    return [
        ("2024-02-01T00:00:00+00:00", "divergence", "win_rate_delta_pct", alert),
        ("2024-02-02T00:00:00+00:00", "divergence_cleared", "win_rate_delta_pct", cleared),
    ]


def _finished(api: str, token: str, ids: list[int]) -> list[dict] | None:
    jobs = [call(f"{api}/backtests/{i}/", token)[1] for i in ids]
    assert not [j for j in jobs if j["status"] in ("failed", "cancelled")], jobs
    return jobs if all(j["status"] == "done" for j in jobs) else None


def test_sqlite(tmp_path):
    scenario(web_env(make_home(tmp_path / "home"), TRADEFORGE_WEB_MAX_RUNNING="1"))


def test_postgresql_and_redis(tmp_path):
    with postgres_database() as db, redis_queue() as (queue_url, name):
        scenario(
            web_env(
                make_home(tmp_path / "home"),
                TRADEFORGE_WEB_DATABASE_URL=db,
                TRADEFORGE_WEB_QUEUE_URL=queue_url,
                TRADEFORGE_WEB_QUEUE_NAME=name,
                TRADEFORGE_WEB_SECRET_KEY="test-secret",
                TRADEFORGE_WEB_MAX_RUNNING="1",
            )
        )
