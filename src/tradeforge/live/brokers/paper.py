"""`PaperBroker`: a simulated exchange for dry-runs, persisted so a restarted run sees it again.

Fills follow the backtest's execution model (`tradeforge.trading.execution.ExecutionModel`):

* a market order fills at the **first tick stamped at or after the time it was placed** — buys at the ask plus
  slippage, sells at the bid minus slippage (so an order sent at a bar's close fills at the
  next bar's open, like the backtest's "signal on bar t fills at t+1's open");
* a ``limit`` / ``stop`` entry order rests until the engine cancels it and fills through the
  backtest's own `tradeforge.trading.rules.entry_fill`: the first quote of a bar (and the
  first quote the order sees) is that bar's *open* — a gap through the level fills at the
  quote (stop orders with slippage); later quotes continue the price path from the previous
  quote, so a level crossed between two quotes fills at the level (stop: plus slippage), as
  inside a backtest bar. Results say whether the fill was at the open (``at_open``);
* closes at market fill at the bid (long) / ask (short) with adverse slippage; a close that
  names a ``price`` is a resting stop/target order executing at the level the shared exit
  rules computed (``simulated = True`` tells the engine it may do that);
* slippage is the model's value for the bar the quote belongs to (`ExecutionModel.slippage_at`:
  ``fixed``; ``random`` keyed by (seed, symbol, bar open time) — the same number the backtest
  draws for that bar, and the same again when a crashed run redoes the event; ``atr`` from
  the ATR the engine passes with the quote, known at the previous bar's close);
* commission is charged per lot per side on every deal; profit uses the backtest's unit
  ``lot_step * contract_size`` per step so both book identical money;
* swap (money per lot per night) accrues on open positions when the UTC date of the quote's bar
  changes — once per date, however often a quote is re-observed — and is paid with the next
  closing deal (`Deal.swap`), as the backtest books it with the next exit leg.

The whole broker state is one checksummed JSON document written atomically after every
change; client ids make `place` and `close` idempotent.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.live.brokers.base import (
    AccountInfo,
    BrokerEvent,
    BrokerPosition,
    Deal,
    OrderRejected,
    OrderRequest,
    OrderResult,
    PositionClosedError,
)
from tradeforge.live.persist import read_document, write_document
from tradeforge.strategy.signals import ENTRY_TYPES
from tradeforge.trading.execution import ExecutionModel
from tradeforge.trading.rules import entry_fill, market_exit_price
from tradeforge.trading.steps import leg_quote, swap_quote

PAPER_FILE = "paper_broker.json"
NS_DAY = 86_400 * 1_000_000_000
_POSITION_FIELDS = tuple(f.name for f in fields(BrokerPosition))


class PaperBroker:
    """Simulated broker; ``path`` is its state file (None: in memory only, for tests)."""

    name = "paper"
    simulated = True

    def __init__(
        self,
        path: str | Path | None,
        *,
        initial_balance: float = 100_000.0,
        execution: ExecutionModel | None = None,
        currency: str = "USD",
        leverage: float = 100.0,
    ) -> None:
        self.execution = execution or ExecutionModel()
        if not leverage > 0:
            raise ConfigError("leverage must be > 0")
        if not initial_balance > 0:
            raise ConfigError(f"initial balance must be > 0, got {initial_balance}")
        self.path = Path(path) if path is not None else None
        self.leverage = float(leverage)
        self._events: list[BrokerEvent] = []
        if self.path is not None and self.path.exists():
            self.doc = read_document(self.path)  # StateError when corrupt: never guess
            if not isinstance(self.doc, dict) or self.doc.get("kind") != "paper_broker":
                raise StateError(f"{self.path}: not a paper broker state file")
        else:
            self.doc = {
                "kind": "paper_broker",
                "currency": currency,
                "balance": float(initial_balance),
                "next_ticket": 1,
                "clock": 0,
                "ticks": {},
                "positions": {},
                "orders": {},
                "deals": {},
            }
            self._save()

    # -- persistence ---------------------------------------------------------------------------
    def _save(self) -> None:
        if self.path is not None:
            write_document(self.path, self.doc)

    # -- market data (the dry-run feed drives the simulated exchange) ----------------------------
    def set_clock(self, time_ns: int) -> None:
        """Advance the exchange clock (orders placed now fill on a later tick)."""
        self.doc["clock"] = max(int(self.doc["clock"]), int(time_ns))

    def observe(
        self,
        symbol: str,
        time_ns: int,
        bid: float,
        ask: float,
        *,
        bar_time: int | None = None,
        atr: float | None = None,
    ) -> list[OrderResult]:
        """A quote of the bar opened at ``bar_time`` (default: the quote's own time): accrue
        swap on a new UTC date, then fill the pending orders placed at or before ``time_ns``
        that this quote executes; returns the fills. ``atr``: the ATR known at the previous
        bar's close (``atr`` slippage)."""
        self.set_clock(time_ns)
        inst = get_instrument(symbol)
        bar = int(time_ns if bar_time is None else bar_time)
        prev = self.doc["ticks"].get(symbol)
        opens_bar = prev is None or prev.get("bar") != bar
        slip = self.execution.slippage_at(inst, symbol, bar, atr)
        tick = {"time": int(time_ns), "bid": bid, "ask": ask, "bar": bar, "slip": slip}
        self.doc["ticks"][symbol] = tick  # saved with the next change (the engine restores it)
        changed = self._accrue_swap(symbol, inst, bar // NS_DAY)
        ask = self._spread_adj(inst, bid, ask)
        fills = []
        for cid in sorted(self.doc["orders"]):
            order = self.doc["orders"][cid]
            if order["status"] != "pending" or order["symbol"] != symbol:
                continue
            if order["placed"] > time_ns:
                continue
            kind = ENTRY_TYPES.index(order.get("type", "market"))
            if kind == 0 or opens_bar or not order.get("seen"):
                o = h = lo = bid  # a bar's open (or the order's first quote): gaps fill here
            else:
                o, h, lo = prev["bid"], max(prev["bid"], bid), min(prev["bid"], bid)
            level = order.get("price") or 0.0
            price, at_open = entry_fill(order["side"], kind, level, o, h, lo, ask - bid, slip)
            if not order.get("seen"):
                order["seen"] = True
                changed = True
            if price == price:
                fills.append(self._fill(cid, order, time_ns, float(price), bool(at_open)))
        if fills or changed:
            self._save()
        return fills

    def _accrue_swap(self, symbol: str, inst: Instrument, day: int) -> bool:
        """Swap for every night since each position's last accrual day (idempotent)."""
        changed = False
        for p in self.doc["positions"].values():
            if p["symbol"] != symbol or day <= p.get("swap_day", day):
                continue
            ex = self.execution
            steps = float(round(p["lots"] / inst.lot_step))
            p["swap"] = p.get("swap", 0.0) + swap_quote(
                float(p["side"]), ex.swap_long, ex.swap_short, inst.lot_step, steps,
                day - p["swap_day"],
            )  # fmt: skip
            p["swap_day"] = day
            changed = True
        return changed

    def _slip(self, symbol: str) -> float:
        tick = self.doc["ticks"].get(symbol)
        return 0.0 if tick is None else float(tick.get("slip", 0.0))

    def _spread_adj(self, inst: Instrument, bid: float, ask: float) -> float:
        """Ask to use: the quote's, or bid + the model's fixed spread."""
        if self.execution.spread == "data":
            return ask
        return bid + float(self.execution.spread) * inst.pip_size

    def _fill(
        self, cid: str, order: dict, time_ns: int, price: float, at_open: bool
    ) -> OrderResult:
        commission = self.execution.commission * order["lots"]
        ticket = int(self.doc["next_ticket"])
        self.doc["next_ticket"] = ticket + 1
        self.doc["balance"] -= commission
        self.doc["positions"][str(ticket)] = {
            "ticket": ticket,
            "symbol": order["symbol"],
            "side": order["side"],
            "lots": order["lots"],
            "price_open": price,
            "stop": order.get("stop"),
            "target": order.get("target"),
            "client_id": cid,
            "time": int(time_ns),
            "swap": 0.0,
            "swap_day": int(self.doc["ticks"][order["symbol"]]["bar"]) // NS_DAY,
        }
        order.update(
            status="filled", ticket=ticket, price=price, time=int(time_ns), at_open=at_open
        )
        order["commission"] = commission
        self._events.append(BrokerEvent("fill", cid, {"ticket": ticket, "price": price}))
        return self._result(cid, order)

    # -- queries -----------------------------------------------------------------------------
    def _tick(self, symbol: str) -> dict[str, Any]:
        tick = self.doc["ticks"].get(symbol)
        if tick is None:
            raise OrderRejected(f"paper broker: no quote for {symbol} yet", code=10018)
        return tick

    def account(self) -> AccountInfo:
        balance = float(self.doc["balance"])
        equity = balance
        margin = 0.0
        for p in self.doc["positions"].values():
            inst = get_instrument(p["symbol"])
            tick = self.doc["ticks"].get(p["symbol"])
            if tick is None:
                continue
            mark = (
                tick["bid"] if p["side"] > 0 else self._spread_adj(inst, tick["bid"], tick["ask"])
            )
            steps = round(p["lots"] / inst.lot_step)
            equity += p["side"] * (mark - p["price_open"]) * steps * inst.unit
            margin += p["lots"] * inst.contract_size * p["price_open"] / self.leverage
        return AccountInfo(balance, equity, equity - margin, self.doc["currency"], self.leverage)

    def positions(self, symbol: str | None = None) -> list[BrokerPosition]:
        out = []
        for p in self.doc["positions"].values():
            if symbol is None or p["symbol"] == symbol:
                out.append(BrokerPosition(**{k: p[k] for k in _POSITION_FIELDS if k in p}))
        return sorted(out, key=lambda p: p.ticket)

    @staticmethod
    def _result(cid: str, o: dict[str, Any]) -> OrderResult:
        return OrderResult(
            client_id=cid,
            status=o["status"],
            ticket=o.get("ticket"),
            price=o.get("price"),
            lots=o["lots"],
            time=o.get("time"),
            commission=o.get("commission", 0.0),
            reason=o.get("reason", ""),
            at_open=o.get("at_open", True),
        )

    def orders(self, symbol: str | None = None) -> list[OrderResult]:
        return [
            self._result(cid, o)
            for cid, o in sorted(self.doc["orders"].items())
            if o["status"] == "pending" and (symbol is None or o["symbol"] == symbol)
        ]

    def order_status(self, client_id: str) -> OrderResult | None:
        o = self.doc["orders"].get(client_id)
        return None if o is None else self._result(client_id, o)

    def deal(self, client_id: str) -> Deal | None:
        d = self.doc["deals"].get(client_id)
        return None if d is None else Deal(**d)

    def deals_for(self, ticket: int) -> list[Deal]:
        return [Deal(**d) for d in self.doc["deals"].values() if d["ticket"] == ticket]

    def events(self) -> list[BrokerEvent]:
        out, self._events = self._events, []
        return out

    # -- trading -------------------------------------------------------------------------------
    def place(self, request: OrderRequest) -> OrderResult:
        known = self.doc["orders"].get(request.client_id)
        if known is not None:  # resubmission after a crash: the original answer
            return self._result(request.client_id, known)
        inst = get_instrument(request.symbol)
        order = {
            "symbol": request.symbol,
            "side": int(request.side),
            "lots": float(request.lots),
            "stop": request.stop,
            "target": request.target,
            "placed": int(self.doc["clock"]),
            "status": "pending",
            "type": request.order_type,
            "price": request.price,
        }
        steps = request.lots / inst.lot_step
        problem = ""
        if request.order_type not in ENTRY_TYPES:
            problem = f"unknown order type {request.order_type!r}"
        elif request.order_type != "market" and not (request.price or 0) > 0:
            problem = f"{request.order_type} order needs a price > 0"
        elif request.side not in (1, -1):
            problem = "side must be +1 or -1"
        elif request.lots < inst.min_lot - 1e-12 or abs(steps - round(steps)) > 1e-6:
            problem = f"invalid volume {request.lots} (min {inst.min_lot}, step {inst.lot_step})"
        elif request.lots > inst.max_lot + 1e-12:
            problem = f"volume {request.lots} above the maximum {inst.max_lot}"
        else:
            tick = self.doc["ticks"].get(request.symbol)
            if tick is not None:
                need = request.lots * inst.contract_size * tick["ask"] / self.leverage
                if need > self.account().margin_free:
                    problem = f"not enough free margin for {request.lots} lots"
        if problem:
            order.update(status="rejected", reason=problem)
        self.doc["orders"][request.client_id] = order
        self._save()
        if problem:
            self._events.append(BrokerEvent("reject", request.client_id, {"reason": problem}))
            raise OrderRejected(f"paper broker rejected {request.client_id}: {problem}")
        return self._result(request.client_id, order)

    def cancel(self, client_id: str) -> None:
        o = self.doc["orders"].get(client_id)
        if o is not None and o["status"] == "pending":
            o["status"] = "cancelled"
            self._save()

    def modify(self, ticket: int, stop: float | None, target: float | None = None) -> None:
        p = self.doc["positions"].get(str(ticket))
        if p is None:
            raise PositionClosedError(f"paper broker: position {ticket} is closed", code=10036)
        if p["stop"] == stop and p["target"] == target:
            return
        p["stop"], p["target"] = stop, target
        self._save()
        self._events.append(BrokerEvent("modify", p["client_id"], {"stop": stop}))

    def close(
        self,
        ticket: int,
        lots: float | None,
        client_id: str,
        price: float | None = None,
        reason: str = "",
    ) -> Deal:
        known = self.doc["deals"].get(client_id)
        if known is not None:
            return Deal(**known)
        p = self.doc["positions"].get(str(ticket))
        if p is None:
            raise PositionClosedError(f"paper broker: position {ticket} is closed", code=10036)
        inst = get_instrument(p["symbol"])
        lots = p["lots"] if lots is None else float(lots)
        if lots > p["lots"] + 1e-9 or lots <= 0:
            raise OrderRejected(f"paper broker: cannot close {lots} of {p['lots']} lots")
        tick = self._tick(p["symbol"])
        if price is None:
            spread = self._spread_adj(inst, tick["bid"], tick["ask"]) - tick["bid"]
            side = float(p["side"])
            price = market_exit_price(side, tick["bid"], spread, self._slip(p["symbol"]))
        steps = float(round(lots / inst.lot_step))
        profit, _ = leg_quote(float(p["side"]), p["price_open"], price, steps, inst.unit, 0.0)
        commission = self.execution.commission * lots
        swap = float(p.get("swap", 0.0))  # all accrued swap goes with the first closing deal
        p["swap"] = 0.0
        self.doc["balance"] += profit - commission + swap
        remaining = round(p["lots"] - lots, 8)
        if remaining <= 0 or math.isclose(remaining, 0.0, abs_tol=1e-9):
            del self.doc["positions"][str(ticket)]
        else:
            p["lots"] = remaining
        deal = Deal(
            client_id=client_id,
            ticket=int(ticket),
            side=p["side"],
            lots=lots,
            price=float(price),
            time=int(tick["time"]),
            profit=profit,
            commission=commission,
            reason=reason,
            swap=swap,
        )
        self.doc["deals"][client_id] = deal.to_dict()
        self._save()
        self._events.append(BrokerEvent("close", client_id, deal.to_dict()))
        return deal

    # -- test / reconciliation helpers ---------------------------------------------------------
    def force_close(self, ticket: int, price: float, reason: str = "broker") -> Deal:
        """Close a position as the broker itself would (server-side stop, margin call)."""
        return self.close(ticket, None, f"broker-{ticket}-{len(self.doc['deals'])}", price, reason)
