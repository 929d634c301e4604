"""``tradeforge backtest`` end to end on a temporary cache."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tradeforge.cli import app
from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.synthetic import generate_bars


def test_backtest_command_writes_the_run_folder(tmp_path):
    home = tmp_path / "home"
    frame = generate_bars("EURUSD", "H1", "2022-01-01", "2022-06-01", seed=1)
    ParquetStore(home).write("EURUSD", "H1", frame, source="synthetic")
    out = tmp_path / "run"
    args = [
        "backtest", "--strategy", "sma_cross", "--symbol", "EURUSD", "--timeframe", "H1",
        "--start", "2022-01-01", "--end", "2022-06-01", "--param", "fast=10",
        "--param", "slow=30", "--param", "stop_pips=20", "--param", "target_pips=40",
        "--commission", "3.5", "--slippage", "0.2", "--out", str(out), "--home", str(home),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("trades.csv", "legs.csv", "equity.csv", "run.json"):
        assert (out / name).exists()
    meta = json.loads((out / "run.json").read_text())
    assert meta["config"]["strategy"]["params"]["slow"] == 30
    assert meta["config"]["execution"]["commission"] == 3.5
    assert meta["config"]["execution"]["slippage"] == "fixed"
    assert meta["counters"]["filled"] == meta["summary"]["trades"]


def test_backtest_command_rejects_bad_params(tmp_path):
    result = CliRunner().invoke(
        app, ["backtest", "--strategy", "sma_cross", "--param", "fats=3", "--home", str(tmp_path)]
    )
    assert result.exit_code != 0
