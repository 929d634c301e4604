"""`MT5Broker`: the `Broker` protocol over a MetaTrader 5 terminal; `MT5Feed`: its live data.

Both go through one `MT5Terminal` (``mt5=``: a terminal, or the ``MetaTrader5`` module /
a stand-in, wrapped in one): the broker's symbol names (``EURUSD.r``), the server clock
(bars and ticks to UTC, order expiry to server time) and reconnection live there.

Every order carries the engine's client id as its MT5 ``comment`` and this session's
``magic``; before sending, `place`, `close` and `cancel` look for an order, position or deal
with that comment, so a resubmission after a crash is recognised instead of duplicated.

Entries: market, and resting ``limit`` / ``stop`` orders (``TRADE_ACTION_PENDING``) that also
expire at the server after ``pending_ttl`` seconds (``ORDER_TIME_SPECIFIED``, where the symbol
allows it) — a safety net for an engine that is gone; the engine cancels them itself when the
signal's bar count runs out. A limit or stop already reached by the market is sent at market
(the fill a backtest gives it); one closer to the market than the symbol's ``stops_level`` is
refused. Stops sent to the server (`modify`) are moved out to ``stops_level`` when closer, and
not touched while the price is within ``freeze_level`` of the current stop (the engine's own
exit rules act on every tick either way).

Return codes (`RETCODES`) decide what happens: *fresh* (requote, price changed, off quotes):
sent again with a fresh quote; *wait* (too many requests, timeout, connection, error): wait,
check whether it executed after all, send again; after ``attempts`` tries a retryable
`BrokerError`. *refuse* (no money, market closed, invalid …): `OrderRejected`, the engine
skips the entry. *halt* (trading disabled, algo trading off): `TradingHalted`, which stops the
session. MT5's Python API has no push stream: `events` returns nothing, the engine queries.
"""

from __future__ import annotations

import logging
import math
import time as _time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, TradeforgeError, UnknownSymbolError
from tradeforge.core.instruments import get_instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.data.sources.mt5 import rates_to_frame, timeframe_constant
from tradeforge.data.sources.mt5_terminal import MT5Terminal, SymbolSpec, error_text
from tradeforge.live.brokers.base import (
    ORDER_TYPES,
    AccountInfo,
    BrokerError,
    BrokerEvent,
    BrokerPosition,
    Deal,
    OrderRejected,
    OrderRequest,
    OrderResult,
    PositionClosedError,
)
from tradeforge.live.feeds import Bar, Event, Tick

__all__ = ["MT5Broker", "MT5Feed", "RETCODES", "TradingHalted", "describe_retcode"]

log = logging.getLogger(__name__)

FRESH, WAIT, REFUSE, HALT, CLOSED, OK = "fresh", "wait", "refuse", "halt", "closed", "ok"

# retcode -> (name, meaning, what the adapter does)
RETCODES: dict[int, tuple[str, str, str]] = {
    10004: ("REQUOTE", "requote", FRESH),
    10006: ("REJECT", "request rejected", REFUSE),
    10007: ("CANCEL", "request cancelled by the trader", REFUSE),
    10008: ("PLACED", "order placed", OK),
    10009: ("DONE", "request completed", OK),
    10010: ("DONE_PARTIAL", "only part of the request was completed", OK),
    10011: ("ERROR", "request processing error", WAIT),
    10012: ("TIMEOUT", "request cancelled by timeout", WAIT),
    10013: ("INVALID", "invalid request", REFUSE),
    10014: ("INVALID_VOLUME", "invalid volume", REFUSE),
    10015: ("INVALID_PRICE", "invalid price", REFUSE),
    10016: ("INVALID_STOPS", "invalid stops", REFUSE),
    10017: ("TRADE_DISABLED", "trading is disabled", HALT),
    10018: ("MARKET_CLOSED", "market is closed", REFUSE),
    10019: ("NO_MONEY", "not enough money", REFUSE),
    10020: ("PRICE_CHANGED", "prices changed", FRESH),
    10021: ("PRICE_OFF", "no quotes to process the request", FRESH),
    10022: ("INVALID_EXPIRATION", "invalid order expiration", REFUSE),
    10024: ("TOO_MANY_REQUESTS", "too frequent requests", WAIT),
    10025: ("NO_CHANGES", "no changes in request", OK),
    10026: ("SERVER_DISABLES_AT", "autotrading disabled by the server", HALT),
    10027: ("CLIENT_DISABLES_AT", "autotrading disabled in the terminal", HALT),
    10029: ("FROZEN", "order or position frozen", REFUSE),
    10030: ("INVALID_FILL", "unsupported filling mode", REFUSE),
    10031: ("CONNECTION", "no connection with the trade server", WAIT),
    10032: ("ONLY_REAL", "allowed for live accounts only", HALT),
    10036: ("POSITION_CLOSED", "position already closed", CLOSED),
    10040: ("LIMIT_POSITIONS", "position limit reached", REFUSE),
}
_PENDING_TYPES = {  # (order_type, side) -> the package's constant name
    ("limit", 1): "ORDER_TYPE_BUY_LIMIT",
    ("limit", -1): "ORDER_TYPE_SELL_LIMIT",
    ("stop", 1): "ORDER_TYPE_BUY_STOP",
    ("stop", -1): "ORDER_TYPE_SELL_STOP",
}
_ORDER_GONE = {2: "cancelled", 5: "rejected", 6: "cancelled"}  # ORDER_STATE_CANCELED/…/EXPIRED
_NS = 1_000_000_000


