"""The filter's batch scoring (inputs read at the signal bars only, one prediction call)
against the straightforward path: every signal's row read on its own and scored alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.analytics.indicators import strategy_indicators
from tradeforge.backtest import run_backtest
from tradeforge.core.instruments import Instrument
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.research.featureset import build_dataset
from tradeforge.research.featureset.spec import FeatureSpec
from tradeforge.research.ml import ModelArtifact, fit_filter, ml_filter
from tradeforge.research.ml.filter import keep_signals, model_inputs
from tradeforge.strategy import create_strategy
from tradeforge.strategy.base import Strategy
from tradeforge.strategy.signals import Signals, make_signals

#: NaN warm-up (zscore), 0/1 flags and integer counters: every kind of value the batch reads
SPEC = FeatureSpec(("zscore(20)", "sessions", "bar_index"),
                   ("zscore_20", "session_london", "bar_in_day"))  # fmt: skip
PARAMS = {"fast": 3, "slow": 12, "stop_pips": 6, "target_pips": 8}


def one_row(frame: pd.DataFrame, bar: int, side: int) -> pd.DataFrame:
    """One signal's model inputs, read the plain way."""
    values = [float(frame[c].iloc[bar]) for c in SPEC.columns]
    return pd.DataFrame([[*values, float(side)]], columns=list(SPEC.inputs))


class OneByOne(Strategy):
    """The wrapped strategy's signals kept where the model, asked once per signal, reaches
    the threshold."""

    name = "t_ml_one_by_one"

    def __init__(self, inner: Strategy, art: ModelArtifact, threshold: float) -> None:
        super().__init__()
        self.inner, self.art, self.threshold = inner, art, threshold

    def features(self) -> list[str]:
        return list(dict.fromkeys([*self.inner.features(), *SPEC.requests]))

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        sig = self.inner.signals(frame, instrument)
        keep = [self.art.predict(one_row(frame, int(b), int(s)))[0] >= self.threshold
                for b, s in zip(sig.bar, sig.side, strict=True)]  # fmt: skip
        return keep_signals(sig, np.array(keep, dtype=bool))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    bars = generate_bars("EURUSD", "M5", "2024-01-01", "2024-01-29", seed=3)
    inner = create_strategy("sma_cross", PARAMS)
    ds = build_dataset(inner, {"EURUSD": bars}, SPEC, timeframe="M5")
    n = len(ds)
    f = fit_filter(ds, np.arange(n // 2), np.arange(n // 2, n), kind="lightgbm", target=0.0)
    art = ModelArtifact(f.estimator, SPEC, f.threshold).save(tmp_path_factory.mktemp("m"))
    return bars, inner, art


def test_batch_filter_gives_the_one_by_one_trades(setup):
    bars, inner, art = setup
    frame = ml_filter(inner, art).compute_features(bars, "M5")
    p = art.predict(model_inputs(frame, inner.signals(frame, "EURUSD"), SPEC.columns))
    threshold = float(np.median(p))  # about half the signals pass
    plain = run_backtest(inner, {"EURUSD": bars}, timeframe="M5").trades
    batch = run_backtest(ml_filter(inner, art, threshold=threshold), {"EURUSD": bars},
                         timeframe="M5").trades  # fmt: skip
    single = run_backtest(OneByOne(inner, art, threshold), {"EURUSD": bars},
                          timeframe="M5").trades  # fmt: skip
    assert 0 < len(batch) < len(plain)  # the filter really skipped signals
    pd.testing.assert_frame_equal(batch, single)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), density=st.floats(0.0, 0.2))
def test_batch_inputs_and_scores_equal_each_signal_alone(setup, seed, density):
    bars, inner, art = setup
    frame = ml_filter(inner, art).compute_features(bars, "M5")
    n = len(frame)
    rng = np.random.default_rng(seed)
    mask, side = rng.random(n) < density, np.where(rng.random(n) < 0.5, 1, -1)
    sig = make_signals(n, mask, side[mask], stop_distance=0.001)
    batch = model_inputs(frame, sig, SPEC.columns)
    assert list(batch.columns) == list(SPEC.inputs) and len(batch) == int(mask.sum())
    rows = [one_row(frame, int(b), int(s)) for b, s in zip(sig.bar, sig.side, strict=True)]
    if rows:
        alone = pd.concat(rows, ignore_index=True)
        pd.testing.assert_frame_equal(batch, alone)
        one_by_one = np.array([art.predict(r)[0] for r in rows[:20]])
        np.testing.assert_array_equal(art.predict(batch)[:20], one_by_one)


def test_a_filtered_runs_charts_draw_the_wrapped_strategys_indicators_only(setup):
    bars, inner, art = setup
    config = {"strategy": ml_filter(inner, art).describe(), "timeframe": "M5"}
    ind = strategy_indicators(config, {"EURUSD": bars})["EURUSD"]
    assert ind.price == ("sma_3", "sma_12") and ind.panes == ()  # no zscore_20 pane
    assert "zscore(20)" in ml_filter(inner, art).features()  # still computed for the model
