"""Phase 3: purged folds, deterministic models, hashed artifacts, the filter as a strategy
(backtest = dry-run), and the verdict on data where the filter helps and where it cannot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.instruments import Instrument
from tradeforge.research.featureset import LeakageError, build_dataset
from tradeforge.research.featureset.spec import FeatureSpec
from tradeforge.research.ml import (
    MODEL_KINDS,
    MLFilter,
    ModelArtifact,
    check_fold,
    evaluate_filter,
    fit_filter,
    ml_filter,
    purged_folds,
)
from tradeforge.research.ml.workflow import bar_times
from tradeforge.research.walkforward import WalkForwardConfig
from tradeforge.strategy.base import Strategy, StrategyParams
from tradeforge.strategy.registry import register_strategy
from tradeforge.strategy.signals import Signals, Target, make_signals

from .conftest import synthetic_dataset


# -- purged walk-forward folds ------------------------------------------------------------------
def test_purge_drops_trades_whose_life_reaches_the_next_window():
    ds = synthetic_dataset(400)  # a trade every 6 h, living 3 h
    frame = ds.frame.copy()
    frame.loc[100, "exit_time"] = frame.loc[100, "signal_time"] + pd.Timedelta("60D")  # long life
    ds = type(ds)(frame, ds.spec, "H1")
    times = pd.date_range("2020-01-01", periods=400 * 6, freq="h", tz="UTC")
    cfg = WalkForwardConfig.build("20D", "10D", validation="10D")
    folds = purged_folds(ds, times, cfg)
    first = folds[0]
    assert 100 not in first.train_rows and first.purged >= 1  # it overlaps validation/test
    sig, end = ds.times_ns("signal_time"), ds.times_ns("exit_time")
    for f in folds:
        assert (end[f.train_rows] < f.validation[0]).all()
        assert (end[f.validation_rows] < f.test[0]).all()
        assert ((sig[f.test_rows] >= f.test[0]) & (sig[f.test_rows] < f.test[1])).all()
    embargoed = purged_folds(ds, times, cfg, embargo="2D")[0]
    assert len(embargoed.train_rows) == len(first.train_rows) - 8  # 2 days of 4 trades a day
    with pytest.raises(ConfigError, match="validation window"):
        purged_folds(ds, times, WalkForwardConfig.build("20D", "10D"))


def test_a_label_overlapping_the_test_fold_is_caught():
    ds = synthetic_dataset(400)
    times = pd.date_range("2020-01-01", periods=400 * 6, freq="h", tz="UTC")
    fold = purged_folds(ds, times, WalkForwardConfig.build("20D", "10D", validation="10D"))[0]
    last_val = fold.validation_rows[-1]
    leaky = type(fold)(**{**fold.__dict__, "validation_rows": np.r_[fold.validation_rows,
                                                                      last_val + 1]})  # fmt: skip
    with pytest.raises(LeakageError, match="validation trade signalled .* inside the next window"):
        check_fold(ds, leaky)
    with pytest.raises(LeakageError, match="embargo"):
        check_fold(ds, fold, embargo="1D")  # the fold was purged without an embargo


# -- determinism and artifacts ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_same_seed_same_model_hash_and_predictions(tmp_path, kind):
    ds = synthetic_dataset(600)
    train, val = np.arange(0, 400), np.arange(420, 600)
    arts = []
    for k, seed in enumerate((3, 3, 4)):
        f = fit_filter(ds, train, val, kind=kind, target=0.0, seed=seed)
        arts.append(ModelArtifact(f.estimator, ds.spec, f.threshold).save(tmp_path / str(k)))
    assert arts[0].sha256 == arts[1].sha256
    p0, p1 = (ModelArtifact.load(a.path).predict(ds.X) for a in arts[:2])
    np.testing.assert_array_equal(p0, p1)
    assert arts[2].sha256 != arts[0].sha256  # the seed matters (subsampling)
    auc_rows = ds.labels(0.0)[400:]
    assert np.corrcoef(p0[400:], auc_rows)[0, 1] > 0.3  # it learned the planted signal


@pytest.mark.parametrize("target", [0.0, None])
def test_forest_trees_bootstrap_at_most_the_row_cap(tmp_path, monkeypatch, target):
    from tradeforge.research.ml import models

    ds = synthetic_dataset(600)
    train, val = np.arange(0, 400), np.arange(420, 600)

    def forest(seed: int):
        f = fit_filter(ds, train, val, kind="rf", target=target, seed=seed)
        return f.estimator if target is None else f.estimator.calibrated_classifiers_[0].estimator

    def draws(model) -> set[float]:  # bootstrap draws per tree (weights at the root)
        return {t.tree_.weighted_n_node_samples[0] for t in model.estimators_}

    assert draws(forest(0)) == {400.0}  # under the cap: the full bootstrap
    monkeypatch.setattr(models, "RF_TREE_ROWS", 100)
    capped = forest(0)
    assert draws(capped) == {100.0}
    a, b = (ModelArtifact(m, ds.spec, 0.0).save(tmp_path / k) for k, m in
            (("a", capped), ("b", forest(0))))  # fmt: skip
    assert a.sha256 == b.sha256  # still deterministic


def test_artifact_refuses_tampering_and_another_hash(tmp_path):
    ds = synthetic_dataset(300)
    f = fit_filter(ds, np.arange(200), np.arange(210, 300), kind="lightgbm", target=0.0)
    art = ModelArtifact(f.estimator, ds.spec, f.threshold, {"model": "lightgbm"}).save(tmp_path)
    assert ModelArtifact.load(tmp_path, art.sha256).threshold == art.threshold
    with pytest.raises(DataError, match="expected"):
        ModelArtifact.load(tmp_path, "0" * 64)
    blob = (tmp_path / "model.pkl").read_bytes()
    (tmp_path / "model.pkl").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(DataError, match="does not match the hash"):
        ModelArtifact.load(tmp_path)
    with pytest.raises(DataError, match="no model artifact"):
        ModelArtifact.load(tmp_path / "nothing")


# -- a market where a context really predicts the outcome ---------------------------------------
def hour_bars(n_days: int = 420, *, edge: bool, seed: int = 1) -> pd.DataFrame:
    """Continuous H1 bars; with ``edge`` the three hours after 08:00 UTC drift up strongly."""
    rng = np.random.default_rng(seed)
    n = n_days * 24
    index = pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC", name="time")
    step = rng.normal(0, 0.0010, n)
    if edge:
        step += np.where(np.isin(index.hour, (9, 10, 11)), 0.0012, 0.0)
    close = 1.2 + np.cumsum(step)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 0.0003, n)
    low = np.minimum(open_, close) - rng.uniform(0, 0.0003, n)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": 100.0, "spread": 0.00005}, index=index)  # fmt: skip


class HoursParams(StrategyParams):
    stop_pips: float = Field(15.0, gt=0)


@register_strategy
class TwoHoursLong(Strategy):
    """Long at the close of the 08:00 and 20:00 UTC bars, 1R target, 6-bar time stop."""

    name = "t_ml_two_hours"
    Params = HoursParams

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        inst = self.resolve_instrument(frame, instrument)
        mask = np.isin(frame.index.hour, (8, 20))
        return make_signals(len(frame), mask, 1, stop_distance=self.params.stop_pips * inst.pip_size,
                            targets=[Target(1.0, 1.0)], time_stop=6)  # fmt: skip


HOUR_SPEC = FeatureSpec(("bar_index", "zscore(20)"), ("bar_in_day", "zscore_20"))
WF = WalkForwardConfig.build("4M", "2M", validation="2M")


def _verdict(edge: bool) -> dict:
    bars = {"EURUSD": hour_bars(edge=edge)}
    strat = TwoHoursLong()
    ds = build_dataset(strat, bars, HOUR_SPEC, timeframe="H1")
    return evaluate_filter(strat, bars, ds, WF, kind="lightgbm", embargo="1D")


def test_verdict_keeps_a_filter_that_truly_helps():
    doc = _verdict(edge=True)
    assert doc["verdict"] == "keep", doc["checks"]
    assert doc["oos"]["with"]["expectancy_r"] > doc["oos"]["without"]["expectancy_r"] + 0.2
    assert doc["oos"]["with"]["trades"] < doc["oos"]["without"]["trades"]
    assert doc["scores"]["roc_auc"] > 0.7
    assert len(doc["folds"]) >= 3 and doc["bootstrap"]["ci_low"] > 0


def test_verdict_discards_a_filter_that_cannot_help():
    doc = _verdict(edge=False)
    assert doc["verdict"] == "discard" and doc["failed"]
    assert doc["bootstrap"]["ci_low"] <= 0


# -- the filter is a strategy: backtest and dry-run trade alike -------------------------------------
def test_dry_run_of_the_filtered_strategy_gives_the_backtest_trades(tmp_path):
    from tests.live.helpers import backtest_of, small_spec
    from tests.live.test_consistency import _assert_trades_equal
    from tradeforge.live.runner import run_dry, trades_frame
    from tradeforge.strategy import create_strategy

    params = {"fast": 3, "slow": 12, "stop_pips": 6, "target_pips": 8}
    base = small_spec(tmp_path, n_bars=400, seed=3, params=params, start="2024-01-01")
    bars = pd.read_parquet(base.live.bars_file)
    inner = create_strategy("sma_cross", params)
    spec = FeatureSpec(("zscore(20)", "sessions"), ("zscore_20", "session_london"))
    ds = build_dataset(inner, {"EURUSD": bars}, spec, timeframe="M5")
    from sklearn.tree import DecisionTreeClassifier  # any classifier: parity is the point

    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(ds.X, ds.labels(0.0))
    art = ModelArtifact(tree, spec, 0.5).save(tmp_path / "model")
    levels = np.unique(art.predict(ds.X))
    threshold = float(levels[len(levels) // 2])  # some of the trades' signals pass
    filtered = ml_filter(inner, art, threshold=threshold)
    assert isinstance(filtered, MLFilter) and filtered.describe()["name"] == "ml_filter"
    run = small_spec(tmp_path, n_bars=400, seed=3, strategy="ml_filter",
                     params=filtered.describe()["params"], start="2024-01-01", window=60)  # fmt: skip
    run_dry(tmp_path / "dry", run)
    bt = backtest_of(run, bars)
    _assert_trades_equal(trades_frame(tmp_path / "dry"), bt.trades)
    unfiltered = backtest_of(base, bars)
    assert 0 < len(bt.trades) < len(unfiltered.trades)  # the filter really skipped signals


def test_bar_times_merge_symbols():
    a = pd.DataFrame(index=pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"))
    b = pd.DataFrame(index=pd.date_range("2024-01-01 01:00", periods=3, freq="h", tz="UTC"))
    assert len(bar_times({"A": a, "B": b})) == 4


# -- explainability ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lightgbm", "rf"])
def test_explain_ranks_the_planted_feature_first(tmp_path, kind):
    from tradeforge.research.ml.explain import explain

    ds = synthetic_dataset(600)
    f = fit_filter(ds, np.arange(400), np.arange(420, 600), kind=kind, target=0.0)
    art = ModelArtifact(f.estimator, ds.spec, f.threshold, {"model": kind, "target": "win"})
    doc = explain(art.save(tmp_path / "m"), ds, tmp_path / "x", repeats=3)
    table = doc["importance"]
    assert table["feature"][0] in ("good", "twin")
    assert "mean_abs_shap" in table and doc["shap"].startswith("shap")
    shap_top = table.sort_values("mean_abs_shap", ascending=False)["feature"].iloc[0]
    assert shap_top in ("good", "twin")
    for name in ("importance.png", "shap.png", "pdp.png"):
        assert (tmp_path / "x" / name).read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "x" / "explain.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "good" in page
