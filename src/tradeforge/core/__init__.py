"""Core types shared by every layer: instruments, timeframes, errors, paths."""

from tradeforge.core.errors import (
    ConfigError,
    DataError,
    DataValidationError,
    StateError,
    TradeforgeError,
    UnknownSymbolError,
)
from tradeforge.core.instruments import Instrument, InstrumentRegistry, get_instrument
from tradeforge.core.timeframes import Timeframe

__all__ = [
    "ConfigError",
    "DataError",
    "DataValidationError",
    "Instrument",
    "InstrumentRegistry",
    "StateError",
    "Timeframe",
    "TradeforgeError",
    "UnknownSymbolError",
    "get_instrument",
]
