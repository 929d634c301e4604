"""``tradeforge live --broker ctrader`` end to end: the installed console script in a subprocess
against the fake server (TLS on 127.0.0.1), trading a scripted half hour of M1 bars; the
journal, the trades, ``tradeforge status`` / ``health`` and the server's own record agree."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.ctrader.fake_server import ACCOUNT
from tests.ctrader.live_script import SCRIPT, environment, live_args, make_script, run_scripted
from tradeforge.ctrader.proto import openapi_pb2 as pb
from tradeforge.live.runner import journal_trades

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")


def run_session(server, state, script=None):
    return run_scripted(server, script or make_script(), state, live_args(server, state))


def entry_orders(server):
    return [o for o in server.order_history.values() if not o.closingOrder]


def test_live_session_through_the_console_script(server, tmp_path):
    state = tmp_path / "state"
    out = run_session(server, state)
    assert "start" in out and "filled" in out  # the echoed decisions
    trades = journal_trades(state)
    assert len(trades) >= 2, out  # the script trades
    # every trade is one entry order at the server, sent once, under the engine's client id
    labels = [o.tradeData.label for o in entry_orders(server)]
    assert len(labels) == len(set(labels)) == len({t["trade_id"] for t in trades})
    # the kill switch flattened: nothing open at the server or in the state
    assert server.positions == {} and server.orders == {}
    # the booked P&L is the server's balance change, to the cent (no commission, no swap)
    booked = sum(t["pnl"] for t in trades)
    assert booked == pytest.approx(server.balance / 100 - 10_000, abs=0.011)
    closing = [d for d in server.deals if d.HasField("closePositionDetail")]
    assert sum(d.closePositionDetail.grossProfit for d in closing) / 100 == pytest.approx(booked)
    assert all(o.orderStatus == pb.ORDER_STATUS_FILLED for o in entry_orders(server))
    decisions = [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]
    assert {"start", "order", "filled", "exit", "kill"} <= {d["kind"] for d in decisions}
    # status shows the health verdict of the stopped session; health says down (exit 2)
    status = subprocess.run(
        [str(SCRIPT), "status", "--state", str(state)], capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    assert '"health"' in status.stdout and "the session has stopped" in status.stdout
    health = subprocess.run(
        [str(SCRIPT), "health", "--state", str(state)], capture_output=True, text=True
    )
    assert health.returncode == 2
    doc = json.loads(health.stdout)
    assert doc["status"] == "down" and doc["stopped"] and doc["broker"] == "ctrader"


def test_live_refuses_bad_options_with_one_line(server, tmp_path):
    base = [str(SCRIPT), *live_args(server, tmp_path / "s")]
    env = environment(CTRADER_CLIENT_SECRET="")
    r = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "CTRADER_CLIENT_SECRET" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run(
        [*base, "--health", "feed=soon"], capture_output=True, text=True, env=environment()
    )
    assert r.returncode == 2 and "CONDITION=NUMBER" in r.stderr
    bad = [a if a != str(ACCOUNT) else "77" for a in base]
    r = subprocess.run(bad, capture_output=True, text=True, env=environment(), timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    r = subprocess.run(
        [*base[:3], "nobroker", *base[4:]], capture_output=True, text=True, env=environment()
    )
    assert r.returncode == 2 and "unknown broker 'nobroker'" in r.stderr
