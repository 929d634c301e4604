"""`optimize`: a parameter search around a configured `Backtest`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tradeforge.api.backtest import Backtest
from tradeforge.api.inputs import given_params
from tradeforge.core.errors import ConfigError
from tradeforge.research import (
    Objective,
    OptimizeResult,
    ParameterSpace,
    make_backend,
)
from tradeforge.research import optimize as run_search


def optimize(
    backtest: Backtest,
    space: Mapping[str, Any] | Iterable[str],
    *,
    objective: str = "expectancy_r",
    minimize: bool = False,
    min_trades: int = 0,
    constraints: Iterable[str] = (),
    method: str = "grid",
    n_trials: int | None = None,
    seed: int = 0,
    workers: int = 1,
) -> OptimizeResult:
    """Search ``space`` (``{"fast": "5:30:5", "slow": [20, 40, 60]}`` or ``["fast=5:30:5"]``)
    with ``backtest``'s bars, costs, sizing and capital, the strategy parameters it was given
    held fixed, scoring each trial by the report metric ``objective``
    (`tradeforge.research.optimize.optimize`; ``workers`` processes run the trials)."""
    spec = backtest.spec
    if spec.account_currency is not None:
        raise ConfigError("optimize sizes and scores in quote currency: drop account_currency")
    cls = type(backtest.strategy)
    searched = ParameterSpace.from_specs(cls, space).names
    fixed = {k: v for k, v in given_params(backtest.strategy).items() if k not in searched}
    backend = make_backend(workers)
    try:
        return run_search(
            cls,
            backtest.bars,
            ParameterSpace.from_specs(cls, space, fixed),
            method=method,
            n_trials=n_trials,
            seed=seed,
            objective=Objective.build(
                objective, minimize=minimize, min_trades=min_trades, constraints=constraints
            ),
            backend=backend,
            execution=backtest.execution,
            sizing=backtest.sizing,
            position_mode=spec.position_mode,
            portfolio=spec.portfolio,
            initial_capital=spec.initial_capital,
            timeframe=spec.timeframe,
        )
    finally:
        backend.close()
