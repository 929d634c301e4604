"""tradeforge — end-to-end quantitative trading research and execution framework."""

from tradeforge import _numba_cache

__version__ = "0.1.0"

_numba_cache.configure()
