"""Whether runtime control lets a new entry open: the global pause, the strategy's pause or
disable switch, and the blackout windows (`tradeforge.live.control.blackout`). Only new
entries are judged; open positions keep being managed."""

from __future__ import annotations

from tradeforge.live.control.blackout import blackout_at
from tradeforge.live.model import EngineState


def entry_block(state: EngineState, strategy: str, t: int, step_ns: int) -> tuple[str, str] | None:
    """``(what, why)`` when no entry of ``strategy`` may open at ``t`` (``what``: ``paused``,
    ``disabled`` or ``blackout``), else None."""
    if state.control.paused:
        return "paused", "trading paused (all strategies)"
    switches = state.control.strategies.get(strategy)
    if switches is not None and switches.disabled is not None:
        return "disabled", f"strategy {strategy} disabled ({switches.disabled})"
    if switches is not None and switches.paused:
        return "paused", f"strategy {strategy} paused"
    hit = blackout_at(state, t, step_ns)
    if hit is not None:
        return "blackout", hit.describe()
    return None
