"""Live market data over a `CTraderBroker`'s connection: `CTraderFeed` (one symbol's ticks and
closed bars) and `CTraderSessionFeed` (the feeds of a session's symbols merged into one
stream for the engine).

Everything here runs on the engine's thread: the client's loop thread only queues the spot
events, and the feeds turn them into events — history reads for closed bars included —
while the engine asks for its next event. So no broker call is ever made from two threads at
once (the health monitor's `CTraderBroker.link` only reads the client's counters).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.timeframes import Timeframe
from tradeforge.ctrader.bars import PRICE_SCALE, decode_trendbars, get_trendbars, period_code
from tradeforge.ctrader.client import RECONNECTED
from tradeforge.ctrader.messages import SPOT_EVENT
from tradeforge.data.sources.ctrader import bars_frame
from tradeforge.live.brokers.ctrader import MS_NS, CTraderBroker
from tradeforge.live.feeds import Bar, SessionKey, SessionOrder, Tick, resume_after

NS_MIN = 60 * 1_000_000_000


def _spot_ns(spot: Any) -> int:
    """A spot's server time in ns (its receipt time when it carries none)."""
    ms = spot.timestamp if spot.HasField("timestamp") else time.time() * 1000
    return int(ms) * MS_NS


class _Reconnecting:
    """What a feed does after its connection came back: ``on_reconnect`` (the engine's
    reconcile) runs once, on the engine's thread, before the next event — fills may have
    happened while the link was down."""

    on_reconnect: Callable[[], Any] | None
    _reconnected: threading.Event

    def _settle_reconnection(self) -> None:
        if self._reconnected.is_set():
            self._reconnected.clear()
            if self.on_reconnect is not None:
                self.on_reconnect()


