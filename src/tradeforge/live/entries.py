"""A closed bar's signals, in row order: ``exit_opposite`` first (opposite positions leave at
the next open, opposite orders are cancelled), then the entry through the slot rule and the
guards — placed now, or queued until the next quote when exits are due at that open.

All of it concerns one strategy instance: its slots, its positions and orders. The guards are
the account's (its equity, every instance's positions) and then the instance's own, when its
configuration has any (its equity: `tradeforge.live.account.strategy_equity`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradeforge.live import guards as G
from tradeforge.live.account import strategy_equity
from tradeforge.live.brokers.base import accepts_entry, client_order_id
from tradeforge.live.context import EngineContext
from tradeforge.live.control.gate import entry_block
from tradeforge.live.decisions import decision
from tradeforge.live.feeds import Bar, Tick
from tradeforge.live.model import EngineState, Position, QueuedEntry, SignalRow
from tradeforge.live.orders import place_entry
from tradeforge.live.pending import cancel_unless_filled, count_expired
from tradeforge.live.strategy_signals import signal_row
from tradeforge.strategy.signals import Signals
from tradeforge.trading.steps import SLOT_BUSY, SLOT_REVERSAL, slot_verdict


@dataclass(frozen=True)
class EntryTerms:
    """What every entry signal of one closed bar is judged and sized against."""

    bar: Bar
    balance: float  # the sizing balance (`tradeforge.live.account.sizing_balance`)
    equity: float
    margin: float  # used margin
    final: bool  # the replay's last bar
    tick: Tick | None  # the last quote (guards: staleness, spread)


def enter_on_signals(
    ctx: EngineContext,
    new: EngineState,
    sig: Signals,
    last: int,
    terms: EntryTerms,
    decisions: list,
) -> None:
    """Act on the signals of the window's last bar (``last``), each once (by client id)."""
    bar = terms.bar
    now = bar.close_time
    rows = np.flatnonzero(sig.bar == last)
    horizon = bar.time - ctx.cfg.window * ctx.step_ns
    book = ctx.book(new)
    book.signals = {k: v for k, v in book.signals.items() if v >= horizon}
    for j in rows:
        row = signal_row(sig, int(j))
        sid = client_order_id(ctx.name, ctx.symbol, bar.time, row["tag"], "entry")
        if sid in book.signals:
            continue
        book.signals[sid] = bar.time
        if row["exit_opposite"]:
            exit_opposite(ctx, new, row, now, decisions)
        enter(ctx, new, row, sid, terms, decisions)


def exit_opposite(
    ctx: EngineContext, new: EngineState, row: SignalRow, now: int, decisions: list
) -> None:
    """An ``exit_opposite`` signal: opposite positions close at the next open, opposite
    pending and queued entry orders are cancelled (counted as expired)."""
    side = row["side"]
    book = ctx.book(new)
    for cid in sorted(book.positions):
        pos = book.positions[cid]
        if pos.side != side and not pos.signal_exit:
            pos.signal_exit = True
            decisions.append(
                decision(now, "exit_due", "opposite signal: closes at the next open", position=cid)
            )
    for orders in (book.pending, book.queued):
        for cid in sorted(orders):
            if orders[cid].signal["side"] == side:
                continue
            if orders is book.pending and not cancel_unless_filled(ctx.broker, cid):
                continue  # filled meanwhile: a position now, the next sync adopts it
            del orders[cid]
            count_expired(ctx, new)
            decisions.append(decision(now, "cancel", "opposite signal", order=cid))


