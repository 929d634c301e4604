"""Resampling OHLCV bars from a finer to a coarser timeframe.

Aggregation: open first, high max, low min, close last, volume sum, spread mean. Bars are
labelled by their open time (left edge), periods with no source bars are dropped, weekly bars
open at 00:00 UTC of a stated day (Monday by default; ``week_start="SUN"`` for FX weeks that
open on Sunday evening). Vectorized with numpy group reductions on sorted bucket ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError
from tradeforge.core.timeframes import Timeframe

_NS_PER_S = 1_000_000_000
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def _week_offset_s(week_start: str) -> int:
    """Seconds from the epoch (a Thursday) to the first week start on or after it."""
    day = str(week_start).strip().upper()[:3]
    if day not in WEEKDAYS:
        raise ConfigError(f"week_start must be one of {', '.join(WEEKDAYS)}, got {week_start!r}")
    return (WEEKDAYS.index(day) - WEEKDAYS.index("THU")) % 7 * 86400


def bucket_starts(
    index: pd.DatetimeIndex, timeframe: Timeframe, week_start: str = "MON"
) -> np.ndarray:
    """Open time (int64 ns since epoch) of the ``timeframe`` bar containing each timestamp."""
    ns = index.as_unit("ns").asi8
    step = timeframe.seconds * _NS_PER_S
    offset = _week_offset_s(week_start) * _NS_PER_S if timeframe.unit == "W" else 0
    return (ns - offset) // step * step + offset


def resample_ohlcv(
    frame: pd.DataFrame, timeframe: Timeframe | str, week_start: str = "MON"
) -> pd.DataFrame:
    """Aggregate a valid OHLCV frame to ``timeframe`` (which must be a multiple of its step);
    weekly bars open on ``week_start`` (MON … SUN) at 00:00 UTC."""
    tf = Timeframe.parse(timeframe)
    if len(frame) == 0:
        return frame.copy()
    buckets = bucket_starts(frame.index, tf, week_start)
    ns = frame.index.as_unit("ns").asi8
    if len(ns) > 1:
        min_step = int(np.min(np.diff(ns)))
        if min_step > tf.seconds * _NS_PER_S:
            raise ConfigError(f"cannot resample to {tf}: source bars are coarser than the target")
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(buckets)] - 1
    data = {
        "open": frame["open"].to_numpy()[starts],
        "high": np.maximum.reduceat(frame["high"].to_numpy(), starts),
        "low": np.minimum.reduceat(frame["low"].to_numpy(), starts),
        "close": frame["close"].to_numpy()[ends],
        "volume": np.add.reduceat(frame["volume"].to_numpy(), starts),
    }
    if "spread" in frame.columns:
        counts = np.diff(np.r_[starts, len(buckets)])
        data["spread"] = np.add.reduceat(frame["spread"].to_numpy(), starts) / counts
    index = pd.DatetimeIndex(buckets[starts].astype("datetime64[ns]"), name="time").tz_localize(
        "UTC"
    )
    index = index.as_unit(frame.index.unit)
    return pd.DataFrame(data, index=index)
