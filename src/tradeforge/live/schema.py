"""The shape of an engine state, checked when it is loaded.

A state file can carry a valid checksum and still be malformed (written by another version,
edited with a recomputed checksum); checking the top-level keys and their types turns that into
a `StateError` naming the file, instead of a KeyError or TypeError deep inside the engine.
"""

from __future__ import annotations

from typing import Any

from tradeforge.core.errors import StateError

_NUMBER = (int, float)
_MAPPINGS = ("identity", "positions", "pending", "signals", "daily", "risk", "stats")
_RECORD_MAPPINGS = ("positions", "pending", "queued")  # each entry is a record (a mapping)
_STATS = ("trades", "realized", "orders", "next_trade_id")


def _type_error(key: str, value: Any, expected: str) -> StateError:
    return StateError(f"{key!r} is {type(value).__name__}, expected {expected}")


def check_engine_state(state: dict[str, Any]) -> None:
    """Raise `StateError` (what is wrong) unless ``state`` has the engine state's shape."""
    for key in (*_MAPPINGS, "last_key"):
        if key not in state:
            raise StateError(f"{key!r} missing")
    for key in _MAPPINGS:
        if not isinstance(state[key], dict):
            raise _type_error(key, state[key], "a mapping")
    if state["last_key"] is not None and not isinstance(state["last_key"], list):
        raise _type_error("last_key", state["last_key"], "a list or null")
    for key in _RECORD_MAPPINGS:
        entries = state.get(key) or {}
        if not isinstance(entries, dict):
            raise _type_error(key, entries, "a mapping")
        bad = next((k for k, v in entries.items() if not isinstance(v, dict)), None)
        if bad is not None:
            raise _type_error(f"{key}.{bad}", entries[bad], "a mapping")
    for key in _STATS:
        value = state["stats"].get(key)
        if isinstance(value, bool) or not isinstance(value, _NUMBER):
            raise _type_error(f"stats.{key}", value, "a number")
    if "halted" not in state["risk"]:
        raise StateError("'risk.halted' missing")
