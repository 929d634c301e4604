"""Small synthetic data shared by the research tests (module-scoped: generated once)."""

from __future__ import annotations

import pandas as pd
import pytest

from tradeforge.data.sources.synthetic import generate_bars


@pytest.fixture(scope="session")
def h1_bars() -> pd.DataFrame:
    """About 3,100 H1 bars (half a year) of synthetic EURUSD."""
    return generate_bars("EURUSD", "H1", "2022-01-01", "2022-07-01", seed=5)


@pytest.fixture(scope="session")
def two_symbols() -> dict[str, pd.DataFrame]:
    return {
        "EURUSD": generate_bars("EURUSD", "H1", "2022-01-01", "2022-04-01", seed=5),
        "GBPUSD": generate_bars("GBPUSD", "H1", "2022-01-01", "2022-04-01", seed=6),
    }
