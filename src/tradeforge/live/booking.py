"""Exit legs: send one to the broker (idempotently, by client id), book it on its position
and, when the position is gone, produce the finished trade (the backtest's trade columns)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from tradeforge.live import manager as M
from tradeforge.live.brokers.base import PositionClosedError
from tradeforge.live.context import EngineContext
from tradeforge.live.decisions import iso
from tradeforge.live.model import EngineState, Json, Position
from tradeforge.trading.result import TRADE_COLUMNS
from tradeforge.trading.steps import leg_quote

# exit reasons closing the whole position under a client-id action of their own
WHOLE_EXIT_ACTIONS = {"time": "time", "signal": "signal", "end": "end"}


def own_close_ids(ctx: EngineContext, pos: Position) -> set[str]:
    """Client ids the engine's next closes of ``pos`` would use (to recognise its own deals)."""
    ids = {ctx.client_id(pos, f"leg{pos.legs + k}") for k in range(1, 7)}
    ids |= {ctx.client_id(pos, a) for a in ("time", "signal", "end", "kill")}
    return ids


class Fill(NamedTuple):
    """How the broker executed an exit leg, and the bar it is booked in."""

    price: float
    bar_time: int
    client_id: str
    swap: float = 0.0


def execute_exit(
    ctx: EngineContext,
    new: EngineState,
    pos: Position,
    pf: np.ndarray,
    leg: M.Leg,
    bar_time: int,
    market: bool = False,
    action: str | None = None,
) -> Json | None:
    """Send one exit leg (booked in bar ``bar_time``) to the broker and book it; returns the
    trade when it completes. ``pf`` already has the leg's steps removed (the rules did it)."""
    if action is None:
        action = WHOLE_EXIT_ACTIONS.get(leg.reason, f"leg{pos.legs + 1}")
    cid = ctx.client_id(pos, action)
    broker = ctx.broker
    use_level = broker.simulated and not market
    try:
        deal = broker.close(
            pos.ticket, ctx.lots(leg.steps), cid, leg.price if use_level else None, leg.reason
        )
        price, swap = deal.price, deal.swap
    except PositionClosedError:
        # closed at the broker meanwhile (e.g. its stop): book what the broker did
        deals = [d for d in broker.deals_for(pos.ticket) if d.client_id not in pos.booked]
        if not deals:
            raise
        price, cid, swap = deals[-1].price, deals[-1].client_id, deals[-1].swap
    return book_leg(ctx, new, pos, pf, leg, Fill(price, bar_time, cid, swap))


def close_at_market(
    ctx: EngineContext,
    new: EngineState,
    pos: Position,
    reason: str,
    now: int,
    action: str | None = None,
) -> Json | None:
    """Close all that is left of ``pos`` at the market price; the trade when it completes."""
    pf = M.pf_from_json(pos.pf)
    leg = M.Leg(math.nan, M.remaining(pf), reason)
    pf[M.rules.F_REMAINING] = 0
    return execute_exit(ctx, new, pos, pf, leg, ctx.bar_of(now), market=True, action=action)


def book_leg(
    ctx: EngineContext, new: EngineState, pos: Position, pf: np.ndarray, leg: M.Leg, fill: Fill
) -> Json | None:
    """Book an exit leg the broker filled; the trade when the position is done."""
    price, t, cid, swap = fill
    gross, comm = leg_quote(
        float(pos.side), pos.entry_price, price, float(leg.steps), ctx.inst.unit, ctx.comm_step
    )
    pnl = gross - comm + swap
    pos.legs += 1
    pos.booked.append(cid)
    pos.pnl += pnl
    pos.commission += comm
    pos.exit_value += price * leg.steps
    pos.exit_time = t
    pos.exit_reason = leg.reason
    pos.pf = M.pf_to_json(pf)
    book = ctx.book(new)
    new.stats.realized += pnl
    book.stats.realized += pnl
    if M.remaining(pf) > 0:
        return None
    del book.positions[pos.cid]
    new.stats.trades += 1
    book.stats.trades += 1
    return trade_record(ctx, pos)


def trade_record(ctx: EngineContext, pos: Position) -> Json:
    """The closed trade of a position whose last leg is booked: the backtest's columns and
    the instance that traded it (``strategy``, for the session's per-strategy files)."""
    assert pos.exit_time is not None
    size = pos.steps
    risk = pos.risk_money
    rec = {
        "trade_id": pos.trade_id,
        "symbol": ctx.symbol,
        "tag": pos.tag,
        "side": "long" if pos.side > 0 else "short",
        "signal_time": iso(pos.signal_time),
        "entry_time": iso(pos.entry_time),
        "entry_price": pos.entry_price,
        "exit_time": iso(pos.exit_time),
        "exit_price": pos.exit_value / size,
        "size": ctx.lots(size),
        "initial_stop": pos.initial_stop,
        "risk": risk,
        "pnl": pos.pnl,
        "commission": pos.commission,
        "r_multiple": pos.pnl / risk if risk else None,
        "exit_reason": pos.exit_reason,
        "bars_held": int((pos.exit_time - pos.entry_time) // ctx.step_ns),
    }
    assert list(rec) == list(TRADE_COLUMNS)
    rec["strategy"] = ctx.name
    return rec
