"""Shared fixtures: small valid OHLCV frames built by hand or by the seeded generator, and the
headless browser of the browser tests."""

from __future__ import annotations

import os

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


def _browser_unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI: .ci/run installs it through `make test`)")
    pytest.skip(f"{reason}; run `make test` as root (apt-get install chromium) to enable")


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (it cannot download its own browser
    here); the browser tests of reports, research pages and the web dashboard share it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_unavailable("the playwright package is not installed")
    from tradeforge.analytics.sample import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        _browser_unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
        )
        yield b
        b.close()
