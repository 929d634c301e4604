"""The typed loader's validation: is a stored body an `EngineState`, field by field?

A state file can carry a valid checksum and still be malformed (written by another version,
edited with a recomputed checksum); checking every field against the `tradeforge.live.model`
types turns that into a `StateError` naming the field, instead of a KeyError or TypeError deep
inside the engine. The checks are read off the dataclasses' type hints, so the model is the
one description of the layout. They run when a document is loaded, never per event.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any

from tradeforge.core.errors import StateError
from tradeforge.live.model import EngineState

_EXPECTED = {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}


def _type_error(path: str, value: Any, expected: str) -> StateError:
    return StateError(f"{path!r} is {type(value).__name__}, expected {expected}")


@cache
def _hints(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _is(value: Any, kind: type) -> bool:
    if kind is float:  # JSON writes integral floats as they are: accept any number
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check(value: Any, hint: Any, path: str) -> None:
    if hint is Any:
        return
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        (hint,) = (a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        _check_record(value, hint, path)
    elif origin is dict:
        if not isinstance(value, dict):
            raise _type_error(path, value, "a mapping")
        for key, item in value.items():
            _check(item, args[1], f"{path}.{key}")
    elif origin in (list, tuple):
        if not isinstance(value, list):
            raise _type_error(path, value, "a list")
        item_hint = args[0]
        for i, item in enumerate(value):
            _check(item, item_hint, f"{path}[{i}]")
    elif not _is(value, hint):
        raise _type_error(path, value, _EXPECTED.get(hint, hint.__name__))


def _check_record(value: Any, cls: type, path: str) -> None:
    if not isinstance(value, dict):
        raise _type_error(path or "state", value, "a mapping")
    prefix = f"{path}." if path else ""
    names = set()
    for name, hint in _hints(cls):
        names.add(name)
        if name not in value:
            raise StateError(f"{prefix + name!r} missing")
        _check(value[name], hint, prefix + name)
    extra = sorted(k for k in value if k not in names)
    if extra:
        raise StateError(f"{prefix + extra[0]!r} is not a field of the state")


def load_engine_state(body: Any) -> EngineState:
    """The `EngineState` of a (migrated) stored body; `StateError` names what is wrong."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("seq", "schema_version")}
    _check_record(body, EngineState, "")
    last = body["last_key"]
    if last is not None and len(last) != 2:
        raise StateError(f"'last_key' has {len(last)} items, expected (time, priority)")
    return EngineState.from_json(body)


def check_engine_state(body: Any) -> None:
    """Raise `StateError` (what is wrong) unless ``body`` is a well-formed engine state."""
    load_engine_state(body)
