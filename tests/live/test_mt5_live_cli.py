"""``tradeforge live`` (MetaTrader 5) through the console script, the terminal being the
stand-in module (tests/support/mt5_module) playing a scripted market: orders reach the terminal
under the session's magic number and client ids, the kill switch flattens at the end, and a
terminal with trading disabled stops the session with one error line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_bars
from tests.support.mt5_market import module_environment
from tradeforge.live.runner import journal_trades
from tradeforge.live.state import StateRepository

SCRIPT = Path(sys.executable).with_name("tradeforge")
HISTORY, LIVE = 40, 50
ARGS = ["--strategy", "sma_cross", "-p", "fast=3", "-p", "slow=12", "-p", "stop_pips=6",
        "-p", "target_pips=8", "--symbol", "EURUSD", "--timeframe", "M5", "--window", "36",
        "--server-time", "utc", "--magic", "4242", "--stale-seconds", "600",
        "--health-interval", "0.05"]  # fmt: skip

pytestmark = [
    pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed"),
    pytest.mark.slow,  # console-script sessions polling a scripted terminal
]


def live(tmp_path: Path, retcodes: str = "") -> tuple[subprocess.CompletedProcess, Path, Path]:
    bars, state, orders = tmp_path / "bars.parquet", tmp_path / "live", tmp_path / "orders"
    make_bars(HISTORY + LIVE + 1, start="2024-03-04", seed=5).round(5).to_parquet(bars)
    env = module_environment(bars, HISTORY, state, orders, retcodes=retcodes)
    proc = subprocess.run(
        [str(SCRIPT), "live", "--state", str(state), *ARGS],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc, state, orders


def sent(orders: Path) -> list[dict]:
    return [json.loads(line) for line in orders.read_text().splitlines()]


def test_a_live_session_trades_through_the_terminal_until_the_kill_switch(tmp_path) -> None:
    proc, state, orders = live(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    requests = sent(orders)
    assert requests and {r["magic"] for r in requests if "magic" in r} == {4242}
    entries = [r for r in requests if r["action"] == 1 and "position" not in r]
    trades = journal_trades(state)
    assert len(entries) == len(trades) >= 2  # every position closed (the kill flattens)
    made = [d for r in StateRepository(state).records() for d in r.get("decisions", [])]
    assert {r["comment"] for r in entries} == {d["order"] for d in made if d["kind"] == "order"}
    assert [d["kind"] for d in made].count("kill") == 1


def test_trading_disabled_at_the_terminal_stops_the_session_with_one_line(tmp_path) -> None:
    proc, state, orders = live(tmp_path, retcodes="10017")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: MT5 order ")
    assert "10017 TRADE_DISABLED" in lines[0] and "trading stopped" in lines[0]
    assert len(sent(orders)) == 1 and journal_trades(state) == []
