"""`engine_summary`: positions, P&L and guard state of a saved engine state."""

from __future__ import annotations

from typing import Any

from tradeforge.core.instruments import get_instrument
from tradeforge.live import manager as M
from tradeforge.live.decisions import iso
from tradeforge.live.model import Json
from tradeforge.live.schema import load_engine_state


def engine_summary(stored: Json) -> dict[str, Any]:
    """Positions, P&L and guard state for ``tradeforge status``, from the state as stored
    (`StateRepository.load` gives it migrated to the current layout)."""
    state = load_engine_state(stored)
    lot_step = get_instrument(state.identity.symbol).lot_step
    return {
        "identity": state.identity.to_json(),
        "seq": stored.get("seq"),
        "last_event": iso(state.last_key[0]) if state.last_key else None,
        "positions": [
            {
                "id": cid,
                "ticket": p.ticket,
                "side": "long" if p.side > 0 else "short",
                "tag": p.tag,
                "entry_price": p.entry_price,
                "stop": M.stop_of(M.pf_from_json(p.pf)),
                "lots_open": M.remaining(M.pf_from_json(p.pf)) * lot_step,
            }
            for cid, p in sorted(state.positions.items())
        ],
        "pending": sorted(state.pending),
        "stats": state.stats.to_json(),
        "risk": state.risk.to_json(),
        "daily": state.daily.to_json(),
    }