class TradingHalted(TradeforgeError):
    """The terminal or server refuses all trading (trading or algo trading disabled): no later
    order can pass either, so the session stops with this message."""


def describe_retcode(code: int) -> str:
    name, text, _ = RETCODES.get(code, ("UNKNOWN", "unknown return code", REFUSE))
    return f"{code} {name} ({text})"


class MT5Broker:
    """`Broker` over a terminal (see the module docstring). ``login`` keywords (``login``,
    ``password``, ``server``, ``path``, ``timeout_ms``) go to ``initialize()``."""

    name = "mt5"
    simulated = False
    entry_types = ORDER_TYPES  # market, limit and stop entries

    def __init__(
        self,
        mt5: Any = None,
        *,
        magic: int = 240_601,
        deviation: int = 20,
        history_days: int = 30,
        pending_ttl: float = 7 * 86_400,
        attempts: int = 3,
        pause: float = 0.5,
        sleep: Callable[[float], None] = _time.sleep,
        connect: bool = True,
        **login: Any,
    ) -> None:
        self.mt5 = MT5Terminal.of(mt5)
        self.magic = int(magic)
        self.deviation = int(deviation)
        self.history_seconds = history_days * 86_400
        self.pending_ttl = int(pending_ttl)
        self.attempts, self.pause, self.sleep = max(1, attempts), pause, sleep
        self._specs: dict[str, SymbolSpec] = {}
        if connect:
            if "timeout_ms" in login:
                login["timeout"] = login.pop("timeout_ms")
            self.mt5.connect(**login)

    def link(self) -> dict[str, Any]:
        """The terminal link's state for the health monitor (`MT5Terminal.link`)."""
        return self.mt5.link()

    # ------------------------------------------------------------------ plumbing
    def _check(self, result: Any, what: str) -> Any:
        if result is None:
            raise BrokerError(f"MT5 {what} failed: {error_text(self.mt5.module)}", retryable=True)
        return result

    def _call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        return self._check(self.mt5.call(function, *args, **kwargs), function)

    def spec(self, symbol: str) -> SymbolSpec:
        """The broker's metadata of a tradeforge symbol; checked once against the instrument
        registry (a different contract size or lot step would size orders wrongly)."""
        key = symbol.upper()
        if key not in self._specs:
            spec = self.mt5.spec(key)
            try:
                inst = get_instrument(key)
            except UnknownSymbolError:
                inst = None
            problems = spec.mismatches(inst) if inst is not None else []
            if problems:
                raise ConfigError(
                    f"{key} at the broker ({spec.name}) differs from tradeforge's instrument: "
                    f"{'; '.join(problems)}; describe it in an --instruments file"
                )
            self._specs[key] = spec
        return self._specs[key]

    def _name(self, symbol: str) -> str:
        return self.spec(symbol).name

    def _tick(self, name: str) -> Any:
        return self._call("symbol_info_tick", name)

    def _filling(self, spec: SymbolSpec) -> int:
        if spec.filling_mode & 1:
            return self.mt5.ORDER_FILLING_FOK
        if spec.filling_mode & 2:
            return self.mt5.ORDER_FILLING_IOC
        return self.mt5.ORDER_FILLING_RETURN

    def _ours(self, items: Any) -> list[Any]:
        return [x for x in (items or ()) if int(getattr(x, "magic", self.magic)) == self.magic]

    def _window(self) -> tuple[int, int]:
        """The history query window (the wall clock only bounds it; server clocks run ahead)."""
        now = int(_time.time()) + 86_400
        return now - self.history_seconds, now

    def _history(self) -> list[Any]:
        return self._ours(self._call("history_deals_get", *self._window()))

    def _send(
        self, build: Callable[[], dict[str, Any]], what: str, executed: Callable[[], Any]
    ) -> Any:
        """Send ``build()`` until it succeeds (see the module docstring for each return code);
        the result, or what ``executed()`` found after a failure that may have executed."""
        message = ""
        for attempt in range(self.attempts):
            result = self.mt5.call("order_send", build())
            if result is None:
                raise OrderRejected(f"MT5 {what}: request refused ({error_text(self.mt5.module)})")
            code = int(result.retcode)
            _, _, action = RETCODES.get(code, ("", "", REFUSE))
            if action == OK:
                return result
            message = f"MT5 {what}: {describe_retcode(code)} {getattr(result, 'comment', '')}"
            message = message.strip()
            if action == CLOSED:
                raise PositionClosedError(message, code=code)
            if action == HALT:
                raise TradingHalted(f"{message}; trading stopped (enable trading and restart)")
            if action == REFUSE:
                raise OrderRejected(message, code=code)
            if attempt + 1 < self.attempts:
                log.warning("%s; trying again (%d/%d)", message, attempt + 2, self.attempts)
                if action == WAIT or code == 10021:
                    self.sleep(self.pause * 2**attempt)
                if action == WAIT:
                    found = executed()
                    if found is not None:
                        return found
        raise BrokerError(f"{message} ({self.attempts} tries)", code=code, retryable=True)

    def _position(self, p: Any) -> BrokerPosition:
        return BrokerPosition(
            ticket=int(p.ticket),
            symbol=self.mt5.tradeforge_symbol(p.symbol),
            side=1 if int(p.type) == 0 else -1,
            lots=float(p.volume),
            price_open=float(p.price_open),
            stop=float(p.sl) or None,
            target=float(p.tp) or None,
            client_id=str(p.comment),
            time=self._utc_ns(int(p.time_msc), p.symbol),
        )

    def _deal(self, d: Any) -> Deal:
        return Deal(
            client_id=str(d.comment),
            ticket=int(d.position_id),
            side=-1 if int(d.type) == 0 else 1,  # a buy deal closes a short
            lots=float(d.volume),
            price=float(d.price),
            time=self._utc_ns(int(d.time_msc), d.symbol),
            profit=float(d.profit),
            commission=-float(d.commission),
            reason=str(d.reason),
            swap=float(getattr(d, "swap", 0.0) or 0.0),
        )

    def _utc_ns(self, server_msc: int, name: str) -> int:
        clock = self.mt5.clock(self.mt5.tradeforge_symbol(name))
        return int(clock.to_utc_ns(np.array([server_msc * 1_000_000]))[0])

    # ------------------------------------------------------------------ queries
    def account(self) -> AccountInfo:
        a = self._call("account_info")
        return AccountInfo(
            float(a.balance), float(a.equity), float(a.margin_free), a.currency, float(a.leverage)
        )

    def positions(self, symbol: str | None = None) -> list[BrokerPosition]:
        raw = (
            self._call("positions_get", symbol=self._name(symbol))
            if symbol
            else self._call("positions_get")
        )
        return sorted((self._position(p) for p in self._ours(raw)), key=lambda p: p.ticket)

    def _pending(self, symbol: str | None = None) -> list[Any]:
        raw = (
            self._call("orders_get", symbol=self._name(symbol))
            if symbol
            else self._call("orders_get")
        )
        return self._ours(raw)

    def orders(self, symbol: str | None = None) -> list[OrderResult]:
        return [
            OrderResult(
                str(o.comment),
                "pending",
                int(o.ticket),
                float(o.price_open),
                float(o.volume_current),
            )  # fmt: skip
            for o in self._pending(symbol)
        ]

    def order_status(self, client_id: str) -> OrderResult | None:
        for p in self.positions():
            if p.client_id == client_id:
                return OrderResult(client_id, "filled", p.ticket, p.price_open, p.lots, p.time)
        for o in self.orders():
            if o.client_id == client_id:
                return o
        for d in self._history():
            if str(d.comment) == client_id and int(d.entry) == 0:
                return OrderResult(
                    client_id, "filled", int(d.position_id), float(d.price), float(d.volume),
                    self._utc_ns(int(d.time_msc), d.symbol), -float(d.commission),
                )  # fmt: skip
        done = self._ours(self._call("history_orders_get", *self._window()))
        for o in done:
            state = _ORDER_GONE.get(int(o.state))
            if str(o.comment) == client_id and state is not None:
                return OrderResult(client_id, state, int(o.ticket), reason=f"order state {o.state}")
        return None

    def deal(self, client_id: str) -> Deal | None:
        for d in self._history():
            if str(d.comment) == client_id and int(d.entry) != 0:
                return self._deal(d)
        return None

    def deals_for(self, ticket: int) -> list[Deal]:
        raw = self._call("history_deals_get", position=ticket)
        return [self._deal(d) for d in self._ours(raw) if int(d.entry) != 0]

    def events(self) -> list[BrokerEvent]:
        return []

    # ------------------------------------------------------------------ trading
    def place(self, request: OrderRequest) -> OrderResult:
        known = self.order_status(request.client_id)
        if known is not None:
            return known
        if request.order_type not in ORDER_TYPES:
            raise OrderRejected(f"MT5: unknown order type {request.order_type!r}")
        spec = self.spec(request.symbol)
        lots = float(request.lots)
        if not spec.on_step(lots) or not spec.volume_min <= lots <= spec.volume_max:
            raise OrderRejected(
                f"MT5 order {request.client_id}: {lots:g} lots is off the broker's volume "
                f"min/step/max {spec.volume_min:g}/{spec.volume_step:g}/{spec.volume_max:g}"
            )
        if request.order_type != "market":
            tick = self._tick(spec.name)
            buy = request.side > 0
            level = float(request.price or 0.0)
            market = float(tick.ask if buy else tick.bid)
            reached = (
                (level >= market) if (request.order_type == "limit") == buy else (level <= market)
            )
            if not reached:
                return self._place_pending(request, spec, tick, level)
        return self._place_market(request, spec)

    def _place_market(self, request: OrderRequest, spec: SymbolSpec) -> OrderResult:
        buy = request.side > 0
        last: dict[str, Any] = {}

        def build() -> dict[str, Any]:
            tick = last["tick"] = self._tick(spec.name)
            return {
                "action": self.mt5.TRADE_ACTION_DEAL,
                "symbol": spec.name,
                "volume": float(request.lots),
                "type": self.mt5.ORDER_TYPE_BUY if buy else self.mt5.ORDER_TYPE_SELL,
                "price": float(tick.ask if buy else tick.bid),
                "sl": self._stop_level(spec, buy, request.stop, tick, "sl"),
                "tp": self._stop_level(spec, buy, request.target, tick, "tp"),
                "deviation": self.deviation,
                "magic": self.magic,
                "comment": request.client_id,
                "type_time": self.mt5.ORDER_TIME_GTC,
                "type_filling": self._filling(spec),
            }

        result = self._send(
            build, f"order {request.client_id}", lambda: self.order_status(request.client_id)
        )
        if isinstance(result, OrderResult):
            return result
        known = self.order_status(request.client_id)
        if known is not None:
            return known
        return OrderResult(
            request.client_id, "filled", int(result.order), float(result.price),
            float(result.volume), self._utc_ns(int(last["tick"].time_msc), spec.name),
        )  # fmt: skip

    def _place_pending(
        self, request: OrderRequest, spec: SymbolSpec, tick: Any, level: float
    ) -> OrderResult:
        buy = request.side > 0
        price = round(level, spec.digits)
        gap = abs(price - float(tick.ask if buy else tick.bid))
        if gap < spec.stops_level * spec.point - 1e-12:
            raise OrderRejected(
                f"MT5 {request.order_type} order {request.client_id}: {price} is within the "
                f"broker's stops level ({spec.stops_level} points) of the market"
            )
        specified = bool(spec.expiration_mode & 4)
        req = {
            "action": self.mt5.TRADE_ACTION_PENDING,
            "symbol": spec.name,
            "volume": float(request.lots),
            "type": getattr(self.mt5, _PENDING_TYPES[(request.order_type, 1 if buy else -1)]),
            "price": price,
            "sl": self._stop_level(spec, buy, request.stop, None, "sl", price),
            "tp": self._stop_level(spec, buy, request.target, None, "tp", price),
            "magic": self.magic,
            "comment": request.client_id,
            "type_time": self.mt5.ORDER_TIME_SPECIFIED if specified else self.mt5.ORDER_TIME_GTC,
            "type_filling": self.mt5.ORDER_FILLING_RETURN,
        }
        if specified:
            req["expiration"] = int(tick.time) + self.pending_ttl  # server clock, like tick.time
        result = self._send(
            lambda: req, f"order {request.client_id}", lambda: self.order_status(request.client_id)
        )
        if isinstance(result, OrderResult):
            return result
        return OrderResult(request.client_id, "pending", int(result.order), price, request.lots)

    def _stop_level(
        self,
        spec: SymbolSpec,
        buy: bool,
        level: float | None,
        tick: Any,
        kind: str,
        price: float | None = None,
    ) -> float:
        """``level`` moved out to the broker's stops level from the closing price (``tick``)
        or from an order's ``price``; 0.0 for none."""
        if not level:
            return 0.0
        point = spec.point
        if price is None:
            price = float(tick.bid if buy else tick.ask)  # where the position would close
        ref = round(price / point)
        want = level / point
        below = (kind == "sl") == buy  # a buy's stop and a sell's target sit below the price
        if below:
            pts = min(math.floor(want + 1e-6), ref - spec.stops_level)
        else:
            pts = max(math.ceil(want - 1e-6), ref + spec.stops_level)
        return round(pts * point, spec.digits)

    def modify(self, ticket: int, stop: float | None, target: float | None = None) -> None:
        raw = self._call("positions_get", ticket=ticket)
        if not raw:
            raise PositionClosedError(f"MT5 position {ticket} is closed", code=10036)
        p = raw[0]
        spec = self.spec(self.mt5.tradeforge_symbol(p.symbol))
        tick = self._tick(p.symbol)
        buy = int(p.type) == 0
        price = float(tick.bid if buy else tick.ask)
        freeze = spec.freeze_level * spec.point
        if freeze and any(lv and abs(price - float(lv)) <= freeze for lv in (p.sl, p.tp)):
            log.warning(
                "MT5 position %s: price %s within the freeze level of its stop/target; "
                "not moved (the engine's exit rules still apply on every tick)",
                ticket,
                price,
            )
            return
        sl = self._stop_level(spec, buy, stop, tick, "sl")
        tp = self._stop_level(spec, buy, target, tick, "tp")
        if stop and not math.isclose(sl, stop, abs_tol=spec.point / 2):
            log.warning(
                "MT5 position %s: stop %s is inside the stops level; sent as %s", ticket, stop, sl
            )
        req = {
            "action": self.mt5.TRADE_ACTION_SLTP,
            "symbol": p.symbol,
            "position": int(ticket),
            "sl": sl,
            "tp": tp,
            "magic": self.magic,
        }
        self._send(lambda: req, f"modify {ticket}", lambda: None)

    def close(
        self,
        ticket: int,
        lots: float | None,
        client_id: str,
        price: float | None = None,
        reason: str = "",
    ) -> Deal:
        known = self.deal(client_id)
        if known is not None:
            return known
        raw = self._call("positions_get", ticket=ticket)
        if not raw:
            raise PositionClosedError(f"MT5 position {ticket} is closed", code=10036)
        p = raw[0]
        spec = self.spec(self.mt5.tradeforge_symbol(p.symbol))
        long_ = int(p.type) == 0
        volume = float(p.volume if lots is None else min(lots, float(p.volume)))
        if not spec.on_step(volume):
            raise OrderRejected(
                f"MT5 close {ticket}: {volume:g} lots is off the broker's volume step "
                f"{spec.volume_step:g}"
            )
        last: dict[str, Any] = {}

        def build() -> dict[str, Any]:
            tick = last["tick"] = self._tick(p.symbol)
            return {
                "action": self.mt5.TRADE_ACTION_DEAL,
                "symbol": p.symbol,
                "volume": volume,
                "type": self.mt5.ORDER_TYPE_SELL if long_ else self.mt5.ORDER_TYPE_BUY,
                "position": int(ticket),
                "price": float(tick.bid if long_ else tick.ask),
                "deviation": self.deviation,
                "magic": self.magic,
                "comment": client_id,
                "type_time": self.mt5.ORDER_TIME_GTC,
                "type_filling": self._filling(spec),
            }

        result = self._send(build, f"close {ticket}", lambda: self.deal(client_id))
        if isinstance(result, Deal):
            return result
        found = self.deal(client_id)
        if found is not None:
            return found
        return Deal(
            client_id, int(ticket), 1 if long_ else -1, float(result.volume), float(result.price),
            self._utc_ns(int(last["tick"].time_msc), p.symbol), reason=reason,
        )  # fmt: skip

    def cancel(self, client_id: str) -> None:
        """Remove the resting order with this client id (nothing when none rests)."""
        for o in self._pending():
            if str(o.comment) == client_id:
                req = {"action": self.mt5.TRADE_ACTION_REMOVE, "order": int(o.ticket)}
                try:
                    self._send(lambda req=req: req, f"cancel {client_id}", lambda: None)
                except OrderRejected:
                    if any(str(x.comment) == client_id for x in self._pending()):
                        raise  # still resting: a real refusal
                return


