"""Built-in feature library; importing it registers every feature.

Modules: trend (sma, ema, wma, hma, macd, adx, linreg_slope), volatility (true_range, atr,
bollinger, keltner, realized_vol, atr_percentile), oscillators (rsi, stochastic, cci,
zscore), levels (donchian, prior_day, prior_week, distance_atr), sessions (sessions,
bar_index, day_of_week, session_range), structure (swings, structure).
"""

from tradeforge.features.library import (  # noqa: F401
    levels,
    oscillators,
    sessions,
    structure,
    trend,
    volatility,
)
