"""Data sources. Each returns validated OHLCV frames (see `tradeforge.data.validate`)."""

from tradeforge.data.sources.base import DataSource

__all__ = ["DataSource"]
