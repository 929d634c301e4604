"""Friendly inputs of the Python API turned into the library's own objects (or a clear
`ConfigError` / `DataValidationError`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from tradeforge.core.errors import ConfigError
from tradeforge.core.names import validate_symbol
from tradeforge.data.validate import validate_ohlcv
from tradeforge.strategy.base import Strategy
from tradeforge.strategy.registry import get_strategy
from tradeforge.trading.execution import ExecutionModel, Sizing

Bars = pd.DataFrame | Mapping[str, pd.DataFrame]
StrategyLike = str | type[Strategy] | Strategy


def bars_of(bars: Bars, symbol: str | None) -> dict[str, pd.DataFrame]:
    """``{SYMBOL: bars}``, every frame checked against the OHLCV rules (`validate_ohlcv`).

    A single frame is named by ``symbol`` or its ``attrs["symbol"]``."""
    if isinstance(bars, pd.DataFrame):
        name = symbol or bars.attrs.get("symbol")
        if not name:
            raise ConfigError("bars is a single DataFrame: give symbol= (e.g. symbol='EURUSD')")
        bars = {name: bars}
    elif symbol is not None:
        raise ConfigError("symbol= names a single DataFrame; a mapping names its own symbols")
    if not isinstance(bars, Mapping) or not bars:
        raise ConfigError("bars must be a DataFrame or a non-empty mapping symbol -> DataFrame")
    frames: dict[str, pd.DataFrame] = {}
    for name, frame in bars.items():
        sym = validate_symbol(str(name))
        if not isinstance(frame, pd.DataFrame):
            raise ConfigError(f"bars of {sym} must be a DataFrame, got {type(frame).__name__}")
        validate_ohlcv(frame, f"bars of {sym}")
        frames[sym] = frame
    return frames


def strategy_class_of(strategy: str | type[Strategy]) -> type[Strategy]:
    """The class of a registered name or a `Strategy` subclass."""
    if isinstance(strategy, str):
        return get_strategy(strategy)
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        return strategy
    raise ConfigError(
        f"strategy must be a registered name or a Strategy subclass, got {strategy!r}"
    )


def strategy_of(strategy: StrategyLike, params: Mapping[str, Any]) -> Strategy:
    """A validated instance; ``params`` override those of a given instance."""
    if isinstance(strategy, Strategy):
        if not params:
            return strategy
        return type(strategy)({**given_params(strategy), **params})
    return strategy_class_of(strategy)(dict(params))


def given_params(strategy: Strategy) -> dict[str, Any]:
    """The parameters set explicitly on ``strategy`` (the others keep their defaults)."""
    return strategy.params.model_dump(exclude_unset=True)


def sizing_of(sizing: Sizing | str | float) -> Sizing:
    """`Sizing` from itself, lots (``0.1``) or text (``"0.1"``, ``"fixed:0.1"``, ``"risk:1"``)."""
    if isinstance(sizing, Sizing):
        return sizing
    if isinstance(sizing, str):
        return Sizing.parse(sizing)
    if isinstance(sizing, (int, float)) and not isinstance(sizing, bool):
        return Sizing("fixed", float(sizing))
    raise ConfigError(f"sizing must be lots, 'fixed:LOTS', 'risk:PCT' or a Sizing, got {sizing!r}")


def execution_of(execution: ExecutionModel | None, **costs: Any) -> ExecutionModel:
    """``execution`` itself, or a model from the cost keywords that were given (not None):
    ``commission``, ``spread`` (pips or ``"data"``), ``slippage`` (pips or ``"atr:0.05"`` …),
    ``swap_long``, ``swap_short``, ``slippage_seed``."""
    given = {k: v for k, v in costs.items() if v is not None}
    if execution is not None:
        if given:
            raise ConfigError(
                f"give execution= or cost keywords ({', '.join(sorted(given))}), not both"
            )
        return execution
    slippage = given.pop("slippage", None)
    seed = given.pop("slippage_seed", 0)
    return ExecutionModel(
        **given,
        seed=seed,
        **ExecutionModel.parse_slippage(None if slippage is None else str(slippage)),
    )
