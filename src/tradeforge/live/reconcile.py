"""Start-up reconciliation: compare the state with the broker and fix (and log) every
difference before any new order — stops reset, closes made while away booked, vanished
positions and orders dropped, positions nobody knows closed or ignored. Each instance's
positions and orders are compared on its own; a broker position is an orphan only when no
instance of the session knows it."""

from __future__ import annotations

import math

from tradeforge.live import manager as M
from tradeforge.live.booking import Fill, book_leg, own_close_ids
from tradeforge.live.brokers.base import BrokerPosition, is_client_order_id
from tradeforge.live.context import EngineContext
from tradeforge.live.decisions import decision
from tradeforge.live.model import EngineState, Json


def reconcile(
    ctx: EngineContext, new: EngineState, now: int | None, replaying: bool
) -> tuple[list[Json], list[Json]]:
    """Bring ``new`` (a copy of the state) in line with the broker for every instance of
    ``ctx``'s session; (decisions, trades).

    ``replaying``: a replayed feed redelivers the in-flight event, so closes under our own
    client ids are left to that redo instead of being booked here."""
    decisions: list[Json] = []
    trades: list[Json] = []
    contexts = list(ctx.desk.contexts.values()) or [ctx]
    at_broker: dict[int, BrokerPosition] = {}
    for symbol in sorted({c.symbol for c in contexts}):
        at_broker |= {p.ticket: p for p in ctx.broker.positions(symbol)}
    known = {p.ticket for b in new.strategies.values() for p in b.positions.values()}
    for c in contexts:
        _positions(c, new, at_broker, now, replaying, decisions, trades)
    pending_ids = {cid for b in new.strategies.values() for cid in b.pending}
    for ticket, bp in sorted(at_broker.items()):
        if ticket in known or bp.client_id in pending_ids:
            continue  # pending fills are adopted by the normal sync on the next tick
        if not replaying and is_client_order_id(bp.client_id):
            # an entry sent just before a crash, its commit lost: the redo of its event (the
            # feed's first bar of the symbol) adopts it, else `settle_in_doubt` treats it
            ctx.desk.in_doubt[bp.client_id] = (ticket, bp.symbol)
            decisions.append(
                decision(now, "reconcile", "position under our client id not in the state; "
                         "left for the redo of its event", ticket=ticket, order=bp.client_id)
            )  # fmt: skip
            continue
        decisions.append(orphan(ctx, ticket, now))
    for c in contexts:
        book = c.book(new)
        for cid in sorted(book.pending):
            if c.broker.order_status(cid) is None:
                del book.pending[cid]
                decisions.append(
                    decision(now, "reconcile", "pending order unknown to broker; dropped",
                             order=cid)
                )  # fmt: skip
    return decisions, trades


def orphan(ctx: EngineContext, ticket: int, now: int | None) -> Json:
    """A broker position no instance knows: closed or ignored (``orphans``); its decision."""
    if ctx.cfg.orphans == "close":
        deal = ctx.broker.close(ticket, None, f"orphan-{ticket}", None, "orphan")
        return decision(now, "reconcile", "unknown position at broker; closed",
                        ticket=ticket, deal=deal.to_dict())  # fmt: skip
    return decision(now, "reconcile", "unknown position at broker; ignored", ticket=ticket)


def settle_in_doubt(ctx: EngineContext, symbol: str, now: int, decisions: list[Json]) -> None:
    """After ``symbol``'s first bar since the start: its positions still in doubt (their
    event's redo did not adopt them) are orphans."""
    for cid, (ticket, sym) in sorted(ctx.desk.in_doubt.items()):
        if sym == symbol:
            del ctx.desk.in_doubt[cid]
            decisions.append(orphan(ctx, ticket, now))


def _positions(
    ctx: EngineContext,
    new: EngineState,
    at_broker: dict[int, BrokerPosition],
    now: int | None,
    replaying: bool,
    decisions: list[Json],
    trades: list[Json],
) -> None:
    """One instance's positions against the broker's."""
    book = ctx.book(new)
    broker, inst = ctx.broker, ctx.inst
    for cid in sorted(book.positions):
        pos = book.positions[cid]
        pf = M.pf_from_json(pos.pf)
        bp = at_broker.get(pos.ticket)
        state_lots = ctx.lots(M.remaining(pf))
        if bp is not None and math.isclose(bp.lots, state_lots, abs_tol=1e-9):
            stop = M.stop_of(pf)
            if bp.stop is None or not math.isclose(bp.stop, stop, abs_tol=1e-12):
                broker.modify(pos.ticket, stop)
                decisions.append(
                    decision(now, "reconcile", "stop at broker differs; reset to state",
                             position=cid, broker_stop=bp.stop, state_stop=stop)
                )  # fmt: skip
            continue
        unbooked = [d for d in broker.deals_for(pos.ticket) if d.client_id not in pos.booked]
        own = own_close_ids(ctx, pos)
        if replaying and unbooked and all(d.client_id in own for d in unbooked):
            continue  # our own in-flight close: redoing the event books it
        for d in sorted(unbooked, key=lambda d: (d.time, d.client_id)):
            steps = int(round(d.lots / inst.lot_step))
            near_stop = abs(d.price - M.stop_of(pf)) <= 2 * inst.tick_size
            reason = "stop" if near_stop else "signal"
            pf[M.rules.F_REMAINING] = max(M.remaining(pf) - steps, 0)
            leg = M.Leg(d.price, steps, reason)
            fill = Fill(d.price, ctx.bar_of(d.time), d.client_id, d.swap)
            trade = book_leg(ctx, new, pos, pf, leg, fill)
            decisions.append(
                decision(now, "reconcile", "position closed at the broker while away; booked",
                         position=cid, deal=d.to_dict())
            )  # fmt: skip
            if trade:
                trades.append(trade)
        if cid in book.positions and bp is None:
            decisions.append(
                decision(now, "reconcile", "position gone at broker without a deal; dropped",
                         position=cid)
            )  # fmt: skip
            del book.positions[cid]
