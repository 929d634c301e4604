"""The kill switch: a ``KILL`` file in the state directory (or ``tradeforge ctl kill``, which
writes it too) cancels every entry order, closes every position at market — of every
instance of the session — and halts trading until the file is removed. `flatten` is the
closing half for one instance, shared with ``ctl close-all``, a strategy's kill and blackout
windows that flatten; `flatten_all` does it for every instance."""

from __future__ import annotations

from tradeforge.live import guards as G
from tradeforge.live.booking import close_at_market
from tradeforge.live.context import EngineContext
from tradeforge.live.decisions import decision
from tradeforge.live.model import EngineState


def cancel_entries(
    ctx: EngineContext, new: EngineState, now: int, why: str, decisions: list
) -> None:
    """Cancel the entry orders (pending at the broker, or queued) of ``ctx``'s instance."""
    book = ctx.book(new)
    for cid in sorted(book.pending):
        ctx.broker.cancel(cid)
        del book.pending[cid]
        decisions.append(decision(now, "cancel", why, order=cid))
    for cid in sorted(book.queued):
        del book.queued[cid]
        decisions.append(decision(now, "cancel", why, order=cid))


def flatten(
    ctx: EngineContext,
    new: EngineState,
    now: int,
    why: str,
    decisions: list,
    trades: list,
    action: str | None = "kill",
) -> None:
    """Cancel every entry order of ``ctx``'s instance and close its positions at market, each
    logged with ``why``. ``action`` names the closes' client ids (None: each position's next
    exit leg)."""
    cancel_entries(ctx, new, now, why, decisions)
    book = ctx.book(new)
    for cid in sorted(book.positions):
        pos = book.positions[cid]
        leg = action or f"leg{pos.legs + 1}"
        trade = close_at_market(ctx, new, pos, "signal", now, action=leg)  # closest reason
        decisions.append(decision(now, "exit", why, position=cid))
        if trade:
            trades.append(trade)


def flatten_all(
    ctx: EngineContext,
    new: EngineState,
    now: int,
    why: str,
    decisions: list,
    trades: list,
    action: str | None = "kill",
) -> None:
    """`flatten` every instance of the session (in name order)."""
    for other in ctx.desk.contexts.values() or [ctx]:
        flatten(other, new, now, why, decisions, trades, action)


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
    flatten_all(ctx, new, now, "kill switch", decisions, trades)
    new.risk.halted = f"kill: {reason}"
