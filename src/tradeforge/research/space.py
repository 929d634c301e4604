"""Search spaces over a strategy's declared parameters.

A dimension comes from a CLI string or a config value:

* ``fast=5:30:5`` — inclusive range with a step (``5, 10, …, 30``);
* ``fast=5:30`` — inclusive range without a step: every integer for an ``int`` parameter,
  a continuous interval for a ``float`` one (random/Optuna only; a grid needs a step);
* ``risk=0.001:0.1:log`` — continuous, sampled log-uniformly;
* ``slow=20,40,60`` — explicit choices; ``slow=40`` — one fixed value.

In a YAML/TOML config a dimension is a string as above, a list of choices, a scalar, or a
mapping ``{low, high, step, log}``. Values are coerced to the parameter's declared type
(``int``, ``float``, ``bool``, ``str``); unknown parameter names are an error.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeforge.core.errors import ConfigError
from tradeforge.strategy.base import Strategy

Params = dict[str, Any]


def _round(x: float) -> float:
    """Drop binary noise from stepped floats (``0.1 * 3`` -> ``0.3``)."""
    return float(f"{x:.12g}")


def param_key(params: Mapping[str, Any]) -> tuple:
    """Hashable, order-independent key of a parameter set."""
    return tuple(sorted(params.items()))


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: explicit ``choices`` or a numeric range ``[low, high]``."""

    name: str
    dtype: type
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    def __post_init__(self) -> None:
        if self.choices is not None:
            if not self.choices:
                raise ConfigError(f"space {self.name!r}: no values")
            return
        if self.low is None or self.high is None or not self.low <= self.high:
            raise ConfigError(f"space {self.name!r}: range needs low <= high")
        if self.step is not None and not self.step > 0:
            raise ConfigError(f"space {self.name!r}: step must be > 0")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ConfigError(f"space {self.name!r}: a log range needs low > 0 and no step")
        if self.dtype is int:
            for v in (self.low, self.high, self.step):
                if v is not None and v != int(v):
                    raise ConfigError(f"space {self.name!r}: integer parameter, got {v}")

    @property
    def continuous(self) -> bool:
        """True when the dimension has no finite list of values."""
        return self.choices is None and self.step is None and self.dtype is not int

    def values(self) -> list[Any]:
        """Every value of a discrete dimension, in ascending (or declared) order."""
        if self.choices is not None:
            return list(self.choices)
        if self.continuous:
            raise ConfigError(
                f"space {self.name!r}: a continuous range has no grid; give a step "
                f"({self.low}:{self.high}:STEP) or use --method random/optuna"
            )
        step = self.step if self.step is not None else 1
        count = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        if self.dtype is int:
            return [int(self.low + k * step) for k in range(count)]
        return [_round(self.low + k * step) for k in range(count)]

    def sample(self, rng: np.random.Generator) -> Any:
        if not self.continuous:
            vals = self.values()
            return vals[int(rng.integers(len(vals)))]
        if self.log:
            return _round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return _round(rng.uniform(self.low, self.high))

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna ``trial`` suggests for this dimension."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.dtype is int:
            step = int(self.step or 1)
            return int(trial.suggest_int(self.name, int(self.low), int(self.high), step=step))
        if self.step is not None:
            return _round(trial.suggest_float(self.name, self.low, self.high, step=self.step))
        return _round(trial.suggest_float(self.name, self.low, self.high, log=self.log))

    def neighbours(self, value: Any) -> list[Any]:
        """Values one step away (for continuous ranges: ±5 % of the range)."""
        if not self.continuous:
            vals = self.values()
            try:
                i = vals.index(value)
            except ValueError:
                return []
            return [vals[j] for j in (i - 1, i + 1) if 0 <= j < len(vals)]
        delta = 0.05 * (self.high - self.low)
        out = [_round(value - delta), _round(value + delta)]
        return [v for v in out if self.low <= v <= self.high and v != value]

    def describe(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step is not None:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out


def _coerce(name: str, dtype: type, value: Any) -> Any:
    try:
        if dtype is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if dtype is int:
            f = float(value)
            if f != int(f):
                raise ValueError(value)
            return int(f)
        if dtype is float:
            return float(value)
        return str(value).strip() if isinstance(value, str) else value
    except (TypeError, ValueError):
        raise ConfigError(f"space {name!r}: cannot read {value!r} as {dtype.__name__}") from None


def _field_types(strategy: type[Strategy]) -> dict[str, type]:
    out: dict[str, type] = {}
    for name, info in strategy.Params.model_fields.items():
        ann = info.annotation
        out[name] = ann if ann in (int, float, bool, str) else str
    return out


def parse_dimension(name: str, spec: Any, dtype: type) -> Dimension:
    """A `Dimension` from a CLI string or a config value (see the module docstring)."""
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"low", "high", "step", "log", "choices", "values"}
        if unknown:
            raise ConfigError(f"space {name!r}: unknown keys {sorted(unknown)}")
        choices = spec.get("choices", spec.get("values"))
        if choices is not None:
            return parse_dimension(name, list(choices), dtype)
        if "low" not in spec or "high" not in spec:
            raise ConfigError(f"space {name!r}: a range needs 'low' and 'high'")
        step = spec.get("step")
        return Dimension(
            name,
            dtype,
            low=_coerce(name, float, spec["low"]),
            high=_coerce(name, float, spec["high"]),
            step=None if step is None else _coerce(name, float, step),
            log=bool(spec.get("log", False)),
        )
    if isinstance(spec, (list, tuple)):
        values = tuple(dict.fromkeys(_coerce(name, dtype, v) for v in spec))
        return Dimension(name, dtype, choices=values)
    if not isinstance(spec, str):
        return Dimension(name, dtype, choices=(_coerce(name, dtype, spec),))
    text = spec.strip()
    if not text:
        raise ConfigError(f"space {name!r}: empty specification")
    if ":" in text and dtype in (int, float):
        parts = [p.strip() for p in text.split(":")]
        log = parts[-1].lower() == "log"
        if log:
            parts = parts[:-1]
        if len(parts) not in (2, 3):
            raise ConfigError(f"space {name!r}: use low:high[:step|:log], got {spec!r}")
        low, high = (_coerce(name, float, p) for p in parts[:2])
        step = _coerce(name, float, parts[2]) if len(parts) == 3 else None
        return Dimension(name, dtype, low=low, high=high, step=step, log=log)
    return parse_dimension(name, [p for p in text.split(",") if p.strip()], dtype)


