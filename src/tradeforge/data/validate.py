"""OHLCV frame rules (docs/conventions.md §Frames), enforced with errors naming source, row, rule.

A valid frame has columns ``open, high, low, close, volume`` (+ optional ``spread``), float64
prices, a sorted unique tz-aware UTC ``DatetimeIndex``, no NaN/inf, positive prices,
``low <= min(open, close)`` and ``high >= max(open, close)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeforge.core.errors import DataValidationError

PRICE_COLUMNS = ("open", "high", "low", "close")
OHLCV_COLUMNS = (*PRICE_COLUMNS, "volume")
OPTIONAL_COLUMNS = ("spread",)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _fail(source: str, frame: pd.DataFrame, row: int, rule: str) -> DataValidationError:
    ts = frame.index[row] if row < len(frame.index) else None
    values = ""
    if row < len(frame):
        cols = [c for c in (*OHLCV_COLUMNS, *OPTIONAL_COLUMNS) if c in frame.columns]
        values = " (" + ", ".join(f"{c}={frame[c].iloc[row]!r}" for c in cols) + ")"
    return DataValidationError(f"{source}: row {row} at {ts}: {rule}{values}")


def validate_ohlcv(frame: pd.DataFrame, source: str = "frame") -> pd.DataFrame:
    """Check ``frame`` against the OHLCV rules and return it with canonical dtypes.

    Raises `DataValidationError` naming ``source``, the first offending row and the rule.
    The input is not modified.
    """
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{source}: missing columns {missing}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataValidationError(f"{source}: index must be a DatetimeIndex of bar open times")
    if frame.index.tz is None or str(frame.index.tz) != "UTC":
        raise DataValidationError(f"{source}: index must be tz-aware UTC, got tz={frame.index.tz}")
    cols = [*OHLCV_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in frame.columns)]
    out = frame[cols].astype("float64")

    values = {c: out[c].to_numpy() for c in cols}
    for c in cols:
        bad = ~np.isfinite(values[c])
        if bad.any():
            raise _fail(source, out, _first_bad(bad), f"{c} is NaN or infinite")
    for c in PRICE_COLUMNS:
        bad = values[c] <= 0
        if bad.any():
            raise _fail(source, out, _first_bad(bad), f"{c} must be positive")
    for c in ("volume", *(c for c in OPTIONAL_COLUMNS if c in cols)):
        bad = values[c] < 0
        if bad.any():
            raise _fail(source, out, _first_bad(bad), f"{c} must not be negative")

    ns = out.index.asi8
    if len(ns) > 1:
        diffs = np.diff(ns)
        if (diffs < 0).any():
            row = _first_bad(diffs < 0) + 1
            raise _fail(source, out, row, "timestamps are not sorted ascending")
        if (diffs == 0).any():
            row = _first_bad(diffs == 0) + 1
            raise _fail(source, out, row, "duplicate timestamp")

    o, h, low, c = (values[k] for k in PRICE_COLUMNS)
    bad = low > h
    if bad.any():
        raise _fail(source, out, _first_bad(bad), "high < low")
    bad = h < np.maximum(o, c)
    if bad.any():
        raise _fail(source, out, _first_bad(bad), "high < max(open, close)")
    bad = low > np.minimum(o, c)
    if bad.any():
        raise _fail(source, out, _first_bad(bad), "low > min(open, close)")
    out.index.name = "time"
    return out


def empty_ohlcv(with_spread: bool = True) -> pd.DataFrame:
    """An empty, valid OHLCV frame."""
    cols = [*OHLCV_COLUMNS, *(OPTIONAL_COLUMNS if with_spread else ())]
    index = pd.DatetimeIndex([], tz="UTC", name="time")
    return pd.DataFrame({c: np.array([], dtype="float64") for c in cols}, index=index)
