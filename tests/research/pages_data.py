"""Hand-built research results for the page tests (no search runs: the pages only read them)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tradeforge.analytics.sample import sample_result
from tradeforge.research.consistency import compare_trades
from tradeforge.research.objective import Objective
from tradeforge.research.optimize import OptimizeResult, rank_trials
from tradeforge.research.space import ParameterSpace
from tradeforge.research.walkforward import WalkForwardResult
from tradeforge.strategy import get_strategy

#: the grid of the optimisation result: fast 5..30 step 5 x slow 20, 40, 60 (18 cells)
FAST, SLOW = (5, 10, 15, 20, 25, 30), (20, 40, 60)


def optimize_result() -> OptimizeResult:
    """18 trials: fast >= slow is invalid; fewer than 40 trades is rejected; one cell (15, 60)
    has undefined objective. Objective = fast / 100 - slow / 1000 where defined."""
    obj = Objective.build("expectancy_r", min_trades=40)
    space = ParameterSpace.from_specs(get_strategy("sma_cross"), ["fast=5:30:5", "slow=20,40,60"])
    rows = []
    for i, (fast, slow) in enumerate((f, s) for f in FAST for s in SLOW):
        trades = 100 - fast * 2 - slow // 2
        value = fast / 100 - slow / 1000
        if fast >= slow:
            status, value, trades = "invalid", math.nan, math.nan
        elif (fast, slow) == (15, 60):
            status, value = "undefined", math.nan
        elif trades < 40:
            status = "rejected"
        else:
            status = "ok"
        rows.append({"trial_id": i, "fast": fast, "slow": slow, "status": status,
                     "objective": value, "failed": "trades>=40" if status == "rejected" else "",
                     "error": "", "trades": float(trades), "net_profit": value * 1000})  # fmt: skip
    trials = pd.DataFrame(rows)
    trials["rank"] = rank_trials(trials, obj)
    return OptimizeResult(trials, space, obj, "grid", 0)


def walkforward_result() -> WalkForwardResult:
    """Three folds of 100 hourly bars each; fold k's OOS equity rises by k * 10 per bar."""
    folds, parts = [], []
    level = 10_000.0
    for k in range(3):
        start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=100 * k)
        idx = pd.date_range(start, periods=100, freq="1h")
        eq = level + (k + 1) * 10.0 * np.arange(1, 101)
        level = float(eq[-1])
        parts.append(pd.DataFrame({"equity": eq, "fold": k}, index=idx))
        folds.append({"fold": k, "test_start": idx[0], "test_end": idx[-1], "fast": 5 + k,
                      "slow": 30, "status": "ok", "is_objective": 0.1 * (k + 1),
                      "oos_objective": 0.05 * (k + 1) - 0.08, "oos_trades": 10 + k})  # fmt: skip
    summary = {"objective": "expectancy_r", "folds": 3, "folds_evaluated": 3}
    return WalkForwardResult(pd.DataFrame(folds), pd.DataFrame(), pd.concat(parts), None, summary)


def consistency_inputs() -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """A sample run's trades as expected; as actual, the same minus the last 5, every entry
    1 pip worse and 30 s later."""
    result, _ = sample_result(60, 3_000, seed=4)
    expected = result.trades
    actual = expected.iloc[:-5].copy()
    side = np.where(actual["side"] == "long", 1.0, -1.0)
    actual["entry_price"] = actual["entry_price"] + side * 0.0001
    actual["entry_time"] = actual["entry_time"] + pd.Timedelta(seconds=30)
    doc = compare_trades(expected, actual, tolerance="1min")
    return doc, expected, actual
