"""Helpers shared by the library modules."""

from __future__ import annotations

import numpy as np

from tradeforge.features.params import Param

NS_PER_MINUTE = 60_000_000_000
NS_PER_DAY = 86_400_000_000_000
NS_PER_WEEK = 7 * NS_PER_DAY
MONDAY_OFFSET_NS = 4 * NS_PER_DAY  # 1970-01-01 was a Thursday


def period(default: int, name: str = "period", minimum: int = 1) -> Param:
    return Param(name, int, default, ge=minimum, doc="window length in bars")


def source(default: str = "close") -> Param:
    """Input series: any column (``close``, ``volume``…) or feature reference (``rsi(14)``)."""
    return Param("source", str, default, in_name=False, doc="input column or feature")


def f64(x: np.ndarray) -> np.ndarray:
    """Contiguous float64 view/copy for the kernels."""
    return np.ascontiguousarray(x, dtype=np.float64)


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high - low, |high - prev close|, |low - prev close|); the first bar uses high - low."""
    tr = high - low
    if len(tr) > 1:
        prev = close[:-1]
        tr[1:] = np.maximum(tr[1:], np.maximum(np.abs(high[1:] - prev), np.abs(low[1:] - prev)))
    return tr


def safe_div(num: np.ndarray, den: np.ndarray, fill: float) -> np.ndarray:
    """num / den with ``fill`` where den == 0 (NaN stays NaN)."""
    out = np.full_like(num, np.nan)
    ok = den != 0
    np.divide(num, den, out=out, where=ok)
    zero = (den == 0) & ~np.isnan(num)
    out[zero] = fill
    return out
