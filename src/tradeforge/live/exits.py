"""Open positions through the shared exit rules (`tradeforge.live.manager`): exits due at an
open (time stop, opposite signal), the rules per tick or per closed bar, break-even/trailing
stop updates, time stops falling due, and the close of everything at the end of a replay."""

from __future__ import annotations

import numpy as np

from tradeforge.live import manager as M
from tradeforge.live.booking import close_at_market, execute_exit
from tradeforge.live.context import EngineContext
from tradeforge.live.decisions import decision
from tradeforge.live.feeds import Bar, Tick
from tradeforge.live.market import slip_at
from tradeforge.live.model import EngineState, Position
from tradeforge.live.pending import send_stop
from tradeforge.strategy.signals import ENTRY_TYPES
from tradeforge.trading.steps import fill_view

STOP_MOVES = {1: "break-even armed", 2: "trailing stop tightened"}  # by the rules' stop source
_TYPE = {name: code for code, name in enumerate(ENTRY_TYPES)}


def close_due(
    ctx: EngineContext, new: EngineState, now: int, decisions: list, trades: list
) -> None:
    """Close at market the positions whose time stop or opposite-signal exit fell due."""
    book = ctx.book(new)
    for cid in sorted(book.positions):
        pos = book.positions[cid]
        if pos.time_due or pos.signal_exit:
            reason = "time" if pos.time_due else "signal"
            trade = close_at_market(ctx, new, pos, reason, now)
            why = "time stop" if reason == "time" else "opposite signal"
            decisions.append(decision(now, "exit", why, position=cid))
            if trade:
                trades.append(trade)


def exits_on_tick(
    ctx: EngineContext,
    new: EngineState,
    tick: Tick,
    prev: Tick | None,
    held: set[str],
    decisions: list,
    trades: list,
) -> None:
    """``tick`` exit mode: every position runs the exit rules on the price path from the
    previous quote of the same bar (``prev``) to this one, so a level crossed in between fills
    at the level; the bar's first quote is its open (a gap fills there). A position not in
    ``held`` was filled at this quote: its path starts at the fill (at the quote if the fill
    was at the open)."""
    sp = ctx.spread(tick.spread)
    bar_time = ctx.bar_of(tick.time)
    slip = slip_at(ctx, new, bar_time)
    start = None
    if prev is not None and ctx.bar_of(prev.time) == bar_time:
        start = prev.bid
    book = ctx.book(new)
    for cid in sorted(book.positions):
        pos = book.positions[cid]
        o = start
        if cid not in held:  # filled at this quote
            o = None
            if not pos.fill_at_open:  # it starts from its fill (as a bid)
                kind = _TYPE[pos.entry_type]
                bid = tick.bid
                o = fill_view(float(pos.side), kind, pos.entry_price, sp, bid, bid, bid)[0]
        if o is None:
            o = h = lo = tick.bid
        else:
            h, lo = max(o, tick.bid), min(o, tick.bid)
        pf = M.pf_from_json(pos.pf)
        legs = M.observe(pf, o, h, lo, sp, slip)
        book_legs(ctx, new, pos, pf, legs, bar_time, tick.time, decisions, trades)
        if cid in book.positions:
            pos.pf = M.pf_to_json(pf)


def book_legs(
    ctx: EngineContext,
    new: EngineState,
    pos: Position,
    pf: np.ndarray,
    legs: list[M.Leg],
    bar_time: int,
    now: int,
    decisions: list,
    trades: list,
) -> None:
    """Send and book the legs one observation produced, in order. The rules already took all
    of them off ``pf``; each leg is booked with the size still open after it, so only the last
    one that empties the position finishes the trade (e.g. a target gapped at the open and then
    the stop, or two targets touched in one bar)."""
    left = M.remaining(pf) + sum(leg.steps for leg in legs)
    for leg in legs:
        left -= leg.steps
        pf[M.rules.F_REMAINING] = left
        trade = execute_exit(ctx, new, pos, pf, leg, bar_time)
        decisions.append(
            decision(
                now, "exit", leg.reason, position=pos.cid, price=leg.price, lots=ctx.lots(leg.steps)
            )
        )
        if trade:
            trades.append(trade)


def manage_on_bar(
    ctx: EngineContext,
    new: EngineState,
    bar: Bar,
    sp: float,
    slip: float,
    trail_levels: tuple[float, float],
    decisions: list,
    trades: list,
) -> None:
    """A closed bar for every position: the exit rules (``bar`` exit mode), then stop
    management from the bar (changes go to the broker) and the time stop's bar count."""
    now = bar.close_time
    lv_long, lv_short = trail_levels
    book = ctx.book(new)
    for cid in sorted(book.positions):
        pos = book.positions[cid]
        pf = M.pf_from_json(pos.pf)
        oi, hi, li = bar.open, bar.high, bar.low
        if pos.entry_time == bar.time and not pos.fill_at_open:
            # filled inside this bar: it sees the bar from the fill on (as the kernel)
            oi, hi, li = fill_view(
                float(pos.side), _TYPE[pos.entry_type], pos.entry_price, sp, hi, li, bar.close
            )
        if ctx.cfg.exit_mode == "bar":
            legs = M.observe(pf, oi, hi, li, sp, slip)
            book_legs(ctx, new, pos, pf, legs, bar.time, now, decisions, trades)
            if cid not in book.positions:
                continue
        if M.update(pf, hi, li, bar.close, sp, lv_long, lv_short):
            why = STOP_MOVES.get(int(pf[M.rules.F_STOP_SRC]), "stop moved")
            decisions.append(decision(now, "stop", why, position=cid, stop=M.stop_of(pf)))
            send_stop(ctx, pos, M.stop_of(pf), now, decisions)
        pos.pf = M.pf_to_json(pf)
        pos.bars += 1
        if pos.time_stop and pos.bars >= pos.time_stop and not pos.time_due:
            pos.time_due = True


def close_at_end(
    ctx: EngineContext,
    new: EngineState,
    bar: Bar,
    sp: float,
    slip: float,
    decisions: list,
    trades: list,
) -> None:
    """End of a replay: everything still open closes at market at the last bar's close,
    paying the bar's slippage (``end``, as the backtest's end of data)."""
    now = bar.close_time
    book = ctx.book(new)
    for cid in sorted(book.positions):
        pos = book.positions[cid]
        pf = M.pf_from_json(pos.pf)
        price = M.market_exit(pf, bar.close, sp, slip)
        leg = M.Leg(price, M.remaining(pf), "end")
        pf[M.rules.F_REMAINING] = 0
        trades.append(execute_exit(ctx, new, pos, pf, leg, bar.time))
        decisions.append(decision(now, "exit", "end of replay", position=cid, price=price))