class MT5Feed:
    """`BrokerFeed` over a terminal: every real tick (``copy_ticks_from`` since the last one
    seen) and each newly closed bar (``copy_rates_from_pos(…, 1, 1)``), in key order, stamped
    in UTC through the terminal's server clock.

    Ticks are read before the bar, so a tick of the next bar is never emitted before the
    close of the bar it follows. When the terminal link drops the feed reconnects
    (`MT5Terminal.reconnect`) and calls ``on_reconnect`` (the runner passes the engine's
    `reconcile`) before emitting anything else; ticks missed meanwhile follow, in order.
    Each poll also asks whether the terminal is connected to the trade server
    (`MT5Terminal.probe`: the broker's ``link``), and ``clock_skew`` is the local clock minus
    the newest new tick's time, in seconds (the health monitor watches both, as for cTrader;
    a wrong ``server_time`` shows as a skew of whole hours). ``max_polls`` bounds the loop
    (tests); ``sleep`` is injectable.
    """

    def __init__(
        self,
        mt5: Any,
        symbol: str,
        timeframe: Any,
        *,
        poll: float = 0.25,
        max_polls: int | None = None,
        sleep: Callable[[float], None] | None = None,
        max_ticks: int = 100_000,
        on_reconnect: Callable[[], Any] | None = None,
    ) -> None:
        self.mt5 = MT5Terminal.of(mt5)
        self.symbol = symbol.upper()
        self.timeframe = Timeframe.parse(timeframe)
        self.poll = poll
        self.max_polls = max_polls
        self.sleep = sleep or _time.sleep
        self.max_ticks = max_ticks
        self.on_reconnect = on_reconnect
        self._index = 0
        self._seen_reconnects = self.mt5.reconnects
        self.clock_skew: float | None = None
        self.start()

    @property
    def _name(self) -> str:
        return self.mt5.broker_symbol(self.symbol)

    def _fetch(self, function: str, *args: Any) -> Any:
        result = self.mt5.call(function, *args)
        if result is None:
            raise BrokerError(
                f"MT5 {function}({self._name!r}) failed: {error_text(self.mt5.module)}",
                retryable=True,
            )
        return result

    def _rates(self, start_pos: int, count: int) -> np.ndarray:
        tf = timeframe_constant(self.mt5.module, self.timeframe)
        return np.asarray(self._fetch("copy_rates_from_pos", self._name, tf, start_pos, count))

    def window(self, bar_time: int, count: int) -> pd.DataFrame:
        spec = self.mt5.spec(self.symbol)
        frame = rates_to_frame(
            self._rates(1, count + 50), spec.point, digits=spec.digits,
            clock=self.mt5.clock(self.symbol), source=f"mt5 {self.symbol}",
        )  # fmt: skip
        frame = frame[frame.index.as_unit("ns").asi8 <= bar_time]
        return frame.iloc[-count:]

    def _new_ticks(self, last_msc: int | None) -> list[tuple[int, float, float]]:
        """``(server ms, bid, ask)`` of every tick after ``last_msc`` (first call: the last)."""
        if last_msc is None:
            t = self._fetch("symbol_info_tick", self._name)
            return [(int(t.time_msc), float(t.bid), float(t.ask))]
        flags = getattr(self.mt5.module, "COPY_TICKS_INFO", 1)
        arr = self._fetch("copy_ticks_from", self._name, last_msc // 1000, self.max_ticks, flags)
        arr = np.asarray(arr)
        if not len(arr):
            return []
        keep = (arr["time_msc"] > last_msc) & (arr["bid"] > 0) & (arr["ask"] > 0)
        return [
            (int(m), float(b), float(a))
            for m, b, a in zip(
                arr["time_msc"][keep], arr["bid"][keep], arr["ask"][keep], strict=True
            )
        ]

    def start(self) -> None:
        """Begin a stream: the first `read` gets the last known quote."""
        self._last_msc: int | None = None
        self._last_bar: int | None = None

    def _bar(self, r: Any, clock: Any) -> Bar | None:
        """The rate ``r`` as a closed bar, unless it is the last one emitted."""
        t = int(clock.to_utc_ns(np.array([int(r["time"]) * _NS]))[0])
        if t == self._last_bar:
            return None
        self._last_bar = t
        spec = self.mt5.spec(self.symbol)
        bar = Bar(
            self.symbol, t, t + self.timeframe.seconds * _NS, float(r["open"]), float(r["high"]),
            float(r["low"]), float(r["close"]),
            round(float(r["spread"]) * spec.point, spec.digits), self._index,
        )  # fmt: skip
        self._index += 1
        return bar

    def read(self) -> list[Event]:
        """One poll's events of this symbol, unsorted: its new ticks (read first, so a tick
        of the next bar is never emitted before the close of the bar it follows) and the bar
        that closed last, when it is new."""
        fresh = self._last_msc is not None  # the first poll's tick is the last known quote
        ticks = self._new_ticks(self._last_msc)
        rates = self._rates(1, 1)
        clock = self.mt5.clock(self.symbol)
        out: list[Event] = []
        if len(rates) and (bar := self._bar(rates[-1], clock)) is not None:
            out.append(bar)
        if ticks:
            self._last_msc = ticks[-1][0]
            utc = clock.to_utc_ns(np.array([m for m, _, _ in ticks], dtype=np.int64) * 1_000_000)
            out += [
                Tick(self.symbol, int(u), b, a) for u, (_, b, a) in zip(utc, ticks, strict=True)
            ]
            if fresh:
                self.clock_skew = round(self.mt5.now_ms() / 1000 - int(utc[-1]) / _NS, 3)
        return out

    def close_through(self, now: int) -> list[Bar]:
        """The bar of this symbol closed by ``now`` (ns) that no tick of its own has shown
        closed yet: a quiet symbol's forming bar (``copy_rates_from_pos(…, 0, 1)``) that
        opened before the bar of ``now`` began (merged sessions, `MT5SessionFeed`)."""
        step = self.timeframe.seconds * _NS
        rates = self._rates(0, 1)
        if not len(rates):
            return []
        clock = self.mt5.clock(self.symbol)
        t = int(clock.to_utc_ns(np.array([int(rates[-1]["time"]) * _NS]))[0])
        if t + step > now or (self._last_bar is not None and self._last_bar >= t):
            return []
        bar = self._bar(rates[-1], clock)
        return [bar] if bar is not None else []

    def reconnected(self) -> None:
        """Call ``on_reconnect`` once after the terminal link came back (before any event)."""
        if self.mt5.reconnects != self._seen_reconnects:
            self._seen_reconnects = self.mt5.reconnects
            if self.on_reconnect is not None:
                self.on_reconnect()

    def events(self, after: tuple[int, int] | None = None) -> Iterator[Event]:
        self.start()
        floor = tuple(after) if after is not None else None
        polls = 0
        while self.max_polls is None or polls < self.max_polls:
            polls += 1
            self.mt5.probe()
            out = self.read()
            self.reconnected()
            for ev in sorted(out, key=lambda e: e.key):
                if floor is None or ev.key > floor:
                    floor = ev.key
                    yield ev
            self.sleep(self.poll)
