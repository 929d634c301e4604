"""The kill switch: a ``KILL`` file in the state directory cancels every entry order,
closes every position at market and halts trading until the file is removed."""

from __future__ import annotations

from tradeforge.live import guards as G
from tradeforge.live.booking import close_at_market
from tradeforge.live.context import EngineContext
from tradeforge.live.decisions import decision
from tradeforge.live.model import EngineState


def kill(ctx: EngineContext, new: EngineState, now: int, decisions: list, trades: list) -> None:
    reason = (ctx.dir / G.KILL_FILE).read_text(encoding="utf-8").strip() or "kill switch"
    decisions.append(decision(now, "kill", f"kill switch: {reason}; closing everything"))
    for cid in sorted(new.pending):
        ctx.broker.cancel(cid)
        del new.pending[cid]
        decisions.append(decision(now, "cancel", "kill switch", order=cid))
    for cid in sorted(new.queued):
        del new.queued[cid]
        decisions.append(decision(now, "cancel", "kill switch", order=cid))
    for cid in sorted(new.positions):
        pos = new.positions[cid]
        trade = close_at_market(ctx, new, pos, "signal", now, action="kill")  # closest reason
        decisions.append(decision(now, "exit", "kill switch", position=cid))
        if trade:
            trades.append(trade)
    new.risk.halted = f"kill: {reason}"
