"""Market-data feeds: closed candles and ticks, in time order, resumable.

Events carry an ordering key ``(time_ns, priority)``: a bar's *close* event at ``t + tf`` comes
before the tick that opens the next bar at the same instant. A feed resumes strictly after a
key, which is how the engine picks up after a restart.

`ReplayFeed` plays cached bars. Without real ticks it synthesises four ticks per bar at
``t, t + tf/4, t + tf/2, t + 3tf/4``: the open, then for an up bar (close >= open) the low and
then the high, for a down bar the high and then the low, then the close (the usual "O-L-H-C /
O-H-L-C" path). ``ask = bid + spread`` (the bar's ``spread`` column, 0 without one). The
engine's default *bar* exit mode evaluates exits on the closed bar with the backtest's rules,
so these ticks decide entry fills, time stops and guards, not stop/target order. In *tick*
exit mode the path between two ticks counts as continuous (a level crossed in between fills at
the level), and its order decides a bar that touches both a stop and a target
(docs/conventions.md, "Tick exit mode").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.timeframes import Timeframe

log = logging.getLogger(__name__)

PRIO_BAR, PRIO_TICK = 0, 1


@dataclass(frozen=True)
class Tick:
    symbol: str
    time: int  # ns since epoch UTC
    bid: float
    ask: float

    @property
    def key(self) -> tuple[int, int]:
        return (self.time, PRIO_TICK)

    @property
    def spread(self) -> float:
        return self.ask - self.bid


@dataclass(frozen=True)
class Bar:
    """A closed candle (bid prices); ``time`` is its open time, ``close_time`` when it closed."""

    symbol: str
    time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    spread: float
    index: int  # position in the feed's bar sequence (bar count since the feed's start)

    @property
    def key(self) -> tuple[int, int]:
        return (self.close_time, PRIO_BAR)


Event = Tick | Bar
SessionKey = tuple[int, int, str]  # (time, priority, symbol): the merged order of events


def resume_after(key: SessionKey | None, symbol: str) -> tuple[int, int] | None:
    """Where ``symbol``'s feed resumes for the merged stream to continue after ``key``: a feed
    whose symbol sorts after the last event's has not had its events at that same key yet."""
    if key is None:
        return None
    t, p, last = key
    return (t, p) if symbol <= last else (t, p - 1)


class SessionOrder:
    """Delivers a live session feed's events in the dry-run merge's (time, bar-before-tick,
    symbol) order, one batch (already sorted) at a time: events played before a restart
    (``after``) are skipped, and an event stamped before one already delivered — a tick read
    late — is delivered 1 ns after it; a late bar is skipped with a warning (the engine would
    take it for a duplicate). One rule for every broker's session feed."""

    def __init__(self, after: SessionKey | None, source: str) -> None:
        self.after = after
        self.last = after
        self.source = source  # the broker's name, for the warning

    def deliver(self, batch: list[Tick | Bar]) -> Iterator[Tick | Bar]:
        """``batch``'s events to deliver, in order."""
        after, last = self.after, self.last
        for event in batch:
            key = (*event.key, event.symbol)
            if after is not None and key <= after:
                continue  # played before the restart
            if last is not None and key <= last:
                if isinstance(event, Bar):
                    log.warning(
                        "%s %s bar at %s came after later events; skipped",
                        self.source, event.symbol, pd.Timestamp(event.time, tz="UTC"),
                    )  # fmt: skip
                    continue
                event = replace(event, time=last[0] + 1)
                key = (*event.key, event.symbol)
            self.last = last = key
            yield event


class Feed(Protocol):
    """Source of closed candles and ticks for one symbol."""

    symbol: str
    timeframe: Timeframe

    def events(self, after: tuple[int, int] | None = None) -> Iterator[Event]: ...

    def window(self, bar_time: int, count: int) -> pd.DataFrame:
        """The ``count`` most recent closed bars up to and including the bar opened at
        ``bar_time`` (canonical OHLCV frame)."""
        ...


class BrokerFeed(Protocol):
    """Live data from a broker connection (e.g. MT5 ``symbol_info_tick`` / ``copy_rates``):
    ``events`` blocks until the next tick or closed bar; ``window`` reads recent bars."""

    symbol: str
    timeframe: Timeframe

    def events(self, after: tuple[int, int] | None = None) -> Iterator[Event]: ...

    def window(self, bar_time: int, count: int) -> pd.DataFrame: ...


