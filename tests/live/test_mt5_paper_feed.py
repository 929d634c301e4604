"""``tradeforge dry-run --feed mt5`` through the console script: the paper broker fed by a
MetaTrader 5 terminal (the stand-in module, tests/support/mt5_module) whose server keeps New
York time (UTC+2, +3 after the spring switch, which the session crosses). The paper session
makes the same trades as a replay dry-run of the same bars, and sends the terminal nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_bars
from tests.support.mt5_market import module_environment
from tradeforge.live.runner import journal_trades

SCRIPT = Path(sys.executable).with_name("tradeforge")
HISTORY, LIVE = 40, 60
SWITCH = pd.Timestamp("2024-03-10 07:00", tz="UTC")  # New York springs forward
COMMON = ["--strategy", "sma_cross", "-p", "fast=3", "-p", "slow=12", "-p", "stop_pips=6",
          "-p", "target_pips=8", "--symbol", "EURUSD", "--timeframe", "M5", "--window", "36"]  # fmt: skip

pytestmark = [
    pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed"),
    pytest.mark.slow,  # two console-script sessions, one of them polling a scripted terminal
]


def tradeforge(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_paper_trading_on_the_mt5_feed_makes_the_replays_trades(tmp_path: Path) -> None:
    # the live bars start 30 bars before the switch
    frame = make_bars(HISTORY + LIVE + 1, start="2024-03-10 01:10", seed=3).round(5)
    assert frame.index[HISTORY + 30] == SWITCH
    bars = tmp_path / "bars.parquet"
    frame.to_parquet(bars)
    paper, orders = tmp_path / "paper", tmp_path / "orders.jsonl"
    env = module_environment(bars, HISTORY, paper, orders, clock="ny")
    out = tradeforge(["dry-run", "--feed", "mt5", "--state", str(paper), *COMMON,
                      "--server-time", "ny", "--health-interval", "0.05"], env)  # fmt: skip
    assert "paper sma_cross EURUSD M5 on the mt5 feed" in out.replace("\n", " ")
    # the replay of the same bars, from the last bar closed before the paper session started
    # to the last one the feed closed (the paper session's kill flattens what is left open)
    start, end = (frame.index[i].strftime("%Y-%m-%dT%H:%M") for i in (HISTORY - 1, -1))
    replay = tmp_path / "replay"
    tradeforge(["dry-run", "--state", str(replay), *COMMON, "--replay", f"{start}..{end}",
                "--bars", str(bars)], env)  # fmt: skip

    traded = journal_trades(paper)
    expected = journal_trades(replay)
    assert [t["exit_reason"] for t in traded[len(expected) :]] in ([], ["kill"])
    assert len(expected) >= 3
    for got, want in zip(traded, expected, strict=False):
        assert got.keys() == want.keys()
        for key, value in want.items():  # asks are bid + spread, summed in another order
            close = isinstance(value, float) and got[key] == pytest.approx(value, abs=1e-9)
            assert close or got[key] == value, (key, got, want)
    times = [pd.Timestamp(t["entry_time"]) for t in expected]
    assert min(times) < SWITCH <= max(times)  # trades on both sides of the switch
    assert not orders.exists()  # paper: the terminal was never sent an order
    assert (paper / "paper_broker.json").exists() and (paper / "health.json").exists()
