"""An asyncio client of the cTrader Open API: protobuf frames over TLS.

One `CTraderClient` owns one connection to one account. It authorises the application and the
account, matches each reply to its request by ``clientMsgId``, paces requests under the
per-connection limits (`RateLimiter`) and waits out ``BLOCKED_PAYLOAD_TYPE`` refusals for their
``retryAfter``, keeps the link alive with heartbeats (sent when it has been quiet, and in answer
to the server's), and after a drop reconnects with exponential backoff, authorises again and
restores its spot and live-bar subscriptions. A refused access token is refreshed with the
refresh token, when one is configured, and the new pair handed to ``on_token`` to be kept.

Events the server pushes (executions, order errors, spots, token and disconnect notices) go to
the listeners added with `CTraderClient.add_listener`, as ``(payload_type, message)``; after a
reconnection they receive ``(RECONNECTED, None)`` so they can reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from google.protobuf.message import Message

from tradeforge.ctrader import messages as m
from tradeforge.ctrader.config import ClientSettings, Credentials
from tradeforge.ctrader.errors import ConnectionLost, CTraderError, RequestTimeout
from tradeforge.ctrader.proto import openapi_pb2 as pb
from tradeforge.ctrader.ratelimit import RateLimiter

log = logging.getLogger(__name__)

RECONNECTED = -1  # the pseudo payload type listeners receive after a reconnection
#: Account-auth refusals that a fresh access token can cure.
TOKEN_ERRORS = frozenset({"CH_ACCESS_TOKEN_INVALID", "OA_AUTH_TOKEN_EXPIRED"})

Listener = Callable[[int, Any], None]


@dataclass
class ClientStats:
    """Counters for logs, health checks and the bench."""

    requests: int = 0
    blocked: int = 0
    reconnects: int = 0
    heartbeats_sent: int = 0
    heartbeats_received: int = 0
    token_refreshes: int = 0


class CTraderClient:
    """See the module docstring. Use ``async with CTraderClient(...) as client:`` or call
    `connect` and `close`; all methods run on the event loop that called `connect`."""

    def __init__(
        self,
        credentials: Credentials,
        account_id: int,
        settings: ClientSettings | None = None,
        *,
        on_token: Callable[[Credentials], None] | None = None,
    ) -> None:
        self.credentials = credentials
        self.account_id = int(account_id)
        self.settings = settings or ClientSettings()
        self.stats = ClientStats()
        s = self.settings
        self.limiter = RateLimiter(s.rate, s.historical_rate, s.rate_window)
        self._on_token = on_token
        self._listeners: list[Listener] = []
        self._pending: dict[str, asyncio.Future[m.Envelope]] = {}
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._link_tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._spots: set[int] = set()
        self._live_bars: set[tuple[int, int]] = set()
        self._closed = False
        self._failure: CTraderError | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._lost: asyncio.Event | None = None
        self._last_sent = self._last_received = 0.0

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> CTraderClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect and authorise once (a failure raises at once: wrong credentials must not be
        retried forever); later drops are repaired in the background."""
        self._ready, self._lost = asyncio.Event(), asyncio.Event()
        await self._establish()
        self._supervisor = asyncio.create_task(self._supervise())

    async def close(self) -> None:
        """Stop reconnecting, fail waiting requests and drop the connection."""
        self._closed = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._abort("client closed")
        for task in self._link_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def connected(self) -> bool:
        return self._ready is not None and self._ready.is_set() and self._failure is None

    def link(self) -> dict[str, Any]:
        """The connection's health as plain values (safe to read from another thread): up or
        not, seconds since anything (a heartbeat included) was received, reconnections made."""
        silent = time.monotonic() - self._last_received if self._last_received else None
        return {
            "connected": self.connected,
            "silent_seconds": None if silent is None else round(silent, 3),
            "reconnects": self.stats.reconnects,
            "heartbeats_received": self.stats.heartbeats_received,
            "failure": str(self._failure) if self._failure is not None else None,
        }

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    # ------------------------------------------------------------------ requests

    async def request(
        self, message: Message, *, timeout: float | None = None, resend: bool = True
    ) -> Any:
        """Send ``message`` and return the reply's message. An error reply raises
        `CTraderError` (``code`` = the server's code); ``BLOCKED_PAYLOAD_TYPE`` is waited out
        and retried. After a drop the request is sent again once reconnected when ``resend``
        (pass False for requests that must not act twice, such as orders: they raise
        `ConnectionLost`)."""
        blocked = lost = 0
        while True:
            await self._wait_ready()
            try:
                return await self._exchange(message, timeout)
            except ConnectionLost:
                lost += 1
                if not resend or lost > 3 or self._closed:
                    raise
            except CTraderError as exc:
                if exc.code != "BLOCKED_PAYLOAD_TYPE" or blocked >= self.settings.blocked_retries:
                    raise
                blocked += 1
                self.stats.blocked += 1
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                log.info("cTrader blocked %s for %.3g s; waiting", _name(message), wait)
                self.limiter.block(m.payload_type(message), wait)

    async def subscribe_spots(self, symbol_ids: Iterable[int]) -> None:
        """Subscribe to spot events of these symbols (kept across reconnections)."""
        new = sorted({int(s) for s in symbol_ids} - self._spots)
        if new:
            req = pb.ProtoOASubscribeSpotsReq(
                ctidTraderAccountId=self.account_id, symbolId=new, subscribeToSpotTimestamp=True
            )
            await self.request(req)
            self._spots.update(new)

    async def subscribe_live_trendbars(self, symbol_id: int, period: int) -> None:
        """Live bars of ``period`` inside the symbol's spot events (subscribes spots first)."""
        await self.subscribe_spots([symbol_id])
        key = (int(symbol_id), int(period))
        if key not in self._live_bars:
            req = pb.ProtoOASubscribeLiveTrendbarReq(
                ctidTraderAccountId=self.account_id, symbolId=key[0], period=key[1]
            )
            await self.request(req)
            self._live_bars.add(key)

    async def refresh_access_token(self) -> None:
        """Exchange the refresh token for a new token pair and report it to ``on_token``."""
        if not self.credentials.refresh_token:
            raise CTraderError(
                "cTrader refused the access token and no refresh token is configured; "
                "obtain a new access token",
                "CH_ACCESS_TOKEN_INVALID",
            )
        res = await self._exchange(
            pb.ProtoOARefreshTokenReq(refreshToken=self.credentials.refresh_token), None
        )
        self.credentials = replace(
            self.credentials, access_token=res.accessToken, refresh_token=res.refreshToken
        )
        self.stats.token_refreshes += 1
        log.info("cTrader access token refreshed (valid %d s)", res.expiresIn)
        if self._on_token is not None:
            self._on_token(self.credentials)

    # ------------------------------------------------------------------ internals

    async def _wait_ready(self) -> None:
        if self._closed:
            raise ConnectionLost("the cTrader client is closed")
        if self._ready is None:
            raise ConnectionLost("the cTrader client is not connected (call connect() first)")
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), self.settings.ready_timeout)
            except asyncio.TimeoutError:
                raise ConnectionLost(
                    f"not connected to cTrader at {self.settings.endpoint} after "
                    f"{self.settings.ready_timeout:g} s of reconnecting"
                ) from None
        if self._failure is not None:
            raise self._failure

    async def _exchange(self, message: Message, timeout: float | None) -> Any:
        """One request and its reply, no retries."""
        pt = m.payload_type(message)
        await self.limiter.acquire(pt, pt in m.HISTORICAL)
        cid = f"tf{next(self._ids)}"
        future: asyncio.Future[m.Envelope] = asyncio.get_running_loop().create_future()
        self._pending[cid] = future
        wait = timeout or self.settings.request_timeout
        try:
            self._write(m.encode(message, cid))
            self.stats.requests += 1
            reply = await asyncio.wait_for(future, wait)
        except asyncio.TimeoutError:
            raise RequestTimeout(
                f"cTrader sent no reply to {_name(message)} in {wait:g} s"
            ) from None
        finally:
            self._pending.pop(cid, None)
        if reply.payload_type in m.ERRORS:
            code, text, retry_after = m.error_text(reply)
            detail = f": {text}" if text else ""
            raise CTraderError(
                f"cTrader refused {_name(message)}: {code}{detail}", code, retry_after
            )
        return reply.message

    def _write(self, frame: bytes) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise ConnectionLost(f"not connected to cTrader at {self.settings.endpoint}")
        writer.write(frame)  # the transport buffers; frames are small and paced
        self._last_sent = time.monotonic()

    async def _establish(self) -> None:
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(s.host, s.port, ssl=context), s.request_timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise ConnectionLost(f"cannot connect to cTrader at {s.endpoint}: {reason}") from None
        self._writer = writer
        self._last_sent = self._last_received = time.monotonic()
        self._link_tasks = [
            asyncio.create_task(self._read_loop(reader, writer)),
            asyncio.create_task(self._heartbeat_loop(writer)),
        ]
        try:
            auth = pb.ProtoOAApplicationAuthReq(
                clientId=self.credentials.client_id, clientSecret=self.credentials.client_secret
            )
            await self._exchange(auth, None)
            await self._authorize_account()
            if self._spots:
                req = pb.ProtoOASubscribeSpotsReq(
                    ctidTraderAccountId=self.account_id,
                    symbolId=sorted(self._spots),
                    subscribeToSpotTimestamp=True,
                )
                await self._exchange(req, None)
            for symbol_id, period in sorted(self._live_bars):
                req = pb.ProtoOASubscribeLiveTrendbarReq(
                    ctidTraderAccountId=self.account_id, symbolId=symbol_id, period=period
                )
                await self._exchange(req, None)
        except BaseException:
            self._abort("authorisation failed")
            raise
        assert self._ready is not None
        self._ready.set()

    async def _authorize_account(self) -> None:
        def request() -> Message:
            return pb.ProtoOAAccountAuthReq(
                ctidTraderAccountId=self.account_id, accessToken=self.credentials.access_token
            )

        try:
            await self._exchange(request(), None)
        except CTraderError as exc:
            if exc.code == "ALREADY_LOGGED_IN":
                return
            if exc.code not in TOKEN_ERRORS:
                raise
            await self.refresh_access_token()
            await self._exchange(request(), None)

    async def _supervise(self) -> None:
        """Wait for a drop, then reconnect with backoff until it works or attempts run out."""
        assert self._lost is not None and self._ready is not None
        s = self.settings
        while not self._closed:
            await self._lost.wait()
            failures = 0
            while not self._closed:
                delay = min(s.reconnect_delay * 2**failures, s.reconnect_delay_max)
                await asyncio.sleep(delay)
                self._lost.clear()
                try:
                    await self._establish()
                except (CTraderError, OSError) as exc:
                    failures += 1
                    log.warning("cTrader reconnect %d failed: %s", failures, exc)
                    if failures >= s.reconnect_attempts:
                        self._failure = CTraderError(
                            f"gave up reconnecting to cTrader at {s.endpoint} after "
                            f"{failures} attempts; last error: {exc}"
                        )
                        self._ready.set()  # wake waiters: they raise the failure
                        return
                    continue
                self.stats.reconnects += 1
                log.info("cTrader reconnected to %s", s.endpoint)
                self._notify(RECONNECTED, None)
                break

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reason = "closed by the server"
        try:
            while True:
                envelope = m.decode(await m.read_frame(reader))
                self._last_received = time.monotonic()
                self._dispatch(envelope, writer)
        except asyncio.IncompleteReadError:
            pass
        except (OSError, CTraderError) as exc:
            reason = str(exc) or type(exc).__name__
        self._link_down(writer, reason)  # (a cancelled reader was taken down by its canceller)

    def _dispatch(self, envelope: m.Envelope, writer: asyncio.StreamWriter) -> None:
        pt = envelope.payload_type
        if pt == m.HEARTBEAT:
            self.stats.heartbeats_received += 1
            self._heartbeat(writer)
            return
        future = self._pending.get(envelope.client_msg_id) if envelope.client_msg_id else None
        if future is not None and not future.done():
            future.set_result(envelope)
        if pt == m.CLIENT_DISCONNECT_EVENT:
            log.warning("cTrader disconnects this client: %s", envelope.message.reason)
            writer.transport.abort()
        elif pt == m.ACCOUNT_DISCONNECT_EVENT or (
            pt == m.TOKEN_INVALIDATED_EVENT
            and self.account_id in envelope.message.ctidTraderAccountIds
        ):
            task = asyncio.get_running_loop().create_task(
                self._reauthorize(pt == m.TOKEN_INVALIDATED_EVENT)
            )
            self._background.add(task)  # keep a reference until it is done
            task.add_done_callback(self._background.discard)
        if pt in m.EVENTS or future is None:
            self._notify(pt, envelope.message)

    async def _reauthorize(self, new_token: bool) -> None:
        try:
            if new_token:
                await self.refresh_access_token()
            await self._authorize_account()
        except CTraderError as exc:
            log.error("cTrader account session could not be restored: %s", exc)
            self._abort(f"account session lost: {exc}")

    def _notify(self, payload_type: int, message: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(payload_type, message)
            except Exception:  # a listener's bug must not kill the connection
                log.exception("cTrader event listener failed on payload type %d", payload_type)

    async def _heartbeat_loop(self, writer: asyncio.StreamWriter) -> None:
        s = self.settings
        tick = min(1.0, s.heartbeat_interval / 2, s.idle_timeout / 2)
        while not writer.is_closing():
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - self._last_received > s.idle_timeout:
                log.warning("cTrader silent for %.1f s; dropping the connection", s.idle_timeout)
                writer.transport.abort()
                return
            if now - self._last_sent >= s.heartbeat_interval:
                self._heartbeat(writer)

    def _heartbeat(self, writer: asyncio.StreamWriter) -> None:
        if writer is self._writer and not writer.is_closing():
            self._write(m.encode(pb.ProtoHeartbeatEvent()))
            self.stats.heartbeats_sent += 1

    def _link_down(self, writer: asyncio.StreamWriter, reason: str) -> None:
        if writer is not self._writer:
            return
        self._writer = None
        writer.transport.abort()
        if self._ready is not None:
            self._ready.clear()
        lost = ConnectionLost(f"connection to cTrader at {self.settings.endpoint} lost: {reason}")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(lost)
        for task in self._link_tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if not self._closed and self._lost is not None:
            log.warning("%s", lost)
            self._lost.set()

    def _abort(self, reason: str) -> None:
        writer = self._writer
        if writer is not None:
            self._link_down(writer, reason)


def _name(message: Message) -> str:
    return type(message).__name__


__all__ = ["RECONNECTED", "CTraderClient", "ClientStats"]
