"""Per-group trade tables (symbol, tag, side, exit reason, exit month, exit year) and calendar
returns of the equity curve. Grouping is one ``np.bincount`` per statistic (vectorized)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeforge.analytics._data import Equity, Trades
from tradeforge.analytics.metrics import daily_closes

#: Columns of every breakdown table after the group column.
BREAKDOWN_STATS: tuple[str, ...] = (
    "trades",
    "win_rate_pct",
    "net_profit",
    "gross_profit",
    "gross_loss",
    "profit_factor",
    "expectancy",
    "expectancy_r",
    "avg_bars_held",
)

#: breakdown name -> trade column it groups by (month/year derive from ``exit_time``).
BREAKDOWNS: tuple[tuple[str, str], ...] = (
    ("symbol", "symbol"),
    ("tag", "tag"),
    ("side", "side"),
    ("exit_reason", "exit_reason"),
    ("month", "exit_time"),
    ("year", "exit_time"),
)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.full(len(a), np.nan)
    with np.errstate(over="ignore"):
        np.divide(a, b, out=out, where=b != 0)
    return np.where(np.isfinite(out), out, np.nan)


def grouped_stats(codes: np.ndarray, names: list[str], tr: Trades, key: str) -> pd.DataFrame:
    """One row per non-empty group (in ``names`` order) with `BREAKDOWN_STATS`."""
    k = len(names)
    w = tr.weights
    count = np.bincount(codes, minlength=k).astype(np.float64)
    wins = np.bincount(codes, weights=w["win"], minlength=k)
    net = np.bincount(codes, weights=tr.pnl, minlength=k)
    gp = np.bincount(codes, weights=w["gp"], minlength=k)
    gl = np.bincount(codes, weights=w["gl"], minlength=k)
    r_n = np.bincount(codes, weights=w["r_ok"], minlength=k)
    r_sum = np.bincount(codes, weights=w["r"], minlength=k)
    b_n = np.bincount(codes, weights=w["b_ok"], minlength=k)
    b_sum = np.bincount(codes, weights=w["b"], minlength=k)
    keep = count > 0
    frame = pd.DataFrame(
        {
            key: np.asarray(names, dtype=object),
            "trades": count.astype(np.int64),
            "win_rate_pct": 100.0 * _safe_div(wins, count),
            "net_profit": net,
            "gross_profit": gp,
            "gross_loss": gl,
            "profit_factor": _safe_div(gp, -gl),
            "expectancy": _safe_div(net, count),
            "expectancy_r": _safe_div(r_sum, r_n),
            "avg_bars_held": _safe_div(b_sum, b_n),
        }
    )
    return frame[keep].reset_index(drop=True)


def _months(t_ns: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each UTC timestamp."""
    return t_ns.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)


def _period_codes(t_ns: np.ndarray, unit: str) -> tuple[np.ndarray, list[str]]:
    months = _months(t_ns)
    periods = months if unit == "month" else months // 12
    uniq, codes = np.unique(periods, return_inverse=True)
    if unit == "month":
        names = [f"{1970 + p // 12:04d}-{p % 12 + 1:02d}" for p in uniq.tolist()]
    else:
        names = [f"{1970 + p:04d}" for p in uniq.tolist()]
    return codes.astype(np.int64), names


def breakdown_tables(tr: Trades) -> dict[str, pd.DataFrame]:
    """Every table of `BREAKDOWNS` (empty frames with the right columns when no trades)."""
    out: dict[str, pd.DataFrame] = {}
    for name, column in BREAKDOWNS:
        if tr.n == 0:
            out[name] = pd.DataFrame({c: [] for c in (name, *BREAKDOWN_STATS)})
            continue
        if column == "exit_time":
            codes, names = _period_codes(tr.exit_ns, name)
        else:
            codes, names = tr.codes(column)
        out[name] = grouped_stats(codes, names, tr, name)
    return out


def period_returns(eq: Equity, initial_capital: float) -> dict[str, pd.DataFrame]:
    """Monthly and yearly returns of the equity curve (closing equity of each period)."""
    days, closes = daily_closes(eq)
    cols_m = ("year", "month", "start_equity", "end_equity", "net_profit", "return_pct")
    cols_y = ("year", "start_equity", "end_equity", "net_profit", "return_pct")
    if len(days) == 0:
        return {
            "monthly": pd.DataFrame({c: [] for c in cols_m}),
            "yearly": pd.DataFrame({c: [] for c in cols_y}),
        }
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    out = {}
    for name, period in (("monthly", months), ("yearly", months // 12)):
        last = np.flatnonzero(np.r_[period[1:] != period[:-1], True])
        end = closes[last]
        start = np.r_[initial_capital, end[:-1]]
        p = period[last]
        data: dict[str, np.ndarray] = {}
        if name == "monthly":
            data = {"year": 1970 + p // 12, "month": p % 12 + 1}
        else:
            data = {"year": 1970 + p}
        data.update(
            start_equity=start,
            end_equity=end,
            net_profit=end - start,
            return_pct=100.0 * _safe_div(end - start, start),
        )
        out[name] = pd.DataFrame(data)
    return out
