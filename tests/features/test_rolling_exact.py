"""Rolling means do not drift: a running sum over 700k bars used to be off by ~1e-11."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import make_bars
from tradeforge.features import compute_features
from tradeforge.features.library._kernels import rolling_mean


def test_sma_of_one_bar_is_the_close_exactly():
    bars = make_bars(300_000, freq="1min", seed=3)
    out = compute_features(bars, ["sma(1)"], "M1")
    assert np.array_equal(out["sma_1"].to_numpy(), bars["close"].to_numpy())


def test_rolling_mean_stays_within_a_few_ulps_of_the_exact_window_mean():
    rng = np.random.default_rng(11)
    x = 1.2 + np.cumsum(rng.normal(0, 1e-4, 400_000))
    period = 10
    got = rolling_mean(x, period)
    idx = rng.integers(period - 1, len(x), 2_000)
    exact = np.array([math.fsum(x[i - period + 1 : i + 1]) / period for i in idx])
    # at most period-1 running updates since the last fresh sum: a few ulps of the sum
    assert np.max(np.abs(got[idx] - exact)) <= 16 * np.spacing(exact).max()
    assert np.isnan(got[: period - 1]).all()


def _running_mean(x: np.ndarray, period: int) -> np.ndarray:
    """The definition, one bar at a time: a running sum of the non-NaN values, summed afresh
    left to right at bars 2p-1, 3p-1, ... when the window holds no NaN; NaN while it does."""
    out = np.full(len(x), np.nan)
    acc, nans = 0.0, 0
    for i, v in enumerate(x):
        if math.isnan(v):
            nans += 1
        else:
            acc += v
        if i >= period:
            if math.isnan(x[i - period]):
                nans -= 1
            else:
                acc -= x[i - period]
        if i >= period - 1 and nans == 0:
            if i >= 2 * period - 1 and (i + 1) % period == 0:
                acc = 0.0
                for w in x[i - period + 1 : i + 1]:
                    acc += w
            out[i] = acc / period
    return out


@pytest.mark.parametrize("period", [1, 2, 3, 7, 10])
@pytest.mark.parametrize("nan_share", [0.0, 0.01, 0.3])
def test_rolling_mean_is_the_running_mean_bit_for_bit(period, nan_share):
    rng = np.random.default_rng(period * 100 + int(nan_share * 100))
    for n in (0, 1, period - 1, period, 2 * period - 1, 2 * period, 257):
        x = 1.1 + np.cumsum(rng.normal(0, 1e-3, n))
        x[rng.random(n) < nan_share] = np.nan
        got, want = rolling_mean(x, period), _running_mean(x, period)
        assert np.array_equal(np.isnan(got), np.isnan(want))
        assert np.array_equal(got[~np.isnan(got)], want[~np.isnan(want)])
