"""Oscillators: RSI (Wilder), stochastic, CCI, rolling z-score."""

from __future__ import annotations

import numpy as np

from tradeforge.features.library import _kernels as k
from tradeforge.features.library import _warmups as w
from tradeforge.features.library._common import f64, period, safe_div, source
from tradeforge.features.spec import register_feature


@register_feature(
    "rsi",
    params=[period(14), source()],
    inputs=lambda p: (p["source"],),
    outputs=("rsi",),
    warmup=lambda p: 1 + w.rma(p["period"]),  # changes need the previous value
)
def rsi(x: np.ndarray, *, period: int, source: str) -> np.ndarray:
    """Wilder's RSI: RMA of gains and losses seeded with their mean over the first
    ``period`` changes; first value at bar ``period``. All-gain windows give 100, flat 50."""
    n = len(x)
    gain = np.full(n, np.nan)
    loss = np.full(n, np.nan)
    if n > 1:
        d = np.diff(x)
        gain[1:] = np.maximum(d, 0.0)
        loss[1:] = np.maximum(-d, 0.0)
    ag = k.ema(gain, 1.0 / period, period)
    al = k.ema(loss, 1.0 / period, period)
    out = 100.0 - 100.0 / (1.0 + safe_div(ag, al, np.inf))
    out[(al == 0) & (ag == 0)] = 50.0
    return out


@register_feature(
    "stochastic",
    params=[period(14, "k_period"), period(3, "d_period")],
    inputs=("high", "low", "close"),
    outputs=("stoch_k", "stoch_d"),
    warmup=lambda p: w.window(p["k_period"]) + w.window(p["d_period"]),
)
def stochastic(high, low, close, *, k_period: int, d_period: int):
    """%K = 100 (close - lowest low) / (highest high - lowest low) over ``k_period`` bars
    (50 when the range is zero); %D = SMA(%K, ``d_period``)."""
    hh = k.rolling_max(f64(high), k_period)
    ll = -k.rolling_max(f64(-low), k_period)
    pk = 100.0 * safe_div(close - ll, hh - ll, 0.5)
    n = len(close)
    pd_ = np.full(n, np.nan)
    if n >= k_period:
        pd_[k_period - 1 :] = k.rolling_mean(f64(pk[k_period - 1 :]), d_period)
    return pk, pd_


@register_feature(
    "cci",
    params=[period(20)],
    inputs=("high", "low", "close"),
    outputs=("cci",),
    warmup=lambda p: w.window(p["period"]),
)
def cci(high, low, close, *, period: int) -> np.ndarray:
    """(TP - SMA(TP)) / (0.015 * mean absolute deviation of TP), TP = (H+L+C)/3; 0 when flat."""
    tp = f64((high + low + close) / 3.0)
    mean = k.rolling_mean(tp, period)
    return safe_div(tp - mean, 0.015 * k.mean_abs_dev(tp, period), 0.0)


@register_feature(
    "zscore",
    params=[period(20, minimum=2), source()],
    inputs=lambda p: (p["source"],),
    outputs=("zscore",),
    warmup=lambda p: w.window(p["period"]),
)
def zscore(x: np.ndarray, *, period: int, source: str) -> np.ndarray:
    """(x - rolling mean) / rolling population std over ``period`` bars; 0 when flat."""
    x = f64(x)
    mean = k.rolling_mean(x, period)
    return safe_div(x - mean, k.rolling_std(x, period, 0), 0.0)
