"""Open positions through the shared exit rules (`tradeforge.live.manager`): exits due at an
open (time stop, opposite signal), the rules per tick or per closed bar, break-even/trailing
stop updates, time stops falling due, and the close of everything at the end of a replay."""

from __future__ import annotations

from tradeforge.live import manager as M
from tradeforge.live.booking import close_at_market, execute_exit
from tradeforge.live.context import EngineContext
from tradeforge.live.decisions import decision
from tradeforge.live.feeds import Bar, Tick
from tradeforge.live.market import slip_at
from tradeforge.live.model import EngineState
from tradeforge.live.pending import send_stop

STOP_MOVES = {1: "break-even armed", 2: "trailing stop tightened"}  # by the rules' stop source


def close_due(
    ctx: EngineContext, new: EngineState, now: int, decisions: list, trades: list
) -> None:
    """Close at market the positions whose time stop or opposite-signal exit fell due."""
    for cid in sorted(new.positions):
        pos = new.positions[cid]
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
    decisions: list,
    trades: list,
) -> None:
    """``tick`` exit mode: every position runs the exit rules on the bid."""
    sp = ctx.spread(tick.spread)
    slip = slip_at(ctx, new, ctx.bar_of(tick.time))
    for cid in sorted(new.positions):
        pos = new.positions[cid]
        pf = M.pf_from_json(pos.pf)
        for leg in M.observe(pf, tick.bid, tick.bid, tick.bid, sp, slip):
            trade = execute_exit(ctx, new, pos, pf, leg, ctx.bar_of(tick.time))
            decisions.append(decision(tick.time, "exit", leg.reason, position=cid, price=leg.price))
            if trade:
                trades.append(trade)
        if cid in new.positions:
            pos.pf = M.pf_to_json(pf)


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
    for cid in sorted(new.positions):
        pos = new.positions[cid]
        pf = M.pf_from_json(pos.pf)
        oi, hi, li = bar.open, bar.high, bar.low
        if pos.entry_time == bar.time and not pos.fill_at_open:
            # filled inside this bar: it sees the bar from the fill on (as the kernel)
            oi = pos.entry_price - sp if pos.side > 0 else pos.entry_price
            if pos.entry_type == "limit":  # the favourable extreme may precede it
                if pos.side > 0:
                    hi = max(oi, bar.close)
                else:
                    li = min(oi, bar.close)
        if ctx.cfg.exit_mode == "bar":
            for leg in M.observe(pf, oi, hi, li, sp, slip):
                trade = execute_exit(ctx, new, pos, pf, leg, bar.time)
                decisions.append(
                    decision(
                        now,
                        "exit",
                        leg.reason,
                        position=cid,
                        price=leg.price,
                        lots=ctx.lots(leg.steps),
                    )
                )
                if trade:
                    trades.append(trade)
            if cid not in new.positions:
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
    for cid in sorted(new.positions):
        pos = new.positions[cid]
        pf = M.pf_from_json(pos.pf)
        price = M.market_exit(pf, bar.close, sp, slip)
        leg = M.Leg(price, M.remaining(pf), "end")
        pf[M.rules.F_REMAINING] = 0
        trades.append(execute_exit(ctx, new, pos, pf, leg, bar.time))
        decisions.append(decision(now, "exit", "end of replay", position=cid, price=price))
