"""Research tools: parameter search, walk-forward validation, regimes, feature expectancy,
R-distribution and backtest-vs-live consistency.

Optuna and Dask are optional (``pip install "tradeforge[research]"``) and imported only by
the code paths that use them.
"""
