"""Trading functions for the `FakeMT5` stand-in: ``order_send``, ``positions_get``,
``orders_get``, ``history_deals_get`` (docs/protocols.md §Trading), on a hedging account.

Kept in its own module as a subclass so the data-side fake stays untouched. Market deals fill
at the current tick (``ticks[symbol]`` or the symbol's bid/ask); ``queue_retcode`` makes the
next ``order_send`` answer with a given return code instead of executing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tests.support.fake_mt5 import FakeMT5


class TradePosition(NamedTuple):
    ticket: int
    time: int
    time_msc: int
    time_update: int
    time_update_msc: int
    type: int
    magic: int
    identifier: int
    reason: int
    volume: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    swap: float
    profit: float
    symbol: str
    comment: str
    external_id: str


class TradeDeal(NamedTuple):
    ticket: int
    order: int
    time: int
    time_msc: int
    type: int
    entry: int
    magic: int
    position_id: int
    reason: int
    volume: float
    price: float
    commission: float
    swap: float
    profit: float
    fee: float
    symbol: str
    comment: str
    external_id: str


class OrderSendResult(NamedTuple):
    retcode: int
    deal: int
    order: int
    volume: float
    price: float
    bid: float
    ask: float
    comment: str
    request_id: int
    retcode_external: int
    request: dict


class FakeMT5Trading(FakeMT5):
    TRADE_RETCODE_PLACED = 10008
    TRADE_RETCODE_REQUOTE = 10004
    TRADE_RETCODE_NO_MONEY = 10019
    TRADE_RETCODE_NO_CHANGES = 10025
    TRADE_RETCODE_POSITION_CLOSED = 10036
    TRADE_RETCODE_INVALID_VOLUME = 10014

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.open_positions: dict[int, TradePosition] = {}
        self.deals: list[TradeDeal] = []
        self.next_ticket = 1000
        self.retcode_queue: list[int] = []
        self.commission_per_lot = 0.0
        self.clock_msc = 1_700_000_000_000

    def queue_retcode(self, code: int) -> None:
        self.retcode_queue.append(code)

    def _quote(self, symbol: str) -> tuple[float, float, int]:
        tick = self.ticks.get(symbol)
        if tick is not None:
            return tick.bid, tick.ask, tick.time_msc
        info = self.symbols[symbol]
        return info.bid, info.ask, self.clock_msc

    def _result(self, code: int, request: dict, **kw: Any) -> OrderSendResult:
        base = dict(deal=0, order=0, volume=0.0, price=0.0, bid=0.0, ask=0.0, comment="",
                    request_id=1, retcode_external=0)  # fmt: skip
        base.update(kw)
        return OrderSendResult(retcode=code, request=request, **base)

    def order_send(self, request: dict) -> OrderSendResult | None:
        if not self._enter("order_send", request):
            return None
        if self.retcode_queue:
            return self._result(self.retcode_queue.pop(0), request)
        action = request.get("action")
        if action == self.TRADE_ACTION_SLTP:
            pos = self.open_positions.get(int(request["position"]))
            if pos is None:
                return self._result(self.TRADE_RETCODE_POSITION_CLOSED, request)
            new = pos._replace(sl=float(request.get("sl", 0.0)), tp=float(request.get("tp", 0.0)))
            if new == pos:
                return self._result(self.TRADE_RETCODE_NO_CHANGES, request)
            self.open_positions[pos.ticket] = new
            return self._result(self.TRADE_RETCODE_DONE, request, order=pos.ticket)
        if action != self.TRADE_ACTION_DEAL:
            self._error(self.RES_E_INVALID_PARAMS, "Invalid params")
            return None
        symbol = request["symbol"]
        if symbol not in self.symbols:
            self._error(self.RES_E_NOT_FOUND, f"Symbol {symbol} not found")
            return None
        volume = float(request["volume"])
        info = self.symbols[symbol]
        steps = volume / info.volume_step
        if volume < info.volume_min or abs(steps - round(steps)) > 1e-6:
            return self._result(self.TRADE_RETCODE_INVALID_VOLUME, request)
        bid, ask, msc = self._quote(symbol)
        buy = request["type"] == self.ORDER_TYPE_BUY
        price = ask if buy else bid
        self.next_ticket += 1
        ticket = self.next_ticket
        commission = -self.commission_per_lot * volume
        if "position" in request:  # close (part of) a position
            pos = self.open_positions.get(int(request["position"]))
            if pos is None:
                return self._result(self.TRADE_RETCODE_POSITION_CLOSED, request)
            side = 1 if pos.type == 0 else -1
            volume = min(volume, pos.volume)
            profit = side * (price - pos.price_open) * volume * info.trade_contract_size
            self.deals.append(TradeDeal(
                ticket, ticket, msc // 1000, msc, request["type"], 1, request.get("magic", 0),
                pos.ticket, 3, volume, price, commission, 0.0, profit, 0.0, symbol,
                request.get("comment", ""), "",
            ))  # fmt: skip
            left = round(pos.volume - volume, 8)
            if left <= 0:
                del self.open_positions[pos.ticket]
            else:
                self.open_positions[pos.ticket] = pos._replace(volume=left)
        else:
            self.open_positions[ticket] = TradePosition(
                ticket, msc // 1000, msc, msc // 1000, msc, 0 if buy else 1,
                request.get("magic", 0), ticket, 3, volume, price, float(request.get("sl", 0.0)),
                float(request.get("tp", 0.0)), price, 0.0, 0.0, symbol,
                request.get("comment", ""), "",
            )  # fmt: skip
            self.deals.append(TradeDeal(
                ticket, ticket, msc // 1000, msc, request["type"], 0, request.get("magic", 0),
                ticket, 3, volume, price, commission, 0.0, 0.0, 0.0, symbol,
                request.get("comment", ""), "",
            ))  # fmt: skip
        return self._result(
            self.TRADE_RETCODE_DONE, request, deal=ticket, order=ticket, volume=volume,
            price=price, bid=bid, ask=ask,
        )  # fmt: skip

    def positions_get(self, symbol: str | None = None, group: str | None = None,
                      ticket: int | None = None) -> tuple | None:  # fmt: skip
        if not self._enter("positions_get", symbol, group, ticket):
            return None
        out = [
            p for p in self.open_positions.values()
            if (symbol is None or p.symbol == symbol) and (ticket is None or p.ticket == ticket)
        ]  # fmt: skip
        return tuple(sorted(out))

    def orders_get(self, symbol: str | None = None, group: str | None = None,
                   ticket: int | None = None) -> tuple | None:  # fmt: skip
        if not self._enter("orders_get", symbol, group, ticket):
            return None
        return ()

    def history_deals_get(self, date_from: Any = None, date_to: Any = None, group: str | None = None,
                          ticket: int | None = None, position: int | None = None) -> tuple | None:  # fmt: skip
        if not self._enter("history_deals_get", date_from, date_to, group, ticket, position):
            return None
        out = self.deals
        if position is not None:
            out = [d for d in out if d.position_id == position]
        elif ticket is not None:
            out = [d for d in out if d.order == ticket]
        return tuple(out)

    def stop_out(self, ticket: int, price: float) -> None:
        """The server closes a position at ``price`` (its stop), as while the engine is away."""
        pos = self.open_positions.pop(ticket)
        info = self.symbols[pos.symbol]
        side = 1 if pos.type == 0 else -1
        self.next_ticket += 1
        self.deals.append(TradeDeal(
            self.next_ticket, self.next_ticket, 0, self.clock_msc, 1 if side > 0 else 0, 1,
            pos.magic, ticket, 4, pos.volume, price, 0.0, 0.0,
            side * (price - pos.price_open) * pos.volume * info.trade_contract_size, 0.0,
            pos.symbol, "[sl]", "",
        ))  # fmt: skip
