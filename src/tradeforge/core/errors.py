"""Error hierarchy. Every user-facing error derives from `TradeforgeError`.

The CLI prints these as one line (no traceback); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TradeforgeError(Exception):
    """Base class for errors caused by input, configuration or environment."""


class ConfigError(TradeforgeError):
    """A configuration value or option is wrong."""


class UnknownSymbolError(TradeforgeError, KeyError):
    """A symbol is not in the instrument registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(TradeforgeError):
    """Data could not be obtained or read."""


class DataValidationError(DataError):
    """An OHLCV frame breaks a rule of `tradeforge.data.validate` (message: source, row, rule)."""


class StateError(TradeforgeError):
    """Persisted live state is missing, corrupt or inconsistent."""
