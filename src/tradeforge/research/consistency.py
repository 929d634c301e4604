"""Backtest vs dry-run/live consistency: match two trade sets and judge the differences.

Matching: trades are paired within the same ``(symbol, side, tag)`` when their entry times
differ by at most ``tolerance``; pairs are taken greedily by smallest time difference (ties:
earlier expected trade first), one-to-one. Unpaired expected trades are *missing*, unpaired
actual trades *extra*.

Per pair: entry/exit delay in seconds (actual minus expected) and entry/exit slippage in
price units and pips, signed so that **positive is worse for the trader** (a long bought
higher, a short sold lower; a long sold lower, a short bought back higher), plus PnL and R
differences. Metric deltas (actual minus expected) come from `build_report` on each set's
closed trades.

A trade may still be open (no ``exit_time``): it is matched on its entry like any other, its
exit figures are NaN and it takes no part in the metrics. The session monitor
(`tradeforge.notify.monitor`) compares sessions in progress that way; ``tradeforge analyze
consistency`` compares finished trade lists. Both call `compare_trades`.

`Thresholds` turn the comparison into pass/fail checks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.analytics.report import build_report
from tradeforge.backtest import BacktestResult
from tradeforge.core.errors import ConfigError, UnknownSymbolError
from tradeforge.core.instruments import get_instrument
from tradeforge.research.evaluate import flat_metrics
from tradeforge.trading.result import EQUITY_COLUMNS, LEG_COLUMNS, TRADE_COLUMNS

KEY_COLUMNS = ("symbol", "side", "tag")
DELTA_METRICS = (
    "trades",
    "win_rate_pct",
    "expectancy",
    "expectancy_r",
    "profit_factor",
    "net_profit",
    "max_drawdown_pct",
)
R_STATS = ("mean", "median", "std")


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits; None disables a check."""

    min_match_rate_pct: float | None = 95.0  # matched / expected trades
    max_extra_pct: float | None = 5.0  # extra / expected trades
    max_mean_entry_delay_s: float | None = None
    max_mean_slippage_pips: float | None = 1.0  # mean entry slippage of matched trades
    max_expectancy_r_delta: float | None = 0.1  # |actual - expected|
    max_win_rate_delta_pct: float | None = 5.0
    max_drawdown_delta_pct: float | None = 5.0  # |actual - expected| drawdown, points
    max_missing: int | None = None  # expected trades without an actual partner (a count)
    max_extra: int | None = None  # actual trades without an expected partner (a count)
    max_mean_exit_delay_s: float | None = None  # |mean exit delay| of matched closed trades
    max_mean_exit_slippage_pips: float | None = None
    max_trades_delta: int | None = None  # |actual - expected| closed trades
    max_r_ks_statistic: float | None = None  # two-sample KS distance of the R multiples

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def _times(values: Any) -> np.ndarray:
    idx = pd.DatetimeIndex(values)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx.as_unit("ns").asi8


def _delay_s(actual: Any, expected: Any) -> np.ndarray:
    """Seconds from ``expected`` to ``actual`` times; NaN where either is missing (open)."""
    a, e = pd.DatetimeIndex(actual), pd.DatetimeIndex(expected)
    known = ~(a.isna() | e.isna())
    out = np.full(len(a), np.nan)
    out[known] = (_times(a[known]) - _times(e[known])) / 1e9
    return out


