"""A fake cTrader Open API server for the tests: TLS on 127.0.0.1, the real framing (4-byte
big-endian length + ``ProtoMessage``) and payload types, one modelled account.

It runs its own event loop in a thread, so synchronous tests, asyncio tests and console-script
subprocesses can all talk to it. Framing is written here independently of
`tradeforge.ctrader.messages` (only the schema is shared), so a framing bug in the client is
not mirrored by the fake.

Modelled: application and account auth, token refresh, symbol list / by id, tick data (paged,
newest first, deltas), spot and live-bar
subscriptions with spot events, trendbars paged by ``hasMore`` (the newest or the oldest page
first), reconcile, trader, deal list, market / limit / stop orders (ACCEPTED then FILLED, or
ACCEPTED only for pending orders), partial closes, SL/TP amendment, cancel, order errors,
``BLOCKED_PAYLOAD_TYPE`` + ``retryAfter`` when a connection exceeds its rates, heartbeats both
ways, dropped connections / refused reconnections on demand, a silent account (``paused``), the
asset list and open P&L, and a virtual clock (``clock_ms``) for scripted live sessions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import ssl
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tradeforge.ctrader.proto import openapi_pb2 as pb

ACCOUNT = 4242
CLIENT_ID = "app-id"
CLIENT_SECRET = "app-secret"
ACCESS_TOKEN = "token-1"
REFRESH_TOKEN = "refresh-1"
HISTORICAL = {2133, 2137, 2145}


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost: ``(cert.pem, key.pem)``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-ctrader")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class FakeSymbol:
    symbol_id: int
    name: str
    digits: int = 5
    pip_position: int = 4
    lot_size: int = 10_000_000  # cents: 100,000 units
    min_volume: int = 100_000  # 0.01 lot
    step_volume: int = 100_000
    max_volume: int = 1_000_000_000
    bid: int = 110_000  # 1/100000 of a price
    ask: int = 110_002


@dataclass(eq=False)
class _Conn:
    writer: asyncio.StreamWriter
    app_authed: bool = False
    accounts: set[int] = field(default_factory=set)
    spots: set[int] = field(default_factory=set)
    live_bars: set[tuple[int, int]] = field(default_factory=set)  # (symbol, period)
    sent: deque[float] = field(default_factory=deque)
    historical: deque[float] = field(default_factory=deque)
    mute: bool = False  # replies are lost (the link is about to drop)


class FakeCTrader:
    """See the module docstring. ``with FakeCTrader(cert, key) as server:`` listens on
    ``server.port``; knobs are plain attributes, read by the server thread per request."""

    def __init__(self, cert_file: Path, key_file: Path, *, page_size: int = 1000) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self.host, self.port = "127.0.0.1", 0
        self.symbols: dict[int, FakeSymbol] = {
            1: FakeSymbol(1, "EURUSD"),
            2: FakeSymbol(2, "USDJPY", digits=3, pip_position=2, bid=15_000_000, ask=15_000_200),
            3: FakeSymbol(
                3,
                "XAUUSD",
                digits=2,
                pip_position=1,
                lot_size=10_000,
                min_volume=100,
                step_volume=100,
                bid=200_000_000,
                ask=200_030_000,
            ),
        }
        self.bars: dict[tuple[int, int], np.ndarray] = {}  # (symbol, period) -> raw rows
        self.ticks: dict[tuple[int, int], np.ndarray] = {}  # (symbol, BID 1 | ASK 2) -> rows
        self.page_size = page_size
        self.newest_page_first = True
        self.general_limit = 50
        self.historical_limit = 5
        self.heartbeat_interval: float | None = None
        self.fill_delay = 0.0  # seconds between ACCEPTED and FILLED (other requests go on)
        self.partial_fraction: float | None = None  # market orders fill this part only
        self.ignore: set[int] = set()  # payload types never answered
        self.max_span_ms: int | None = None  # longer trendbar ranges: INCORRECT_BOUNDARIES
        self.order_errors: deque[str] = deque()  # next new orders refused with these codes
        self.refuse_connections = 0  # refuse this many connection attempts
        self.drop_after: int | None = None  # drop the connection on receiving request N
        self.lose_reply_of: int | None = None  # act on request N, lose its reply, drop the link
        self.tokens = {ACCESS_TOKEN: ACCOUNT}
        self.refresh_tokens = {REFRESH_TOKEN: ACCOUNT}
        self.balance = 10_000_00  # cents, moneyDigits 2
        self.deposit_asset = "USD"
        self.leverage = 100
        self.clock_ms: int | None = None  # a virtual clock (ms) for scripted sessions
        self.paused = False  # True: the account stays, but nothing is answered (a silent link)
        self.positions: dict[int, pb.ProtoOAPosition] = {}
        self.orders: dict[int, pb.ProtoOAOrder] = {}  # pending
        self.order_history: dict[int, pb.ProtoOAOrder] = {}  # every order, by id
        self.deals: list[pb.ProtoOADeal] = []
        # observations
        self.requests: list[tuple[int, str]] = []  # (payload type, clientMsgId) in order
        self.request_times: list[tuple[int, float]] = []
        self.heartbeats_received = 0
        self.live_subscriptions = 0  # live-bar subscriptions answered (a restarted feed adds one)
        self.connections = 0
        self.blocked = 0
        self._ids = itertools.count(1000)
        self._conns: set[_Conn] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    def now_ms(self) -> int:
        """The server's clock: ``clock_ms`` when a test drives time, else the wall clock."""
        return self.clock_ms if self.clock_ms is not None else int(time.time() * 1000)

    # ------------------------------------------------------------------ thread control

    def __enter__(self) -> FakeCTrader:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._listen())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-ctrader", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake cTrader server did not start")

    def stop(self) -> None:
        if self._loop is None:
            return
        self.call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._loop = None

    def call(self, coro):  # noqa: ANN001, ANN201 - a coroutine run on the server's loop
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def drop_connections(self) -> None:
        """Abort every client connection (as a network failure would)."""
        self.call(self._drop_all())

    def push_spot(self, symbol_id: int, bid: int, ask: int, bar=None, period: int = 1) -> None:  # noqa: ANN001
        """New prices; ``bar`` (a raw row) rides along as the forming live bar of ``period``."""
        self.call(self._push_spot(symbol_id, bid, ask, bar, period))

    def set_quote(self, symbol_id: int, bid: int, ask: int) -> None:
        """The prices the next subscriber's first spot event carries (nothing is sent)."""
        sym = self.symbols[symbol_id]
        sym.bid, sym.ask = bid, ask

    def send_event(self, message) -> None:  # noqa: ANN001
        """Push any message to every connection (e.g. a token-invalidated event)."""
        self.call(self._broadcast(message))

    def set_bars(self, symbol_id: int, period: int, rows: np.ndarray) -> None:
        """Raw rows ``(minute, open, high, low, close, volume)`` in 1/100000 of a price."""
        self.bars[(symbol_id, period)] = np.asarray(rows, dtype=np.int64).reshape(-1, 6)

    def set_ticks(self, symbol_id: int, quote_type: int, rows: np.ndarray) -> None:
        """One side's ticks as rows ``(ms, price in 1/100000)``, oldest first."""
        self.ticks[(symbol_id, quote_type)] = np.asarray(rows, dtype=np.int64).reshape(-1, 2)

    # ------------------------------------------------------------------ server

    async def _listen(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._drop_all()

    async def _drop_all(self) -> None:
        for conn in list(self._conns):
            conn.writer.transport.abort()
        self._conns.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse_connections > 0:
            self.refuse_connections -= 1
            writer.transport.abort()
            return
        self.connections += 1
        conn = _Conn(writer)
        self._conns.add(conn)
        beat = asyncio.create_task(self._beat(conn)) if self.heartbeat_interval else None
        try:
            while True:
                (length,) = struct.unpack("!I", await reader.readexactly(4))
                envelope = pb.ProtoMessage.FromString(await reader.readexactly(length))
                if self.drop_after is not None and len(self.requests) + 1 >= self.drop_after:
                    self.drop_after = None
                    self.requests.append((envelope.payloadType, envelope.clientMsgId))
                    writer.transport.abort()
                    break
                lose = self.lose_reply_of is not None and envelope.payloadType != 51
                if lose and len(self.requests) + 1 >= self.lose_reply_of:
                    self.lose_reply_of = None
                    conn.mute = True
                await self._handle(conn, envelope)
                if conn.mute:
                    writer.transport.abort()
                    break
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            if beat is not None:
                beat.cancel()
            self._conns.discard(conn)
            writer.transport.abort()

    async def _beat(self, conn: _Conn) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval or 1.0)
            if not self.paused:
                self._send(conn, pb.ProtoHeartbeatEvent())

    def _send(self, conn: _Conn, message, client_msg_id: str = "") -> None:  # noqa: ANN001
        pt = message.DESCRIPTOR.fields_by_name["payloadType"].default_value
        envelope = pb.ProtoMessage(payloadType=pt, payload=message.SerializeToString())
        if client_msg_id:
            envelope.clientMsgId = client_msg_id
        body = envelope.SerializeToString()
        if not conn.mute and not conn.writer.is_closing():
            conn.writer.write(struct.pack("!I", len(body)) + body)

    async def _broadcast(self, message) -> None:  # noqa: ANN001
        for conn in list(self._conns):
            self._send(conn, message)

    async def _push_spot(self, symbol_id: int, bid: int, ask: int, bar, period: int) -> None:  # noqa: ANN001
        sym = self.symbols[symbol_id]
        sym.bid, sym.ask = bid, ask
        for conn in list(self._conns):
            if symbol_id in conn.spots:
                event = self._spot(symbol_id)
                if bar is not None and (symbol_id, period) in conn.live_bars:
                    minute, o, h, lo, c, v = (int(x) for x in bar)
                    event.trendbar.add(
                        volume=v,
                        period=period,
                        low=lo,
                        deltaOpen=o - lo,
                        deltaHigh=h - lo,
                        deltaClose=c - lo,
                        utcTimestampInMinutes=minute,
                    )
                self._send(conn, event)

    def _spot(self, symbol_id: int) -> pb.ProtoOASpotEvent:
        sym = self.symbols[symbol_id]
        return pb.ProtoOASpotEvent(
            ctidTraderAccountId=ACCOUNT,
            symbolId=symbol_id,
            bid=sym.bid,
            ask=sym.ask,
            timestamp=self.now_ms(),
        )

    def _error(self, conn: _Conn, cid: str, code: str, text: str = "", retry: int | None = None):  # noqa: ANN202
        res = pb.ProtoOAErrorRes(errorCode=code, description=text or code)
        if retry is not None:
            res.retryAfter = retry
        self._send(conn, res, cid)

    def _over_limit(self, conn: _Conn, pt: int) -> bool:
        now = time.monotonic()
        for times in (conn.sent, conn.historical):
            while times and times[0] <= now - 1.0:
                times.popleft()
        if len(conn.sent) >= self.general_limit or (
            pt in HISTORICAL and len(conn.historical) >= self.historical_limit
        ):
            return True
        conn.sent.append(now)
        if pt in HISTORICAL:
            conn.historical.append(now)
        return False

    async def _handle(self, conn: _Conn, envelope: pb.ProtoMessage) -> None:
        pt, cid = envelope.payloadType, envelope.clientMsgId
        if pt == 51:
            self.heartbeats_received += 1
            return
        if self.paused:
            return
        self.requests.append((pt, cid))
        self.request_times.append((pt, time.monotonic()))
        if pt == 2100:
            req = pb.ProtoOAApplicationAuthReq.FromString(envelope.payload)
            if (req.clientId, req.clientSecret) != (CLIENT_ID, CLIENT_SECRET):
                return self._error(conn, cid, "CH_CLIENT_AUTH_FAILURE", "wrong client credentials")
            conn.app_authed = True
            return self._send(conn, pb.ProtoOAApplicationAuthRes(), cid)
        if not conn.app_authed:
            return self._error(conn, cid, "CH_CLIENT_NOT_AUTHENTICATED")
        if pt == 2173:
            req = pb.ProtoOARefreshTokenReq.FromString(envelope.payload)
            account = self.refresh_tokens.pop(req.refreshToken, None)
            if account is None:
                return self._error(conn, cid, "CH_ACCESS_TOKEN_INVALID", "unknown refresh token")
            n = next(self._ids)
            self.tokens = {t: a for t, a in self.tokens.items() if a != account}
            self.tokens[f"token-{n}"] = account
            self.refresh_tokens[f"refresh-{n}"] = account
            res = pb.ProtoOARefreshTokenRes(
                accessToken=f"token-{n}",
                tokenType="bearer",
                expiresIn=2_628_000,
                refreshToken=f"refresh-{n}",
            )
            return self._send(conn, res, cid)
        if pt == 2102:
            req = pb.ProtoOAAccountAuthReq.FromString(envelope.payload)
            if self.tokens.get(req.accessToken) != req.ctidTraderAccountId:
                return self._error(conn, cid, "CH_ACCESS_TOKEN_INVALID", "access token invalid")
            conn.accounts.add(req.ctidTraderAccountId)
            return self._send(conn, pb.ProtoOAAccountAuthRes(ctidTraderAccountId=ACCOUNT), cid)
        if ACCOUNT not in conn.accounts:
            return self._error(conn, cid, "ACCOUNT_NOT_AUTHORIZED")
        if pt in self.ignore:
            return None
        if self._over_limit(conn, pt):
            self.blocked += 1
            return self._error(conn, cid, "BLOCKED_PAYLOAD_TYPE", "rate limit", retry=1)
        handler = getattr(self, f"_on_{pt}", None)
        if handler is None:
            return self._error(conn, cid, "UNSUPPORTED_MESSAGE")
        await handler(conn, cid, envelope.payload)

    # ------------------------------------------------------------------ read requests

    async def _on_2114(self, conn: _Conn, cid: str, payload: bytes) -> None:
        res = pb.ProtoOASymbolsListRes(ctidTraderAccountId=ACCOUNT)
        for s in self.symbols.values():
            res.symbol.add(symbolId=s.symbol_id, symbolName=s.name, enabled=True)
        self._send(conn, res, cid)

    async def _on_2116(self, conn: _Conn, cid: str, payload: bytes) -> None:
        req = pb.ProtoOASymbolByIdReq.FromString(payload)
        res = pb.ProtoOASymbolByIdRes(ctidTraderAccountId=ACCOUNT)
        for sid in req.symbolId:
            s = self.symbols.get(sid)
            if s is not None:
                res.symbol.add(
                    symbolId=s.symbol_id,
                    digits=s.digits,
                    pipPosition=s.pip_position,
                    lotSize=s.lot_size,
                    minVolume=s.min_volume,
                    stepVolume=s.step_volume,
                    maxVolume=s.max_volume,
                )
        self._send(conn, res, cid)

    async def _on_2127(self, conn: _Conn, cid: str, payload: bytes) -> None:
        req = pb.ProtoOASubscribeSpotsReq.FromString(payload)
        unknown = [s for s in req.symbolId if s not in self.symbols]
        if unknown:
            return self._error(conn, cid, "SYMBOL_NOT_FOUND", f"symbols {unknown}")
        conn.spots.update(req.symbolId)
        self._send(conn, pb.ProtoOASubscribeSpotsRes(ctidTraderAccountId=ACCOUNT), cid)
        for sid in req.symbolId:  # the first spot event carries the latest prices
            self._send(conn, self._spot(sid))

    async def _on_2135(self, conn: _Conn, cid: str, payload: bytes) -> None:
        req = pb.ProtoOASubscribeLiveTrendbarReq.FromString(payload)
        if req.symbolId not in conn.spots:
            return self._error(conn, cid, "NOT_SUBSCRIBED_TO_SPOTS")
        conn.live_bars.add((req.symbolId, req.period))
        self.live_subscriptions += 1
        self._send(conn, pb.ProtoOASubscribeLiveTrendbarRes(ctidTraderAccountId=ACCOUNT), cid)

    async def _on_2137(self, conn: _Conn, cid: str, payload: bytes) -> None:
        req = pb.ProtoOAGetTrendbarsReq.FromString(payload)
        if req.symbolId not in self.symbols:
            return self._error(conn, cid, "SYMBOL_NOT_FOUND")
        span = req.toTimestamp - req.fromTimestamp
        if span < 0 or (self.max_span_ms is not None and span > self.max_span_ms):
            return self._error(conn, cid, "INCORRECT_BOUNDARIES")
        rows = self.bars.get((req.symbolId, req.period), np.empty((0, 6), np.int64))
        ms = rows[:, 0] * 60_000
        rows = rows[(ms >= req.fromTimestamp) & (ms <= req.toTimestamp)]  # inclusive, as a trap
        more = len(rows) > self.page_size
        if more:
            rows = rows[-self.page_size :] if self.newest_page_first else rows[: self.page_size]
        res = pb.ProtoOAGetTrendbarsRes(
            ctidTraderAccountId=ACCOUNT, period=req.period, symbolId=req.symbolId, hasMore=more
        )
        for minute, o, h, lo, c, v in rows.tolist():
            res.trendbar.add(
                volume=v,
                period=req.period,
                low=lo,
                deltaOpen=o - lo,
                deltaHigh=h - lo,
                deltaClose=c - lo,
                utcTimestampInMinutes=minute,
            )
        self._send(conn, res, cid)

    async def _on_2145(self, conn: _Conn, cid: str, payload: bytes) -> None:
        """Tick data: the newest ``page_size`` ticks in ``[from, to]`` (inclusive), newest
        first, the first absolute and the rest as differences to the one before."""
        req = pb.ProtoOAGetTickDataReq.FromString(payload)
        if req.symbolId not in self.symbols:
            return self._error(conn, cid, "SYMBOL_NOT_FOUND")
        rows = self.ticks.get((req.symbolId, req.type), np.empty((0, 2), np.int64))
        rows = rows[(rows[:, 0] >= req.fromTimestamp) & (rows[:, 0] <= req.toTimestamp)][::-1]
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        res = pb.ProtoOAGetTickDataRes(ctidTraderAccountId=ACCOUNT, hasMore=more)
        deltas = np.vstack([rows[:1], np.diff(rows, axis=0)]) if len(rows) else rows
        for ms, price in deltas.tolist():
            res.tickData.add(timestamp=ms, tick=price)
        self._send(conn, res, cid)

    async def _on_2124(self, conn: _Conn, cid: str, payload: bytes) -> None:
        res = pb.ProtoOAReconcileRes(ctidTraderAccountId=ACCOUNT)
        res.position.extend(self.positions.values())
        res.order.extend(self.orders.values())
        self._send(conn, res, cid)

    async def _on_2112(self, conn: _Conn, cid: str, payload: bytes) -> None:
        res = pb.ProtoOAAssetListRes(ctidTraderAccountId=ACCOUNT)
        res.asset.add(assetId=1, name=self.deposit_asset)
        res.asset.add(assetId=2, name="JPY")
        self._send(conn, res, cid)

    def unrealized(self, position: pb.ProtoOAPosition) -> int:
        """Open P&L in cents at the current quote (quote currency = deposit currency)."""
        sym = self.symbols[position.tradeData.symbolId]
        buy = position.tradeData.tradeSide == pb.BUY
        price = (sym.bid if buy else sym.ask) / 100_000
        units = position.tradeData.volume / 100
        return round((price - position.price) * (1 if buy else -1) * units * 100)

    async def _on_2187(self, conn: _Conn, cid: str, payload: bytes) -> None:
        res = pb.ProtoOAGetPositionUnrealizedPnLRes(ctidTraderAccountId=ACCOUNT, moneyDigits=2)
        for p in self.positions.values():
            pnl = self.unrealized(p)
            res.positionUnrealizedPnL.add(
                positionId=p.positionId, grossUnrealizedPnL=pnl, netUnrealizedPnL=pnl
            )
        self._send(conn, res, cid)

    async def _on_2121(self, conn: _Conn, cid: str, payload: bytes) -> None:
        trader = pb.ProtoOATrader(
            ctidTraderAccountId=ACCOUNT,
            balance=self.balance,
            depositAssetId=1,
            moneyDigits=2,
            leverageInCents=self.leverage * 100,
        )
        self._send(conn, pb.ProtoOATraderRes(ctidTraderAccountId=ACCOUNT, trader=trader), cid)

    async def _on_2175(self, conn: _Conn, cid: str, payload: bytes) -> None:
        req = pb.ProtoOAOrderListReq.FromString(payload)
        res = pb.ProtoOAOrderListRes(ctidTraderAccountId=ACCOUNT, hasMore=False)
        for order in self.order_history.values():
            if req.fromTimestamp <= order.tradeData.openTimestamp <= req.toTimestamp:
                res.order.append(order)
        self._send(conn, res, cid)

    async def _on_2133(self, conn: _Conn, cid: str, payload: bytes) -> None:
        res = pb.ProtoOADealListRes(ctidTraderAccountId=ACCOUNT, hasMore=False)
        res.deal.extend(self.deals)
        self._send(conn, res, cid)

    # ------------------------------------------------------------------ trading

    def _execution(self, kind: int, **parts) -> pb.ProtoOAExecutionEvent:  # noqa: ANN003
        return pb.ProtoOAExecutionEvent(ctidTraderAccountId=ACCOUNT, executionType=kind, **parts)

    def _order_error(self, conn: _Conn, cid: str, code: str, text: str, **ids) -> None:  # noqa: ANN003
        event = pb.ProtoOAOrderErrorEvent(
            ctidTraderAccountId=ACCOUNT, errorCode=code, description=text, **ids
        )
        self._send(conn, event, cid)

    async def _on_2106(self, conn: _Conn, cid: str, payload: bytes) -> None:
        req = pb.ProtoOANewOrderReq.FromString(payload)
        sym = self.symbols.get(req.symbolId)
        if sym is None:
            return self._order_error(conn, cid, "SYMBOL_NOT_FOUND", f"symbol {req.symbolId}")
        if self.order_errors:
            code = self.order_errors.popleft()
            return self._order_error(conn, cid, code, f"refused: {code}")
        if (
            req.volume < sym.min_volume
            or req.volume > sym.max_volume
            or req.volume % sym.step_volume
        ):
            return self._order_error(conn, cid, "TRADING_BAD_VOLUME", f"volume {req.volume}")
        now = self.now_ms()
        order_id, position_id = next(self._ids), next(self._ids)
        trade = pb.ProtoOATradeData(
            symbolId=req.symbolId,
            volume=req.volume,
            tradeSide=req.tradeSide,
            openTimestamp=now,
            label=req.label,
            comment=req.comment,
        )
        order = pb.ProtoOAOrder(
            orderId=order_id,
            tradeData=trade,
            orderType=req.orderType,
            orderStatus=pb.ORDER_STATUS_ACCEPTED,
            clientOrderId=req.clientOrderId,
            positionId=position_id,
            timeInForce=req.timeInForce,
        )
        for name in ("limitPrice", "stopPrice", "stopLoss", "takeProfit"):
            if req.HasField(name):
                setattr(order, name, getattr(req, name))
        position = pb.ProtoOAPosition(
            positionId=position_id,
            tradeData=trade,
            positionStatus=pb.POSITION_STATUS_CREATED,
            swap=0,
            moneyDigits=2,
        )
        self.order_history[order_id] = order
        self._send(conn, self._execution(pb.ORDER_ACCEPTED, order=order, position=position), cid)
        if req.orderType != pb.MARKET:
            self.orders[order_id] = order
        elif self.fill_delay:
            asyncio.get_running_loop().call_later(
                self.fill_delay, self._fill, conn, cid, req, order, position
            )
        else:
            self._fill(conn, cid, req, order, position)

    def _fill(self, conn: _Conn, cid: str, req, order, position) -> None:  # noqa: ANN001
        sym = self.symbols[req.symbolId]
        buy = req.tradeSide == pb.BUY
        price = (sym.ask if buy else sym.bid) / 100_000
        if req.HasField("relativeStopLoss"):
            position.stopLoss = price + (-1 if buy else 1) * req.relativeStopLoss / 100_000
        if req.HasField("relativeTakeProfit"):
            position.takeProfit = price + (1 if buy else -1) * req.relativeTakeProfit / 100_000
        position.positionStatus = pb.POSITION_STATUS_OPEN
        position.price = price
        units = req.volume / 100  # used margin in cents: notional / leverage
        position.usedMargin = round(units * price / self.leverage * 100)
        volume = req.volume
        if self.partial_fraction is not None:  # fill part, cancel the rest (IOC-like)
            step = sym.step_volume
            volume = max(step, int(req.volume * self.partial_fraction) // step * step)
            position.tradeData.volume = volume
        order.executionPrice = price
        order.executedVolume = volume
        order_id, position_id = order.orderId, position.positionId
        deal = self._deal(order_id, position_id, req.symbolId, volume, req.tradeSide, price)
        self.positions[position_id] = position
        if volume < req.volume:
            event = self._execution(
                pb.ORDER_PARTIAL_FILL, order=order, position=position, deal=deal
            )
            self._send(conn, event, cid)
            order.orderStatus = pb.ORDER_STATUS_CANCELLED
            self._send(conn, self._execution(pb.ORDER_CANCELLED, order=order), cid)
            return
        order.orderStatus = pb.ORDER_STATUS_FILLED
        self._send(
            conn, self._execution(pb.ORDER_FILLED, order=order, position=position, deal=deal), cid
        )

    def _deal(self, order_id, position_id, symbol_id, volume, side, price, close=None):  # noqa: ANN001, ANN202
        now = self.now_ms()
        deal = pb.ProtoOADeal(
            dealId=next(self._ids),
            orderId=order_id,
            positionId=position_id,
            volume=volume,
            filledVolume=volume,
            symbolId=symbol_id,
            createTimestamp=now,
            executionTimestamp=now,
            executionPrice=price,
            tradeSide=side,
            dealStatus=pb.FILLED,
            moneyDigits=2,
        )
        if close is not None:
            deal.closePositionDetail.CopyFrom(close)
        self.deals.append(deal)
        return deal

    async def _on_2111(self, conn: _Conn, cid: str, payload: bytes) -> None:
        req = pb.ProtoOAClosePositionReq.FromString(payload)
        position = self.positions.get(req.positionId)
        if position is None:
            return self._order_error(conn, cid, "POSITION_NOT_FOUND", "", positionId=req.positionId)
        if req.volume <= 0 or req.volume > position.tradeData.volume:
            return self._order_error(conn, cid, "TRADING_BAD_VOLUME", f"volume {req.volume}")
        sym = self.symbols[position.tradeData.symbolId]
        buy = position.tradeData.tradeSide == pb.BUY
        price = (sym.bid if buy else sym.ask) / 100_000
        units = req.volume / 100
        gross = round((price - position.price) * (1 if buy else -1) * units * 100)
        self.balance += gross
        close = pb.ProtoOAClosePositionDetail(
            entryPrice=position.price,
            grossProfit=gross,
            swap=0,
            commission=0,
            balance=self.balance,
            closedVolume=req.volume,
            moneyDigits=2,
        )
        order_id = next(self._ids)
        side = pb.SELL if buy else pb.BUY
        deal = self._deal(
            order_id, position.positionId, sym.symbol_id, req.volume, side, price, close
        )
        position.tradeData.volume -= req.volume
        if position.tradeData.volume == 0:
            position.positionStatus = pb.POSITION_STATUS_CLOSED
            del self.positions[position.positionId]
        order = pb.ProtoOAOrder(
            orderId=order_id,
            tradeData=pb.ProtoOATradeData(
                symbolId=sym.symbol_id,
                volume=req.volume,
                tradeSide=side,
                openTimestamp=self.now_ms(),
            ),
            orderType=pb.MARKET,
            orderStatus=pb.ORDER_STATUS_FILLED,
            executionPrice=price,
            executedVolume=req.volume,
            closingOrder=True,
            positionId=position.positionId,
        )
        self.order_history[order_id] = order
        event = self._execution(pb.ORDER_FILLED, order=order, position=position, deal=deal)
        self._send(conn, event, cid)

    async def _on_2110(self, conn: _Conn, cid: str, payload: bytes) -> None:
        req = pb.ProtoOAAmendPositionSLTPReq.FromString(payload)
        position = self.positions.get(req.positionId)
        if position is None:
            return self._order_error(conn, cid, "POSITION_NOT_FOUND", "", positionId=req.positionId)
        for name in ("stopLoss", "takeProfit"):
            if req.HasField(name):
                setattr(position, name, getattr(req, name))
            else:
                position.ClearField(name)
        self._send(conn, self._execution(pb.ORDER_REPLACED, position=position), cid)

    async def _on_2108(self, conn: _Conn, cid: str, payload: bytes) -> None:
        req = pb.ProtoOACancelOrderReq.FromString(payload)
        order = self.orders.pop(req.orderId, None)
        if order is None:
            return self._order_error(conn, cid, "ORDER_NOT_FOUND", "", orderId=req.orderId)
        order.orderStatus = pb.ORDER_STATUS_CANCELLED
        self._send(conn, self._execution(pb.ORDER_CANCELLED, order=order), cid)
