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


def _dst_weekend_frame() -> pd.DataFrame:
    """H1 bars Thu 2024-03-07 00:00 .. Fri 21:00 UTC (0..45), then Sun 2024-03-10 20:00 ..
    Tue 03:00 UTC (46..77). US summer time starts Sun 03-10: New York 17:00 is 22:00 UTC on
    Thu/Fri and 21:00 UTC from Sunday. Bar i: close 100 + i, high/low +-0.5; the low of
    bar 23 (Thu 23:00 UTC) is 90."""
    idx = pd.date_range("2024-03-07 00:00", "2024-03-08 21:00", freq="1h", tz="UTC").append(
        pd.date_range("2024-03-10 20:00", "2024-03-12 03:00", freq="1h", tz="UTC")
    )
    close = 100.0 + np.arange(len(idx))
    low = close - 0.5
    low[23] = 90.0
    assert len(idx) == 78
    return pd.DataFrame(
        {"open": close, "high": close + 0.5, "low": low, "close": close, "volume": 1.0},
        index=idx.rename("time"),
    )


def _runs(*pieces):
    """Concatenate (count, value) runs into one array."""
    return np.concatenate([np.full(n, v) for n, v in pieces])


def test_prior_day_and_week_roll_at_new_york_17h_across_a_weekend_and_dst():
    out = compute_features(_dst_weekend_frame(), ["prior_day", "prior_week"], "H1",
                           keep_input=False)  # fmt: skip
    # trading days: Thu = bars 0..21 (to 22:00 UTC), Fri = 22..45 (Thu 22:00 .. Fri 21:00,
    # bar 23 included), Mon = 46..70 (Sun 20:00 stub before the 21:00 UTC open, then to
    # Mon 20:00: the roll moved to 21:00 UTC), Tue = 71..77
    assert_allclose(out["prev_day_high"], _runs((22, nan), (24, 121.5), (25, 145.5), (7, 170.5)))
    assert_allclose(out["prev_day_low"], _runs((22, nan), (24, 99.5), (25, 90.0), (7, 145.5)))
    assert_allclose(out["prev_day_close"], _runs((22, nan), (24, 121), (25, 145), (7, 170)))
    # Monday's prior week: the week that closed Friday 17:00 New York (bars 0..45)
    assert_allclose(out["prev_week_high"], _runs((46, nan), (32, 145.5)))
    assert_allclose(out["prev_week_low"], _runs((46, nan), (32, 90.0)))
    assert_allclose(out["prev_week_close"], _runs((46, nan), (32, 145)))


def test_prior_day_and_week_roll_utc_keeps_utc_midnight():
    out = compute_features(
        _dst_weekend_frame(), ["prior_day(roll='utc')", "prior_week(roll='utc')"], "H1",
        keep_input=False,
    )  # fmt: skip
    # UTC days: Thu = 0..23, Fri = 24..45, Sun stub = 46..49, Mon = 50..73, Tue = 74..77
    high = _runs((24, nan), (22, 123.5), (4, 145.5), (24, 149.5), (4, 173.5))
    assert_allclose(out["prev_day_high_utc"], high)
    low = _runs((24, nan), (22, 90.0), (4, 123.5), (24, 145.5), (4, 149.5))
    assert_allclose(out["prev_day_low_utc"], low)
    close = _runs((24, nan), (22, 123), (4, 145), (24, 149), (4, 173))
    assert_allclose(out["prev_day_close_utc"], close)
    # UTC weeks start Monday 00:00: Sunday's stub belongs to the week before
    assert_allclose(out["prev_week_high_utc"], _runs((50, nan), (28, 149.5)))
    assert_allclose(out["prev_week_low_utc"], _runs((50, nan), (28, 90.0)))
    assert_allclose(out["prev_week_close_utc"], _runs((50, nan), (28, 149)))


def test_distance_atr():
    bars = make_bars(300)
    out = compute_features(
        bars, ["distance_atr('prior_day.prev_day_high', 10)", "atr(10)", "prior_day"], "M5"
    )
    expected = (out["close"] - out["prev_day_high"]) / out["atr_10"]
    assert_allclose(out["dist_prior_day_prev_day_high_atr_10"], expected)
    assert np.isfinite(out["dist_prior_day_prev_day_high_atr_10"].to_numpy()[288:]).all()