def closed_trades(trades: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``trades`` that have an exit (all of them when there is no ``exit_time``)."""
    if "exit_time" not in trades.columns:
        return trades
    return trades[pd.DatetimeIndex(trades["exit_time"]).notna()]


def _prepare(trades: pd.DataFrame, name: str) -> pd.DataFrame:
    needed = ("symbol", "side", "entry_time", "entry_price")
    missing = [c for c in needed if c not in trades.columns]
    if missing:
        raise ConfigError(f"{name} trades lack columns {missing}")
    out = trades.reset_index(drop=True).copy()
    for col in KEY_COLUMNS:
        out[col] = out[col].astype(str) if col in out.columns else ""
    if "trade_id" not in out.columns:
        out["trade_id"] = np.arange(len(out))
    return out


def match_trades(
    expected: pd.DataFrame, actual: pd.DataFrame, tolerance: pd.Timedelta | str = "0s"
) -> tuple[np.ndarray, np.ndarray]:
    """Positional pairs ``(expected rows, actual rows)`` (see the module docstring)."""
    tol = int(pd.Timedelta(tolerance).as_unit("ns").value)
    if tol < 0:
        raise ConfigError("tolerance must be >= 0")
    e, a = _prepare(expected, "expected"), _prepare(actual, "actual")
    et, at = _times(e["entry_time"]), _times(a["entry_time"])
    ekey = e[list(KEY_COLUMNS)].agg("\x1f".join, axis=1) if len(e) else pd.Series([], dtype=str)
    akey = a[list(KEY_COLUMNS)].agg("\x1f".join, axis=1) if len(a) else pd.Series([], dtype=str)
    cand_e, cand_a, cand_d = [], [], []
    a_groups = {k: np.flatnonzero(akey.to_numpy() == k) for k in pd.unique(akey)}
    for k in pd.unique(ekey):
        ei = np.flatnonzero(ekey.to_numpy() == k)
        ai = a_groups.get(k)
        if ai is None or len(ai) == 0:
            continue
        ai = ai[np.argsort(at[ai], kind="stable")]
        a_sorted = at[ai]
        for i in ei:
            lo = np.searchsorted(a_sorted, et[i] - tol, side="left")
            hi = np.searchsorted(a_sorted, et[i] + tol, side="right")
            for j in ai[lo:hi]:
                cand_e.append(i)
                cand_a.append(j)
                cand_d.append(abs(int(at[j]) - int(et[i])))
    if not cand_e:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ce, ca, cd = (np.asarray(x, dtype=np.int64) for x in (cand_e, cand_a, cand_d))
    order = np.lexsort((ca, ce, cd))
    used_e = np.zeros(len(e), dtype=bool)
    used_a = np.zeros(len(a), dtype=bool)
    pairs_e, pairs_a = [], []
    for k in order:
        i, j = ce[k], ca[k]
        if used_e[i] or used_a[j]:
            continue
        used_e[i] = used_a[j] = True
        pairs_e.append(i)
        pairs_a.append(j)
    pe, pa = np.asarray(pairs_e, dtype=np.int64), np.asarray(pairs_a, dtype=np.int64)
    order = np.argsort(pe, kind="stable")
    return pe[order], pa[order]


def _pip(symbol: str) -> float:
    try:
        return get_instrument(symbol).pip_size
    except UnknownSymbolError:
        return math.nan


def _num(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)


def matched_table(expected: pd.DataFrame, actual: pd.DataFrame, pe, pa) -> pd.DataFrame:
    e = _prepare(expected, "expected").iloc[pe].reset_index(drop=True)
    a = _prepare(actual, "actual").iloc[pa].reset_index(drop=True)
    sign = np.where(e["side"].to_numpy() == "short", -1.0, 1.0)
    pip = np.array([_pip(s) for s in e["symbol"]], dtype=np.float64)
    entry_slip = sign * (_num(a, "entry_price") - _num(e, "entry_price"))
    exit_slip = -sign * (_num(a, "exit_price") - _num(e, "exit_price"))
    out = pd.DataFrame(
        {
            "expected_id": e["trade_id"].to_numpy(),
            "actual_id": a["trade_id"].to_numpy(),
            "symbol": e["symbol"].to_numpy(),
            "side": e["side"].to_numpy(),
            "tag": e["tag"].to_numpy(),
            "expected_entry_time": pd.DatetimeIndex(e["entry_time"]),
            "actual_entry_time": pd.DatetimeIndex(a["entry_time"]),
            "entry_delay_s": (_times(a["entry_time"]) - _times(e["entry_time"])) / 1e9,
            "exit_delay_s": (
                _delay_s(a["exit_time"], e["exit_time"])
                if "exit_time" in e.columns and "exit_time" in a.columns
                else np.nan
            ),
            "entry_slippage": entry_slip,
            "entry_slippage_pips": entry_slip / pip,
            "exit_slippage": exit_slip,
            "exit_slippage_pips": exit_slip / pip,
            "pnl_diff": _num(a, "pnl") - _num(e, "pnl"),
            "r_diff": _num(a, "r_multiple") - _num(e, "r_multiple"),
        }
    )
    return out


def trades_result(trades: pd.DataFrame, initial_capital: float) -> BacktestResult:
    """A `BacktestResult` from a trade list alone: equity steps at each exit (balance)."""
    frame = trades.copy()
    for col in TRADE_COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
    if len(frame):
        exit_ns = _times(frame["exit_time"])
        order = np.argsort(exit_ns, kind="stable")
        pnl = np.nan_to_num(_num(frame, "pnl"))[order]
        idx = pd.DatetimeIndex(pd.to_datetime(exit_ns[order], utc=True), name="time")
        balance = initial_capital + np.cumsum(pnl)
        eq = pd.DataFrame({"equity": balance, "balance": balance, "open_positions": 0}, index=idx)
        eq = eq[~eq.index.duplicated(keep="last")]
    else:
        eq = pd.DataFrame({c: [] for c in EQUITY_COLUMNS}, index=pd.DatetimeIndex([], tz="UTC"))
    legs = pd.DataFrame({c: [] for c in LEG_COLUMNS})
    return BacktestResult(
        frame[list(TRADE_COLUMNS)], legs, eq[list(EQUITY_COLUMNS)], initial_capital
    )


def _r_stats(trades: pd.DataFrame) -> dict[str, float | None]:
    r = _num(trades, "r_multiple")
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return dict.fromkeys(R_STATS)
    return {
        "mean": float(r.mean()),
        "median": float(np.median(r)),
        "std": float(r.std(ddof=1)) if len(r) > 1 else None,
    }


def ks_statistic(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov statistic and asymptotic p-value (numpy only)."""
    x = np.sort(np.asarray(x, dtype=np.float64)[np.isfinite(x)])
    y = np.sort(np.asarray(y, dtype=np.float64)[np.isfinite(y)])
    n, m = len(x), len(y)
    if n == 0 or m == 0:
        return math.nan, math.nan
    grid = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, grid, side="right") / n
    cdf_y = np.searchsorted(y, grid, side="right") / m
    d = float(np.max(np.abs(cdf_x - cdf_y)))
    ne = n * m / (n + m)
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
    if lam < 1e-3:
        return d, 1.0
    k = np.arange(1, 101)
    p = 2.0 * float(np.sum((-1.0) ** (k - 1) * np.exp(-2.0 * (k * lam) ** 2)))
    return d, float(min(1.0, max(0.0, p)))


