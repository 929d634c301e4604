"""`MT5Broker`: the `Broker` protocol over the ``MetaTrader5`` package (a local terminal).

The package only exists for Windows, so the module is injectable (``mt5=`` any object with
the package's functions and constants; tests pass a stand-in) and otherwise imported lazily.
Every order carries the engine's client id as its MT5 ``comment`` and this session's
``magic``; before sending, `place` and `close` look for a position or deal with that comment,
so a resubmission after a crash is recognised instead of duplicated. Return codes map to
`OrderRejected` (do not retry), `BrokerError(retryable=True)` (requote, timeout, connection)
or `PositionClosedError`.

MT5's Python API has no push stream: `events` returns nothing and the engine syncs by queries.
"""

from __future__ import annotations

from typing import Any

from tradeforge.core.errors import ConfigError
from tradeforge.live.brokers.base import (
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

# retcode -> (name, meaning, retryable)
RETCODES: dict[int, tuple[str, str, bool]] = {
    10004: ("REQUOTE", "requote", True),
    10006: ("REJECT", "request rejected", False),
    10007: ("CANCEL", "request cancelled by the trader", False),
    10008: ("PLACED", "order placed", False),
    10009: ("DONE", "request completed", False),
    10010: ("DONE_PARTIAL", "only part of the request was completed", False),
    10011: ("ERROR", "request processing error", True),
    10012: ("TIMEOUT", "request cancelled by timeout", True),
    10013: ("INVALID", "invalid request", False),
    10014: ("INVALID_VOLUME", "invalid volume", False),
    10015: ("INVALID_PRICE", "invalid price", False),
    10016: ("INVALID_STOPS", "invalid stops", False),
    10017: ("TRADE_DISABLED", "trading is disabled", False),
    10018: ("MARKET_CLOSED", "market is closed", False),
    10019: ("NO_MONEY", "not enough money", False),
    10020: ("PRICE_CHANGED", "prices changed", True),
    10021: ("PRICE_OFF", "no quotes to process the request", True),
    10024: ("TOO_MANY_REQUESTS", "too frequent requests", True),
    10025: ("NO_CHANGES", "no changes in request", False),
    10027: ("CLIENT_DISABLES_AT", "autotrading disabled in the terminal", False),
    10030: ("INVALID_FILL", "unsupported filling mode", False),
    10031: ("CONNECTION", "no connection with the trade server", True),
    10036: ("POSITION_CLOSED", "position already closed", False),
    10040: ("LIMIT_POSITIONS", "position limit reached", False),
}
SUCCESS = {10008, 10009, 10010, 10025}


def describe_retcode(code: int) -> str:
    name, text, _ = RETCODES.get(code, ("UNKNOWN", "unknown return code", False))
    return f"{code} {name} ({text})"


def _load_module() -> Any:
    try:
        import MetaTrader5  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            "the MetaTrader5 package is not installed (it exists for Windows only: "
            "pip install MetaTrader5 next to a running MT5 terminal)"
        ) from None
    return MetaTrader5


