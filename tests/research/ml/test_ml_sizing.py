"""Sizing by probability: the bounded map from a probability to a share of the configured
size, and a scaled filter trading the same trades — with the same sizes — in the backtest and
the dry-run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.core.errors import ConfigError
from tradeforge.research.featureset import build_dataset
from tradeforge.research.featureset.spec import FeatureSpec
from tradeforge.research.ml import ModelArtifact, fit_filter, ml_filter
from tradeforge.research.ml.filter import keep_signals, size_scale
from tradeforge.strategy import create_strategy
from tradeforge.strategy.signals import make_signals

from .conftest import synthetic_dataset


def test_size_scale_by_hand():
    p = np.array([0.6, 0.8, 1.0, 0.7, 0.55])
    # min_scale 0.25 at the threshold 0.6, 1 at p = 1: 0.25 + 0.75 * (p - 0.6) / 0.4
    expected = [0.25, 0.625, 1.0, 0.4375, 0.25]  # below the threshold: clipped (and skipped)
    np.testing.assert_allclose(size_scale(p, 0.6, 0.25), expected)
    assert size_scale(np.array([1.0]), 1.0, 0.25).tolist() == [1.0]  # no room: full size


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded machine
@given(
    p=st.lists(st.floats(0, 1), min_size=1, max_size=20),
    threshold=st.floats(0, 0.99),
    min_scale=st.floats(0.01, 1),
)
def test_size_scale_is_bounded_and_monotonic(p, threshold, min_scale):
    p = np.sort(np.asarray(p))
    s = size_scale(p, threshold, min_scale)
    assert ((s >= min_scale - 1e-12) & (s <= 1.0)).all()
    assert (np.diff(s) >= -1e-12).all()


def test_keep_signals_multiplies_the_strategy_own_scale():
    sig = make_signals(10, [1, 3, 5], 1, stop_distance=0.001, size_scale=[1.0, 0.5, 0.8])
    out = keep_signals(sig, np.array([True, True, False]), np.array([0.5, 0.5, 0.9]))
    assert out.bar.tolist() == [1, 3] and out.size_scale.tolist() == [0.5, 0.25]
    assert sig.size_scale.tolist() == [1.0, 0.5, 0.8]  # the wrapped table is untouched


def test_dry_run_of_a_filter_sizing_by_probability_gives_the_backtest_trades(tmp_path):
    from sklearn.tree import DecisionTreeClassifier  # any classifier: parity is the point

    from tests.live.helpers import backtest_of, small_spec
    from tests.live.test_consistency import _assert_trades_equal
    from tradeforge.live.runner import run_dry, trades_frame

    params = {"fast": 3, "slow": 12, "stop_pips": 6, "target_pips": 8}
    base = small_spec(tmp_path, n_bars=400, seed=3, params=params, start="2024-01-01")
    bars = pd.read_parquet(base.live.bars_file)
    inner = create_strategy("sma_cross", params)
    spec = FeatureSpec(("zscore(20)", "sessions"), ("zscore_20", "session_london"))
    ds = build_dataset(inner, {"EURUSD": bars}, spec, timeframe="M5")
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(ds.X, ds.labels(0.0))
    art = ModelArtifact(tree, spec, 0.0).save(tmp_path / "model")
    filtered = ml_filter(inner, art, sizing="scale", min_scale=0.3)
    assert filtered.describe()["params"]["sizing"] == "scale"
    run = small_spec(tmp_path, n_bars=400, seed=3, strategy="ml_filter", sizing="fixed:1",
                     params=filtered.describe()["params"], start="2024-01-01", window=60)  # fmt: skip
    run_dry(tmp_path / "dry", run)
    bt = backtest_of(run, bars).trades
    _assert_trades_equal(trades_frame(tmp_path / "dry"), bt)
    # by hand: fixed 1 lot = 100 steps of 0.01; each trade trades floor(100 * scale) steps,
    # scale = 0.3 + 0.7 * p (threshold 0) for the probability at its signal bar
    feats = spec.compute(bars, "M5")
    x = feats.loc[pd.DatetimeIndex(bt["signal_time"]), list(spec.columns)].reset_index(drop=True)
    x["side"] = np.where(bt["side"] == "long", 1.0, -1.0)
    p = art.predict(x)
    lots = [math.floor(100 * (0.3 + 0.7 * q) + 1e-9) / 100 for q in p]
    assert bt["size"].tolist() == pytest.approx(lots)
    assert len(set(lots)) > 1  # sizes really follow the probability


def test_a_regressor_cannot_size_by_probability(tmp_path):
    ds = synthetic_dataset(300)
    f = fit_filter(ds, np.arange(200), np.arange(210, 300), kind="lightgbm", target=None)
    meta = {"target": "r", "strategy": {"name": "sma_cross", "params": {}}}
    art = ModelArtifact(f.estimator, ds.spec, f.threshold, meta).save(tmp_path / "m")
    with pytest.raises(ConfigError, match="sizing by probability needs a classifier"):
        ml_filter(create_strategy("sma_cross", {}), art, sizing="scale")