class ReplayFeed:
    """Plays a bar frame (and optional real ticks) at full speed or ``pace`` seconds per bar.

    ``progress(done, total)``, when set, is called after each bar has been consumed: ``done``
    bars of the ``total`` from ``play_from`` (a resumed replay starts at the bars already
    played)."""

    def __init__(
        self,
        frame: pd.DataFrame,
        symbol: str,
        timeframe: Timeframe | str,
        *,
        ticks: pd.DataFrame | None = None,
        pace: float = 0.0,
        play_from: pd.Timestamp | str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if len(frame) == 0:
            raise DataError(f"replay of {symbol}: no bars")
        if pace < 0:
            raise ConfigError("pace must be >= 0 seconds per bar")
        self.frame = frame
        self.symbol = symbol
        self.timeframe = Timeframe.parse(timeframe)
        self.pace = pace
        self.progress = progress
        self._times = frame.index.as_unit("ns").asi8
        self._o = frame["open"].to_numpy(np.float64)
        self._h = frame["high"].to_numpy(np.float64)
        self._lo = frame["low"].to_numpy(np.float64)
        self._c = frame["close"].to_numpy(np.float64)
        self._sp = (
            frame["spread"].to_numpy(np.float64)
            if "spread" in frame.columns
            else np.zeros(len(frame))
        )
        self._first = 0  # bars before it are history for the strategy window only
        if play_from is not None:
            ts = pd.Timestamp(play_from)
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
            self._first = int(np.searchsorted(self._times, ts.as_unit("ns").value, side="left"))
            if self._first >= len(self._times):
                raise DataError(f"replay of {symbol}: no bars from {ts}")
        self._ticks = None
        if ticks is not None:
            if not {"bid", "ask"} <= set(ticks.columns):
                raise DataError("replay ticks need 'bid' and 'ask' columns")
            self._ticks = (
                ticks.index.as_unit("ns").asi8,
                ticks["bid"].to_numpy(np.float64),
                ticks["ask"].to_numpy(np.float64),
            )

    def __len__(self) -> int:
        return len(self._times)

    def bar(self, i: int) -> Bar:
        step = self.timeframe.seconds * 1_000_000_000
        return Bar(
            self.symbol,
            int(self._times[i]),
            int(self._times[i]) + step,
            float(self._o[i]),
            float(self._h[i]),
            float(self._lo[i]),
            float(self._c[i]),
            float(self._sp[i]),
            i,
        )

    def _bar_ticks(self, i: int) -> list[Tick]:
        t0 = int(self._times[i])
        step = self.timeframe.seconds * 1_000_000_000
        if self._ticks is not None:
            tt, bid, ask = self._ticks
            a, b = np.searchsorted(tt, [t0, t0 + step])
            return [
                Tick(self.symbol, int(tt[k]), float(bid[k]), float(ask[k])) for k in range(a, b)
            ]
        o, h, lo, c, sp = self._o[i], self._h[i], self._lo[i], self._c[i], self._sp[i]
        path = (o, lo, h, c) if c >= o else (o, h, lo, c)
        return [
            Tick(self.symbol, t0 + k * step // 4, float(p), float(p + sp))
            for k, p in enumerate(path)
        ]

    def events(self, after: tuple[int, int] | None = None) -> Iterator[Event]:
        step = self.timeframe.seconds * 1_000_000_000
        start = self._first
        if after is not None:  # first bar whose close is after the resume point
            start = int(np.searchsorted(self._times + step, after[0], side="left"))
            start = max(start - 1, self._first)
        for i in range(start, len(self._times)):
            for tick in self._bar_ticks(i):
                if after is None or tick.key > after:
                    yield tick
            bar = self.bar(i)
            if after is None or bar.key > after:
                yield bar
                if self.pace:
                    time.sleep(self.pace)
            if self.progress is not None and (after is None or bar.key >= after):
                self.progress(i - self._first + 1, self.total)

    @property
    def total(self) -> int:
        """Bars the replay plays (those before ``play_from`` are history only)."""
        return len(self._times) - self._first

    def last_tick(self, key: tuple[int, int]) -> Tick | None:
        """The last tick at or before ``key`` (restores the quote after a restart)."""
        i = int(np.searchsorted(self._times, key[0], side="right")) - 1
        for j in range(i, max(i - 2, -1), -1):
            ticks = [t for t in self._bar_ticks(j) if t.key <= tuple(key)]
            if ticks:
                return ticks[-1]
        return None

    def window(self, bar_time: int, count: int) -> pd.DataFrame:
        i = int(np.searchsorted(self._times, bar_time, side="right"))
        if i == 0 or self._times[i - 1] != bar_time:
            raise DataError(
                f"replay of {self.symbol}: no bar opened at {pd.Timestamp(bar_time, tz='UTC')}"
            )
        return self.frame.iloc[max(0, i - count) : i]


class RecordedFeed:
    """A live feed that keeps the closed bars it hands the strategies (the union of its
    `window` s: the history before the first bar handled, then every bar since), for the
    divergence monitor's shadow backtest — which runs on its own thread and so must not read
    history from the broker connection. Everything else passes through.

    **Bounded.** The record holds the last ``keep`` bars at most: the longest window handed
    out, or more when a monitor asks for it (`retain`: its ``max_bars`` plus its strategy's
    window and the bars between two comparisons), so a session of any length keeps a fixed
    number of rows. Older bars are dropped when the record is joined.

    The engine's thread only keeps a reference to each window that brings new bars (joined
    there too once `JOIN_EVERY` are pending, so a session without a monitor stays bounded);
    `seen` (the monitor's thread) cuts their new bars off and joins them into the frame.

    **Across restarts.** With a ``state_dir``, `seen` also stores the record (and the first
    bar the session ever handled) in ``<state>/recorded/<SYMBOL>.json`` whenever it has new
    bars — a checksummed document replaced atomically, written on the monitor's thread — and
    a new process starts from it: the monitor's shadow then resumes from the session's
    recorded history, not from the restart. The stored bars are kept only when the first
    window of the new process overlaps them (no bar can be missing in between); otherwise
    the record starts again at the restart, as without a ``state_dir``."""

    #: Windows with new bars kept before the engine's thread joins them itself.
    JOIN_EVERY = 64

    def __init__(self, feed: Any, state_dir: Path | None = None) -> None:
        self._feed = feed
        self._lock = threading.Lock()
        self._frame: pd.DataFrame | None = None
        self._tails: list[pd.DataFrame] = []  # windows with new bars since the last join
        self._span = (0, 0)  # the index values of the oldest and the newest bar recorded
        self._first: int | None = None  # open time (ns) of the first bar handled
        self.keep = 0  # bars kept at most (raised by the windows handed out and `retain`)
        self._path = None if state_dir is None else record_path(state_dir, feed.symbol)
        self._stored: int | None = None  # the newest bar stored in ``_path``
        self._restored = False  # the record came from ``_path``; not yet joined to a window
        if self._path is not None and self._path.exists():
            self._restore(self._path)

    def _restore(self, path: Path) -> None:
        from tradeforge.live.persist import read_document

        body = read_document(path)
        frame = pd.DataFrame(
            {c: np.asarray(v, dtype=dtype) for c, dtype, v in body["columns"]},
            index=pd.DatetimeIndex(
                pd.to_datetime(np.asarray(body["index"], dtype=np.int64), utc=True),
                name=body["index_name"],
            ).as_unit(body["index_unit"]),
        )
        if len(frame):
            self._frame, self._first = frame, int(body["first"])
            times = frame.index.as_unit("ns").asi8
            self._span = (int(times[0]), int(times[-1]))
            self._stored, self._restored = int(times[-1]), True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._feed, name)

    def retain(self, bars: int) -> None:
        """Keep at least the last ``bars`` bars (a monitor's shadow backtest needs them)."""
        with self._lock:
            self.keep = max(self.keep, bars)

    def window(self, bar_time: int, count: int) -> pd.DataFrame:
        frame = self._feed.window(bar_time, count)
        if not len(frame):
            return frame
        times = frame.index.as_unit("ns").asi8
        with self._lock:
            self.keep = max(self.keep, len(frame))
            if self._restored:  # the first window after a restart: continuous with the record?
                self._restored = False
                if times[0] > self._span[1]:  # bars may be missing in between: start afresh
                    self._frame = None
            oldest, newest = self._span
            if self._frame is None:
                self._frame, self._first = frame, bar_time
                self._span = (int(times[0]), int(times[-1]))
                return frame
            if times[0] < oldest:  # a longer window (another instance's): more history
                head = frame.iloc[: int(times.searchsorted(oldest))]
                self._frame = pd.concat([head, self._frame])
                oldest = int(times[0])
            if times[-1] > newest:  # its bars after the newest are cut off in `_join`
                self._tails.append(frame)
                newest = int(times[-1])
            self._span = (oldest, newest)
            if len(self._tails) >= self.JOIN_EVERY:
                self._join()
        return frame

    def _join(self) -> None:
        """The pending windows' new bars joined onto the record, cut to ``keep`` bars (under
        the lock)."""
        if not self._tails:
            return
        assert self._frame is not None
        parts, end = [self._frame], self._frame.index[-1]
        for frame in self._tails:
            parts.append(frame.iloc[frame.index.searchsorted(end, side="right") :])
            end = frame.index[-1]
        self._frame = pd.concat(parts).iloc[-self.keep :]
        self._tails = []
        self._span = (int(self._frame.index.as_unit("ns").asi8[0]), self._span[1])

    def seen(self) -> tuple[pd.DataFrame | None, int | None]:
        """The bars handed out so far (the last ``keep``; None before the first) and the open
        time of the first bar handled (the session's first traded bar since this process
        started)."""
        with self._lock:
            self._join()
            frame, first = self._frame, self._first
        if self._path is not None and frame is not None and not self._restored:
            newest = int(frame.index.as_unit("ns").asi8[-1])
            if newest != self._stored:
                self._store(frame, first)
                self._stored = newest
        return frame, first

    def _store(self, frame: pd.DataFrame, first: int | None) -> None:
        from tradeforge.live.persist import ensure_dir, write_document

        assert self._path is not None
        ensure_dir(self._path.parent)
        write_document(
            self._path,
            {
                "first": first,
                "index": frame.index.as_unit("ns").asi8.tolist(),
                "index_name": frame.index.name,
                "index_unit": frame.index.unit,
                "columns": [[c, str(frame[c].dtype), frame[c].tolist()] for c in frame.columns],
            },
        )


#: Where a `RecordedFeed` stores its record, under the state directory.
RECORD_DIR = "recorded"


def record_path(state_dir: Path, symbol: str) -> Path:
    """The stored record of ``symbol``'s bars in a session's state directory."""
    return Path(state_dir) / RECORD_DIR / f"{symbol.upper()}.json"
