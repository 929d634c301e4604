"""`MT5SessionFeed`: the `MT5Feed` s of a session's symbols polled on one terminal and merged
into one stream, in the ``(time, priority, symbol)`` order of `tradeforge.live.engine.
MergedFeed` — which cannot merge them, since each feed blocks until its symbol's next poll.

Everything runs on the engine's thread (the terminal module is not thread-safe): each poll
reads every symbol's new ticks and last closed bar in turn, then sorts the batch.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from tradeforge.core.timeframes import Timeframe
from tradeforge.data.sources.mt5_terminal import MT5Terminal
from tradeforge.live.brokers.mt5 import MT5Feed
from tradeforge.live.feeds import Event, SessionKey, SessionOrder, Tick


class MT5SessionFeed:
    """The feeds of ``timeframes`` (symbol → timeframe) on one terminal as one stream.

    A poll reads each symbol's new ticks and newly closed bar (`MT5Feed.read`); the latest
    tick time ``t`` of the batch then closes, for every symbol, a bar that closed by ``t``
    without a tick of its own showing it (`MT5Feed.close_through`: a quiet symbol's bar
    closes on another symbol's quote), so a bar is never delivered after a later event of
    another symbol, which the engine would take for one already played. A tick stamped before
    an event already delivered (symbols read one after the other within a poll) is delivered
    just after that event instead, as `CTraderSessionFeed` does. ``feeds`` by symbol serve the
    instances' windows; ``on_reconnect`` runs once after the terminal link came back, before
    any event; ``max_polls`` bounds `events` (tests); ``sleep`` is injectable.
    """

    def __init__(
        self,
        mt5: Any,
        timeframes: Mapping[str, Timeframe | str],
        *,
        poll: float = 0.25,
        max_polls: int | None = None,
        sleep: Callable[[float], None] | None = None,
        on_reconnect: Callable[[], Any] | None = None,
    ) -> None:
        self.mt5 = MT5Terminal.of(mt5)
        self.poll = poll
        self.max_polls = max_polls
        self.sleep = sleep or _time.sleep
        self.on_reconnect = on_reconnect
        self._seen_reconnects = self.mt5.reconnects
        self.feeds = {
            s.upper(): MT5Feed(self.mt5, s, tf, poll=poll) for s, tf in sorted(timeframes.items())
        }

    @property
    def clock_skew(self) -> float | None:
        """The largest skew (absolute) of the symbols' newest ticks."""
        skews = [f.clock_skew for f in self.feeds.values() if f.clock_skew is not None]
        return max(skews, key=abs) if skews else None

    def last_tick(self, key: SessionKey, symbol: str) -> Tick | None:
        """None: the first poll reads every symbol's last known quote anyway."""
        return None

    def _reconnected(self) -> None:
        if self.mt5.reconnects != self._seen_reconnects:
            self._seen_reconnects = self.mt5.reconnects
            if self.on_reconnect is not None:
                self.on_reconnect()

    def read(self) -> list[Event]:
        """One poll's events of every symbol, in the merged order."""
        batch: list[Event] = []
        for feed in self.feeds.values():
            batch += feed.read()
        ticks = [e.time for e in batch if isinstance(e, Tick)]
        if ticks:
            now = max(ticks)
            for feed in self.feeds.values():
                batch += feed.close_through(now)
        return sorted(batch, key=lambda e: (*e.key, e.symbol))

    def events(self, after: SessionKey | None = None) -> Iterator[Event]:
        for feed in self.feeds.values():
            feed.start()
        order = SessionOrder(after, "MT5")
        polls = 0
        while self.max_polls is None or polls < self.max_polls:
            polls += 1
            self.mt5.probe()
            batch = self.read()
            self._reconnected()
            yield from order.deliver(batch)
            self.sleep(self.poll)


__all__ = ["MT5SessionFeed"]
