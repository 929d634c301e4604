"""Trading functions for the `FakeMT5` stand-in: ``order_send``, ``positions_get``,
``orders_get``, ``history_deals_get``, ``history_orders_get`` (docs/protocols.md §Trading), on a
hedging account.

Kept in its own module as a subclass so the data-side fake stays untouched. It refuses what a
real terminal refuses, with the real return codes: volume off ``volume_step`` or outside
min/max (10014), a filling mode the symbol does not allow (10030), stops closer to the price
than ``trade_stops_level`` (10016), a pending price on the wrong side or inside the stops
level (10015), an expiry type the symbol does not allow or already past (10022), a stop change
while the price is inside ``trade_freeze_level`` of the current stop (10029).

Market deals fill at the current quote (``ticks[symbol]`` or the symbol's bid/ask).
`set_quote` moves the market: resting limit/stop orders fill when the quote reaches them,
expire at their ``expiration`` (server seconds), and position stops / targets fire as on a
server. ``queue_retcode`` makes the next ``order_send`` answer with a given return code.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tests.support.fake_mt5 import FakeMT5, Tick


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


class TradeOrder(NamedTuple):
    ticket: int
    time_setup: int
    time_setup_msc: int
    time_done: int
    time_done_msc: int
    time_expiration: int
    type: int
    type_time: int
    type_filling: int
    state: int
    magic: int
    position_id: int
    position_by_id: int
    reason: int
    volume_initial: float
    volume_current: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    price_stoplimit: float
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
    TRADE_RETCODE_INVALID = 10013
    TRADE_RETCODE_INVALID_VOLUME = 10014
    TRADE_RETCODE_INVALID_PRICE = 10015
    TRADE_RETCODE_INVALID_STOPS = 10016
    TRADE_RETCODE_NO_MONEY = 10019
    TRADE_RETCODE_INVALID_EXPIRATION = 10022
    TRADE_RETCODE_NO_CHANGES = 10025
    TRADE_RETCODE_FROZEN = 10029
    TRADE_RETCODE_INVALID_FILL = 10030
    TRADE_RETCODE_POSITION_CLOSED = 10036
    ORDER_STATE_PLACED = 1
    ORDER_STATE_CANCELED = 2
    ORDER_STATE_FILLED = 4
    ORDER_STATE_EXPIRED = 6

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.open_positions: dict[int, TradePosition] = {}
        self.pending_orders: dict[int, TradeOrder] = {}
        self.done_orders: list[TradeOrder] = []
        self.deals: list[TradeDeal] = []
        self.next_ticket = 1000
        self.retcode_queue: list[int] = []
        self.commission_per_lot = 0.0
        self.clock_msc = 1_700_000_000_000
        self.after_send: Any = None  # called after each order_send (tests move the market)

    def queue_retcode(self, code: int) -> None:
        self.retcode_queue.append(code)

    # ------------------------------------------------------------------ market
    def _quote(self, symbol: str) -> tuple[float, float, int]:
        tick = self.ticks.get(symbol)
        if tick is not None:
            return tick.bid, tick.ask, tick.time_msc
        info = self.symbols[symbol]
        return info.bid, info.ask, self.clock_msc

    def set_quote(self, symbol: str, bid: float, ask: float, time_msc: int) -> None:
        """A new quote (server clock): resting orders fill or expire, stops and targets fire."""
        self.add_ticks(symbol, [(time_msc, bid, ask)])
        for order in sorted(self.pending_orders.values()):
            if order.symbol != symbol:
                continue
            if (
                order.type_time == self.ORDER_TIME_SPECIFIED
                and time_msc // 1000 >= order.time_expiration
            ):
                self._finish(order, self.ORDER_STATE_EXPIRED, time_msc)
            elif self._reached(order, bid, ask):
                self._finish(order, self.ORDER_STATE_FILLED, time_msc)
                self._open(order.symbol, order.type % 2 == 0, order.volume_current,
                           order.price_open, order.sl, order.tp, order.magic, order.comment,
                           time_msc, order.ticket)  # fmt: skip
        for pos in sorted(self.open_positions.values()):
            if pos.symbol != symbol:
                continue
            buy = pos.type == 0
            price = bid if buy else ask
            if pos.sl and (price <= pos.sl if buy else price >= pos.sl):
                self._close(
                    pos, pos.volume, pos.sl, 1 if buy else 0, pos.magic, "[sl]", time_msc, 4
                )
            elif pos.tp and (price >= pos.tp if buy else price <= pos.tp):
                self._close(
                    pos, pos.volume, pos.tp, 1 if buy else 0, pos.magic, "[tp]", time_msc, 5
                )

    def _reached(self, order: TradeOrder, bid: float, ask: float) -> bool:
        return {
            self.ORDER_TYPE_BUY_LIMIT: ask <= order.price_open,
            self.ORDER_TYPE_SELL_LIMIT: bid >= order.price_open,
            self.ORDER_TYPE_BUY_STOP: ask >= order.price_open,
            self.ORDER_TYPE_SELL_STOP: bid <= order.price_open,
        }[order.type]

    def _finish(self, order: TradeOrder, state: int, msc: int) -> None:
        del self.pending_orders[order.ticket]
        self.done_orders.append(
            order._replace(state=state, time_done=msc // 1000, time_done_msc=msc)
        )

    def _open(self, symbol: str, buy: bool, volume: float, price: float, sl: float, tp: float,
              magic: int, comment: str, msc: int, order: int) -> int:  # fmt: skip
        """A position (its ticket is the opening order's, as on a real server); the deal."""
        self.open_positions[order] = TradePosition(
            order, msc // 1000, msc, msc // 1000, msc, 0 if buy else 1, magic, order, 3,
            volume, price, sl, tp, price, 0.0, 0.0, symbol, comment, "",
        )  # fmt: skip
        self.next_ticket += 1
        self.deals.append(TradeDeal(
            self.next_ticket, order, msc // 1000, msc, 0 if buy else 1, 0, magic, order, 3,
            volume, price, -self.commission_per_lot * volume, 0.0, 0.0, 0.0, symbol, comment, "",
        ))  # fmt: skip
        return self.next_ticket

    def _close(self, pos: TradePosition, volume: float, price: float, deal_type: int,
               magic: int, comment: str, msc: int, reason: int = 3) -> int:  # fmt: skip
        info = self.symbols[pos.symbol]
        side = 1 if pos.type == 0 else -1
        self.next_ticket += 1
        profit = side * (price - pos.price_open) * volume * info.trade_contract_size
        self.deals.append(TradeDeal(
            self.next_ticket, self.next_ticket, msc // 1000, msc, deal_type, 1, magic,
            pos.ticket, reason, volume, price, -self.commission_per_lot * volume, 0.0, profit,
            0.0, pos.symbol, comment, "",
        ))  # fmt: skip
        left = round(pos.volume - volume, 8)
        if left <= 0:
            del self.open_positions[pos.ticket]
        else:
            self.open_positions[pos.ticket] = pos._replace(volume=left)
        return self.next_ticket

    # ------------------------------------------------------------------ checks
    def _result(self, code: int, request: dict, **kw: Any) -> OrderSendResult:
        base = dict(deal=0, order=0, volume=0.0, price=0.0, bid=0.0, ask=0.0, comment="",
                    request_id=1, retcode_external=0)  # fmt: skip
        base.update(kw)
        return OrderSendResult(retcode=code, request=request, **base)

    def _volume_ok(self, info: Any, volume: float) -> bool:
        steps = volume / info.volume_step
        return (
            info.volume_min - 1e-12 <= volume <= info.volume_max + 1e-12
            and abs(steps - round(steps)) <= 1e-6
        )

    def _stops_ok(self, info: Any, buy: bool, ref_bid: float, ref_ask: float, sl: float,
                  tp: float) -> bool:  # fmt: skip
        """SL/TP at least ``trade_stops_level`` points from the price that would close."""
        gap = info.trade_stops_level * info.point - 1e-12
        if buy:  # a buy closes at the bid
            return (not sl or ref_bid - sl >= gap) and (not tp or tp - ref_bid >= gap)
        return (not sl or sl - ref_ask >= gap) and (not tp or ref_ask - tp >= gap)

    def _filling_ok(self, info: Any, filling: int, pending: bool) -> bool:
        mask = int(info.filling_mode)
        if filling == self.ORDER_FILLING_FOK:
            return bool(mask & 1)
        if filling == self.ORDER_FILLING_IOC:
            return bool(mask & 2)
        return filling == self.ORDER_FILLING_RETURN and (pending or not mask & 3)

    # ------------------------------------------------------------------ the package's API
    def order_send(self, request: dict) -> OrderSendResult | None:
        if not self._enter("order_send", request):
            return None
        try:
            if self.retcode_queue:
                return self._result(self.retcode_queue.pop(0), request)
            return self._execute(request)
        finally:
            if self.after_send is not None:
                self.after_send(request)

    def _execute(self, request: dict) -> OrderSendResult | None:
        action = request.get("action")
        if action == self.TRADE_ACTION_SLTP:
            return self._modify(request)
        if action == self.TRADE_ACTION_REMOVE:
            order = self.pending_orders.get(int(request.get("order", 0)))
            if order is None:
                return self._result(self.TRADE_RETCODE_INVALID, request)
            self._finish(order, self.ORDER_STATE_CANCELED, self._quote(order.symbol)[2])
            return self._result(self.TRADE_RETCODE_DONE, request, order=order.ticket)
        if action not in (self.TRADE_ACTION_DEAL, self.TRADE_ACTION_PENDING):
            self._error(self.RES_E_INVALID_PARAMS, "Invalid params")
            return None
        symbol = request["symbol"]
        if symbol not in self.symbols:
            self._error(self.RES_E_NOT_FOUND, f"Symbol {symbol} not found")
            return None
        info = self.symbols[symbol]
        volume = float(request["volume"])
        if not self._volume_ok(info, volume):
            return self._result(self.TRADE_RETCODE_INVALID_VOLUME, request)
        pending = action == self.TRADE_ACTION_PENDING
        if not self._filling_ok(info, int(request.get("type_filling", 0)), pending):
            return self._result(self.TRADE_RETCODE_INVALID_FILL, request)
        bid, ask, msc = self._quote(symbol)
        sl, tp = float(request.get("sl", 0.0)), float(request.get("tp", 0.0))
        if pending:
            return self._place_pending(request, info, bid, ask, msc, volume, sl, tp)
        buy = request["type"] == self.ORDER_TYPE_BUY
        price = ask if buy else bid
        if "position" in request:  # close (part of) a position
            pos = self.open_positions.get(int(request["position"]))
            if pos is None:
                return self._result(self.TRADE_RETCODE_POSITION_CLOSED, request)
            if volume > pos.volume + 1e-9 or (pos.type == 0) == buy:
                return self._result(self.TRADE_RETCODE_INVALID_VOLUME, request)
            ticket = self._close(pos, volume, price, request["type"], request.get("magic", 0),
                                 request.get("comment", ""), msc)  # fmt: skip
        else:
            if not self._stops_ok(info, buy, bid, ask, sl, tp):
                return self._result(self.TRADE_RETCODE_INVALID_STOPS, request)
            self.next_ticket += 1
            order = self.next_ticket
            deal = self._open(symbol, buy, volume, price, sl, tp, request.get("magic", 0),
                              request.get("comment", ""), msc, order)  # fmt: skip
            return self._result(
                self.TRADE_RETCODE_DONE, request, deal=deal, order=order, volume=volume,
                price=price, bid=bid, ask=ask,
            )  # fmt: skip
        return self._result(
            self.TRADE_RETCODE_DONE, request, deal=ticket, order=ticket, volume=volume,
            price=price, bid=bid, ask=ask,
        )  # fmt: skip

    def _place_pending(self, request: dict, info: Any, bid: float, ask: float, msc: int,
                       volume: float, sl: float, tp: float) -> OrderSendResult:  # fmt: skip
        kind = int(request["type"])
        price = float(request.get("price", 0.0))
        gap = info.trade_stops_level * info.point - 1e-12
        valid = {
            self.ORDER_TYPE_BUY_LIMIT: ask - price >= max(gap, 1e-12),
            self.ORDER_TYPE_SELL_LIMIT: price - bid >= max(gap, 1e-12),
            self.ORDER_TYPE_BUY_STOP: price - ask >= max(gap, 1e-12),
            self.ORDER_TYPE_SELL_STOP: bid - price >= max(gap, 1e-12),
        }.get(kind)
        if not valid:
            return self._result(self.TRADE_RETCODE_INVALID_PRICE, request)
        buy = kind in (self.ORDER_TYPE_BUY_LIMIT, self.ORDER_TYPE_BUY_STOP)
        if not self._stops_ok(info, buy, price, price, sl, tp):
            return self._result(self.TRADE_RETCODE_INVALID_STOPS, request)
        type_time = int(request.get("type_time", self.ORDER_TIME_GTC))
        expiration = int(request.get("expiration", 0) or 0)
        if not info.expiration_mode & (1 << type_time) or (
            type_time == self.ORDER_TIME_SPECIFIED and expiration <= msc // 1000
        ):
            return self._result(self.TRADE_RETCODE_INVALID_EXPIRATION, request)
        self.next_ticket += 1
        ticket = self.next_ticket
        self.pending_orders[ticket] = TradeOrder(
            ticket, msc // 1000, msc, 0, 0, expiration, kind, type_time,
            int(request.get("type_filling", 0)), self.ORDER_STATE_PLACED,
            request.get("magic", 0), 0, 0, 3, volume, volume, price, sl, tp,
            bid if buy else ask, 0.0, request["symbol"], request.get("comment", ""), "",
        )  # fmt: skip
        return self._result(self.TRADE_RETCODE_PLACED, request, order=ticket, volume=volume,
                            price=price, bid=bid, ask=ask)  # fmt: skip

    def _modify(self, request: dict) -> OrderSendResult:
        pos = self.open_positions.get(int(request["position"]))
        if pos is None:
            return self._result(self.TRADE_RETCODE_POSITION_CLOSED, request)
        new = pos._replace(sl=float(request.get("sl", 0.0)), tp=float(request.get("tp", 0.0)))
        if new == pos:
            return self._result(self.TRADE_RETCODE_NO_CHANGES, request)
        info = self.symbols[pos.symbol]
        bid, ask, _ = self._quote(pos.symbol)
        buy = pos.type == 0
        price = bid if buy else ask
        freeze = info.trade_freeze_level * info.point
        if freeze and any(level and abs(price - level) <= freeze for level in (pos.sl, pos.tp)):
            return self._result(self.TRADE_RETCODE_FROZEN, request)
        if not self._stops_ok(info, buy, bid, ask, new.sl, new.tp):
            return self._result(self.TRADE_RETCODE_INVALID_STOPS, request)
        self.open_positions[pos.ticket] = new
        return self._result(self.TRADE_RETCODE_DONE, request, order=pos.ticket)

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
        out = [
            o for o in self.pending_orders.values()
            if (symbol is None or o.symbol == symbol) and (ticket is None or o.ticket == ticket)
        ]  # fmt: skip
        return tuple(sorted(out))

    def history_orders_get(self, date_from: Any = None, date_to: Any = None,
                           group: str | None = None, ticket: int | None = None,
                           position: int | None = None) -> tuple | None:  # fmt: skip
        if not self._enter("history_orders_get", date_from, date_to, group, ticket, position):
            return None
        out = self.done_orders
        if ticket is not None:
            out = [o for o in out if o.ticket == ticket]
        return tuple(out)

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
        pos = self.open_positions[ticket]
        self._close(pos, pos.volume, price, 1 if pos.type == 0 else 0, pos.magic, "[sl]",
                    self.clock_msc, 4)  # fmt: skip


__all__ = ["FakeMT5Trading", "OrderSendResult", "TradeDeal", "TradeOrder", "TradePosition", "Tick"]
