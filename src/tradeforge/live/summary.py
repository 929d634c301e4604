"""`engine_summary`: positions, P&L and guard state of a saved engine state — per strategy
instance and for the account."""

from __future__ import annotations

from typing import Any

from tradeforge.core.instruments import get_instrument
from tradeforge.live import manager as M
from tradeforge.live.decisions import iso
from tradeforge.live.model import Json, StrategyState
from tradeforge.live.schema import load_engine_state


def _positions(name: str, book: StrategyState) -> list[Json]:
    lot_step = get_instrument(book.identity.symbol).lot_step
    return [
        {
            "id": cid,
            "strategy": name,
            "symbol": book.identity.symbol,
            "trade_id": p.trade_id,
            "ticket": p.ticket,
            "side": "long" if p.side > 0 else "short",
            "tag": p.tag,
            "entry_price": p.entry_price,
            "stop": M.stop_of(M.pf_from_json(p.pf)),
            "lots_open": M.remaining(M.pf_from_json(p.pf)) * lot_step,
        }
        for cid, p in sorted(book.positions.items())
    ]


def engine_summary(stored: Json) -> dict[str, Any]:
    """Positions, P&L and guard state for ``tradeforge status``, from the state as stored
    (`StateRepository.load` gives it migrated to the current layout): the account's totals
    (``stats``: its realized P&L is the sum of the strategies') and each instance's
    (``strategies``)."""
    state = load_engine_state(stored)
    positions = [p for name, book in state.strategies.items() for p in _positions(name, book)]
    return {
        "identity": state.identity.to_json(),
        "seq": stored.get("seq"),
        "last_event": iso(state.last_key[0]) if state.last_key else None,
        "positions": sorted(positions, key=lambda p: p["id"]),
        "pending": sorted(cid for b in state.strategies.values() for cid in b.pending),
        "stats": state.stats.to_json(),
        "risk": state.risk.to_json(),
        "daily": state.daily.to_json(),
        "strategies": {
            name: {
                **book.identity.to_json(),
                "params": book.params,
                "window": book.window,
                "positions": len(book.positions),
                "pending": sorted([*book.pending, *book.queued]),
                "stats": book.stats.to_json(),
                "risk": book.risk.to_json(),
            }
            for name, book in state.strategies.items()
        },
    }
