"""Search settings from a YAML/TOML file (command-line options override them).

Example (``optimize.yaml``)::

    strategy: sma_cross
    params: {stop_pips: 20}          # held fixed
    space:
      fast: "5:30:5"                 # or {low: 5, high: 30, step: 5}
      slow: [20, 40, 60]
    method: optuna
    trials: 100
    seed: 7
    objective: {metric: expectancy_r, direction: maximize, min_trades: 30,
                constraints: ["profit_factor>=1.1"]}
    walkforward: {scheme: rolling, train: 6M, test: 2M}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeforge.core.config import read_config_file
from tradeforge.core.errors import ConfigError
from tradeforge.research.objective import Objective
from tradeforge.research.space import ParameterSpace
from tradeforge.strategy import get_strategy, parse_params

KEYS = frozenset(
    {"strategy", "params", "space", "method", "trials", "seed", "objective", "walkforward"}
)


def load_search_config(path: str | Path | None) -> dict[str, Any]:
    """The settings mapping of ``path`` (empty without a path); unknown keys are an error."""
    if path is None:
        return {}
    data = read_config_file(path, "search config")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ConfigError(f"search config {path}: unknown keys {unknown} (known: {sorted(KEYS)})")
    for key in ("params", "space", "objective", "walkforward"):
        if key in data and not isinstance(data[key], dict):
            raise ConfigError(f"search config {path}: '{key}' must be a mapping")
    return data


@dataclass(frozen=True)
class SearchSettings:
    """What a parameter search runs: the strategy class, the space (searched parameters and
    fixed ones), the method, trials, seed and objective, and the config's ``walkforward``
    settings — the config file's values overridden by the caller's (the command's options)."""

    strategy: type
    space: ParameterSpace
    method: str
    trials: int | None
    seed: int
    objective: Objective
    walkforward: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(
        cls,
        config: str | Path | None = None,
        *,
        strategy: str | None = None,
        params: Iterable[str] = (),
        space: Iterable[str] = (),
        method: str | None = None,
        trials: int | None = None,
        seed: int | None = None,
        objective: str | None = None,
        minimize: bool = False,
        min_trades: int | None = None,
        constraints: Iterable[str] = (),
    ) -> SearchSettings:
        """``params`` are ``name=value`` texts held fixed, ``space`` ``name=spec`` texts
        searched (a searched name is no longer fixed); None means "the config's, or the
        default"."""
        cfg = load_search_config(config)
        named = cfg.get("strategy")
        if strategy and named and strategy != named:
            raise ConfigError(f"--strategy {strategy!r} disagrees with {named!r} in {config}")
        name = strategy or named
        if not name:
            raise ConfigError("no strategy given (use --strategy or 'strategy:' in the config)")
        strategy_cls = get_strategy(str(name))
        fixed = {**dict(cfg.get("params") or {}), **parse_params(list(params))}
        specs: dict[str, Any] = dict(cfg.get("space") or {})
        for item in space:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--space {item!r} must look like name=spec")
            specs[key.strip()] = value
        for key in specs:
            fixed.pop(key, None)
        ocfg = dict(cfg.get("objective") or {})
        return cls(
            strategy=strategy_cls,
            space=ParameterSpace.from_specs(strategy_cls, specs, fixed),
            method=method or cfg.get("method") or "grid",
            trials=trials if trials is not None else cfg.get("trials"),
            seed=int(seed if seed is not None else cfg.get("seed", 0)),
            objective=Objective.build(
                objective or ocfg.get("metric", "expectancy_r"),
                minimize=minimize or ocfg.get("direction") == "minimize",
                min_trades=min_trades if min_trades is not None else ocfg.get("min_trades", 0),
                constraints=[*ocfg.get("constraints", []), *constraints],
            ),
            walkforward=dict(cfg.get("walkforward") or {}),
        )
