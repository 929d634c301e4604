"""Trend features: SMA, EMA, WMA, HMA, MACD, ADX/DMI, linear-regression slope."""

from __future__ import annotations

import numpy as np

from tradeforge.features.library import _kernels as k
from tradeforge.features.library import _warmups as w
from tradeforge.features.library._common import f64, period, safe_div, source
from tradeforge.features.spec import register_feature


def _src(p):
    return (p["source"],)


def _hull_period(period: int) -> int:
    """Length of the Hull MA's final WMA."""
    return int(np.sqrt(period))


@register_feature(
    "sma",
    params=[period(20), source()],
    inputs=_src,
    outputs=("sma",),
    warmup=lambda p: w.window(p["period"]),
)
def sma(x: np.ndarray, *, period: int, source: str) -> np.ndarray:
    """Simple moving average of the last ``period`` values (NaN for the first period-1)."""
    return k.rolling_mean(f64(x), period)


@register_feature(
    "ema",
    params=[period(20), source()],
    inputs=_src,
    outputs=("ema",),
    warmup=lambda p: w.ema(p["period"]),
)
def ema(x: np.ndarray, *, period: int, source: str) -> np.ndarray:
    """EMA with alpha 2/(period+1), seeded with the SMA of the first ``period`` values."""
    return k.ema(f64(x), 2.0 / (period + 1), period)


@register_feature(
    "wma",
    params=[period(20), source()],
    inputs=_src,
    outputs=("wma",),
    warmup=lambda p: w.window(p["period"]),
)
def wma(x: np.ndarray, *, period: int, source: str) -> np.ndarray:
    """Linearly weighted moving average (weights 1..period, newest heaviest)."""
    return k.wma(f64(x), period)


@register_feature(
    "hma",
    params=[period(20, minimum=2), source()],
    inputs=_src,
    outputs=("hma",),
    warmup=lambda p: w.window(p["period"]) + w.window(_hull_period(p["period"])),
)
def hma(x: np.ndarray, *, period: int, source: str) -> np.ndarray:
    """Hull MA: WMA(2*WMA(x, n/2) - WMA(x, n), floor(sqrt(n)))."""
    x = f64(x)
    raw = 2.0 * k.wma(x, period // 2) - k.wma(x, period)
    return _wma_skip_nan(raw, _hull_period(period))


def _wma_skip_nan(x: np.ndarray, n: int) -> np.ndarray:
    """WMA over a series with leading NaNs (warm-up of an inner average)."""
    out = np.full_like(x, np.nan)
    finite = np.flatnonzero(~np.isnan(x))
    if len(finite):
        start = finite[0]
        out[start:] = k.wma(f64(x[start:]), n)
    return out


def _macd_inputs(p):
    src = p["source"]
    tail = "" if src == "close" else f",source={src!r}"
    return (f"ema({p['fast']}{tail})", f"ema({p['slow']}{tail})")


def _macd_check(p):
    if p["fast"] >= p["slow"]:
        return f"fast period ({p['fast']}) must be shorter than slow period ({p['slow']})"
    return None


@register_feature(
    "macd",
    params=[period(12, "fast"), period(26, "slow"), period(9, "signal"), source()],
    inputs=_macd_inputs,
    outputs=("macd", "macd_signal", "macd_hist"),
    check=_macd_check,
    warmup=lambda p: w.ema(p["signal"]),
)
def macd(
    fast_ema: np.ndarray, slow_ema: np.ndarray, *, fast: int, slow: int, signal: int, source: str
):
    """MACD line = EMA(fast) - EMA(slow); signal = EMA(line, signal); hist = line - signal."""
    line = fast_ema - slow_ema
    sig = k.ema(f64(line), 2.0 / (signal + 1), signal)
    return line, sig, line - sig


@register_feature(
    "adx",
    params=[period(14)],
    inputs=("high", "low", "close"),
    outputs=("plus_di", "minus_di", "adx"),
    warmup=lambda p: 1 + 2 * w.rma(p["period"]),
)
def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, *, period: int):
    """Wilder's DMI/ADX: +DI, -DI from Wilder-smoothed directional movement and true range,
    ADX = Wilder average of DX. The first bar has no movement (NaN); +DI/-DI start at bar
    ``period``, ADX at ``2*period - 1``."""
    n = len(close)
    plus = np.full(n, np.nan)
    minus = np.full(n, np.nan)
    tr = np.full(n, np.nan)
    if n > 1:
        up = high[1:] - high[:-1]
        down = low[:-1] - low[1:]
        plus[1:] = np.where((up > down) & (up > 0), up, 0.0)
        minus[1:] = np.where((down > up) & (down > 0), down, 0.0)
        prev = close[:-1]
        tr[1:] = np.maximum(
            high[1:] - low[1:], np.maximum(np.abs(high[1:] - prev), np.abs(low[1:] - prev))
        )
    alpha = 1.0 / period
    s_tr = k.ema(tr, alpha, period)
    pdi = 100.0 * safe_div(k.ema(plus, alpha, period), s_tr, 0.0)
    mdi = 100.0 * safe_div(k.ema(minus, alpha, period), s_tr, 0.0)
    dx = 100.0 * safe_div(np.abs(pdi - mdi), pdi + mdi, 0.0)
    return pdi, mdi, k.ema(f64(dx), alpha, period)


@register_feature(
    "linreg_slope",
    params=[period(14, minimum=2), source()],
    inputs=_src,
    outputs=("linreg_slope",),
    warmup=lambda p: w.window(p["period"]),
)
def linreg_slope(x: np.ndarray, *, period: int, source: str) -> np.ndarray:
    """Least-squares slope (price units per bar) of the last ``period`` values."""
    return k.linreg_slope(f64(x), period)
