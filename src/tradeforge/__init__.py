"""tradeforge — end-to-end quantitative trading research and execution framework."""

from importlib.metadata import PackageNotFoundError, version

from tradeforge import _numba_cache

try:
    __version__ = version("tradeforge")  # one home for the version: pyproject.toml
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_numba_cache.configure()
