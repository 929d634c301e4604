"""``tradeforge research features`` and ``research ml train|evaluate|explain`` through the
installed console script, on a small synthetic cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.synthetic import generate_bars

TRADEFORGE = str(Path(sys.executable).with_name("tradeforge"))
STRATEGY = ["--strategy", "sma_cross", "-p", "fast=5", "-p", "slow=20", "-p", "stop_pips=15",
            "-p", "target_pips=20", "-s", "EURUSD", "-t", "H1"]  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    frame = generate_bars("EURUSD", "H1", "2021-01-01", "2022-07-01", seed=5)
    ParquetStore(home).write("EURUSD", "H1", frame, source="synthetic")
    return home


def run(*args, code: int = 0) -> subprocess.CompletedProcess:
    res = subprocess.run([TRADEFORGE, *map(str, args)], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert res.returncode == code, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    return res


def test_features_select_then_compare_with_the_stored_set(home, tmp_path):
    out = tmp_path / "fs"
    res = run("research", "features", *STRATEGY, "--name", "ctx", "-f", "rsi(14)",
              "--bootstrap", "50", "--home", home, "--out", out)  # fmt: skip
    assert "feature set ctx" in res.stdout
    doc = json.loads((out / "ctx.json").read_text())
    kept = [d for d in doc["decisions"] if d["kept"]]
    assert 5 <= len(kept) <= 20 and all(d["reason"] for d in doc["decisions"])
    assert doc["spec"]["columns"] == [d["feature"] for d in kept]
    # byte-identical output for the same data is tested in test_featureset.py
    changed = run("research", "features", *STRATEGY, "--name", "ctx", "--no-context",
                  "-f", "rsi(14)", "-f", "atr(14)", "-f", "zscore(20)", "-f", "adx(14)",
                  "-f", "cci(20)", "--bootstrap", "50", "--home", home, "--out",
                  tmp_path / "fs3", "--against", out / "ctx.json", code=1)  # fmt: skip
    assert "changed" in changed.stdout


def test_ml_evaluate_train_explain(home, tmp_path):
    res = run("research", "ml", "evaluate", *STRATEGY, "--model", "xgboost", "--train", "6M",
              "--validation", "3M", "--test", "3M", "--home", home, "--out", tmp_path / "ev")  # fmt: skip
    doc = json.loads((tmp_path / "ev" / "verdict.json").read_text())
    assert doc["verdict"] in ("keep", "discard") and f"verdict: {doc['verdict']}" in res.stdout
    assert len(doc["folds"]) == 3 and doc["oos"]["without"]["trades"] > 0
    assert f"ROC AUC {doc['scores']['roc_auc']:.4f}, Brier" in " ".join(res.stdout.split())
    model = tmp_path / "model"
    res = run("research", "ml", "train", *STRATEGY, "--model", "lightgbm", "--end",
              "2022-01-01", "--home", home, "--out", model)  # fmt: skip
    meta = json.loads((model / "model.json").read_text())
    assert meta["sha256"] in res.stdout and meta["strategy"]["name"] == "sma_cross"
    assert "2021-12-31" <= meta["training"]["end"] <= "2022-01-01"  # ISO text sorts by time
    run("research", "ml", "explain", "--model", model, "--start", "2022-01-01", "--home", home)
    assert (model / "explain" / "explain.html").exists()
    # the trained model as a strategy: backtest through the registry (entry point)
    bt = tmp_path / "bt"
    run("backtest", "--strategy", "ml_filter", "-p", f"model={model}", "-p",
        f"sha256={meta['sha256']}", "-s", "EURUSD", "-t", "H1", "--start", "2022-01-01",
        "--home", home, "--out", bt)  # fmt: skip
    assert json.loads((bt / "run.json").read_text())["config"]["strategy"]["name"] == "ml_filter"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "deep_net"], "unknown model 'deep_net'"),
        (["--featureset", "missing.json"], "feature set not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(home, tmp_path, args, message):
    res = run("research", "ml", "train", *STRATEGY, *args, "--home", home, "--out",
              tmp_path / "m", code=2)  # fmt: skip
    assert message in res.stderr and len(res.stderr.strip().splitlines()) <= 2


def test_ml_train_with_r_as_a_regression_target_then_backtest(home, tmp_path):
    model = tmp_path / "model_r"
    res = run("research", "ml", "train", *STRATEGY, "--model", "rf", "--target", "r", "--end",
              "2022-01-01", "--home", home, "--out", model)  # fmt: skip
    meta = json.loads((model / "model.json").read_text())
    assert meta["target"] == "r" and "threshold predicted R" in res.stdout
    bt = tmp_path / "bt_r"
    run("backtest", "--strategy", "ml_filter", "-p", f"model={model}", "-s", "EURUSD", "-t",
        "H1", "--start", "2022-01-01", "--home", home, "--out", bt)  # fmt: skip
    params = json.loads((bt / "run.json").read_text())["config"]["strategy"]["params"]
    assert params["sha256"] == meta["sha256"]  # the filter pinned the model it loaded
    bad = run("research", "ml", "train", *STRATEGY, "--target", "profit", "--home", home,
              "--out", tmp_path / "m", code=2)  # fmt: skip
    assert "use 'win', 'r>X' (e.g. r>0.5) or 'r' (R itself)" in bad.stderr


def test_ml_evaluate_with_r_as_a_regression_target(home, tmp_path):
    out = tmp_path / "ev_r"
    res = run("research", "ml", "evaluate", *STRATEGY, "--model", "rf", "--target", "r",
              "--train", "6M", "--validation", "3M", "--test", "3M", "--home", home,
              "--out", out)  # fmt: skip
    doc = json.loads((out / "verdict.json").read_text())
    assert doc["target"] == "r" and doc["model"] == "rf" and len(doc["folds"]) == 3
    scores = doc["scores"]
    assert "roc_auc" not in scores and -1 <= scores["spearman"] <= 1 and scores["rmse_r"] > 0
    assert scores["oos_trades"] == len(doc["stitched"])
    thresholds = ", ".join("keep all" if f["threshold"] is None else f"{f['threshold']:.4f}"
                           for f in doc["folds"])  # fmt: skip
    text = " ".join(res.stdout.split())  # the console wraps long lines
    assert (f"OOS scores ({scores['oos_trades']} trades): Spearman's rho "
            f"{scores['spearman']:.4f}, RMSE {scores['rmse_r']:.4f} R; threshold (predicted R) "
            f"per fold: {thresholds}") in text  # fmt: skip
    assert f"verdict: {doc['verdict']}" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "profit"], "use 'win', 'r>X' (e.g. r>0.5) or 'r' (R itself)"),
        (["--train", "2D", "--validation", "2D"], "the train window has 0 trade(s)"),
    ],
)
def test_ml_evaluate_r_bad_input_is_one_line_and_exit_2(home, tmp_path, args, message):
    res = run("research", "ml", "evaluate", *STRATEGY, "--model", "rf", "--target", "r",
              "--train", "6M", "--validation", "3M", "--test", "3M", *args, "--home", home,
              "--out", tmp_path / "ev", code=2)  # fmt: skip
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ev").exists()
