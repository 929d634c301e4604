"""The research commands end to end on a small temporary cache."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from tradeforge.cli import app
from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.synthetic import generate_bars


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    frame = generate_bars("EURUSD", "H1", "2022-01-01", "2022-05-01", seed=2)
    ParquetStore(home).write("EURUSD", "H1", frame, source="synthetic")
    return home


def _invoke(args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_optimize_writes_table_json_and_charts(home, tmp_path):
    out = tmp_path / "opt"
    cfg = tmp_path / "search.yaml"
    cfg.write_text("strategy: sma_cross\nparams: {stop_pips: 25}\nspace: {slow: [30, 50]}\n"
                   "objective: {metric: profit_factor, min_trades: 5}\n")  # fmt: skip
    res = _invoke(["optimize", "--config", cfg, "--space", "fast=5:15:5", "--home", home,
                   "--out", out, "--top", "3"])  # fmt: skip
    assert "top 3 by profit_factor" in res.output
    trials = pd.read_parquet(out / "trials.parquet")
    assert len(trials) == 6
    doc = json.loads((out / "optimize.json").read_text())
    assert doc["objective"]["metric"] == "profit_factor"
    assert doc["space"]["fixed"] == {"stop_pips": 25.0}
    assert (out / "trials.png").exists() and (out / "heatmap.png").exists()


def test_optimize_rejects_unknown_parameters(home, tmp_path):
    result = CliRunner().invoke(app, ["optimize", "--strategy", "sma_cross", "--space",
                                      "fats=1:3", "--home", str(home)])  # fmt: skip
    assert result.exit_code != 0


def test_walkforward_command(home, tmp_path):
    out = tmp_path / "wf"
    _invoke(["walkforward", "--strategy", "sma_cross", "--space", "fast=5,10",
             "--space", "slow=30,50", "--train", "1M", "--test", "2W", "--home", home,
             "--out", out])  # fmt: skip
    doc = json.loads((out / "walkforward.json").read_text())
    assert doc["summary"]["folds"] == len(doc["folds"]) > 0
    assert (out / "is_vs_oos.png").exists() and (out / "oos_equity.png").exists()


def test_analyze_commands_on_a_backtest_run(home, tmp_path):
    run = tmp_path / "run"
    _invoke(["backtest", "--strategy", "sma_cross", "--home", home, "--out", run])
    out = tmp_path / "analysis"
    _invoke(["analyze", "r", "--run", run, "--sims", "50", "--out", out])
    doc = json.loads((out / "r.json").read_text())
    assert doc["distribution"]["trades"] > 0 and "samples" not in doc["monte_carlo"]["shuffle"]
    _invoke(["analyze", "regimes", "--run", run, "--by", "weekday", "--by", "volatility",
             "--home", home, "--out", out])  # fmt: skip
    assert (out / "regimes.json").exists() and (out / "regime_weekday.png").exists()
    _invoke(["analyze", "features", "--run", run, "-f", "rsi(14)", "--bootstrap", "50",
             "--home", home, "--out", out])  # fmt: skip
    assert (out / "feature_rsi_14.png").exists()
    res = _invoke(["analyze", "consistency", "--expected", run, "--actual", run / "trades.csv",
                   "--out", out])  # fmt: skip
    assert "PASS" in res.output
    doc = json.loads((out / "consistency.json").read_text())
    assert doc["passed"] is True and doc["summary"]["missing"] == 0
