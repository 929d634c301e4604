"""Shared fixtures: small valid OHLCV frames built by hand or by the seeded generator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_bars(
    n: int = 100, start: str = "2024-01-01", freq: str = "5min", seed: int = 7
) -> pd.DataFrame:
    """A valid random-walk OHLCV frame with a spread column (deterministic)."""
    rng = np.random.default_rng(seed)
    close = 1.1 + np.cumsum(rng.normal(0, 0.0005, n))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 0.0004, n)
    low = np.minimum(open_, close) - rng.uniform(0, 0.0004, n)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="time")
    return pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(1, 100, n).astype(float),
            "spread": np.full(n, 0.00008),
        },
        index=index,
    )


@pytest.fixture
def bars() -> pd.DataFrame:
    return make_bars()


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"
