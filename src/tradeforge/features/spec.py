"""Feature declarations and the registry of features by name.

A feature is a pure function of numpy arrays plus a declaration: its typed parameters, its
inputs (raw columns such as ``"close"``, the bar open times ``"time"``, or outputs of other
features such as ``"atr(14)"`` / ``"bollinger(20,2).bb_upper"`` / ``"ema(50)@M30"``) and the
names of its outputs, and its warm-up (`tradeforge.features.warmup`). See `register_feature`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradeforge.core.timeframes import Timeframe
from tradeforge.features.errors import FeatureError
from tradeforge.features.params import Param, format_value
from tradeforge.features.warmup import Warmup, resolve_warmup

Inputs = Sequence[str] | Callable[[Mapping[str, Any]], Sequence[str]]
Outputs = Sequence[str]
ComputeFn = Callable[..., Any]
Check = Callable[[Mapping[str, Any]], "str | None"]

_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")
_SANITIZE_RE = re.compile(r"[^0-9A-Za-z.\-]+")


@dataclass(frozen=True)
class Feature:
    """Declaration of one feature. Use `register_feature` rather than building it by hand."""

    name: str
    fn: ComputeFn
    params: tuple[Param, ...]
    inputs: Inputs
    outputs: tuple[str, ...]
    check: Check | None = None
    version: str = "1"
    doc: str = ""
    column_names: Callable[[Mapping[str, Any]], Sequence[str]] | None = field(
        default=None, compare=False
    )
    warmup: Warmup | None = field(default=None, compare=False)

    def input_refs(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Inputs for bound ``params``: raw column names or feature references."""
        refs = self.inputs(params) if callable(self.inputs) else self.inputs
        return tuple(refs)

    def label(self, params: Mapping[str, Any]) -> str:
        """Canonical request text, e.g. ``macd(12,26,9)`` or ``ema(50,source='high')``."""
        parts: list[str] = []
        for p in self.params:
            value = params[p.name]
            if p.in_name:
                parts.append(format_value(value))
            elif value != p.default:
                parts.append(f"{p.name}={format_value(value)}")
        return f"{self.name}({','.join(parts)})" if parts else self.name

    def suffix(self, params: Mapping[str, Any]) -> str:
        """Column-name suffix: in-name parameter values and non-default others, ``_``-joined."""
        parts: list[str] = []
        for p in self.params:
            value = params[p.name]
            if p.in_name or value != p.default:
                text = format(value, "g") if isinstance(value, float) else str(value)
                parts.append(_SANITIZE_RE.sub("_", text).strip("_"))
        return "_".join(parts)

    def columns(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Output column names for bound ``params`` (same order as `outputs`)."""
        if self.column_names is not None:
            names = tuple(self.column_names(params))
            if len(names) != len(self.outputs):
                raise FeatureError(
                    f"column_names gave {len(names)} names for {len(self.outputs)} outputs",
                    (self.label(params),),
                )
            return names
        suffix = self.suffix(params)
        return tuple(f"{o}_{suffix}" if suffix else o for o in self.outputs)

    def warmup_bars(self, params: Mapping[str, Any], timeframe: Timeframe) -> int:
        """Declared warm-up in bars of ``timeframe``, excluding the warm-ups of its inputs;
        a feature registered without ``warmup=`` raises `FeatureError`."""
        if self.warmup is None:
            raise FeatureError(
                "declares no warm-up (register it with warmup=), so no live window can be "
                "derived from it",
                (self.label(params),),
            )
        try:
            return resolve_warmup(self.warmup, params, timeframe)
        except ValueError as exc:
            raise FeatureError(str(exc), (self.label(params),)) from None

    def run(self, arrays: Sequence[np.ndarray], params: Mapping[str, Any]) -> list[np.ndarray]:
        """Call the compute function and normalise its result to one array per output."""
        result = self.fn(*arrays, **params)
        if isinstance(result, Mapping):
            result = [result[o] for o in self.outputs]
        elif isinstance(result, np.ndarray):
            result = [result]
        else:
            result = list(result)
        if len(result) != len(self.outputs):
            raise FeatureError(
                f"returned {len(result)} arrays for {len(self.outputs)} outputs",
                (self.label(params),),
            )
        n = len(arrays[0]) if arrays else None
        out = []
        for name, arr in zip(self.outputs, result, strict=True):
            arr = np.asarray(arr)
            if arr.dtype.kind in "biuf":
                arr = np.ascontiguousarray(arr, dtype=np.float64)
            if arr.ndim != 1 or (n is not None and len(arr) != n):
                raise FeatureError(
                    f"output {name!r} has shape {arr.shape}, expected ({n},)",
                    (self.label(params),),
                )
            out.append(arr)
        return out


_REGISTRY: dict[str, Feature] = {}


def register_feature(
    name: str,
    *,
    inputs: Inputs,
    outputs: Outputs,
    params: Sequence[Param] = (),
    check: Check | None = None,
    version: str = "1",
    column_names: Callable[[Mapping[str, Any]], Sequence[str]] | None = None,
    warmup: Warmup | None = None,
    replace: bool = False,
) -> Callable[[ComputeFn], ComputeFn]:
    """Decorator registering ``fn(*input_arrays, **params)`` as feature ``name``.

    ``fn`` returns one array per output (a single array, a tuple, or a dict by output name),
    each as long as the inputs. ``check`` validates parameters together and returns an error
    text or None. Bump ``version`` when the computation changes (it keys the disk cache).

    ``warmup`` is the number of bars before a value that the value depends on (its inputs'
    warm-ups excluded: the graph adds them): an int, a `Periods` of calendar time, or a
    callable of the bound parameters returning either (``lambda p: p["period"] - 1``).
    Without it the feature computes as usual, but `warmup_bars` (the dry-run/live window)
    refuses requests that use it rather than guess.
    """
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"feature name {name!r} must match {_NAME_RE.pattern}")
    if not outputs:
        raise ValueError(f"feature {name!r} declares no outputs")
    if warmup is not None and not callable(warmup):
        resolve_warmup(warmup, {}, Timeframe("M", 1))  # a bad constant fails here, not live

    def decorate(fn: ComputeFn) -> ComputeFn:
        if name in _REGISTRY and not replace:
            raise ValueError(f"feature {name!r} is already registered")
        _REGISTRY[name] = Feature(
            name=name,
            fn=fn,
            params=tuple(params),
            inputs=inputs if callable(inputs) else tuple(inputs),
            outputs=tuple(outputs),
            check=check,
            version=version,
            doc=(fn.__doc__ or "").strip(),
            column_names=column_names,
            warmup=warmup,
        )
        return fn

    return decorate


def unregister_feature(name: str) -> None:
    """Remove ``name`` from the registry (tests and plugins)."""
    _REGISTRY.pop(name, None)


def get_feature(name: str, path: Sequence[str] = ()) -> Feature:
    """The registered feature ``name``; unknown names raise `FeatureError`."""
    _ensure_library()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise FeatureError(f"unknown feature {name!r}", path) from None


def available_features() -> dict[str, Feature]:
    """All registered features by name (sorted)."""
    _ensure_library()
    return dict(sorted(_REGISTRY.items()))


def _ensure_library() -> None:
    import tradeforge.features.library  # noqa: F401  (registers the built-in features)
