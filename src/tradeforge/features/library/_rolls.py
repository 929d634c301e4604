"""Trading-day and trading-week keys of bar open times, for a day-roll convention.

* ``ny17`` (the FX convention): a trading day ends at 17:00 America/New_York, DST-aware
  (21:00 UTC in US summer time, 22:00 UTC in winter), and is named after the date it ends on.
  Bars between Friday's 17:00 close and Sunday's 17:00 open (weekend stubs) belong to Monday.
  A trading week runs from Sunday 17:00 to Friday 17:00 New York time.
* ``utc``: UTC calendar dates; weeks start Monday 00:00 UTC.

Keys are integers that increase with time; bars with equal keys share a day (week).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeforge.features.library._common import MONDAY_OFFSET_NS, NS_PER_DAY, NS_PER_WEEK
from tradeforge.features.params import Param

ROLLS = ("ny17", "utc")
ROLL_PARAM = Param(
    "roll",
    str,
    "ny17",
    choices=ROLLS,
    in_name=False,
    doc="day boundary: 'ny17' (17:00 New York, FX) or 'utc' (midnight UTC)",
)
_NEW_YORK = "America/New_York"
_ROLL_SHIFT_NS = 7 * 3_600_000_000_000  # 17:00 + 7 h = the next local midnight
_MONDAY_DAY = MONDAY_OFFSET_NS // NS_PER_DAY  # day number of the first Monday (1970-01-05)


def day_key(time: np.ndarray, roll: str) -> np.ndarray:
    """Trading day of each bar open time (int64 ns UTC) under ``roll``."""
    if roll == "utc":
        return time // NS_PER_DAY
    utc = pd.DatetimeIndex(np.asarray(time, dtype="datetime64[ns]")).tz_localize("UTC")
    wall = np.asarray(utc.tz_convert(_NEW_YORK).tz_localize(None).asi8)
    day = (wall + _ROLL_SHIFT_NS) // NS_PER_DAY
    weekday = (day - _MONDAY_DAY) % 7  # 0 Monday .. 5 Saturday, 6 Sunday
    return day + np.where(weekday >= 5, 7 - weekday, 0)  # weekend bars: Monday


def week_key(time: np.ndarray, roll: str) -> np.ndarray:
    """Trading week of each bar open time under ``roll``."""
    if roll == "utc":
        return (time - MONDAY_OFFSET_NS) // NS_PER_WEEK
    return (day_key(time, roll) - _MONDAY_DAY) // 7
