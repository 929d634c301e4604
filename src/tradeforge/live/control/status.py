"""The control part of ``ctl status``: switches, blackout windows and commands waiting."""

from __future__ import annotations

from tradeforge.live.control.blackout import id_key, window_text
from tradeforge.live.model import EngineState, Json


def control_status(state: EngineState) -> Json:
    """What the operator has set, as JSON (``ctl status``, ``ctl blackout list``)."""
    return {
        "paused": state.control.paused,
        "strategies": {k: v.to_json() for k, v in sorted(state.control.strategies.items())},
        "blackouts": [
            {
                "id": wid,
                "window": window_text(state.blackouts[wid]),
                **state.blackouts[wid].to_json(),
            }
            for wid in sorted(state.blackouts, key=id_key)
        ],
        "pending_commands": [
            {"id": c.id, "command": c.name, "args": c.args, "received": c.received}
            for c in sorted(state.commands.values(), key=lambda c: c.id)
        ],
        "halted": state.risk.halted,
    }
