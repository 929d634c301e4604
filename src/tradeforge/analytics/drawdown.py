"""Drawdown of the marked-to-market equity curve.

The running peak starts at the initial capital, so a run that loses from its first bar is in
drawdown from its first bar. Drawdown is reported both in money (``equity - peak``, <= 0) and
in percent of the running peak (<= 0).

* ``max_drawdown`` / ``max_drawdown_pct``: the deepest money and percent drawdowns (they may
  belong to different episodes when the account compounds).
* The *episode* (``peak_time``, ``trough_time``, ``recovery_time``, ``duration_s``) is that of
  the deepest percent drawdown: from the last bar at the running peak before the trough to the
  first bar back at (or above) that peak; unrecovered episodes run to the last bar.
* ``longest_underwater_s``: the longest span between a bar at the peak and the next one (or the
  last bar), whatever its depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradeforge.analytics._data import Equity, ts


@dataclass(frozen=True)
class DrawdownSeries:
    t: np.ndarray  # int64 ns
    peak: np.ndarray
    money: np.ndarray  # equity - peak (<= 0)
    pct: np.ndarray  # 100 * (equity - peak) / peak (<= 0)


def drawdown_series(eq: Equity, initial_capital: float) -> DrawdownSeries:
    peak = np.maximum.accumulate(np.maximum(eq.equity, initial_capital)) if eq.n else eq.equity
    money = eq.equity - peak
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(peak > 0, 100.0 * money / peak, np.nan)
    return DrawdownSeries(t=eq.t, peak=peak, money=money, pct=pct)


def _underwater_spans(at_peak: np.ndarray, t: np.ndarray):
    """(start time, end time, recovered) of every run of bars below the peak."""
    under = np.r_[False, ~at_peak, False].astype(np.int8)
    edges = np.diff(under)
    s, e = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # run = bars [s, e)
    n = len(t)
    start = t[np.maximum(s - 1, 0)]
    end = t[np.minimum(e, n - 1)]
    return start, end, e < n


EMPTY_STATS: dict = {
    "max_drawdown": None,
    "max_drawdown_pct": None,
    "peak_time": None,
    "trough_time": None,
    "recovery_time": None,
    "recovered": None,
    "duration_s": None,
    "longest_underwater_s": None,
    "longest_underwater_start": None,
    "longest_underwater_end": None,
}


def drawdown_stats(dd: DrawdownSeries) -> dict:
    """The "drawdown" section of the report (see the module docstring)."""
    n = len(dd.t)
    if n == 0:
        return dict(EMPTY_STATS)
    out = dict(EMPTY_STATS)
    out["max_drawdown"] = float(dd.money.min())
    pct = np.nan_to_num(dd.pct, nan=0.0)
    trough = int(np.argmin(pct))
    out["max_drawdown_pct"] = float(pct[trough])
    at_peak = dd.money >= 0
    if pct[trough] < 0:
        before = np.flatnonzero(at_peak[: trough + 1])
        start = int(before[-1]) if len(before) else 0
        after = np.flatnonzero(at_peak[trough:])
        recovered = len(after) > 0
        end = trough + int(after[0]) if recovered else n - 1
        out.update(
            peak_time=ts(dd.t[start]),
            trough_time=ts(dd.t[trough]),
            recovery_time=ts(dd.t[end]) if recovered else None,
            recovered=recovered,
            duration_s=(int(dd.t[end]) - int(dd.t[start])) / 1e9,
        )
    else:
        out["max_drawdown_pct"] = 0.0
    starts, ends, _ = _underwater_spans(at_peak, dd.t)
    if len(starts):
        spans = ends - starts
        k = int(np.argmax(spans))
        out.update(
            longest_underwater_s=int(spans[k]) / 1e9,
            longest_underwater_start=ts(starts[k]),
            longest_underwater_end=ts(ends[k]),
        )
    else:
        out["longest_underwater_s"] = 0.0
    return out
