"""Per-connection request pacing: a sliding one-second window for all requests, a tighter one
for historical-data requests, and per-payload-type blocks the server imposes
(``BLOCKED_PAYLOAD_TYPE`` with ``retryAfter``)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most ``rate`` requests, and ``historical_rate`` historical ones, in any ``window``
    seconds. `acquire` waits for a free slot; `block` holds one payload type back until a time."""

    def __init__(
        self,
        rate: int = 50,
        historical_rate: int = 5,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate < 1 or historical_rate < 1 or not window > 0:
            raise ValueError("rates must be >= 1 and the window > 0")
        self.rate, self.historical_rate, self.window = rate, historical_rate, window
        self._clock = clock
        self._all: deque[float] = deque()
        self._historical: deque[float] = deque()
        self._blocked: dict[int, float] = {}

    def block(self, payload_type: int, seconds: float) -> None:
        """Hold requests of ``payload_type`` back for ``seconds`` from now."""
        until = self._clock() + max(0.0, seconds)
        self._blocked[payload_type] = max(self._blocked.get(payload_type, 0.0), until)

    def delay(self, payload_type: int, historical: bool) -> float:
        """Seconds until a request of this kind may go (0 when it may go now)."""
        now = self._clock()
        for times in (self._all, self._historical):
            while times and times[0] <= now - self.window:
                times.popleft()
        wait = self._blocked.get(payload_type, 0.0) - now
        if len(self._all) >= self.rate:
            wait = max(wait, self._all[0] + self.window - now)
        if historical and len(self._historical) >= self.historical_rate:
            wait = max(wait, self._historical[0] + self.window - now)
        return max(0.0, wait)

    async def acquire(self, payload_type: int, historical: bool) -> None:
        """Wait for a slot and take it. No lock: checking and taking the slot happen without
        an ``await`` between them, and a blocked payload type never holds up the others."""
        while (wait := self.delay(payload_type, historical)) > 0:
            await asyncio.sleep(wait)
        now = self._clock()
        self._all.append(now)
        if historical:
            self._historical.append(now)


__all__ = ["RateLimiter"]
