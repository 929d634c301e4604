"""Rolling sums do not drift: a running sum over 700k bars used to be off by ~1e-11."""

from __future__ import annotations

import math

import numpy as np

from tests.conftest import make_bars
from tradeforge.features import compute_features
from tradeforge.features.library._kernels import rolling_sum


def test_sma_of_one_bar_is_the_close_exactly():
    bars = make_bars(300_000, freq="1min", seed=3)
    out = compute_features(bars, ["sma(1)"], "M1")
    assert np.array_equal(out["sma_1"].to_numpy(), bars["close"].to_numpy())


def test_rolling_sum_stays_within_a_few_ulps_of_the_exact_window_sum():
    rng = np.random.default_rng(11)
    x = 1.2 + np.cumsum(rng.normal(0, 1e-4, 400_000))
    period = 10
    got = rolling_sum(x, period)
    idx = rng.integers(period - 1, len(x), 2_000)
    exact = np.array([math.fsum(x[i - period + 1 : i + 1]) for i in idx])
    # at most period-1 running updates since the last fresh sum: a few ulps of the sum
    assert np.max(np.abs(got[idx] - exact)) <= 16 * np.spacing(exact).max()
    assert np.isnan(got[: period - 1]).all()
