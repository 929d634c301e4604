"""The embedded default data set of ``tradeforge demo``: seeded synthetic EURUSD H1 bars."""

from __future__ import annotations

from pathlib import Path

from tradeforge.core.timeframes import Timeframe
from tradeforge.data.cache import ParquetStore

DEMO_SYMBOL = "EURUSD"
DEMO_TIMEFRAME = Timeframe.parse("H1")
DEMO_START, DEMO_END = "2019-01-01", "2026-01-01"


def ensure_demo_data(home: Path, seed: int = 42) -> ParquetStore:
    """Generate the demo bars into the cache under ``home`` if absent; returns the store."""
    from tradeforge.data.sources.synthetic import generate_bars

    store = ParquetStore(home)
    if not store.has(DEMO_SYMBOL, DEMO_TIMEFRAME):
        frame = generate_bars(DEMO_SYMBOL, DEMO_TIMEFRAME, DEMO_START, DEMO_END, seed=seed)
        store.write(DEMO_SYMBOL, DEMO_TIMEFRAME, frame, source=f"synthetic(seed={seed})")
    return store
