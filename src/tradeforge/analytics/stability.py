"""Stability of a run across time windows.

The run (first to last equity bar; trade times when there is no equity curve) is split into
``n`` windows of equal calendar length, or into calendar years (UTC). A trade belongs to the
window its exit falls in. Each window reports its trade statistics and the return of the equity
curve over the window (from the equity at the end of the previous window, or the initial
capital). The summary gives the share of profitable windows (closed-trade net profit > 0) and
the dispersion (sample std, and std / |mean|) of the per-window expectancy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeforge.analytics._data import Equity, Trades, ts
from tradeforge.analytics.breakdowns import BREAKDOWN_STATS, grouped_stats
from tradeforge.analytics.metrics import num

WINDOW_COLUMNS: tuple[str, ...] = (
    "window",
    "start",
    "end",
    *BREAKDOWN_STATS,
    "return_pct",
    "max_drawdown_pct",
)


def _edges_equal(t0: int, t1: int, n: int) -> np.ndarray:
    edges = t0 + np.floor(np.arange(n + 1) * ((t1 - t0) / n)).astype(np.int64)
    edges[-1] = t1 + 1  # the last window includes the last bar
    return edges


def _edges_years(t0: int, t1: int) -> np.ndarray:
    y0, y1 = pd.Timestamp(t0, tz="UTC").year, pd.Timestamp(t1, tz="UTC").year
    years = [pd.Timestamp(f"{y}-01-01", tz="UTC").as_unit("ns").value for y in range(y0, y1 + 2)]
    edges = np.asarray(years, dtype=np.int64)
    edges[0], edges[-1] = t0, max(int(edges[-1]), t1 + 1)
    return edges


def _equity_window_stats(eq: Equity, initial: float, edges: np.ndarray):
    k = len(edges) - 1
    ret, mdd = np.full(k, np.nan), np.full(k, np.nan)
    if eq.n == 0:
        return ret, mdd
    bounds = np.searchsorted(eq.t, edges, side="left")
    for i in range(k):
        lo, hi = bounds[i], bounds[i + 1]
        start = eq.equity[lo - 1] if lo > 0 else initial
        if hi <= lo:
            continue
        seg = eq.equity[lo:hi]
        ret[i] = 100.0 * (seg[-1] / start - 1.0) if start else np.nan
        peak = np.maximum.accumulate(np.maximum(seg, start))
        mdd[i] = float((100.0 * (seg - peak) / peak).min()) if (peak > 0).all() else np.nan
    return ret, mdd


def stability(
    tr: Trades, eq: Equity, initial_capital: float, windows: int | None = 4
) -> dict | None:
    """Per-window table and summary; ``windows=None`` splits by calendar year.

    Returns None when the run has neither equity bars nor trades.
    """
    if eq.n:
        t0, t1 = int(eq.t[0]), int(eq.t[-1])
    elif tr.n:
        t0, t1 = int(tr.entry_ns.min()), int(tr.exit_ns.max())
    else:
        return None
    if windows is None:
        edges, mode = _edges_years(t0, t1), "year"
    else:
        if windows < 1:
            raise ValueError("windows must be >= 1")
        edges, mode = _edges_equal(t0, t1, int(windows)), "equal"
    k = len(edges) - 1
    codes = np.clip(np.searchsorted(edges, tr.exit_ns, side="right") - 1, 0, k - 1)
    labels = (
        [str(pd.Timestamp(int(e), tz="UTC").year) for e in edges[:-1]]
        if mode == "year"
        else [str(i + 1) for i in range(k)]
    )
    stats = grouped_stats(codes.astype(np.int64), labels, tr, "window").set_index("window")
    stats = stats.reindex(labels)
    stats["trades"] = stats["trades"].fillna(0).astype(np.int64)
    for col in ("net_profit", "gross_profit", "gross_loss"):
        stats[col] = stats[col].fillna(0.0)
    ret, mdd = _equity_window_stats(eq, initial_capital, edges)
    table = stats.reset_index()
    table.insert(1, "start", [ts(e) for e in edges[:-1]])
    table.insert(2, "end", [ts(min(int(e), t1 + 1) - 1) for e in edges[1:]])
    table["return_pct"] = ret
    table["max_drawdown_pct"] = mdd
    table = table[list(WINDOW_COLUMNS)]

    exp = table["expectancy"].to_numpy(dtype=np.float64)
    exp_r = table["expectancy_r"].to_numpy(dtype=np.float64)
    profitable = int((table["net_profit"].to_numpy() > 0).sum())
    return {
        "mode": mode,
        "windows": k,
        "profitable_windows": profitable,
        "profitable_share_pct": 100.0 * profitable / k,
        **_dispersion("expectancy", exp),
        **_dispersion("expectancy_r", exp_r),
        "table": table,
    }


def _dispersion(name: str, values: np.ndarray) -> dict:
    v = values[~np.isnan(values)]
    mean = float(v.mean()) if len(v) else None
    std = float(np.std(v, ddof=1)) if len(v) > 1 else None
    cv = num(std / abs(mean)) if std is not None and mean else None
    return {f"{name}_mean": mean, f"{name}_std": std, f"{name}_cv": cv}