class CTraderFeed(_Reconnecting):
    """`BrokerFeed` over a `CTraderBroker`'s connection, for one symbol and timeframe.

    Ticks come from the symbol's spot events (bid and ask / 100000; a side missing from an
    event keeps its last value). The spot events also carry the forming live bar of the
    timeframe; when one with a later open time arrives, the bars that closed in between are
    fetched as historical trendbars (their final values; the last snapshot seen stands in for
    a bar history does not have yet) and emitted before the tick. Subscriptions survive
    reconnections (the client restores them).

    Resuming after ``after`` (a restart): the first live bar seen also brings the bars that
    closed after ``after`` and before it, from history — the bars that closed while no process
    was listening. `last_tick` gives the engine the quote the subscription starts with.
    ``clock_skew`` is the latest spot's local receipt time minus its server timestamp, in
    seconds (the health monitor watches it). ``max_events`` bounds `events` (tests); ``poll``
    is how often a quiet wait checks it. ``spots``: the queue the symbol's spot events go to
    (a `CTraderSessionFeed` gives all its feeds one, in arrival order).
    """

    def __init__(
        self,
        broker: CTraderBroker,
        symbol: str,
        timeframe: Timeframe | str,
        *,
        max_events: int | None = None,
        poll: float = 1.0,
        on_reconnect: Callable[[], Any] | None = None,
        spots: queue.Queue[Any] | None = None,
    ) -> None:
        self.broker = broker
        self.on_reconnect = on_reconnect  # called on the engine's thread after a reconnection
        self._reconnected = threading.Event()
        self.symbol = symbol.upper()
        self.timeframe = Timeframe.parse(timeframe)
        self.max_events = max_events
        self.poll = poll
        self._period = period_code(self.timeframe)
        self._spec = broker.symbol_spec(self.symbol)
        self._queue: queue.Queue[Any] = spots if spots is not None else queue.Queue()
        self._held: Any = None  # a spot `last_tick` took, still to be processed by `events`
        self.clock_skew: float | None = None
        self.bid: float | None = None
        self.ask: float | None = None
        self._forming: np.ndarray | None = None  # the live bar last seen, as a decoded row
        self._resume: int | None = None  # open minute of the first bar not emitted yet
        broker.client.add_listener(self._on_event)
        broker.call(broker.client.subscribe_live_trendbars(self._spec.symbol_id, self._period))
        self._index = 0

    @property
    def symbol_id(self) -> int:
        return self._spec.symbol_id

    def _on_event(self, payload_type: int, message: Any) -> None:
        if payload_type == RECONNECTED:
            self._reconnected.set()
        elif payload_type == SPOT_EVENT and message.symbolId == self._spec.symbol_id:
            if message.HasField("timestamp"):
                self.clock_skew = round(time.time() - message.timestamp / 1000, 3)
            self._queue.put(message)

    def _next_spot(self) -> Any:
        held, self._held = self._held, None
        return held if held is not None else self._queue.get(timeout=self.poll)

    def tick_of(self, spot: Any) -> Tick | None:
        """The quote a spot of this symbol carries, when it has both sides."""
        if not (spot.HasField("bid") and spot.HasField("ask")):
            return None
        return Tick(self.symbol, _spot_ns(spot), spot.bid / PRICE_SCALE, spot.ask / PRICE_SCALE)

    def last_tick(self, key: tuple[int, int]) -> Tick | None:
        """The quote the subscription starts with (the server sends the latest prices
        first), so a restarted engine has a quote before the next tick; None when no spot with
        both sides arrives within a few polls."""
        for _ in range(max(1, round(10 / self.poll))):
            try:
                spot = self._next_spot()
            except queue.Empty:
                continue
            self._held = spot
            return self.tick_of(spot)
        return None

    @property
    def spread(self) -> float:
        if not (self.bid and self.ask):
            return 0.0
        return round(self.ask - self.bid, self._spec.digits)

    def _bars(
        self, end_minute: int, snapshot: np.ndarray | None, start_minute: int = 0
    ) -> list[Bar]:
        """Closed bars opened from the ``snapshot`` bar's minute (or ``start_minute``) to
        ``end_minute``, fetched from history; the snapshot (the live bar last seen) stands in
        if history lacks it. Later bars than ``end_minute``'s are not emitted again."""
        first = int(snapshot[0]) if snapshot is not None else start_minute
        start = pd.Timestamp(first * 60, unit="s", tz="UTC")
        end = pd.Timestamp(end_minute * 60, unit="s", tz="UTC")
        client, sid = self.broker.client, self._spec.symbol_id
        raw = self.broker.call(get_trendbars(client, sid, self.timeframe, start, end))
        raw = raw[raw[:, 0] < end_minute]
        if snapshot is not None and snapshot[0] not in raw[:, 0]:
            raw = np.vstack([raw, snapshot[None, :]])
        self._resume = end_minute
        if not len(raw):
            return []
        frame = bars_frame(raw, self._spec.digits, f"ctrader live {self.symbol}")
        step = self.timeframe.seconds * 1_000_000_000
        bars = []
        for t, row in zip(frame.index.as_unit("ns").asi8, frame.itertuples(), strict=True):
            bars.append(
                Bar(self.symbol, int(t), int(t) + step, row.open, row.high, row.low, row.close,
                    self.spread, self._index)
            )  # fmt: skip
            self._index += 1
        return bars

    def start(self, after: tuple[int, int] | None) -> None:
        """Begin a stream resuming after ``after`` (None: from the first live bar)."""
        self.bid = self.ask = None
        self._forming = None
        self._resume = None
        if after is not None:
            step_min = self.timeframe.seconds // 60
            minute = after[0] // NS_MIN
            self._resume = minute if after[1] == 0 else minute // step_min * step_min

    def spot_events(self, spot: Any) -> list[Tick | Bar]:
        """The events of one spot of this symbol: the bars its live bar shows closed, then
        its tick."""
        if spot.HasField("bid"):
            self.bid = spot.bid / PRICE_SCALE
        if spot.HasField("ask"):
            self.ask = spot.ask / PRICE_SCALE
        out: list[Tick | Bar] = []
        for row in decode_trendbars(b for b in spot.trendbar if b.period == self._period):
            if self._resume is not None and row[0] < self._resume:
                continue  # a bar already emitted
            if self._forming is None and self._resume is not None and row[0] > self._resume:
                out += self._bars(int(row[0]), None, self._resume)  # closed meanwhile
            if self._forming is not None and row[0] > self._forming[0]:
                out += self._bars(int(row[0]), self._forming)
            if self._forming is None or row[0] >= self._forming[0]:
                self._forming = row
        if self.bid and self.ask:
            out.append(Tick(self.symbol, _spot_ns(spot), self.bid, self.ask))
        return out

    def close_through(self, now: int) -> list[Bar]:
        """The bars of this symbol closed by ``now`` (ns) that its own spots have not shown
        closed yet (a quiet symbol's bar closes with the session's clock)."""
        step_min = self.timeframe.seconds // 60
        end = now // NS_MIN // step_min * step_min  # open minute of the bar forming at ``now``
        if self._forming is not None and self._forming[0] < end:
            forming, self._forming = self._forming, None
            return self._bars(end, forming)
        if self._forming is None and self._resume is not None and self._resume < end:
            return self._bars(end, None, self._resume)
        return []

    def events(self, after: tuple[int, int] | None = None) -> Iterator[Tick | Bar]:
        self.start(after)
        emitted = 0
        while self.max_events is None or emitted < self.max_events:
            self._settle_reconnection()
            try:
                spot = self._next_spot()
            except queue.Empty:
                continue
            for event in self.spot_events(spot):
                if after is None or event.key > tuple(after):
                    emitted += 1
                    yield event

    def window(self, bar_time: int, count: int) -> pd.DataFrame:
        """The ``count`` closed bars up to and including the one opened at ``bar_time``."""
        step = pd.Timedelta(seconds=self.timeframe.seconds)
        end = pd.Timestamp(bar_time, unit="ns", tz="UTC") + step
        span = step * count * 2 + pd.Timedelta(days=4)  # room for weekends and holidays
        client, sid = self.broker.client, self._spec.symbol_id
        for _ in range(4):  # widen the look-back while too few bars come back
            raw = self.broker.call(get_trendbars(client, sid, self.timeframe, end - span, end))
            if len(raw) >= count:
                break
            span *= 3
        frame = bars_frame(raw, self._spec.digits, f"ctrader {self.symbol} {self.timeframe}")
        return frame.iloc[-count:]


