"""Backtesting: the Numba bar loop over the trading core's rules, parallel runner, result files.

Quick use::

    from tradeforge.backtest import ExecutionModel, Sizing, run_backtest
    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.strategy import get_strategy

    bars = generate_bars("EURUSD", "H1", "2024-01-01", "2024-04-01", seed=1)
    result = run_backtest(get_strategy("sma_cross")(), {"EURUSD": bars},
                          execution=ExecutionModel(commission=3.5), sizing=Sizing("risk", 1))
    result.trades, result.legs, result.equity, result.counters
"""

from tradeforge.backtest.engine import SymbolRun, simulate_symbol
from tradeforge.backtest.io import write_result
from tradeforge.backtest.runner import backtest_signals, combine_runs, run_backtest
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
    "SymbolRun",
    "backtest_signals",
    "combine_runs",
    "run_backtest",
    "simulate_symbol",
    "write_result",
]
