"""Calendar features from the UTC index: trading sessions, bar index in session/day, day of
week, session high/low.

Sessions are judged by bar open time on one of two clocks (parameter ``clock``):

* ``utc`` (default): fixed UTC hours — Asia 00:00-09:00, London 07:00-16:00, New York
  12:00-21:00; 21:00-24:00 is ``off``. These are the summer-time hours of the exchanges.
* ``local``: each centre's own local hours with its daylight-saving rules — Tokyo 09:00-18:00
  (no DST), London 08:00-17:00 Europe/London, New York 08:00-17:00 America/New_York. In
  northern winter London runs 08-17 UTC and New York 13-22 UTC; the DST switch dates of
  Europe and the US differ, which the fixed clock cannot follow.

Overlaps are labelled ``asia_london`` and ``london_new_york``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeforge.features.library import _kernels as k
from tradeforge.features.library import _warmups as w
from tradeforge.features.library._common import NS_PER_DAY, NS_PER_MINUTE, f64
from tradeforge.features.params import Param
from tradeforge.features.spec import register_feature

SESSION_HOURS: dict[str, tuple[int, int]] = {
    "asia": (0, 9),
    "london": (7, 16),
    "new_york": (12, 21),
}
#: (time zone, local open hour, local close hour) of each centre for ``clock="local"``
SESSION_LOCAL: dict[str, tuple[str, int, int]] = {
    "asia": ("Asia/Tokyo", 9, 18),
    "london": ("Europe/London", 8, 17),
    "new_york": ("America/New_York", 8, 17),
}
SESSION_LABELS = ("asia", "asia_london", "london", "london_new_york", "new_york", "off")
CLOCKS = ("utc", "local")
_CLOCK_PARAM = Param("clock", str, "utc", choices=CLOCKS, in_name=False)


def _minute_of_day(time: np.ndarray) -> np.ndarray:
    return (time % NS_PER_DAY) // NS_PER_MINUTE


def _in_session(time: np.ndarray, name: str, clock: str = "utc") -> np.ndarray:
    """True where a bar opening at ``time`` (int64 ns UTC) lies in session ``name``."""
    if clock == "local":
        zone, start, end = SESSION_LOCAL[name]
        local = pd.DatetimeIndex(time.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(zone)
        minute = np.asarray(local.hour * 60 + local.minute)
    else:
        start, end = SESSION_HOURS[name]
        minute = _minute_of_day(time)
    return (minute >= start * 60) & (minute < end * 60)


def session_labels(time: np.ndarray, clock: str = "utc") -> np.ndarray:
    """Session label of each bar (open times as int64 ns)."""
    asia, london, ny = (_in_session(time, s, clock) for s in ("asia", "london", "new_york"))
    return np.select(
        [asia & london, london & ny, asia, london, ny],
        ["asia_london", "london_new_york", "asia", "london", "new_york"],
        default="off",
    )


@register_feature(
    "sessions",
    params=[_CLOCK_PARAM],
    inputs=("time",),
    outputs=("session", "session_asia", "session_london", "session_new_york", "session_overlap"),
    warmup=0,
)
def sessions(time: np.ndarray, *, clock: str):
    """Session label (see module doc) and 0/1 flags for each session and for overlaps."""
    flags = [_in_session(time, s, clock) for s in ("asia", "london", "new_york")]
    overlap = (flags[0].astype(int) + flags[1] + flags[2]) > 1
    return (session_labels(time, clock), *(f.astype(np.float64) for f in flags), overlap * 1.0)


def _changes(keys: np.ndarray) -> np.ndarray:
    return np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, dtype=bool)


def _run_index(change: np.ndarray) -> np.ndarray:
    """0, 1, 2… within each run that starts where ``change`` is True."""
    n = len(change)
    if n == 0:
        return np.zeros(0)
    starts = np.flatnonzero(change)
    run = np.cumsum(change) - 1
    return (np.arange(n) - starts[run]).astype(np.float64)


@register_feature(
    "bar_index",
    params=[_CLOCK_PARAM],
    inputs=("time",),
    outputs=("bar_in_day", "bar_in_session"),
    warmup=w.utc_day(),
)
def bar_index(time: np.ndarray, *, clock: str):
    """Position (0-based) of the bar in its UTC day and in its current session label run
    (counting bars present in the data)."""
    new_day = _changes(time // NS_PER_DAY)
    new_session = new_day | _changes(session_labels(time, clock))
    return _run_index(new_day), _run_index(new_session)


@register_feature("day_of_week", inputs=("time",), outputs=("day_of_week",), warmup=0)
def day_of_week(time: np.ndarray) -> np.ndarray:
    """0 = Monday … 6 = Sunday (UTC)."""
    return ((time // NS_PER_DAY + 3) % 7).astype(np.float64)


@register_feature(
    "session_range",
    params=[Param("session", str, "asia", choices=tuple(SESSION_HOURS)), _CLOCK_PARAM],
    inputs=("time", "high", "low"),
    outputs=("session_high", "session_low"),
    warmup=lambda p: w.utc_day(p["clock"]),
)
def session_range(time, high, low, *, session: str, clock: str):
    """High/low of the latest instance of ``session`` so far: running while the session is
    open, then held until it opens again (NaN before its first bar)."""
    day = time // NS_PER_DAY
    inside = _in_session(time, session, clock)
    group = np.where(inside, day, -1).astype(np.float64)
    return k.running_range(f64(high), f64(low), group)
