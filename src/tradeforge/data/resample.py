"""Resampling OHLCV bars from a finer to a coarser timeframe.

Aggregation: open first, high max, low min, close last, volume sum, spread mean. Bars are
labelled by their open time (left edge), periods with no source bars are dropped, weekly bars
open on Monday 00:00 UTC. Vectorized with numpy group reductions on sorted bucket ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError
from tradeforge.core.timeframes import Timeframe

_NS_PER_S = 1_000_000_000
_MONDAY_OFFSET_S = 4 * 86400  # 1970-01-01 was a Thursday; Mondays are epoch + 4 days + k weeks


def bucket_starts(index: pd.DatetimeIndex, timeframe: Timeframe) -> np.ndarray:
    """Open time (int64 ns since epoch) of the ``timeframe`` bar containing each timestamp."""
    ns = index.as_unit("ns").asi8
    step = timeframe.seconds * _NS_PER_S
    offset = _MONDAY_OFFSET_S * _NS_PER_S if timeframe.unit == "W" else 0
    return (ns - offset) // step * step + offset


def resample_ohlcv(frame: pd.DataFrame, timeframe: Timeframe | str) -> pd.DataFrame:
    """Aggregate a valid OHLCV frame to ``timeframe`` (which must be a multiple of its step)."""
    tf = Timeframe.parse(timeframe)
    if len(frame) == 0:
        return frame.copy()
    buckets = bucket_starts(frame.index, tf)
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
