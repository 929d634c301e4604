"""Numpy views of a `BacktestResult`: the columns every metric needs, in a fixed order.

Metrics work on plain arrays (int64 nanoseconds for time, float64 for money) so that they are
vectorized and independent of pandas dtypes (the engine emits categoricals, CSV loading gives
strings, and timestamps may have any resolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeforge.backtest.result import BacktestResult

NS_PER_DAY = 86_400 * 10**9


def time_ns(values) -> np.ndarray:
    """Int64 UTC nanoseconds of a datetime-like column or index (any resolution)."""
    idx = pd.DatetimeIndex(values)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx.as_unit("ns").asi8.astype(np.int64, copy=False)


def labels(values) -> np.ndarray:
    """A categorical/string column as an object array of str (missing -> "")."""
    arr = np.asarray(pd.Series(values).astype(object).fillna("").astype(str), dtype=object)
    return arr


@dataclass(frozen=True)
class Trades:
    """Trades in exit order (ties by trade_id): the order the account experienced them."""

    n: int
    trade_id: np.ndarray
    pnl: np.ndarray
    r: np.ndarray  # NaN where risk was zero or missing
    commission: np.ndarray
    entry_ns: np.ndarray
    exit_ns: np.ndarray
    bars_held: np.ndarray
    frame: pd.DataFrame  # the trade frame in the same (exit) order, for labels


@dataclass(frozen=True)
class Equity:
    n: int
    t: np.ndarray  # int64 ns
    equity: np.ndarray
    open_positions: np.ndarray


def _f64(frame: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def trades_of(result: BacktestResult) -> Trades:
    frame = result.trades
    n = len(frame)
    if n == 0:
        empty_f, empty_i = np.empty(0, np.float64), np.empty(0, np.int64)
        return Trades(0, empty_i, empty_f, empty_f, empty_f, empty_i, empty_i, empty_f, frame)
    exit_ns = time_ns(frame["exit_time"])
    trade_id = pd.to_numeric(frame["trade_id"]).to_numpy(dtype=np.int64)
    order = np.lexsort((trade_id, exit_ns))
    if not np.array_equal(order, np.arange(n)):
        frame = frame.iloc[order]
        exit_ns, trade_id = exit_ns[order], trade_id[order]
    r = _f64(frame, "r_multiple")
    r = np.where(np.isfinite(r), r, np.nan)
    return Trades(
        n=n,
        trade_id=trade_id,
        pnl=np.nan_to_num(_f64(frame, "pnl"), nan=0.0),
        r=r,
        commission=np.nan_to_num(_f64(frame, "commission"), nan=0.0),
        entry_ns=time_ns(frame["entry_time"]),
        exit_ns=exit_ns,
        bars_held=_f64(frame, "bars_held"),
        frame=frame,
    )


def equity_of(result: BacktestResult) -> Equity:
    frame = result.equity
    if len(frame) == 0:
        return Equity(0, np.empty(0, np.int64), np.empty(0), np.empty(0))
    return Equity(
        n=len(frame),
        t=time_ns(frame.index),
        equity=_f64(frame, "equity"),
        open_positions=_f64(frame, "open_positions"),
    )


def ts(ns: int | None) -> pd.Timestamp | None:
    """A UTC Timestamp from integer nanoseconds (None stays None)."""
    return None if ns is None else pd.Timestamp(int(ns), unit="ns", tz="UTC")
