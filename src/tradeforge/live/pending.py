"""Entry orders at the broker: adopt fills as managed positions (their stop goes to the
broker), drop orders the broker refused or forgot, and cancel or expire the rest."""

from __future__ import annotations

import math

from tradeforge.live import guards as G
from tradeforge.live import manager as M
from tradeforge.live.booking import execute_exit
from tradeforge.live.brokers.base import Broker, OrderRejected, PositionClosedError
from tradeforge.live.context import EngineContext
from tradeforge.live.decisions import decision
from tradeforge.live.model import EngineState, PendingOrder, Position, Slip, StrategyState


def cancel_unless_filled(broker: Broker, cid: str) -> bool:
    """Cancel an entry order; False when it filled meanwhile (the next sync adopts it)."""
    broker.cancel(cid)
    res = broker.order_status(cid)
    return not (res is not None and res.status == "filled")


def count_expired(ctx: EngineContext, new: EngineState) -> None:
    new.stats.expired += 1
    ctx.book(new).stats.expired += 1


def expire_pending(ctx: EngineContext, new: EngineState, now: int, decisions: list) -> None:
    """Count a closed bar against limit / stop entries; cancel those past their last bar."""
    book = ctx.book(new)
    for cid in sorted(book.pending):
        p = book.pending[cid]
        if p.bars_left is None:
            continue
        p.bars_left -= 1
        if p.bars_left <= 0:
            if not cancel_unless_filled(ctx.broker, cid):
                continue
            del book.pending[cid]
            count_expired(ctx, new)
            decisions.append(decision(now, "expired", "entry order expired", order=cid))


def send_stop(ctx: EngineContext, pos: Position, stop: float, now: int, decisions: list) -> None:
    """Send the position's stop to the broker: a safety net, as the engine's own exit rules
    act on every quote, so a stop the broker refuses (the price moved inside its stops level
    meanwhile) is logged and the session goes on."""
    try:
        ctx.broker.modify(pos.ticket, stop)
    except PositionClosedError:
        decisions.append(
            decision(now, "warning", "stop update on a closed position", position=pos.cid)
        )
    except OrderRejected as exc:
        decisions.append(
            decision(now, "warning", f"stop not accepted by the broker ({exc}); the engine's "
                     "exit rules still apply", position=pos.cid)
        )  # fmt: skip


def judge_slippage(
    ctx: EngineContext, book: StrategyState, order: PendingOrder, cid: str, price: float,
    now: int, decisions: list,
) -> None:  # fmt: skip
    """A fill of ``order`` at ``price``: past a ``max_slippage_pips`` guard (the account's or
    the instance's), it is kept in the book (its entries pause) and logged as a warning."""
    scopes = [("account", ctx.desk.limits), ("strategy", ctx.cfg.limits)]
    scopes = [(scope, lim) for scope, lim in scopes if lim.max_slippage_pips is not None]
    if order.ref is None or not scopes:
        return
    pips = G.slippage_pips(order.signal["side"], order.ref, price, ctx.inst.pip_size)
    longest = max(lim.slippage_pause_minutes for _, lim in scopes) * G.MINUTE_NS
    book.risk.slips = [s for s in book.risk.slips if s.time > now - longest]
    breached = [(s, lim) for s, lim in scopes if pips > lim.max_slippage_pips + 1e-9]
    if breached:
        book.risk.slips.append(Slip(now, round(pips, 4)))
    for scope, lim in breached:
        decisions.append(
            decision(now, "warning", f"entry fill slipped {pips:.2f} pips from {order.ref:.6g} "
                     f"vs limit {lim.max_slippage_pips:g}: new entries on {ctx.symbol} paused "
                     f"for {lim.slippage_pause_minutes:g} min", guard="slippage", scope=scope,
                     order=cid, price=price)
        )  # fmt: skip


def sync_pending(
    ctx: EngineContext, new: EngineState, now: int, decisions: list, trades: list
) -> None:
    """Ask the broker about every pending entry; filled ones become managed positions."""
    book = ctx.book(new)
    for cid in sorted(book.pending):
        p = book.pending[cid]
        res = ctx.broker.order_status(cid)
        if res is None or res.status in ("rejected", "cancelled"):
            del book.pending[cid]
            why = "unknown to broker" if res is None else f"{res.status}: {res.reason}"
            decisions.append(decision(now, "order_dropped", why, order=cid))
            continue
        if res.status != "filled":
            continue
        del book.pending[cid]
        sig = p.signal
        pf, stop = M.open_pf(sig, res.price, p.steps)
        side = sig["side"]
        risk = side * (res.price - stop)
        tid = new.stats.next_trade_id
        new.stats.next_trade_id = tid + 1
        pos = Position(
            cid=cid,
            trade_id=tid,
            ticket=res.ticket,
            tag=p.tag,
            side=side,
            signal_time=p.signal_time,
            entry_time=ctx.bar_of(res.time),
            entry_price=res.price,
            entry_type=sig["entry_type"],
            fill_at_open=bool(res.at_open),
            steps=p.steps,
            initial_stop=stop,
            risk_money=risk * p.steps * ctx.inst.unit,
            pf=M.pf_to_json(pf),
            bars=0,
            time_stop=sig["time_stop"],
            time_due=False,
            signal_exit=False,
            legs=0,
            booked=[],
            pnl=0.0,
            commission=0.0,
            exit_value=0.0,
            exit_time=None,
            exit_reason=None,
        )
        book.positions[cid] = pos
        decisions.append(
            decision(now, "filled", "entry filled", order=cid, ticket=res.ticket,
                     price=res.price, stop=stop, lots=res.lots)
        )  # fmt: skip
        judge_slippage(ctx, book, p, cid, res.price, now, decisions)
        if not risk > 0:
            leg = M.Leg(math.nan, p.steps, "stop")
            pf[M.rules.F_REMAINING] = 0
            decisions.append(
                decision(now, "exit", "stop on the wrong side of the fill", position=cid)
            )
            trade = execute_exit(ctx, new, pos, pf, leg, ctx.bar_of(now), market=True)
            if trade:
                trades.append(trade)
            continue
        send_stop(ctx, pos, stop, now, decisions)
