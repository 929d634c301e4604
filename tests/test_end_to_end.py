"""The whole pipeline through the real command: data -> backtest -> dry-run -> consistency."""

import json
import subprocess
import sys

import pytest

COSTS = [
    "--slippage",
    "random:0.5",
    "--commission",
    "3.5",
    "--swap-long",
    "-5",
    "--swap-short",
    "1",
]
STRATEGY = [
    "--strategy",
    "sma_cross",
    "-p",
    "exit_on_opposite=true",
    "-p",
    "fast=5",
    "-p",
    "slow=20",
]


def tf(*args):
    cmd = [sys.executable, "-m", "tradeforge", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_backtest_and_dry_run_agree_trade_for_trade(tmp_path):
    home, bt, dry, out = (tmp_path / n for n in ("home", "bt", "dry", "cons"))
    period = ["--start", "2024-01-01", "--end", "2024-01-06"]
    tf("data", "synth", "-s", "EURUSD", "-t", "M15", *period, "--seed", "5", "--home", home)
    tf("backtest", *STRATEGY, "-s", "EURUSD", "-t", "M15", *period, *COSTS,
       "--sizing", "risk:1", "--home", home, "--out", bt)  # fmt: skip
    tf("dry-run", "--state", dry, *STRATEGY, "-s", "EURUSD", "-t", "M15",
       "--replay", "2024-01-01:2024-01-06", *COSTS, "--close-at-end", "--home", home)  # fmt: skip
    tf("analyze", "consistency", "--expected", bt, "--actual", dry / "trades.csv",
       "--max-slippage-pips", "0", "--min-match-rate", "100", "--max-extra", "0", "--out", out)  # fmt: skip
    report = json.loads((out / "consistency.json").read_text())
    summary = report["summary"]
    assert report["passed"] is True
    assert summary["expected_trades"] == summary["actual_trades"] == summary["matched"] > 10
    assert summary["missing"] == summary["extra"] == 0
    assert max(abs(m["pnl_diff"]) for m in report["matched"]) < 1e-6
    assert report["metrics"]["net_profit"]["delta"] == pytest.approx(0, abs=1e-6)
