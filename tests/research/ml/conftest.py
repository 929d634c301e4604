"""Shared small data for the feature-set and ML tests (generated once per session)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.research.featureset.dataset import TradeDataset
from tradeforge.research.featureset.spec import FeatureSpec


@pytest.fixture(scope="session")
def h1_year() -> pd.DataFrame:
    """About 6,200 synthetic EURUSD H1 bars (2021)."""
    return generate_bars("EURUSD", "H1", "2021-01-01", "2022-01-01", seed=5)


def synthetic_dataset(n: int = 1200, *, edge: float = 1.0, seed: int = 0) -> TradeDataset:
    """Trades every ~6 hours over two years, each living 3 hours. ``good`` decides the
    outcome with strength ``edge`` (0: no link), ``twin`` is ``good`` plus a little noise
    (redundant), ``noise`` is unrelated."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2020-01-01", periods=n, freq="6h", tz="UTC")
    good = rng.normal(size=n)
    p_win = 1.0 / (1.0 + np.exp(-2.5 * edge * good))
    win = rng.random(n) < p_win
    r = np.where(win, 1.5, -1.0)
    frame = pd.DataFrame({
        "symbol": "EURUSD", "signal_time": times, "entry_time": times + pd.Timedelta("1h"),
        "exit_time": times + pd.Timedelta("3h"), "r_multiple": r,
        "good": good, "twin": good + rng.normal(scale=0.05, size=n),
        "noise": rng.normal(size=n), "side": np.where(rng.random(n) < 0.5, 1.0, -1.0),
    })  # fmt: skip
    return TradeDataset(frame, FeatureSpec(("t",), ("good", "twin", "noise")), "H1")
