"""Price levels: Donchian channels, prior day/week high-low-close, distance to a level in
ATR units. Days and weeks roll at 17:00 New York by default (``roll``, see `_rolls`)."""

from __future__ import annotations

import re

import numpy as np

from tradeforge.features.library import _kernels as k
from tradeforge.features.library import _warmups as w
from tradeforge.features.library._common import f64, period, safe_div
from tradeforge.features.library._rolls import ROLL_PARAM, day_key, week_key
from tradeforge.features.params import Param
from tradeforge.features.spec import register_feature


@register_feature(
    "donchian",
    params=[period(20)],
    inputs=("high", "low"),
    outputs=("donchian_upper", "donchian_lower", "donchian_mid"),
    warmup=lambda p: w.window(p["period"]),
)
def donchian(high: np.ndarray, low: np.ndarray, *, period: int):
    """Highest high / lowest low of the last ``period`` bars, current bar included (a
    breakout test against the prior channel compares with the previous bar's value)."""
    upper = k.rolling_max(f64(high), period)
    lower = -k.rolling_max(f64(-low), period)
    return upper, lower, (upper + lower) / 2.0


def _prior_period(time, high, low, close, bucket):
    """High/low/close of the previous bucket that has bars, shown on every bar of the next."""
    n = len(close)
    hi = np.full(n, np.nan)
    lo = np.full(n, np.nan)
    cl = np.full(n, np.nan)
    if n == 0:
        return hi, lo, cl
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], n] - 1
    g_hi = np.maximum.reduceat(high, starts)
    g_lo = np.minimum.reduceat(low, starts)
    g_cl = close[ends]
    group = np.cumsum(np.r_[True, bucket[1:] != bucket[:-1]]) - 1
    has_prev = group > 0
    prev = group[has_prev] - 1
    hi[has_prev] = g_hi[prev]
    lo[has_prev] = g_lo[prev]
    cl[has_prev] = g_cl[prev]
    return hi, lo, cl


@register_feature(
    "prior_day",
    params=[ROLL_PARAM],
    inputs=("time", "high", "low", "close"),
    outputs=("prev_day_high", "prev_day_low", "prev_day_close"),
    version="2",
    warmup=lambda p: w.days(p["roll"]),
)
def prior_day(time, high, low, close, *, roll: str):
    """High, low and close of the previous trading day that has bars (NaN on the first day).
    ``roll='ny17'`` (default): days end 17:00 New York and weekend bars count to Monday, so
    Monday's prior day is Friday; ``roll='utc'``: UTC dates."""
    return _prior_period(time, high, low, close, day_key(time, roll))


@register_feature(
    "prior_week",
    params=[ROLL_PARAM],
    inputs=("time", "high", "low", "close"),
    outputs=("prev_week_high", "prev_week_low", "prev_week_close"),
    version="2",
    warmup=lambda p: w.weeks(p["roll"]),
)
def prior_week(time, high, low, close, *, roll: str):
    """High, low and close of the previous trading week that has bars. ``roll='ny17'``
    (default): weeks close Friday 17:00 New York; ``roll='utc'``: weeks start Monday 00:00
    UTC."""
    return _prior_period(time, high, low, close, week_key(time, roll))


def _dist_name(p):
    level = re.sub(r"[^0-9A-Za-z]+", "_", p["level"]).strip("_")
    return (f"dist_{level}_atr_{p['period']}",)


@register_feature(
    "distance_atr",
    params=[
        Param("level", str, doc="column or feature output, e.g. 'prior_day.prev_day_high'"),
        period(14),
    ],
    inputs=lambda p: ("close", p["level"], f"atr({p['period']})"),
    outputs=("distance_atr",),
    column_names=_dist_name,
    warmup=0,
)
def distance_atr(close, level_values, atr_, *, level: str, period: int):
    """(close - level) / ATR(period): how many ATRs the close is above (+) or below (-)."""
    return safe_div(close - level_values, atr_, np.nan)