class MT5Broker:
    name = "mt5"
    simulated = False

    def __init__(
        self,
        mt5: Any = None,
        *,
        magic: int = 240_601,
        deviation: int = 20,
        history_days: int = 30,
        connect: bool = True,
        **login: Any,
    ) -> None:
        self.mt5 = mt5 if mt5 is not None else _load_module()
        self.magic = int(magic)
        self.deviation = int(deviation)
        self.history_seconds = history_days * 86_400
        if connect and not self.mt5.initialize(**login):
            raise BrokerError(f"MT5 initialize failed: {self._last_error()}")

    # ------------------------------------------------------------------ plumbing
    def _last_error(self) -> str:
        code, text = self.mt5.last_error()
        return f"{code} {text}"

    def _check(self, result: Any, what: str) -> Any:
        if result is None:
            raise BrokerError(f"MT5 {what} failed: {self._last_error()}", retryable=True)
        return result

    def _send(self, request: dict[str, Any], what: str) -> Any:
        result = self.mt5.order_send(request)
        if result is None:
            raise OrderRejected(f"MT5 {what}: malformed request ({self._last_error()})")
        code = int(result.retcode)
        if code in SUCCESS:
            return result
        _, _, retryable = RETCODES.get(code, ("", "", False))
        message = f"MT5 {what}: {describe_retcode(code)} {getattr(result, 'comment', '')}".strip()
        if code == 10036:
            raise PositionClosedError(message, code=code)
        if retryable:
            raise BrokerError(message, code=code, retryable=True)
        raise OrderRejected(message, code=code)

    def _tick(self, symbol: str) -> Any:
        return self._check(self.mt5.symbol_info_tick(symbol), f"symbol_info_tick({symbol})")

    def _filling(self, symbol: str) -> int:
        info = self.mt5.symbol_info(symbol)
        mode = int(getattr(info, "filling_mode", 0) or 0)
        if mode & 1:
            return self.mt5.ORDER_FILLING_FOK
        if mode & 2:
            return self.mt5.ORDER_FILLING_IOC
        return self.mt5.ORDER_FILLING_RETURN

    def _ours(self, items: Any) -> list[Any]:
        return [x for x in (items or ()) if int(getattr(x, "magic", self.magic)) == self.magic]

    def _history(self) -> list[Any]:
        """Our deals of the last ``history_days`` (the wall clock only bounds the query)."""
        import time as _time

        now = int(_time.time()) + 86_400  # server clocks run ahead of UTC
        deals = self.mt5.history_deals_get(now - self.history_seconds, now)
        return self._ours(self._check(deals, "history_deals_get"))

    @staticmethod
    def _position(p: Any) -> BrokerPosition:
        return BrokerPosition(
            ticket=int(p.ticket),
            symbol=p.symbol,
            side=1 if int(p.type) == 0 else -1,
            lots=float(p.volume),
            price_open=float(p.price_open),
            stop=float(p.sl) or None,
            target=float(p.tp) or None,
            client_id=str(p.comment),
            time=int(p.time_msc) * 1_000_000,
        )

    def _deal(self, d: Any) -> Deal:
        return Deal(
            client_id=str(d.comment),
            ticket=int(d.position_id),
            side=-1 if int(d.type) == 0 else 1,  # a buy deal closes a short
            lots=float(d.volume),
            price=float(d.price),
            time=int(d.time_msc) * 1_000_000,
            profit=float(d.profit),
            commission=-float(d.commission),
            reason=str(d.reason),
            swap=float(getattr(d, "swap", 0.0) or 0.0),
        )

    # ------------------------------------------------------------------ queries
    def account(self) -> AccountInfo:
        a = self._check(self.mt5.account_info(), "account_info")
        return AccountInfo(
            float(a.balance), float(a.equity), float(a.margin_free), a.currency, float(a.leverage)
        )

    def positions(self, symbol: str | None = None) -> list[BrokerPosition]:
        raw = self.mt5.positions_get(symbol=symbol) if symbol else self.mt5.positions_get()
        return sorted(
            (self._position(p) for p in self._ours(self._check(raw, "positions_get"))),
            key=lambda p: p.ticket,
        )

    def orders(self, symbol: str | None = None) -> list[OrderResult]:
        return []  # the engine sends market orders only

    def order_status(self, client_id: str) -> OrderResult | None:
        for p in self.positions():
            if p.client_id == client_id:
                return OrderResult(client_id, "filled", p.ticket, p.price_open, p.lots, p.time)
        for d in self._history():
            if str(d.comment) == client_id and int(d.entry) == 0:
                return OrderResult(
                    client_id, "filled", int(d.position_id), float(d.price), float(d.volume),
                    int(d.time_msc) * 1_000_000, -float(d.commission),
                )  # fmt: skip
        return None

    def deal(self, client_id: str) -> Deal | None:
        for d in self._history():
            if str(d.comment) == client_id and int(d.entry) != 0:
                return self._deal(d)
        return None

    def deals_for(self, ticket: int) -> list[Deal]:
        raw = self._check(self.mt5.history_deals_get(position=ticket), "history_deals_get")
        return [self._deal(d) for d in self._ours(raw) if int(d.entry) != 0]

    def events(self) -> list[BrokerEvent]:
        return []

    # ------------------------------------------------------------------ trading
    def place(self, request: OrderRequest) -> OrderResult:
        known = self.order_status(request.client_id)
        if known is not None:
            return known
        if request.order_type != "market":
            raise OrderRejected(
                f"MT5 adapter: {request.order_type} entry orders are not supported yet "
                "(market orders only)"
            )
        tick = self._tick(request.symbol)
        buy = request.side > 0
        req = {
            "action": self.mt5.TRADE_ACTION_DEAL,
            "symbol": request.symbol,
            "volume": float(request.lots),
            "type": self.mt5.ORDER_TYPE_BUY if buy else self.mt5.ORDER_TYPE_SELL,
            "price": float(tick.ask if buy else tick.bid),
            "sl": float(request.stop or 0.0),
            "tp": float(request.target or 0.0),
            "deviation": self.deviation,
            "magic": self.magic,
            "comment": request.client_id,
            "type_time": self.mt5.ORDER_TIME_GTC,
            "type_filling": self._filling(request.symbol),
        }
        result = self._send(req, f"order {request.client_id}")
        return OrderResult(
            request.client_id, "filled", int(result.order), float(result.price),
            float(result.volume), int(getattr(tick, "time_msc", 0)) * 1_000_000,
        )  # fmt: skip

    def modify(self, ticket: int, stop: float | None, target: float | None = None) -> None:
        raw = self._check(self.mt5.positions_get(ticket=ticket), "positions_get")
        if not raw:
            raise PositionClosedError(f"MT5 position {ticket} is closed", code=10036)
        req = {
            "action": self.mt5.TRADE_ACTION_SLTP,
            "symbol": raw[0].symbol,
            "position": int(ticket),
            "sl": float(stop or 0.0),
            "tp": float(target or 0.0),
            "magic": self.magic,
        }
        self._send(req, f"modify {ticket}")

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
        raw = self._check(self.mt5.positions_get(ticket=ticket), "positions_get")
        if not raw:
            raise PositionClosedError(f"MT5 position {ticket} is closed", code=10036)
        p = raw[0]
        tick = self._tick(p.symbol)
        long_ = int(p.type) == 0
        volume = float(p.volume if lots is None else lots)
        req = {
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
            "type_filling": self._filling(p.symbol),
        }
        result = self._send(req, f"close {ticket}")
        found = self.deal(client_id)
        if found is not None:
            return found
        return Deal(
            client_id, int(ticket), 1 if long_ else -1, float(result.volume), float(result.price),
            int(getattr(tick, "time_msc", 0)) * 1_000_000, reason=reason,
        )  # fmt: skip

    def cancel(self, client_id: str) -> None:
        return None  # market orders only: nothing rests at the broker