class CTraderSessionFeed(_Reconnecting):
    """The `CTraderFeed` s of a session's symbols (``timeframes``: symbol → timeframe) as one
    stream in ``(time, priority, symbol)`` order, as `tradeforge.live.engine.MergedFeed`
    merges replays — which a live feed cannot be merged by, since each blocks until its
    symbol's next quote.

    The spots of every symbol arrive in one queue in the order the server sent them. A spot
    at server time ``t`` first closes, for every symbol, the bars that closed by ``t``
    (`CTraderFeed.close_through`: a quiet symbol's bar closes on another symbol's quote, read
    from history), then yields its own bars and tick; so a bar is never delivered after a
    later event of another symbol, which the engine would take for one already played. A
    spot stamped before an event already delivered (the server's clocks per symbol may
    disagree by milliseconds) has its tick delivered just after that event instead. ``feeds``
    by symbol serve the instances' windows; ``on_reconnect`` runs on the engine's thread
    after a reconnection, as a single feed's does.
    """

    def __init__(
        self,
        broker: CTraderBroker,
        timeframes: Mapping[str, Timeframe | str],
        *,
        poll: float = 1.0,
        on_reconnect: Callable[[], Any] | None = None,
    ) -> None:
        self.on_reconnect = on_reconnect
        self.poll = poll
        self._spots: queue.Queue[Any] = queue.Queue()
        self._held: deque[Any] = deque()  # spots `last_tick` read ahead, for `events` first
        self._reconnected = threading.Event()
        self.feeds = {
            s.upper(): CTraderFeed(broker, s, tf, poll=poll, spots=self._spots)
            for s, tf in sorted(timeframes.items())
        }
        self._by_id = {f.symbol_id: f for f in self.feeds.values()}
        broker.client.add_listener(self._on_event)

    def _on_event(self, payload_type: int, message: Any) -> None:
        if payload_type == RECONNECTED:
            self._reconnected.set()

    @property
    def clock_skew(self) -> float | None:
        """The largest skew (absolute) of the symbols' latest spots."""
        skews = [f.clock_skew for f in self.feeds.values() if f.clock_skew is not None]
        return max(skews, key=abs) if skews else None

    def _next_spot(self) -> Any:
        return self._held.popleft() if self._held else self._spots.get(timeout=self.poll)

    def last_tick(self, key: SessionKey, symbol: str) -> Tick | None:
        """``symbol``'s quote the subscription starts with (spots of other symbols read on
        the way are kept for `events`); None as for `CTraderFeed.last_tick`."""
        feed = self.feeds[symbol]
        for spot in self._held:
            if spot.symbolId == feed.symbol_id:
                return feed.tick_of(spot)
        for _ in range(max(1, round(10 / self.poll))):
            try:
                spot = self._spots.get(timeout=self.poll)
            except queue.Empty:
                continue
            self._held.append(spot)
            if spot.symbolId == feed.symbol_id:
                return feed.tick_of(spot)
        return None

    def events(self, after: SessionKey | None = None) -> Iterator[Tick | Bar]:
        for symbol, feed in self.feeds.items():
            feed.start(resume_after(after, symbol))
        order = SessionOrder(after, "cTrader")
        while True:
            self._settle_reconnection()
            try:
                spot = self._next_spot()
            except queue.Empty:
                continue
            now = _spot_ns(spot)
            batch: list[Tick | Bar] = []
            for feed in self.feeds.values():
                batch += feed.close_through(now)
            batch += self._by_id[spot.symbolId].spot_events(spot)
            batch.sort(key=lambda e: (*e.key, e.symbol))
            yield from order.deliver(batch)


__all__ = ["CTraderFeed", "CTraderSessionFeed"]