@dataclass(frozen=True)
class ParameterSpace:
    """Searched dimensions (declaration order) plus parameters held fixed."""

    dimensions: tuple[Dimension, ...]
    fixed: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_specs(
        cls,
        strategy: type[Strategy],
        specs: Mapping[str, Any] | Iterable[str],
        fixed: Mapping[str, Any] | None = None,
    ) -> ParameterSpace:
        """From ``{"fast": "5:30:5", …}`` or CLI items ``["fast=5:30:5", …]``."""
        if not isinstance(specs, Mapping):
            pairs: dict[str, Any] = {}
            for item in specs:
                key, sep, value = str(item).partition("=")
                if not sep or not key.strip():
                    raise ConfigError(f"--space {item!r} must look like name=spec")
                pairs[key.strip()] = value
            specs = pairs
        types = _field_types(strategy)
        dims = []
        for name, spec in specs.items():
            if name not in types:
                raise ConfigError(
                    f"strategy {strategy.name!r} has no parameter {name!r} "
                    f"(parameters: {', '.join(types)})"
                )
            dims.append(parse_dimension(name, spec, types[name]))
        if not dims:
            raise ConfigError("the search space is empty (give at least one --space)")
        fixed = dict(fixed or {})
        clash = sorted(set(fixed) & {d.name for d in dims})
        if clash:
            raise ConfigError(f"parameters both fixed and searched: {', '.join(clash)}")
        for name in fixed:
            if name not in types:
                raise ConfigError(f"strategy {strategy.name!r} has no parameter {name!r}")
        fixed_items = tuple((k, _coerce(k, types[k], v)) for k, v in sorted(fixed.items()))
        return cls(tuple(dims), fixed_items)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @property
    def size(self) -> int | None:
        """Number of grid points (None when a dimension is continuous)."""
        if any(d.continuous for d in self.dimensions):
            return None
        return math.prod(len(d.values()) for d in self.dimensions)

    def complete(self, searched: Mapping[str, Any]) -> Params:
        """Searched values plus the fixed ones (the full parameter set of a trial)."""
        return {**dict(self.fixed), **searched}

    def grid(self) -> list[Params]:
        """Every grid point; the last dimension varies fastest."""
        axes = [d.values() for d in self.dimensions]
        return [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*axes)]

    def sample(self, n: int, seed: int) -> list[Params]:
        """``n`` seeded random points (dimensions drawn in declaration order)."""
        rng = np.random.default_rng(seed)
        return [{d.name: d.sample(rng) for d in self.dimensions} for _ in range(n)]

    def neighbours(self, point: Mapping[str, Any]) -> list[Params]:
        """Points one step away from ``point`` along each dimension."""
        out = []
        for d in self.dimensions:
            for v in d.neighbours(point[d.name]):
                out.append({**point, d.name: v})
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "dimensions": {d.name: d.describe() for d in self.dimensions},
            "fixed": dict(self.fixed),
            "grid_size": self.size,
        }
