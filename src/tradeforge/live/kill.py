"""The kill switch: a ``KILL`` file in the state directory (or ``tradeforge ctl kill``, which
writes it too) cancels every entry order, closes every position at market and halts trading
until the file is removed. `flatten` is the closing half, shared with ``ctl close-all``, a
strategy's kill and blackout windows that flatten."""

from __future__ import annotations

from tradeforge.live import guards as G
from tradeforge.live.booking import close_at_market
from tradeforge.live.context import EngineContext
from tradeforge.live.decisions import decision
from tradeforge.live.model import EngineState


def flatten(
    ctx: EngineContext,
    new: EngineState,
    now: int,
    why: str,
    decisions: list,
    trades: list,
    action: str | None = "kill",
) -> None:
    """Cancel every entry order and close every position at market, each logged with ``why``.
    ``action`` names the closes' client ids (None: each position's next exit leg)."""
    for cid in sorted(new.pending):
        ctx.broker.cancel(cid)
        del new.pending[cid]
        decisions.append(decision(now, "cancel", why, order=cid))
    for cid in sorted(new.queued):
        del new.queued[cid]
        decisions.append(decision(now, "cancel", why, order=cid))
    for cid in sorted(new.positions):
        pos = new.positions[cid]
        leg = action or f"leg{pos.legs + 1}"
        trade = close_at_market(ctx, new, pos, "signal", now, action=leg)  # closest reason
        decisions.append(decision(now, "exit", why, position=cid))
        if trade:
            trades.append(trade)


def kill(
    ctx: EngineContext,
    new: EngineState,
    now: int,
    decisions: list,
    trades: list,
    reason: str | None = None,
) -> None:
    """Close everything and halt; ``reason`` defaults to the ``KILL`` file's text."""
    if reason is None:
        reason = (ctx.dir / G.KILL_FILE).read_text(encoding="utf-8").strip() or "kill switch"
    decisions.append(decision(now, "kill", f"kill switch: {reason}; closing everything"))
    flatten(ctx, new, now, "kill switch", decisions, trades)
    new.risk.halted = f"kill: {reason}"
