"""The installed package's version, read from its metadata (one home: pyproject.toml).

Loaded on first use of ``tradeforge.__version__``: `importlib.metadata` costs ~50 ms, more than
the rest of ``import tradeforge``."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tradeforge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