def compare_trades(
    expected: pd.DataFrame,
    actual: pd.DataFrame,
    *,
    tolerance: pd.Timedelta | str = "0s",
    thresholds: Thresholds | None = None,
    initial_capital: float = 100_000.0,
) -> dict[str, Any]:
    """The full comparison (JSON-ready apart from the ``matched`` / ``missing`` / ``extra``
    frames and the ``equity`` chart data)."""
    thresholds = thresholds or Thresholds()
    pe, pa = match_trades(expected, actual, tolerance)
    e, a = _prepare(expected, "expected"), _prepare(actual, "actual")
    matched = matched_table(expected, actual, pe, pa)
    missing = e.drop(index=pe).reset_index(drop=True)
    extra = a.drop(index=pa).reset_index(drop=True)
    done_e, done_a = closed_trades(expected), closed_trades(actual)
    m_exp = flat_metrics(build_report(trades_result(done_e, initial_capital)))
    m_act = flat_metrics(build_report(trades_result(done_a, initial_capital)))
    deltas = {
        k: {"expected": m_exp[k], "actual": m_act[k], "delta": m_act[k] - m_exp[k]}
        for k in DELTA_METRICS
    }
    r_e, r_a = _r_stats(expected), _r_stats(actual)
    ks_d, ks_p = ks_statistic(_num(expected, "r_multiple"), _num(actual, "r_multiple"))
    n_e, n_a = len(e), len(a)
    summary = {
        "expected_trades": n_e,
        "actual_trades": n_a,
        "matched": len(matched),
        "missing": len(missing),
        "extra": len(extra),
        "match_rate_pct": 100.0 * len(matched) / n_e if n_e else None,
        "extra_pct": 100.0 * len(extra) / n_e if n_e else None,
        "mean_entry_delay_s": _mean(matched["entry_delay_s"]),
        "max_abs_entry_delay_s": _absmax(matched["entry_delay_s"]),
        "mean_exit_delay_s": _mean(matched["exit_delay_s"]),
        "mean_entry_slippage_pips": _mean(matched["entry_slippage_pips"]),
        "mean_exit_slippage_pips": _mean(matched["exit_slippage_pips"]),
        "mean_pnl_diff": _mean(matched["pnl_diff"]),
        "mean_r_diff": _mean(matched["r_diff"]),
    }
    checks = _checks(summary, deltas, ks_d, thresholds)
    return {
        "kind": "tradeforge.analyze.consistency",
        "passed": all(c["passed"] for c in checks),
        "tolerance_s": pd.Timedelta(tolerance).total_seconds(),
        "summary": summary,
        "metrics": deltas,
        "r_distribution": {"expected": r_e, "actual": r_a, "ks_statistic": ks_d, "ks_pvalue": ks_p},
        "checks": checks,
        "thresholds": thresholds.describe(),
        "matched": matched,
        "missing": missing,
        "extra": extra,
    }


