"""Seeded random-walk bars for the feature tests (independent of the synthetic data source)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_bars(
    n: int = 600,
    seed: int = 3,
    start: str = "2024-01-01 00:00",
    freq: str = "5min",
    gaps: bool = False,
) -> pd.DataFrame:
    """OHLCV random walk; ``gaps`` drops random stretches of bars (weekends, holes)."""
    rng = np.random.default_rng(seed)
    close = 1.1 * np.exp(np.cumsum(rng.normal(0.0, 5e-4, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0.0, 4e-4, (2, n)))
    # Round to 5 digits so equal highs/lows (ties) actually occur.
    high = np.round(np.maximum(open_, close) + wick[0], 4)
    low = np.round(np.minimum(open_, close) - wick[1], 4)
    open_ = np.clip(np.round(open_, 4), low, high)
    close = np.clip(np.round(close, 4), low, high)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="time")
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(1, 50, n).astype("float64"),
        },
        index=index,
    )
    if gaps:
        keep = np.ones(n, dtype=bool)
        for s in rng.integers(0, n, 4):
            keep[s : s + int(rng.integers(1, 40))] = False
        frame = frame[keep]
    return frame


def frame_from_close(close, start: str = "2024-01-01", freq: str = "5min") -> pd.DataFrame:
    """Bars with open = previous close, high/low = max/min(open, close)."""
    close = np.asarray(close, dtype=float)
    open_ = np.r_[close[0], close[:-1]]
    index = pd.date_range(start, periods=len(close), freq=freq, tz="UTC", name="time")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": np.ones(len(close)),
        },
        index=index,
    )


def hlc_frame(high, low, close, start: str = "2024-01-01", freq: str = "5min") -> pd.DataFrame:
    high, low, close = (np.asarray(a, dtype=float) for a in (high, low, close))
    index = pd.date_range(start, periods=len(close), freq=freq, tz="UTC", name="time")
    return pd.DataFrame(
        {"open": close, "high": high, "low": low, "close": close, "volume": np.ones(len(close))},
        index=index,
    )


@pytest.fixture
def bars() -> pd.DataFrame:
    return make_bars()
