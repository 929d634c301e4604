"""Regimes and feature expectancy on a seeded sample result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.analytics.sample import sample_result
from tradeforge.core.errors import ConfigError
from tradeforge.research._align import signal_bar_positions
from tradeforge.research.feature_stats import (
    analyze_features,
    bootstrap_ci,
    expectancy_by_quantile,
    psi,
    values_at_entry,
)
from tradeforge.research.regimes import (
    WARMUP,
    analyze_regimes,
    label_trades,
    quantile_labels,
    regime_labels,
)


@pytest.fixture(scope="module")
def sample():
    result, bars = sample_result(300, 6000, seed=3)
    return result, bars


def test_signal_bar_is_the_last_bar_at_or_before_the_signal():
    index = pd.date_range("2024-01-01", periods=5, freq="1h", tz="UTC")
    trades = pd.DataFrame(
        {
            "signal_time": pd.to_datetime(
                ["2024-01-01 01:00", "2024-01-01 02:30", "2023-12-31 00:00"], utc=True
            )
        }  # fmt: skip
    )
    assert signal_bar_positions(index, trades).tolist() == [1, 2, -1]
    trades = pd.DataFrame({"entry_time": pd.to_datetime(["2024-01-01 03:00"], utc=True)})
    assert signal_bar_positions(index, trades).tolist() == [2]


def test_weekday_labels_and_trade_alignment(sample):
    result, bars = sample
    labels = {"EURUSD": regime_labels(bars["EURUSD"], "weekday")}
    trade_labels = label_trades(result, labels)
    expected = pd.DatetimeIndex(result.trades["signal_time"]).day_of_week
    names = np.array(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
    assert trade_labels.tolist() == names[expected].tolist()


def test_regime_tables_partition_the_trades(sample):
    result, bars = sample
    out = analyze_regimes(result, bars, ["trend", "volatility", "session", "feature:rsi(14):4"],
                          timeframe="M5")  # fmt: skip
    for seg, item in out.items():
        table = item["table"]
        assert table["trades"].sum() == len(result.trades), seg
        assert table["net_profit"].sum() == pytest.approx(result.trades["pnl"].sum())
        assert table["trades_pct"].sum() == pytest.approx(100.0)
        assert set(item["curves"]) == set(table["regime"])
    vol = out["volatility"]["table"]
    assert set(vol["regime"]) <= {"low", "mid", "high", WARMUP}


def test_unknown_regime():
    with pytest.raises(ConfigError, match="unknown regime"):
        regime_labels(pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC")), "moon")


def test_quantile_labels_split_evenly():
    labels, edges = quantile_labels(np.r_[np.arange(100.0), np.nan], 4, ["a", "b", "c", "d"])
    assert labels[-1] == WARMUP
    assert [int((labels == x).sum()) for x in "abcd"] == [25, 25, 25, 25]
    assert edges[0] == 0 and edges[-1] == 99


def test_expectancy_by_quantile_by_hand():
    values = np.arange(10.0)
    r = np.array([-1, -1, -1, -1, 1, 1, 2, 2, 2, 2], dtype=float)
    table = expectancy_by_quantile(values, r, q=2, n_boot=200, seed=1)
    assert table["trades"].tolist() == [5, 5]
    assert table["expectancy_r"].tolist() == pytest.approx([-0.6, 1.8])
    assert table["win_rate_pct"].tolist() == pytest.approx([20.0, 100.0])
    again = expectancy_by_quantile(values, r, q=2, n_boot=200, seed=1)
    pd.testing.assert_frame_equal(table, again)
    row = table.iloc[0]
    assert row["expectancy_r_ci_low"] <= -0.6 <= row["expectancy_r_ci_high"]


def test_bootstrap_interval_narrows_with_more_data():
    rng = np.random.default_rng(0)
    small = bootstrap_ci(rng.normal(0, 1, 30), n_boot=500, level=0.9, rng=rng)
    large = bootstrap_ci(rng.normal(0, 1, 3000), n_boot=500, level=0.9, rng=rng)
    assert large[1] - large[0] < small[1] - small[0]


def test_psi_zero_for_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, 5000)
    assert psi(a, a) == pytest.approx(0.0)
    assert psi(a, rng.normal(0, 1, 5000)) < 0.05
    assert psi(a, rng.normal(1.5, 1, 5000)) > 0.25


def test_feature_analysis_end_to_end(sample):
    result, bars = sample
    doc = analyze_features(result.trades, bars, ["rsi(14)", "ema(20)", "sma(20)"],
                           timeframe="M5", q=4, n_boot=100, seed=0)  # fmt: skip
    assert set(doc["features"]) == {"rsi_14", "ema_20", "sma_20"}
    q = doc["features"]["rsi_14"]["quantiles"]
    assert q["trades"].sum() == len(result.trades)
    assert doc["features"]["ema_20"]["drift"]["flag"] in ("stable", "moderate", "drift")
    assert {frozenset((p["a"], p["b"])) for p in doc["redundant"]} >= {
        frozenset(("ema_20", "sma_20"))
    }
    feats = {"EURUSD": bars["EURUSD"][["close"]]}
    at = values_at_entry(feats, result.trades)
    pos = signal_bar_positions(bars["EURUSD"].index, result.trades)
    assert at["close"].to_numpy() == pytest.approx(bars["EURUSD"]["close"].to_numpy()[pos])
