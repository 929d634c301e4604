"""The Python API: backtest a strategy in a few lines, then inspect, report, plot, optimise.

Quick use::

    import tradeforge as tf
    from tradeforge.data.sources.synthetic import generate_bars

    bars = generate_bars("EURUSD", "H1", "2023-01-01", "2024-01-01", seed=1)
    bt = tf.Backtest(bars, "sma_cross", symbol="EURUSD", fast=10, slow=30, sizing="risk:1")
    run = bt.run()
    run.stats["sharpe"], run.trades, run.equity
    res = tf.optimize(bt, {"fast": "5:20:5", "slow": [30, 60]}, objective="sharpe")
    res.best_params
"""

from tradeforge.api.backtest import Backtest
from tradeforge.api.run import BacktestRun
from tradeforge.api.search import optimize

__all__ = ["Backtest", "BacktestRun", "optimize"]
