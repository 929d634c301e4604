"""Volatility features: true range, ATR (Wilder), Bollinger, Keltner, realized volatility,
ATR percentile."""

from __future__ import annotations

import numpy as np

from tradeforge.features.library import _kernels as k
from tradeforge.features.library import _warmups as w
from tradeforge.features.library._common import f64, period, source
from tradeforge.features.library._common import true_range as _true_range
from tradeforge.features.params import Param
from tradeforge.features.spec import register_feature


@register_feature("true_range", inputs=("high", "low", "close"), outputs=("true_range",), warmup=1)
def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high-low, |high-prev close|, |low-prev close|); bar 0 uses high-low."""
    return _true_range(high, low, close)


@register_feature(
    "atr",
    params=[period(14)],
    inputs=("true_range()",),
    outputs=("atr",),
    warmup=lambda p: w.rma(p["period"]),
)
def atr(tr: np.ndarray, *, period: int) -> np.ndarray:
    """Wilder's ATR: RMA (alpha 1/period) of true range seeded with the mean of the first
    ``period`` true ranges; first value at bar period-1."""
    return k.ema(f64(tr), 1.0 / period, period)


def _mult(default: float) -> Param:
    return Param("mult", float, default, gt=0, doc="band width in standard deviations/ATRs")


@register_feature(
    "bollinger",
    params=[period(20, minimum=2), _mult(2.0), source()],
    inputs=lambda p: (p["source"],),
    outputs=("bb_mid", "bb_upper", "bb_lower"),
    warmup=lambda p: w.window(p["period"]),
)
def bollinger(x: np.ndarray, *, period: int, mult: float, source: str):
    """Middle = SMA; bands = middle ± mult * population std (ddof 0) of the window."""
    x = f64(x)
    mid = k.rolling_mean(x, period)
    sd = k.rolling_std(x, period, 0)
    return mid, mid + mult * sd, mid - mult * sd


@register_feature(
    "keltner",
    params=[period(20), period(10, "atr_period"), _mult(2.0)],
    inputs=lambda p: (f"ema({p['period']})", f"atr({p['atr_period']})"),
    outputs=("kc_mid", "kc_upper", "kc_lower"),
    warmup=0,
)
def keltner(mid: np.ndarray, atr_: np.ndarray, *, period: int, atr_period: int, mult: float):
    """Middle = EMA(close, period); bands = middle ± mult * ATR(atr_period)."""
    return mid, mid + mult * atr_, mid - mult * atr_


@register_feature(
    "realized_vol",
    params=[period(20, minimum=2)],
    inputs=("close",),
    outputs=("rvol",),
    warmup=lambda p: p["period"],  # returns need the previous close
)
def realized_vol(close: np.ndarray, *, period: int) -> np.ndarray:
    """Sample std (ddof 1) of the last ``period`` log returns, not annualised; first at bar
    ``period``."""
    r = np.full(len(close), np.nan)
    if len(close) > 1:
        r[1:] = np.diff(np.log(close))
    out = np.full(len(close), np.nan)
    if len(close) > 1:
        out[1:] = k.rolling_std(f64(r[1:]), period, 1)
    return out


@register_feature(
    "atr_percentile",
    params=[period(14), period(100, "window", minimum=2)],
    inputs=lambda p: (f"atr({p['period']})",),
    outputs=("atr_pct",),
    warmup=lambda p: w.window(p["window"]),
)
def atr_percentile(atr_: np.ndarray, *, period: int, window: int) -> np.ndarray:
    """Volatility regime: share of the last ``window`` ATR values <= the current one (0..1)."""
    return k.percent_rank(f64(atr_), window)
