"""Blackout windows: when an occurrence of a window covers an instant, when a flattening
window closes positions, and the economic-calendar CSV a list of windows is imported from.

Both ends of a window belong to it: a one-off window covers ``start <= t <= end``, a daily one
``at`` .. ``at + minutes`` of each UTC day, and a calendar event at ``T`` with ``±N`` minutes
``T - N`` .. ``T + N``. Entry signals are judged at their bar's close, so a signal is skipped
when that close lies in a window. A window with ``flatten`` closes positions (and cancels entry
orders) at the *flatten point* of each occurrence — the close of the last bar that ends strictly
before the occurrence starts, or the first event after it — and blocks entries from that point
on, so nothing reopens between the flatten and the window.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tradeforge.core.errors import ConfigError
from tradeforge.core.timeutil import parse_time
from tradeforge.live.decisions import iso
from tradeforge.live.model import Blackout, EngineState

MINUTE = 60 * 1_000_000_000
DAY = 24 * 60 * MINUTE
CALENDAR_COLUMNS = ("time", "currency", "impact", "event")


@dataclass(frozen=True)
class Hit:
    """The occurrence of window ``id`` that covers an instant."""

    id: str
    start: int
    end: int
    label: str

    def describe(self) -> str:
        label = f" ({self.label})" if self.label else ""
        return f"blackout {self.id}{label} {iso(self.start)} .. {iso(self.end)}"


def id_key(window_id: str) -> tuple[int, ...]:
    """Sort key of a window id (``12``, ``12-3``): numeric, part by part."""
    return tuple(int(part) for part in window_id.split("-"))


def occurrences(w: Blackout, t: int) -> Iterator[tuple[int, int]]:
    """The occurrences ``(start, end)`` of ``w`` that may matter at ``t`` (a daily window: the
    ones starting the day before, the day of and the day after ``t``)."""
    if w.at is None or w.minutes is None:
        assert w.start is not None and w.end is not None
        yield w.start, w.end
        return
    day = t // DAY
    for d in (day - 1, day, day + 1):
        start = d * DAY + w.at * MINUTE
        yield start, start + w.minutes * MINUTE


def flatten_point(start: int, step_ns: int) -> int:
    """The close of the last bar (of ``step_ns``) that ends strictly before ``start``."""
    return (start - 1) // step_ns * step_ns


def covering(w: Blackout, t: int, step_ns: int) -> tuple[int, int] | None:
    """The occurrence of ``w`` in which no entry may open at ``t`` (from its flatten point on
    when it flattens), or None."""
    for start, end in occurrences(w, t):
        first = flatten_point(start, step_ns) if w.flatten else start
        if first <= t <= end:
            return start, end
    return None


def blackout_at(state: EngineState, t: int, step_ns: int) -> Hit | None:
    """The first window (by id) that blocks entries at ``t``."""
    for wid in sorted(state.blackouts, key=id_key):
        w = state.blackouts[wid]
        occ = covering(w, t, step_ns)
        if occ is not None:
            return Hit(wid, occ[0], occ[1], w.label)
    return None


def flattens_due(state: EngineState, t: int, step_ns: int) -> list[Hit]:
    """Flattening windows whose current occurrence has not flattened yet, by id."""
    out = []
    for wid in sorted(state.blackouts, key=id_key):
        w = state.blackouts[wid]
        if not w.flatten:
            continue
        occ = covering(w, t, step_ns)
        if occ is not None and w.flattened != occ[0]:
            out.append(Hit(wid, occ[0], occ[1], w.label))
    return out


def window_text(w: Blackout) -> str:
    """One line for ``blackout list``."""
    if w.at is not None and w.minutes is not None:
        when = f"daily {w.at // 60:02d}:{w.at % 60:02d} UTC for {w.minutes} min"
    else:
        when = f"{iso(w.start)} .. {iso(w.end)}"
    return when + (", flatten before" if w.flatten else "") + (f" ({w.label})" if w.label else "")


def parse_calendar(text: str, source: str) -> list[dict[str, Any]]:
    """Events of an economic-calendar CSV (header ``time,currency,impact,event``; ``time`` ISO
    8601, naive = UTC); `ConfigError` naming the file and line of the first bad row."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ConfigError(f"{source}: empty calendar file")
    header = tuple(c.strip().lower() for c in rows[0])
    if header != CALENDAR_COLUMNS:
        raise ConfigError(
            f"{source}: line 1: header must be {','.join(CALENDAR_COLUMNS)}, got {','.join(header)}"
        )
    events = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(CALENDAR_COLUMNS):
            raise ConfigError(f"{source}: line {n}: {len(row)} fields, expected 4")
        time, currency, impact, event = (cell.strip() for cell in row)
        ts = parse_time(time, f"time on line {n} of {source}")
        events.append(
            {"time": ts.isoformat(), "currency": currency, "impact": impact, "event": event}
        )
    if not events:
        raise ConfigError(f"{source}: no events")
    return events
