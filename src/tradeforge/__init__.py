"""tradeforge — end-to-end quantitative trading research and execution framework.

Quick use::

    import tradeforge as tf
    from tradeforge.data.sources.synthetic import generate_bars

    bars = generate_bars("EURUSD", "H1", "2023-01-01", "2024-01-01", seed=1)
    run = tf.Backtest(bars, "sma_cross", symbol="EURUSD", fast=10, slow=30).run()
    run.stats["sharpe"], run.trades, run.equity

`Backtest`, `BacktestRun` and `optimize` (`tradeforge.api`) load on first use, so
``import tradeforge`` (and the command's start-up) stays fast.
"""

from tradeforge import _numba_cache
from tradeforge._lazy import lazy_exports

_numba_cache.configure()

__all__ = ["Backtest", "BacktestRun", "optimize"]
__getattr__, __dir__ = lazy_exports(
    __name__, {"tradeforge.api": tuple(__all__), "tradeforge._version": ("__version__",)}
)