def enter(
    ctx: EngineContext,
    new: EngineState,
    row: SignalRow,
    sid: str,
    terms: EntryTerms,
    decisions: list,
) -> None:
    """One entry signal: skipped, refused by a guard, queued or placed (each logged)."""
    cfg, bar = ctx.cfg, terms.bar
    now = bar.close_time
    book = ctx.book(new)
    base = {"order": sid, "side": row["side"], "tag": row["tag"], "strategy": ctx.name}
    if ctx.desk.in_doubt.pop(sid, None) is not None:
        # sent before a crash (the broker holds it): adopted whatever the guards say now
        ref = _entry_ref(ctx, row, bar)
        decisions.append(decision(now, "reconcile", "entry sent before the restart adopted",
                                  **base))  # fmt: skip
        place_entry(ctx, new, row, sid, bar.time, ref, terms.balance,
                    terms.equity - terms.margin, now, decisions, redo=True)  # fmt: skip
        return
    if not accepts_entry(ctx.broker, row["entry_type"]):
        decisions.append(
            decision(now, "skip", f"{ctx.broker.name} takes no {row['entry_type']} entries", **base)
        )
        return
    if terms.final and cfg.close_at_end:
        decisions.append(decision(now, "skip", "end of replay", **base))
        return
    in_slot = [
        p for p in (*book.positions.values(), *book.pending.values(), *book.queued.values())
        if cfg.position_mode == "symbol" or p.tag == row["tag"]
    ]  # fmt: skip
    only = in_slot[0] if len(in_slot) == 1 else None
    held = isinstance(only, Position)
    verdict = slot_verdict(
        bool(in_slot), float(only.side) if held else 0.0, held and only.signal_exit, False,
        int(row["side"]),
    )  # fmt: skip
    if verdict == SLOT_BUSY:
        decisions.append(decision(now, "skip", f"slot busy ({cfg.position_mode})", **base))
        return
    reversal = verdict == SLOT_REVERSAL
    if new.risk.halted:
        decisions.append(decision(now, "skip", "trading halted", **base))
        return
    blocked = entry_block(new, ctx.name, now, ctx.step_ns)
    if blocked is not None:
        decisions.append(decision(now, "skip", blocked[1], control=blocked[0], **base))
        return
    refused = guard_verdicts(ctx, new, terms)
    if refused:
        for scope, v in refused:
            decisions.append(decision(now, "guard", v.reason, guard=v.guard, scope=scope, **base))
        return
    ref = _entry_ref(ctx, row, bar)
    exits_due = any(p.time_due or p.signal_exit for p in book.positions.values())
    if exits_due:
        # exits at the next open come first and the size uses the balance after them
        book.queued[sid] = QueuedEntry(row, bar.time, row["tag"], ref, len(book.queued))
        why = "reversal" if reversal else "exits due at the next open"
        decisions.append(decision(now, "queued", why, **base))
        return
    free_margin = terms.equity - terms.margin
    place_entry(ctx, new, row, sid, bar.time, ref, terms.balance, free_margin, now, decisions)


def _entry_ref(ctx: EngineContext, row: SignalRow, bar: Bar) -> float:
    """The price an entry is sized from: its level, or a market entry's fill at the close."""
    if row["entry_type"] != "market":
        return row["entry_price"]
    return bar.close + (ctx.spread(bar.spread) if row["side"] > 0 else 0.0)


def _open_count(books) -> int:
    """Positions not leaving at the next open, plus entry orders pending or queued."""
    leaving = sum(1 for b in books for p in b.positions.values() if p.signal_exit)
    return sum(b.entries() for b in books) - leaving


def guard_verdicts(
    ctx: EngineContext, new: EngineState, terms: EntryTerms
) -> list[tuple[str, G.Verdict]]:
    """The guards refusing one more entry of ``ctx``'s instance, as ``(scope, verdict)``:
    the account's (``account``), then the instance's own (``strategy``)."""
    bar, tick = terms.bar, terms.tick
    common = {
        "now": bar.close_time,
        "last_tick_time": tick.time if tick else None,
        "spread": tick.spread if tick else None,
        "pip_size": ctx.inst.pip_size,
        "symbol": ctx.symbol,
    }
    same = [b for b in new.strategies.values() if b.identity.symbol == ctx.symbol]
    verdicts = G.check_entry(
        ctx.desk.limits,
        equity=terms.equity,
        day_start_balance=new.daily.start_balance,
        peak_equity=new.risk.peak_equity,
        open_count=_open_count(new.strategies.values()),
        slips=[s for b in same for s in b.risk.slips],
        **common,
    )
    out = [("account", v) for v in verdicts if not v.ok]
    if ctx.cfg.limits != G.RiskLimits():
        book = ctx.book(new)
        own = G.check_entry(
            ctx.cfg.limits,
            equity=strategy_equity(ctx, book, bar.close, ctx.spread(bar.spread)),
            day_start_balance=book.risk.day_start,
            peak_equity=book.risk.peak,
            open_count=_open_count([book]),
            slips=book.risk.slips,
            **common,
        )
        out += [("strategy", v) for v in own if not v.ok]
    return out
