"""Calendar features from the UTC index: trading sessions, bar index in session/day, day of
week, session high/low.

Sessions use fixed UTC hours (no daylight-saving shift), by bar open time:
Asia 00:00-09:00, London 07:00-16:00, New York 12:00-21:00; 21:00-24:00 is ``off``.
Overlaps are labelled ``asia_london`` (07-09) and ``london_new_york`` (12-16).
"""

from __future__ import annotations

import numpy as np

from tradeforge.features.library import _kernels as k
from tradeforge.features.library._common import NS_PER_DAY, NS_PER_MINUTE, f64
from tradeforge.features.params import Param
from tradeforge.features.spec import register_feature

SESSION_HOURS: dict[str, tuple[int, int]] = {
    "asia": (0, 9),
    "london": (7, 16),
    "new_york": (12, 21),
}
SESSION_LABELS = ("asia", "asia_london", "london", "london_new_york", "new_york", "off")


def _minute_of_day(time: np.ndarray) -> np.ndarray:
    return (time % NS_PER_DAY) // NS_PER_MINUTE


def _in_session(minute: np.ndarray, name: str) -> np.ndarray:
    start, end = SESSION_HOURS[name]
    return (minute >= start * 60) & (minute < end * 60)


def session_labels(time: np.ndarray) -> np.ndarray:
    """Session label of each bar (open times as int64 ns)."""
    minute = _minute_of_day(time)
    asia, london, ny = (_in_session(minute, s) for s in ("asia", "london", "new_york"))
    return np.select(
        [asia & london, london & ny, asia, london, ny],
        ["asia_london", "london_new_york", "asia", "london", "new_york"],
        default="off",
    )


@register_feature(
    "sessions",
    inputs=("time",),
    outputs=("session", "session_asia", "session_london", "session_new_york", "session_overlap"),
)
def sessions(time: np.ndarray):
    """Session label (see module doc) and 0/1 flags for each session and for overlaps."""
    minute = _minute_of_day(time)
    flags = [_in_session(minute, s) for s in ("asia", "london", "new_york")]
    overlap = (flags[0].astype(int) + flags[1] + flags[2]) > 1
    return (session_labels(time), *(f.astype(np.float64) for f in flags), overlap * 1.0)


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


@register_feature("bar_index", inputs=("time",), outputs=("bar_in_day", "bar_in_session"))
def bar_index(time: np.ndarray):
    """Position (0-based) of the bar in its UTC day and in its current session label run
    (counting bars present in the data)."""
    new_day = _changes(time // NS_PER_DAY)
    new_session = new_day | _changes(session_labels(time))
    return _run_index(new_day), _run_index(new_session)


@register_feature("day_of_week", inputs=("time",), outputs=("day_of_week",))
def day_of_week(time: np.ndarray) -> np.ndarray:
    """0 = Monday … 6 = Sunday (UTC)."""
    return ((time // NS_PER_DAY + 3) % 7).astype(np.float64)


@register_feature(
    "session_range",
    params=[Param("session", str, "asia", choices=tuple(SESSION_HOURS))],
    inputs=("time", "high", "low"),
    outputs=("session_high", "session_low"),
)
def session_range(time, high, low, *, session: str):
    """High/low of the latest instance of ``session`` so far: running while the session is
    open, then held until it opens again (NaN before its first bar)."""
    day = time // NS_PER_DAY
    inside = _in_session(_minute_of_day(time), session)
    group = np.where(inside, day, -1).astype(np.float64)
    return k.running_range(f64(high), f64(low), group)
