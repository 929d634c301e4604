"""Strategies: typed parameters, declared features, and a pure ``signals(frame)`` step.

Quick use::

    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.strategy import get_strategy

    bars = generate_bars("EURUSD", "H1", "2024-01-01", "2024-04-01", seed=1)
    strat = get_strategy("sma_cross")(fast=10, slow=30, stop_pips=20, target_pips=40)
    frame = strat.compute_features(bars)
    sigs = strat.signals(frame, "EURUSD")
"""

from tradeforge.strategy.base import Strategy, StrategyParams
from tradeforge.strategy.registry import (
    available_strategies,
    create_strategy,
    get_strategy,
    load_strategy_config,
    parse_params,
    register_strategy,
    resolve_strategy,
)
from tradeforge.strategy.signals import (
    MAX_TARGETS,
    BreakEven,
    SignalError,
    Signals,
    Target,
    Trailing,
    make_signals,
    validate_signals,
)

__all__ = [
    "MAX_TARGETS",
    "BreakEven",
    "SignalError",
    "Signals",
    "Strategy",
    "StrategyParams",
    "Target",
    "Trailing",
    "available_strategies",
    "create_strategy",
    "get_strategy",
    "load_strategy_config",
    "make_signals",
    "parse_params",
    "register_strategy",
    "resolve_strategy",
    "validate_signals",
]
