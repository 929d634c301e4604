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

from pathlib import Path
from typing import Any

from tradeforge.core.config import read_config_file
from tradeforge.core.errors import ConfigError

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
