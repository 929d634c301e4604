"""Backtest vs dry-run consistency: matching, slippage signs, deltas, checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.research.consistency import (
    Thresholds,
    compare_trades,
    ks_statistic,
    match_trades,
)


def _trades(times, sides, prices, pnl=None, tags=None, symbol="EURUSD"):
    n = len(times)
    entry = pd.to_datetime(times, utc=True)
    pnl = np.asarray(pnl if pnl is not None else np.full(n, 10.0))
    return pd.DataFrame(
        {
            "trade_id": np.arange(n),
            "symbol": symbol,
            "tag": tags or ["t"] * n,
            "side": sides,
            "signal_time": entry - pd.Timedelta("1h"),
            "entry_time": entry,
            "entry_price": prices,
            "exit_time": entry + pd.Timedelta("3h"),
            "exit_price": np.asarray(prices) + 0.001,
            "size": 1.0,
            "initial_stop": np.asarray(prices) - 0.002,
            "risk": 200.0,
            "pnl": pnl,
            "commission": 0.0,
            "r_multiple": pnl / 200.0,
            "exit_reason": "target",
            "bars_held": 3,
        }
    )


def test_matching_with_tolerance_is_one_to_one_and_nearest_first():
    exp = _trades(["2024-01-01 10:00", "2024-01-01 10:10", "2024-01-02 00:00"],
                  ["long", "long", "short"], [1.1, 1.1, 1.2])  # fmt: skip
    act = _trades(["2024-01-01 10:08", "2024-01-01 10:01", "2024-01-02 00:00"],
                  ["long", "long", "long"], [1.1, 1.1, 1.2])  # fmt: skip
    pe, pa = match_trades(exp, act, "10min")
    # 10:00 <-> 10:01 (1 min), 10:10 <-> 10:08 (2 min); the short has no long partner
    assert pe.tolist() == [0, 1] and pa.tolist() == [1, 0]
    pe, _ = match_trades(exp, act, "0s")
    assert len(pe) == 0


def test_report_counts_slippage_and_checks():
    times = ["2024-01-01 10:00", "2024-01-01 12:00", "2024-01-01 14:00", "2024-01-01 16:00"]
    exp = _trades(times, ["long", "short", "long", "long"], [1.10000, 1.20000, 1.3, 1.4])
    act = _trades(times[:3] + ["2024-01-05 00:00"], ["long", "short", "long", "long"],
                  [1.10010, 1.19990, 1.3, 1.4])  # fmt: skip
    doc = compare_trades(exp, act, tolerance="1min")
    s = doc["summary"]
    assert (s["matched"], s["missing"], s["extra"]) == (3, 1, 1)
    m = doc["matched"]
    # long bought 1 pip higher, short sold 1 pip lower: both +1 pip (worse)
    assert m["entry_slippage_pips"].tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert s["match_rate_pct"] == pytest.approx(75.0)
    checks = {c["check"]: c["passed"] for c in doc["checks"]}
    assert checks["match_rate_pct"] is False and doc["passed"] is False
    assert doc["metrics"]["trades"]["delta"] == 0


def test_identical_sets_pass():
    exp = _trades(["2024-01-01 10:00", "2024-01-02 10:00"], ["long", "short"], [1.1, 1.2],
                  pnl=[50.0, -20.0])  # fmt: skip
    doc = compare_trades(exp, exp.copy())
    assert doc["passed"] is True
    assert doc["summary"]["mean_entry_slippage_pips"] == 0.0
    assert all(v["delta"] == 0 for v in doc["metrics"].values())
    assert doc["r_distribution"]["ks_statistic"] == 0.0


def test_thresholds_can_be_relaxed():
    exp = _trades(["2024-01-01 10:00"], ["long"], [1.1])
    act = _trades(["2024-01-01 10:05"], ["long"], [1.1005])
    strict = compare_trades(exp, act, tolerance="10min")
    assert not strict["passed"]  # 5 pips of slippage
    loose = compare_trades(exp, act, tolerance="10min",
                           thresholds=Thresholds(max_mean_slippage_pips=10))  # fmt: skip
    assert loose["passed"]
    assert loose["summary"]["mean_entry_delay_s"] == 300.0


def test_ks_statistic_by_hand():
    d, p = ks_statistic(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    assert d == 0.0 and p == 1.0
    d, _ = ks_statistic(np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0, 5.0, 6.0]))
    assert d == pytest.approx(0.5)
    d, p = ks_statistic(np.zeros(500), np.ones(500))
    assert d == 1.0 and p < 1e-10


def test_open_trades_match_on_entry_and_stay_out_of_exits_and_metrics():
    """The monitor's case: a trade still open (no exit) on one side. It pairs on its entry;
    its exit delay is NaN; metrics count closed trades only; the new count checks apply."""
    times = ["2024-01-01 10:00", "2024-01-01 12:00"]
    exp = _trades(times, ["long", "long"], [1.1, 1.2], pnl=[50.0, 30.0])
    act = exp.copy()
    for col in ("exit_time", "exit_price", "pnl", "r_multiple"):  # the second is still open
        act.loc[1, col] = pd.NaT if col == "exit_time" else np.nan
    doc = compare_trades(exp, act, thresholds=Thresholds(max_missing=0, max_extra=0,
                                                         max_trades_delta=0))  # fmt: skip
    s = doc["summary"]
    assert (s["matched"], s["missing"], s["extra"]) == (2, 0, 0)
    assert doc["matched"]["exit_delay_s"].tolist()[0] == 0.0
    assert np.isnan(doc["matched"]["exit_delay_s"].tolist()[1])
    assert s["mean_exit_delay_s"] == 0.0
    trades = doc["metrics"]["trades"]
    assert (trades["expected"], trades["actual"], trades["delta"]) == (2, 1, -1)
    checks = {c["check"]: (c["value"], c["passed"]) for c in doc["checks"]}
    assert checks["missing"] == (0, True) and checks["extra"] == (0, True)
    assert checks["trades_delta"] == (1, False)
