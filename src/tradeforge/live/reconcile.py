"""Start-up reconciliation: compare the state with the broker and fix (and log) every
difference before any new order — stops reset, closes made while away booked, vanished
positions and orders dropped, positions nobody knows closed or ignored."""

from __future__ import annotations

import math

from tradeforge.live import manager as M
from tradeforge.live.booking import Fill, book_leg, own_close_ids
from tradeforge.live.context import EngineContext
from tradeforge.live.decisions import decision
from tradeforge.live.model import EngineState, Json


def reconcile(
    ctx: EngineContext, new: EngineState, now: int | None, replaying: bool
) -> tuple[list[Json], list[Json]]:
    """Bring ``new`` (a copy of the state) in line with the broker; (decisions, trades).

    ``replaying``: a replayed feed redelivers the in-flight event, so closes under our own
    client ids are left to that redo instead of being booked here."""
    decisions: list[Json] = []
    trades: list[Json] = []
    broker, inst = ctx.broker, ctx.inst
    at_broker = {p.ticket: p for p in broker.positions(ctx.symbol)}
    known_tickets = set()
    for cid in sorted(new.positions):
        pos = new.positions[cid]
        known_tickets.add(pos.ticket)
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
        if cid in new.positions and bp is None:
            decisions.append(
                decision(now, "reconcile", "position gone at broker without a deal; dropped",
                         position=cid)
            )  # fmt: skip
            del new.positions[cid]
    pending_ids = set(new.pending)
    for ticket, bp in sorted(at_broker.items()):
        if ticket in known_tickets or bp.client_id in pending_ids:
            continue  # pending fills are adopted by the normal sync on the next tick
        if ctx.cfg.orphans == "close":
            deal = broker.close(ticket, None, f"orphan-{ticket}", None, "orphan")
            decisions.append(
                decision(now, "reconcile", "unknown position at broker; closed",
                         ticket=ticket, deal=deal.to_dict())
            )  # fmt: skip
        else:
            decisions.append(
                decision(now, "reconcile", "unknown position at broker; ignored", ticket=ticket)
            )
    for cid in sorted(new.pending):
        if broker.order_status(cid) is None:
            del new.pending[cid]
            decisions.append(
                decision(now, "reconcile", "pending order unknown to broker; dropped", order=cid)
            )
    return decisions, trades
