"""The trading core shared by the backtester and the dry-run/live engine.

It owns what both must agree on, each in one place: the execution model and sizing
(`execution`), the exit and entry rules as Numba functions (`rules`), money conversion into an
account currency (`fx`) and the result contract — trade, leg and equity columns, exit reasons
(`result`). `tradeforge.backtest` loops over bars with these rules; `tradeforge.live` applies
them per bar and per tick.
"""

from tradeforge.trading.execution import ExecutionModel, Sizing
from tradeforge.trading.result import (
    EQUITY_COLUMNS,
    EXIT_REASONS,
    LEG_COLUMNS,
    TRADE_COLUMNS,
    BacktestResult,
)

__all__ = [
    "EQUITY_COLUMNS",
    "EXIT_REASONS",
    "LEG_COLUMNS",
    "TRADE_COLUMNS",
    "BacktestResult",
    "ExecutionModel",
    "Sizing",
]
