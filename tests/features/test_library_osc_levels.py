"""Oscillators and levels against hand-computed values."""

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose

from tradeforge.features import compute_features

from .conftest import frame_from_close, hlc_frame, make_bars

nan = np.nan


def test_rsi_wilder():
    f = frame_from_close([1, 2, 1.5, 2.5, 2])
    out = compute_features(f, ["rsi(2)"], "M5", keep_input=False)["rsi_2"]
    assert_allclose(out, [nan, nan, 100 - 100 / 3, 100 - 100 / 7, 100 - 100 / 2.2])
    assert_allclose(
        compute_features(frame_from_close(np.arange(1.0, 8)), ["rsi(3)"], "M5")["rsi_3"].to_numpy()[
            3:
        ],
        100.0,
    )
    assert_allclose(
        compute_features(frame_from_close(np.ones(6)), ["rsi(3)"], "M5")["rsi_3"].to_numpy()[3:],
        50.0,
    )


def test_stochastic():
    f = hlc_frame([3, 4, 5, 5, 4], [1, 2, 3, 3, 3], [2, 4, 3, 5, 3])
    out = compute_features(f, ["stochastic(3, 2)"], "M5", keep_input=False)
    k_expected = [nan, nan, 100 * (3 - 1) / 4, 100 * (5 - 2) / 3, 100 * 0 / 2]
    assert_allclose(out["stoch_k_3_2"], k_expected)
    assert_allclose(out["stoch_d_3_2"], [nan, nan, nan, (50 + 100) / 2, (100 + 0) / 2])
    flat = compute_features(hlc_frame([1] * 4, [1] * 4, [1] * 4), ["stochastic(2, 2)"], "M5")
    assert_allclose(flat["stoch_k_2_2"].to_numpy()[1:], 50.0)


def test_cci():
    f = hlc_frame([3, 6, 9, 12], [1, 4, 7, 10], [2, 5, 8, 11])  # TP = 2, 5, 8, 11
    out = compute_features(f, ["cci(3)"], "M5", keep_input=False)["cci_3"]
    # window (2,5,8): mean 5, mean dev 2 -> (8-5)/(0.015*2) = 100
    assert_allclose(out, [nan, nan, 100.0, 100.0])


def test_zscore():
    out = compute_features(frame_from_close([1, 2, 3, 4, 4, 4, 4]), ["zscore(3)"], "M5")
    assert_allclose(
        out["zscore_3"],
        [
            nan,
            nan,
            1 / np.sqrt(2 / 3),
            1 / np.sqrt(2 / 3),
            (4 - 11 / 3) / np.std([3, 4, 4]),
            0.0,
            0.0,
        ],
    )


def test_donchian():
    f = hlc_frame([3, 5, 4, 2, 1], [1, 2, 0.5, 1, 0.8], [2, 3, 3, 1.5, 0.9])
    out = compute_features(f, ["donchian(3)"], "M5", keep_input=False)
    assert_allclose(out["donchian_upper_3"], [nan, nan, 5, 5, 4])
    assert_allclose(out["donchian_lower_3"], [nan, nan, 0.5, 0.5, 0.5])
    assert_allclose(out["donchian_mid_3"], [nan, nan, 2.75, 2.75, 2.25])


def test_prior_day_and_week():
    # H6 bars: 4 per day, starting Friday 2024-01-05, over a weekend gap.
    idx = pd.DatetimeIndex(
        [
            "2024-01-05 00:00",
            "2024-01-05 06:00",
            "2024-01-05 18:00",
            "2024-01-08 00:00",
            "2024-01-08 12:00",
            "2024-01-09 06:00",
        ],
        tz="UTC",
        name="time",
    )
    high = np.array([2.0, 3, 2.5, 4, 5, 6])
    low = np.array([1.0, 1.5, 0.5, 3, 2, 5])
    close = np.array([1.5, 2, 1, 3.5, 4, 5.5])
    f = pd.DataFrame(
        {"open": close, "high": high, "low": low, "close": close, "volume": np.ones(6)}, index=idx
    )
    out = compute_features(f, ["prior_day", "prior_week"], "H6", keep_input=False)
    assert_allclose(out["prev_day_high"], [nan, nan, nan, 3, 3, 5])
    assert_allclose(out["prev_day_low"], [nan, nan, nan, 0.5, 0.5, 2])
    assert_allclose(out["prev_day_close"], [nan, nan, nan, 1, 1, 4])
    assert_allclose(out["prev_week_high"], [nan, nan, nan, 3, 3, 3])
    assert_allclose(out["prev_week_low"], [nan, nan, nan, 0.5, 0.5, 0.5])
    assert_allclose(out["prev_week_close"], [nan, nan, nan, 1, 1, 1])


def test_distance_atr():
    bars = make_bars(300)
    out = compute_features(
        bars, ["distance_atr('prior_day.prev_day_high', 10)", "atr(10)", "prior_day"], "M5"
    )
    expected = (out["close"] - out["prev_day_high"]) / out["atr_10"]
    assert_allclose(out["dist_prior_day_prev_day_high_atr_10"], expected)
    assert np.isfinite(out["dist_prior_day_prev_day_high_atr_10"].to_numpy()[288:]).all()
