"""Research tools: parameter search, walk-forward validation, regimes, feature expectancy,
R-distribution and backtest-vs-live consistency.

Quick use::

    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.research import Objective, ParameterSpace, WalkForwardConfig
    from tradeforge.research import optimize, walk_forward
    from tradeforge.strategy import get_strategy

    bars = {"EURUSD": generate_bars("EURUSD", "H1", "2022-01-01", "2024-01-01", seed=3)}
    SMA = get_strategy("sma_cross")
    space = ParameterSpace.from_specs(SMA, {"fast": "5:20:5", "slow": [30, 60]})
    res = optimize(SMA, bars, space, objective=Objective.build("sharpe", min_trades=20))
    res.top(3), res.best_params
    wf = walk_forward(SMA, bars, space, WalkForwardConfig.build("6M", "3M"))
    wf.folds, wf.summary

Optuna and Dask are optional (``pip install "tradeforge[research]"``) and imported only by
the code paths that use them. `tradeforge.api.optimize` searches around a configured
`tradeforge.api.Backtest`.
"""

from tradeforge.research.backends import (
    DaskBackend,
    InProcessBackend,
    ProcessBackend,
    make_backend,
)
from tradeforge.research.config import SearchSettings
from tradeforge.research.consistency import Thresholds, compare_trades, match_trades
from tradeforge.research.evaluate import METRICS
from tradeforge.research.feature_stats import analyze_features
from tradeforge.research.io import load_result, load_trades
from tradeforge.research.objective import Constraint, Objective
from tradeforge.research.optimize import OptimizeResult, optimize
from tradeforge.research.rdist import analyze_r, monte_carlo, r_distribution
from tradeforge.research.regimes import analyze_regimes
from tradeforge.research.space import ParameterSpace
from tradeforge.research.walkforward import WalkForwardConfig, WalkForwardResult, walk_forward

__all__ = [
    "METRICS",
    "Constraint",
    "DaskBackend",
    "InProcessBackend",
    "Objective",
    "OptimizeResult",
    "ParameterSpace",
    "ProcessBackend",
    "SearchSettings",
    "Thresholds",
    "WalkForwardConfig",
    "WalkForwardResult",
    "analyze_features",
    "analyze_r",
    "analyze_regimes",
    "compare_trades",
    "load_result",
    "load_trades",
    "make_backend",
    "match_trades",
    "monte_carlo",
    "optimize",
    "r_distribution",
    "walk_forward",
]
