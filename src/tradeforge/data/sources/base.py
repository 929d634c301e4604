"""The `DataSource` protocol: what every source (files, Dukascopy, MT5, synthetic) provides."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

from tradeforge.core.timeframes import Timeframe


@runtime_checkable
class DataSource(Protocol):
    """Fetches OHLCV bars for a symbol.

    ``fetch`` returns a frame valid per `tradeforge.data.validate.validate_ohlcv`, covering
    bars whose open time is in ``[start, end)`` (UTC). Nothing downstream knows which source
    produced it; ``name`` is recorded as cache metadata only.
    """

    name: str

    def fetch(
        self, symbol: str, timeframe: Timeframe, start: pd.Timestamp, end: pd.Timestamp
    ) -> pd.DataFrame: ...
