"""`engine_summary`: positions, P&L and guard state of a saved engine state."""

from __future__ import annotations

from typing import Any

from tradeforge.core.instruments import get_instrument
from tradeforge.live import manager as M
from tradeforge.live.decisions import iso


def engine_summary(state: dict[str, Any]) -> dict[str, Any]:
    """Positions, P&L and guard state for ``tradeforge status``."""
    return {
        "identity": state.get("identity"),
        "seq": state.get("seq"),
        "last_event": iso(state["last_key"][0]) if state.get("last_key") else None,
        "positions": [
            {
                "id": cid,
                "ticket": p["ticket"],
                "side": "long" if p["side"] > 0 else "short",
                "tag": p["tag"],
                "entry_price": p["entry_price"],
                "stop": M.stop_of(M.pf_from_json(p["pf"])),
                "lots_open": M.remaining(M.pf_from_json(p["pf"])) * lot_step(state),
            }
            for cid, p in sorted(state.get("positions", {}).items())
        ],
        "pending": sorted(state.get("pending", {})),
        "stats": state.get("stats"),
        "risk": state.get("risk"),
        "daily": state.get("daily"),
    }


def lot_step(state: dict[str, Any]) -> float:
    return get_instrument(state["identity"]["symbol"]).lot_step
