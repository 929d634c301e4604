"""Entry orders: size one from the risk sizer, pass the order guards and send it to the
broker, and place the entries queued behind exits at the next quote (sized from the balance
after those exits)."""

from __future__ import annotations

from tradeforge.live import guards as G
from tradeforge.live import manager as M
from tradeforge.live.account import equity_margin, sizing_balance
from tradeforge.live.brokers.base import BrokerError, OrderRequest
from tradeforge.live.context import EngineContext
from tradeforge.live.control.gate import entry_block
from tradeforge.live.decisions import decision
from tradeforge.live.feeds import Tick
from tradeforge.live.market import observe
from tradeforge.live.model import EngineState, PendingOrder, SignalRow, StrategyState
from tradeforge.live.pending import sync_pending


def _exposure(ctx: EngineContext, books: dict[str, StrategyState]) -> G.Exposure:
    """Lots open (what is left of each position) and pending in ``books``: on ``ctx``'s
    symbol and on all."""
    on_symbol = total = 0.0
    for name, book in books.items():
        step = ctx.desk.contexts[name].inst.lot_step
        lots = sum(M.remaining(M.pf_from_json(p.pf)) * step for p in book.positions.values())
        lots += sum(p.lots for p in book.pending.values())
        total += lots
        if book.identity.symbol == ctx.symbol:
            on_symbol += lots
    return G.Exposure(round(on_symbol, 8), round(total, 8))


def order_verdicts(
    ctx: EngineContext, new: EngineState, side: int, lots: float, price: float, now: int
) -> list[tuple[str, G.Verdict]]:
    """The order guards refusing an entry of ``lots`` at ``price`` now, as ``(scope,
    verdict)``: the account's (every instance's lots and orders), then the instance's own."""
    tick = ctx.desk.quotes.get(ctx.symbol)
    common = {
        "now": now, "symbol": ctx.symbol, "side": side, "lots": lots, "price": price,
        "quote": None if tick is None else (tick.bid, tick.bid + ctx.spread(tick.spread)),
        "pip_size": ctx.inst.pip_size,
    }  # fmt: skip
    books = new.strategies
    verdicts = G.check_order(
        ctx.desk.limits, exposure=_exposure(ctx, books),
        recent_orders=[t for b in books.values() for t in b.risk.orders], **common,
    )  # fmt: skip
    out = [("account", v) for v in verdicts if not v.ok]
    if ctx.cfg.limits != G.RiskLimits():
        book = ctx.book(new)
        own = G.check_order(
            ctx.cfg.limits, exposure=_exposure(ctx, {ctx.name: book}),
            recent_orders=book.risk.orders, **common,
        )  # fmt: skip
        out += [("strategy", v) for v in own if not v.ok]
    return out


def place_entry(
    ctx: EngineContext,
    new: EngineState,
    row: SignalRow,
    sid: str,
    signal_time: int,
    ref: float,
    balance: float,
    free_margin: float,
    now: int,
    decisions: list,
    redo: bool = False,
) -> bool:
    """Size and send one entry order; True when the broker accepted it. ``redo``: the
    broker already holds it (sent before a crash): the guards are not asked again."""
    base = {"order": sid, "side": row["side"], "tag": row["tag"]}
    dist = (
        row["stop_distance"] if row["stop_distance"] is not None else abs(ref - row["stop_price"])
    )
    scale = row.get("size_scale") or 1.0  # a row stored before the column existed: 1
    size = ctx.sizer.size(ctx.inst, balance, dist, ref, free_margin, scale)
    if size.steps <= 0:
        decisions.append(decision(now, "skip", size.reason, **base))
        return False
    refused = [] if redo else order_verdicts(ctx, new, row["side"], size.lots, ref, now)
    if refused:
        for scope, v in refused:
            decisions.append(decision(now, "guard", v.reason, guard=v.guard, scope=scope,
                                      strategy=ctx.name, **base))  # fmt: skip
        return False
    request = OrderRequest(
        sid, ctx.symbol, row["side"], size.lots, comment=sid,
        order_type=row["entry_type"], price=row["entry_price"],
    )  # fmt: skip
    try:
        result = ctx.broker.place(request)
    except BrokerError as exc:
        decisions.append(decision(now, "rejected", str(exc), **base))
        return False
    steps = int(round(result.lots / ctx.inst.lot_step))  # a redo gets the original size
    bars_left = row["expiry"] if row["entry_type"] != "market" else None
    book = ctx.book(new)
    book.pending[sid] = PendingOrder(
        row, signal_time, row["tag"], steps, result.lots, bars_left, ref
    )
    book.risk.orders = [t for t in book.risk.orders if t > now - G.MINUTE_NS] + [now]
    new.stats.orders += 1
    book.stats.orders += 1
    decisions.append(
        decision(now, "order", size.reason, lots=result.lots, status=result.status,
                 entry=row["entry_type"], **base)
    )  # fmt: skip
    return True


def place_queued(
    ctx: EngineContext, new: EngineState, tick: Tick, decisions: list, trades: list
) -> None:
    """Entries queued behind this open's exits: sized now, filled at this quote."""
    book = ctx.book(new)
    queued = sorted(book.queued.items(), key=lambda kv: kv[1].seq)
    book.queued = {}
    if new.risk.halted:
        for sid, _ in queued:
            decisions.append(decision(tick.time, "skip", "trading halted", order=sid))
        return
    blocked = entry_block(new, ctx.name, tick.time, ctx.step_ns)
    if blocked is not None:  # paused, disabled or a blackout since the signal
        for sid, _ in queued:
            decisions.append(decision(tick.time, "skip", blocked[1], control=blocked[0], order=sid))
        return
    balance = sizing_balance(ctx, new)
    sp = ctx.spread(tick.spread)
    open_pnl, margin = equity_margin(ctx, new, tick.bid, sp)
    free = ctx.broker.account().balance + open_pnl - margin
    placed = False
    for sid, q in queued:
        placed |= place_entry(
            ctx, new, q.signal, sid, q.signal_time, q.ref, balance, free, tick.time, decisions
        )
    if placed and ctx.broker.simulated:
        observe(ctx, new, tick)  # the orders execute at this same quote
        sync_pending(ctx, new, tick.time, decisions, trades)