class MT5Feed:
    """`BrokerFeed` over a terminal: polls ``symbol_info_tick`` and the last closed bar.

    A tick is emitted whenever ``time_msc`` changes; a bar when ``copy_rates_from_pos(…, 1, 1)``
    (the newest *closed* bar) changes. ``server_offset`` (seconds) converts the broker's
    server-clock stamps to UTC. ``max_polls`` bounds the loop (tests); ``sleep`` is injectable.
    """

    def __init__(
        self,
        mt5: Any,
        symbol: str,
        timeframe: Any,
        *,
        server_offset: int = 0,
        poll: float = 0.25,
        max_polls: int | None = None,
        sleep: Any = None,
    ) -> None:
        from tradeforge.core.timeframes import Timeframe

        self.mt5 = mt5
        self.symbol = symbol
        self.timeframe = Timeframe.parse(timeframe)
        self.offset_ns = int(server_offset) * 1_000_000_000
        self.poll = poll
        self.max_polls = max_polls
        if sleep is None:
            import time as _time

            sleep = _time.sleep
        self.sleep = sleep
        self._index = 0

    @property
    def _tf_const(self) -> int:
        tf = self.timeframe
        unit = {"M": "M", "H": "H", "D": "D", "W": "W"}[tf.unit]
        return getattr(self.mt5, f"TIMEFRAME_{unit}{tf.count}")

    def _rates(self, start_pos: int, count: int) -> Any:
        rates = self.mt5.copy_rates_from_pos(self.symbol, self._tf_const, start_pos, count)
        if rates is None:
            code, text = self.mt5.last_error()
            raise BrokerError(f"MT5 copy_rates_from_pos failed: {code} {text}", retryable=True)
        return rates

    def window(self, bar_time: int, count: int):
        import pandas as pd

        from tradeforge.data.validate import validate_ohlcv

        rates = self._rates(1, count + 50)
        times = pd.to_datetime(rates["time"] * 1_000_000_000 - self.offset_ns, utc=True)
        point = float(self.mt5.symbol_info(self.symbol).point)
        frame = pd.DataFrame(
            {
                "open": rates["open"],
                "high": rates["high"],
                "low": rates["low"],
                "close": rates["close"],
                "volume": rates["tick_volume"].astype("float64"),
                "spread": rates["spread"].astype("float64") * point,
            },
            index=pd.DatetimeIndex(times, name="time"),
        )
        frame = validate_ohlcv(frame, f"mt5 {self.symbol}")
        frame = frame[frame.index.as_unit("ns").asi8 <= bar_time]
        return frame.iloc[-count:]

    def events(self, after: tuple[int, int] | None = None):
        from tradeforge.live.feeds import Bar, Tick

        step = self.timeframe.seconds * 1_000_000_000
        last_tick = None
        last_bar = None
        polls = 0
        while self.max_polls is None or polls < self.max_polls:
            polls += 1
            rates = self._rates(1, 1)
            if len(rates):
                r = rates[-1]
                t = int(r["time"]) * 1_000_000_000 - self.offset_ns
                if t != last_bar:
                    last_bar = t
                    point = float(self.mt5.symbol_info(self.symbol).point)
                    bar = Bar(
                        self.symbol, t, t + step, float(r["open"]), float(r["high"]),
                        float(r["low"]), float(r["close"]), float(r["spread"]) * point,
                        self._index,
                    )  # fmt: skip
                    self._index += 1
                    if after is None or bar.key > tuple(after):
                        yield bar
            tick = self.mt5.symbol_info_tick(self.symbol)
            if tick is not None and tick.time_msc != last_tick:
                last_tick = tick.time_msc
                ev = Tick(
                    self.symbol,
                    int(tick.time_msc) * 1_000_000 - self.offset_ns,
                    float(tick.bid),
                    float(tick.ask),
                )
                if after is None or ev.key > tuple(after):
                    yield ev
            self.sleep(self.poll)
