"""Typed, validated feature parameters."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradeforge.features.errors import FeatureError

_TYPES: dict[type, str] = {int: "int", float: "float", str: "str", bool: "bool"}


@dataclass(frozen=True)
class Param:
    """One parameter of a feature.

    ``in_name``: the value always appears in output column names (``atr_14``); other
    parameters appear only when they differ from their default (``ema_50_high``).
    """

    name: str
    type: type
    default: Any = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    choices: tuple[Any, ...] | None = None
    in_name: bool = True
    doc: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"parameter {self.name!r}: unsupported type {self.type!r}")

    @property
    def required(self) -> bool:
        return self.default is None

    def coerce(self, value: Any, path: Sequence[str]) -> Any:
        """Return ``value`` converted to this parameter's type, or raise `FeatureError`."""
        tname = _TYPES[self.type]

        def bad(why: str) -> FeatureError:
            return FeatureError(f"parameter {self.name!r} {why}, got {value!r}", path)

        if self.type is bool:
            if not isinstance(value, bool):
                raise bad("must be a bool")
        elif self.type is int:
            if isinstance(value, bool):
                raise bad("must be an int")
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                raise bad("must be an int")
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad("must be a number")
            value = float(value)
            if not math.isfinite(value):
                raise bad("must be finite")
        elif not isinstance(value, str):
            raise bad(f"must be a {tname}")
        if self.ge is not None and value < self.ge:
            raise bad(f"must be >= {self.ge:g}")
        if self.gt is not None and value <= self.gt:
            raise bad(f"must be > {self.gt:g}")
        if self.le is not None and value > self.le:
            raise bad(f"must be <= {self.le:g}")
        if self.choices is not None and value not in self.choices:
            raise bad(f"must be one of {list(self.choices)}")
        return value


def bind_params(
    params: Sequence[Param],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    path: Sequence[str],
) -> dict[str, Any]:
    """Map positional and keyword arguments onto ``params``; fill defaults; validate types."""
    if len(args) > len(params):
        raise FeatureError(
            f"takes at most {len(params)} parameters ({', '.join(p.name for p in params)}),"
            f" got {len(args)}",
            path,
        )
    names = [p.name for p in params]
    raw: dict[str, Any] = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            raise FeatureError(f"unknown parameter {key!r}; expected one of {names}", path)
        if key in raw:
            raise FeatureError(f"parameter {key!r} given twice", path)
        raw[key] = value
    bound: dict[str, Any] = {}
    for p in params:
        if p.name in raw:
            bound[p.name] = p.coerce(raw[p.name], path)
        elif p.required:
            raise FeatureError(f"missing required parameter {p.name!r}", path)
        else:
            bound[p.name] = p.default
    return bound


def format_value(value: Any) -> str:
    """Compact, deterministic text of a parameter value for request strings."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, str):
        return repr(value)
    return str(value)
