"""Numpy views of a `BacktestResult`: the columns every metric needs, in a fixed order.

Metrics work on plain arrays (int64 nanoseconds for time, float64 for money) so that they are
vectorized and independent of pandas dtypes (the engine emits categoricals, CSV loading gives
strings, and timestamps may have any resolution).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from tradeforge.trading.result import BacktestResult

NS_PER_DAY = 86_400 * 10**9


def time_ns(values) -> np.ndarray:
    """Int64 UTC nanoseconds of a datetime-like column or index (any resolution)."""
    idx = pd.DatetimeIndex(values)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx.as_unit("ns").asi8.astype(np.int64, copy=False)


NO_LABEL = "(none)"


def factorize(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Int64 codes and the sorted distinct names of a label column (missing -> "(none)")."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy(dtype=np.int64)
        cats = [str(c) for c in s.cat.categories]
        used = np.zeros(len(cats) + 1, dtype=bool)
        used[codes] = True  # -1 (missing) marks the extra slot
        keep = [i for i in sorted(range(len(cats)), key=cats.__getitem__) if used[i]]
        remap = np.full(len(cats) + 1, -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        codes, names = remap[codes], [cats[i] for i in keep]
    else:
        codes, uniques = pd.factorize(s, sort=True)
        codes, names = codes.astype(np.int64), [str(u) for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(NO_LABEL)
    return codes, names


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
    frame: pd.DataFrame  # the trade frame in its original order
    order: np.ndarray  # positions into ``frame`` in exit order

    @cached_property
    def weights(self) -> dict[str, np.ndarray]:
        """Per-trade float weights for ``np.bincount`` group sums (shared by all groupings)."""
        pnl = self.pnl
        r_ok, b_ok = ~np.isnan(self.r), ~np.isnan(self.bars_held)
        return {
            "win": (pnl > 0).astype(np.float64),
            "gp": np.where(pnl > 0, pnl, 0.0),
            "gl": np.where(pnl < 0, pnl, 0.0),
            "r_ok": r_ok.astype(np.float64),
            "r": np.where(r_ok, self.r, 0.0),
            "b_ok": b_ok.astype(np.float64),
            "b": np.where(b_ok, self.bars_held, 0.0),
        }

    def codes(self, column: str) -> tuple[np.ndarray, list[str]]:
        """Group codes (in exit order) and sorted group names of a label column."""
        codes, names = factorize(self.frame[column])
        return codes[self.order], names


@dataclass(frozen=True)
class Equity:
    n: int
    t: np.ndarray  # int64 ns
    equity: np.ndarray
    open_positions: np.ndarray

    @cached_property
    def daily(self) -> tuple[np.ndarray, np.ndarray]:
        """(trading day numbers, position of each day's last bar); see `trading_day`."""
        if self.n == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        raw = self.t // NS_PER_DAY
        last = np.flatnonzero(np.r_[raw[1:] != raw[:-1], True])
        days = trading_day_of(raw[last])
        keep = np.r_[days[1:] != days[:-1], True]
        return days[keep], last[keep]


def trading_day_of(day: np.ndarray) -> np.ndarray:
    """Fold UTC day numbers (days since epoch) falling on Saturday/Sunday into Monday."""
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return day + np.where(weekday >= 5, 7 - weekday, 0)


def _f64(frame: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def trades_of(result: BacktestResult) -> Trades:
    frame = result.trades
    n = len(frame)
    if n == 0:
        empty_f, empty_i = np.empty(0, np.float64), np.empty(0, np.int64)
        return Trades(
            0, empty_i, empty_f, empty_f, empty_f, empty_i, empty_i, empty_f, frame, empty_i
        )
    exit_ns = time_ns(frame["exit_time"])
    trade_id = pd.to_numeric(frame["trade_id"]).to_numpy(dtype=np.int64)
    order = np.lexsort((trade_id, exit_ns))
    r = _f64(frame, "r_multiple")[order]
    r = np.where(np.isfinite(r), r, np.nan)
    return Trades(
        n=n,
        trade_id=trade_id[order],
        pnl=np.nan_to_num(_f64(frame, "pnl")[order], nan=0.0),
        r=r,
        commission=np.nan_to_num(_f64(frame, "commission")[order], nan=0.0),
        entry_ns=time_ns(frame["entry_time"])[order],
        exit_ns=exit_ns[order],
        bars_held=_f64(frame, "bars_held")[order],
        frame=frame,
        order=order,
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
