"""R as a regression target: regressors of R, the threshold on predicted R chosen on
validation trades, the artifact and the filter, and the verdict on the market of
test_ml.py where a context truly predicts the outcome."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.research.featureset import build_dataset, parse_target
from tradeforge.research.featureset.dataset import target_name
from tradeforge.research.ml import (
    MODEL_KINDS,
    ModelArtifact,
    evaluate_filter,
    fit_filter,
    ml_filter,
)
from tradeforge.research.ml.train import ThresholdRules, choose_threshold
from tradeforge.strategy import create_strategy

from .conftest import synthetic_dataset
from .test_ml import HOUR_SPEC, WF, TwoHoursLong, hour_bars


def test_the_r_target_is_a_regression():
    assert parse_target("r", regression=True) is None and target_name(None) == "r"
    assert parse_target("R > 0.5", regression=True) == 0.5
    with pytest.raises(ConfigError, match=r"use 'win' or 'r>X'"):
        parse_target("r")  # a label is needed here (feature analysis)
    ds = synthetic_dataset(50)
    np.testing.assert_array_equal(ds.outcome(None), ds.r)
    np.testing.assert_array_equal(ds.outcome(0.0), ds.labels(0.0))


def test_threshold_on_predicted_r_by_hand():
    pred = np.array([-0.5, -0.2, 0.1, 0.4, 0.9, 1.2])
    r = np.array([-1.0, -1.0, 1.5, -1.0, 1.5, 1.5])
    rules = ThresholdRules(min_keep=0.3, min_trades=2)
    # keeping the two highest predictions gives mean R 1.5, the best with >= 2 trades (30 % of
    # 6 is 1.8 -> 2); the threshold is the first candidate quantile that keeps just those
    t = choose_threshold(pred, r, rules, -math.inf)
    assert (pred >= t).tolist() == [False] * 4 + [True] * 2 and 0.4 <= t <= 0.9
    flat = np.array([1.0, 1.0, 1.0])  # nothing beats keeping everything: keep every signal
    assert choose_threshold(np.array([0.1, 0.2, 0.3]), flat, rules, -math.inf) == -math.inf


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_regressors_learn_r_deterministically(tmp_path, kind):
    ds = synthetic_dataset(600)
    train, val = np.arange(0, 400), np.arange(420, 600)
    fits = [fit_filter(ds, train, val, kind=kind, target=None, seed=3) for _ in range(2)]
    assert not hasattr(fits[0].estimator, "predict_proba")  # a regressor, not calibrated
    meta = {"target": "r", "model": kind}
    arts = [ModelArtifact(f.estimator, ds.spec, f.threshold, meta).save(tmp_path / str(k))
            for k, f in enumerate(fits)]  # fmt: skip
    assert arts[0].sha256 == arts[1].sha256
    loaded = ModelArtifact.load(arts[0].path)
    assert loaded.regression and loaded.threshold == fits[0].threshold
    pred = loaded.predict(ds.X)
    np.testing.assert_array_equal(pred, ModelArtifact.load(arts[1].path).predict(ds.X))
    assert np.corrcoef(pred[400:], ds.r[400:])[0, 1] > 0.3  # it learned the planted signal


def test_a_keep_everything_threshold_is_stored_as_null(tmp_path):
    ds = synthetic_dataset(300)
    f = fit_filter(ds, np.arange(200), np.arange(210, 300), kind="lightgbm", target=None)
    meta = {"target": "r", "strategy": {"name": "sma_cross", "params": {}}}
    art = ModelArtifact(f.estimator, ds.spec, -math.inf, meta).save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "model.json").read_text())["threshold"] is None
    assert ModelArtifact.load(art.path).threshold == -math.inf
    # a regressor's threshold is in R, not a probability: any value may override it
    assert ml_filter(create_strategy("sma_cross", {}), art, threshold=1.5).threshold == 1.5
    with pytest.raises(DataError, match="validation window has 1 trade"):
        fit_filter(ds, np.arange(200), np.arange(210, 211), kind="rf", target=None)


def test_verdict_keeps_a_regression_filter_that_truly_helps():
    bars = {"EURUSD": hour_bars(edge=True)}
    strat = TwoHoursLong()
    ds = build_dataset(strat, bars, HOUR_SPEC, timeframe="H1")
    doc = evaluate_filter(strat, bars, ds, WF, kind="lightgbm", target=None, embargo="1D")
    assert doc["target"] == "r" and doc["verdict"] == "keep", doc["checks"]
    assert doc["oos"]["with"]["expectancy_r"] > doc["oos"]["without"]["expectancy_r"] + 0.2
    assert doc["scores"]["spearman"] > 0.2 and "roc_auc" not in doc["scores"]
    assert all(np.isfinite(doc["folds"]["threshold"]))  # each fold chose a cut on predicted R


def test_explain_a_regressor_of_r(tmp_path):
    from tradeforge.research.ml.explain import explain

    ds = synthetic_dataset(600)
    f = fit_filter(ds, np.arange(400), np.arange(420, 600), kind="rf", target=None)
    art = ModelArtifact(f.estimator, ds.spec, f.threshold, {"model": "rf", "target": "r"})
    doc = explain(art.save(tmp_path / "m"), ds, tmp_path / "x", repeats=3)
    table = doc["importance"]
    assert table["feature"][0] in ("good", "twin") and doc["shap"].startswith("shap")
    assert table.sort_values("mean_abs_shap")["feature"].iloc[-1] in ("good", "twin")
    for name in ("importance.png", "shap.png", "pdp.png"):
        assert (tmp_path / "x" / name).read_bytes()[:4] == b"\x89PNG"