def _mean(s: pd.Series) -> float | None:
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else None


def _absmax(s: pd.Series) -> float | None:
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.abs(v).max()) if len(v) else None


def _checks(summary: dict, deltas: dict, ks_d: float, th: Thresholds) -> list[dict[str, Any]]:
    out = []

    def add(name: str, value: float | None, limit: float | None, kind: str) -> None:
        if limit is None:
            return
        if value is None or (isinstance(value, float) and math.isnan(value)):
            passed = kind == "max"  # nothing to measure: a max limit is not exceeded
        elif kind == "min":
            passed = value >= limit
        else:
            passed = value <= limit
        out.append({"check": name, "value": value, "limit": limit, "kind": kind, "passed": passed})

    add("match_rate_pct", summary["match_rate_pct"], th.min_match_rate_pct, "min")
    add("extra_pct", summary["extra_pct"], th.max_extra_pct, "max")
    add("mean_entry_delay_s", _abs(summary["mean_entry_delay_s"]), th.max_mean_entry_delay_s, "max")
    add(
        "mean_entry_slippage_pips",
        summary["mean_entry_slippage_pips"],
        th.max_mean_slippage_pips,
        "max",
    )
    add(
        "expectancy_r_delta",
        _abs(deltas["expectancy_r"]["delta"]),
        th.max_expectancy_r_delta,
        "max",
    )
    add(
        "win_rate_delta_pct",
        _abs(deltas["win_rate_pct"]["delta"]),
        th.max_win_rate_delta_pct,
        "max",
    )
    add(
        "max_drawdown_delta_pct",
        _abs(deltas["max_drawdown_pct"]["delta"]),
        th.max_drawdown_delta_pct,
        "max",
    )
    add("missing", summary["missing"], th.max_missing, "max")
    add("extra", summary["extra"], th.max_extra, "max")
    add("mean_exit_delay_s", _abs(summary["mean_exit_delay_s"]), th.max_mean_exit_delay_s, "max")
    add(
        "mean_exit_slippage_pips",
        summary["mean_exit_slippage_pips"],
        th.max_mean_exit_slippage_pips,
        "max",
    )
    add("trades_delta", _abs(deltas["trades"]["delta"]), th.max_trades_delta, "max")
    add("r_ks_statistic", ks_d, th.max_r_ks_statistic, "max")
    return out


def _abs(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else abs(x)
