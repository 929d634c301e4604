"""Background delivery: the session hands messages to a bounded queue without ever waiting;
one thread running an asyncio loop routes them to every channel's targets, coalesces bursts,
paces each target and each channel, and retries.

* `Dispatcher.submit` never blocks: when the inbound queue is full the item is dropped and
  counted (`DispatchStats.dropped_queue`). An item is a `Message` or a callable producing
  messages; callables run in the delivery thread, so formatting costs the caller nothing.
* Each target (a chat, a URL) has an outbox of at most ``queue_size`` messages; when it is
  full the oldest message is dropped and counted (`DispatchStats.dropped_outbox`).
* A target's sender waits for the target's interval and the channel's spacing, then sends as
  many pending messages as the channel packs into one request (`Notifier.batch_size`): a burst
  becomes a few messages, within the rate limits.
* A transient failure keeps the batch and waits (the server's ``retry_in``, else an
  exponential backoff); a rate limit of the whole channel pauses all its targets. A permanent
  failure drops the batch (`DispatchStats.failed`); a rejected token disables the channel.
* Drops are told to each target in a note sent with its next batch (when delivery resumes)
  and reported through ``report`` (the session writes them to its decisions log).
* ``tasks`` run in the same loop for the dispatcher's life (the Telegram commands' long
  poll): started with it, cancelled first when it closes.
* `Dispatcher.reroute` swaps the channels while it runs (new notification settings): the
  messages submitted after it go to the new channels' targets; what the old targets already
  hold is still delivered, and their channels close with the dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from tradeforge.notify.channel import DeliveryError, Notifier
from tradeforge.notify.message import Level, Message

Producer = Callable[[], Iterable[Message]]
Report = Callable[[dict[str, Any]], None]
PEEK = 500  # pending messages a channel is offered to pack into one send


@dataclass
class DispatchStats:
    """Counters of one dispatcher. ``submitted == accepted + dropped_queue``; every message
    routed to a target ends delivered, pushed out, failed or undelivered:
    ``routed == delivered + dropped_outbox + failed + undelivered`` once closed."""

    submitted: int = 0  # submit() calls
    routed: int = 0  # messages put into target outboxes (one per target)
    dropped_queue: int = 0  # refused without waiting: inbound queue full, or closed
    dropped_outbox: int = 0  # oldest messages pushed out of a full target outbox
    failed: int = 0  # messages a channel refused for good (bad token, unknown chat)
    delivered: int = 0  # messages delivered (each counted once per target)
    sends: int = 0  # successful requests (a coalesced batch is one)
    retries: int = 0  # failed attempts kept for another try
    notes: int = 0  # drop reports delivered
    undelivered: int = 0  # still queued when close() gave up
    errors: int = 0  # producers that raised

    @property
    def accepted(self) -> int:
        return self.submitted - self.dropped_queue

    @property
    def dropped(self) -> int:
        return self.dropped_queue + self.dropped_outbox

    def to_dict(self) -> dict[str, int]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {**out, "accepted": self.accepted, "dropped": self.dropped}


@dataclass
class _Channel:
    notifier: Notifier
    next_slot: float = 0.0  # earliest time of the channel's next send (its spacing)
    paused_until: float = 0.0  # a rate limit of the whole channel
    disabled: str | None = None  # why every send of the channel fails for good


@dataclass
class _Target:
    channel: _Channel
    target: str
    outbox: deque[Message] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    next_at: float = 0.0
    failures: int = 0  # consecutive transient failures
    unreported: int = 0  # drops this target has not been told about yet
    in_flight: int = 0
    errors: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.channel.notifier.describe(self.target)


@dataclass(frozen=True)
class _Reroute:
    """An inbound item: route the messages after it to ``channels``."""

    channels: tuple[Notifier, ...]


class Dispatcher:
    """Delivers messages to ``channels`` from a background thread (see the module doc)."""

    def __init__(
        self,
        channels: Sequence[Notifier],
        *,
        queue_size: int = 1000,
        report: Report | None = None,
        backoff: tuple[float, float] = (1.0, 30.0),
        tasks: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self.channels = list(channels)
        self.tasks = list(tasks)
        self.queue_size = queue_size
        self.report = report
        self.backoff = backoff
        self._inbox: queue.Queue[Message | Producer | _Reroute] = queue.Queue(maxsize=queue_size)
        self._late_reroute: _Reroute | None = None  # one that found the inbound queue full
        self._stats = DispatchStats()
        self._lock = threading.Lock()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_pending = False
        self._queue_drops_told = 0
        self._deadline = 0.0
        self._closing = False

    # -- the caller's side (any thread) -------------------------------------------------------
    def start(self) -> Dispatcher:
        """Start the delivery thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tradeforge-notify", daemon=True)
            self._thread.start()
            self._ready.wait()
        return self

    def submit(self, item: Message | Producer) -> bool:
        """Queue ``item`` without waiting; False (and counted) when it had to be dropped."""
        with self._lock:
            self._stats.submitted += 1
            if self._closed:
                self._stats.dropped_queue += 1
                return False
            try:
                self._inbox.put_nowait(item)
            except queue.Full:
                self._stats.dropped_queue += 1
                return False
        loop = self._loop
        if loop is not None and not self._wake_pending:
            self._wake_pending = True
            with contextlib.suppress(RuntimeError):  # the loop has ended
                loop.call_soon_threadsafe(self._wake.set)
        return True

    def reroute(self, channels: Sequence[Notifier]) -> None:
        """Send the messages submitted from now on to ``channels`` (never waits; in order
        with `submit`, or with the next batch routed if the inbound queue is full)."""
        item = _Reroute(tuple(channels))
        with self._lock:
            if self._closed:
                return
            try:
                self._inbox.put_nowait(item)
            except queue.Full:
                self._late_reroute = item
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended
                loop.call_soon_threadsafe(self._wake.set)

    @property
    def stats(self) -> DispatchStats:
        """A snapshot of the counters."""
        return replace(self._stats)

    def close(self, timeout: float = 5.0) -> DispatchStats:
        """Stop accepting, deliver what is queued for at most ``timeout`` seconds, then give
        up on the rest (`DispatchStats.undelivered`) and end the thread."""
        with self._lock:
            self._closed = True
        if self._thread is None:
            self._stats.undelivered += self._inbox.qsize()
            return self.stats
        self._deadline = time.monotonic() + timeout
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop has ended
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout + 5.0)
        return self.stats

    # -- the delivery thread --------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._chans: list[_Channel] = []
        self._targets: list[_Target] = []  # every target routed to, the retired ones too
        self._senders: list[asyncio.Task] = []
        self._opening: list[asyncio.Task] = []
        self._install(self.channels)
        self._ready.set()
        pump = asyncio.create_task(self._pump())
        jobs = [asyncio.create_task(self._job(task)) for task in self.tasks]
        await self._stop.wait()
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        self._drain()
        self._closing = True
        for t in self._targets:
            t.wake.set()
        left = max(0.0, self._deadline - time.monotonic())
        if self._senders:
            _, late = await asyncio.wait(self._senders, timeout=left)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for task in (pump, *self._opening):
            task.cancel()
        await asyncio.gather(pump, *self._opening, return_exceptions=True)
        self._stats.undelivered += sum(len(t.outbox) + t.in_flight for t in self._targets)
        for ch in self._chans:
            with contextlib.suppress(Exception):  # connections of a server that is gone
                await asyncio.wait_for(ch.notifier.close(), 2.0)

    def _install(self, channels: Sequence[Notifier]) -> None:
        """Route every level to ``channels``' targets from now on (in the loop): their
        senders start and their channels open; the previous targets finish what they hold."""
        chans = [_Channel(n) for n in channels]
        self._routes: dict[Level, list[_Target]] = {level: [] for level in Level}
        by_key: dict[tuple[int, str], _Target] = {}
        for ch in chans:
            for level, targets in ch.notifier.routes().items():
                for target in targets:
                    key = (id(ch), target)
                    if key not in by_key:
                        by_key[key] = _Target(ch, target)
                        self._targets.append(by_key[key])
                        self._senders.append(asyncio.create_task(self._sender(by_key[key])))
                    self._routes[Level(level)].append(by_key[key])
        self._chans += chans
        self._opening += [asyncio.create_task(self._open(ch)) for ch in chans]

    async def _open(self, ch: _Channel) -> None:
        try:
            await ch.notifier.open()
        except DeliveryError as exc:
            if not exc.transient:
                self._disable(ch, str(exc))
            # a transient failure here is retried by the first send

    async def _job(self, task: Callable[[], Awaitable[None]]) -> None:
        try:
            await task()
        except Exception as exc:  # noqa: BLE001 - a task's bug must not stop delivery
            self._stats.errors += 1
            self._tell({"kind": "notify_error", "error": f"{type(exc).__name__}: {exc}"})

    def _tell(self, event: dict[str, Any]) -> None:
        """Pass a delivery event to ``report``; its failure must not stop delivery."""
        if self.report is None:
            return
        try:
            self.report(event)
        except Exception:  # noqa: BLE001 - e.g. the decisions log's disk is full
            self._stats.errors += 1

    def _disable(self, ch: _Channel, why: str) -> None:
        if ch.disabled is None:
            ch.disabled = why
            self._tell({"kind": "notify_failed", "target": ch.notifier.name, "error": why})
            for t in self._targets:
                if t.channel is ch:
                    t.wake.set()

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._wake_pending = False
            self._drain()

    def _drain(self) -> None:
        """Route everything in the inbound queue (and tell every target of new queue drops)."""
        drops = self._stats.dropped_queue
        if drops > self._queue_drops_told:
            for t in {id(t): t for ts in self._routes.values() for t in ts}.values():
                t.unreported += drops - self._queue_drops_told
                t.wake.set()
            self._queue_drops_told = drops
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                late, self._late_reroute = self._late_reroute, None
                if late is not None:
                    self._install(late.channels)
                return
            if isinstance(item, _Reroute):
                self._install(item.channels)
                continue
            if isinstance(item, Message):
                self._route(item)
                continue
            try:
                messages = list(item())
            except Exception as exc:  # noqa: BLE001 - a formatting bug must not stop delivery
                self._stats.errors += 1
                self._tell({"kind": "notify_error", "error": f"{type(exc).__name__}: {exc}"})
                continue
            for msg in messages:
                self._route(msg)

    def _route(self, msg: Message) -> None:
        for t in self._routes[msg.level]:
            self._stats.routed += 1
            if len(t.outbox) >= self.queue_size:
                t.outbox.popleft()
                t.unreported += 1
                self._stats.dropped_outbox += 1
            t.outbox.append(msg)
            t.wake.set()

    def _wait_for(self, t: _Target) -> float:
        """Seconds until ``t`` may send, reserving the channel's next slot."""
        ch = t.channel
        now = time.monotonic()
        at = max(now, t.next_at, ch.next_slot, ch.paused_until)
        ch.next_slot = at + ch.notifier.spacing()
        return at - now

    async def _sender(self, t: _Target) -> None:
        notifier = t.channel.notifier
        while True:
            if not (t.outbox or t.unreported):
                if self._closing:
                    return
                t.wake.clear()
                await t.wake.wait()
                continue
            if t.channel.disabled is not None:
                self._stats.failed += len(t.outbox)
                t.outbox.clear()
                t.unreported = 0
                continue
            wait = self._wait_for(t)
            if wait > 0:
                await asyncio.sleep(wait)
                ch = t.channel
                if ch.disabled is not None or ch.paused_until > time.monotonic():
                    continue  # paused or disabled meanwhile: wait again
            note = self._note(t)
            offered = ([note] if note else []) + list(islice(t.outbox, PEEK))
            size = notifier.batch_size(offered)
            batch = offered[:size]
            taken = [t.outbox.popleft() for _ in range(size - (1 if note else 0))]
            t.in_flight = len(taken)
            try:
                await notifier.send(t.target, batch)
            except DeliveryError as exc:
                t.in_flight = 0
                self._failed(t, exc, taken)
                continue
            except Exception as exc:  # noqa: BLE001 - a channel bug: drop the batch, go on
                t.in_flight = 0
                self._failed(
                    t, DeliveryError(f"{type(exc).__name__}: {exc}", transient=False), taken
                )
                continue
            t.in_flight = 0
            self._delivered(t, note, len(taken))

    def _note(self, t: _Target) -> Message | None:
        if not t.unreported:
            return None
        n = t.unreported
        return Message(
            Level.WARNING,
            "dropped",
            f"{n} earlier notification(s) were dropped (delivery failing or queue full)",
            data={"dropped": n},
        )

    def _delivered(self, t: _Target, note: Message | None, taken: int) -> None:
        self._stats.delivered += taken
        self._stats.sends += 1
        if note is not None:
            n = note.data["dropped"]
            t.unreported -= n
            self._stats.notes += 1
            self._tell({"kind": "notify_dropped", "target": t.name, "dropped": n})
        if t.failures:
            self._tell({"kind": "notify_resumed", "target": t.name, "after": t.failures})
            t.failures = 0
        t.next_at = time.monotonic() + t.channel.notifier.interval(t.target)

    def _failed(self, t: _Target, exc: DeliveryError, taken: list[Message]) -> None:
        now = time.monotonic()
        if exc.transient:
            t.outbox.extendleft(reversed(taken))  # kept, oldest first
            while len(t.outbox) > self.queue_size:
                t.outbox.popleft()
                t.unreported += 1
                self._stats.dropped_outbox += 1
            self._stats.retries += 1
            t.failures += 1
            if t.failures == 1:
                self._tell({"kind": "notify_failing", "target": t.name, "error": str(exc)})
            base, cap = self.backoff
            wait = (
                exc.retry_in if exc.retry_in is not None else min(cap, base * 2 ** (t.failures - 1))
            )
            t.next_at = now + wait
            if exc.whole_channel:
                t.channel.paused_until = max(t.channel.paused_until, now + wait)
            return
        self._stats.failed += len(taken)
        if exc.whole_channel:
            self._disable(t.channel, str(exc))
            return
        if str(exc) not in t.errors:
            t.errors.add(str(exc))
            self._tell(
                {
                    "kind": "notify_failed",
                    "target": t.name,
                    "error": str(exc),
                    "dropped": len(taken),
                }
            )
        t.next_at = now + t.channel.notifier.interval(t.target)
