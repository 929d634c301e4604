import numpy as np
from numpy.testing import assert_array_equal

from tradeforge.features import compute_features

from .conftest import hlc_frame, make_bars

nan = np.nan
HIGH = [10, 12, 11, 13, 12, 15, 14, 13, 14, 11, 10]
LOW = [9, 11, 10, 12, 11, 13, 12, 10, 12, 9, 8]
CLOSE = [9.5, 11.5, 10.5, 12.5, 11.5, 14, 13.5, 10.5, 13, 9.5, 8.5]


def test_swings_and_structure_by_hand():
    out = compute_features(
        hlc_frame(HIGH, LOW, CLOSE), ["swings(1)", "structure(1)"], "M5", keep_input=False
    )
    e = {
        "swing_high_1": [nan, nan, 12, nan, 13, nan, 15, nan, nan, 14, nan],
        "swing_low_1": [nan, nan, nan, 10, nan, 11, nan, nan, 10, nan, nan],
        "last_swing_high_1": [nan, nan, 12, 12, 13, 13, 15, 15, 15, 14, 14],
        "last_swing_low_1": [nan, nan, nan, 10, 10, 11, 11, 11, 10, 10, 10],
        "swing_high_label_1": [nan, nan, nan, nan, 1, nan, 1, nan, nan, -1, nan],
        "swing_low_label_1": [nan, nan, nan, nan, nan, 1, nan, nan, -1, nan, nan],
        "swing_trend_1": [0, 0, 0, 0, 0, 1, 1, 1, 0, -1, -1],
        "trend_1": [0, 0, 0, 1, 1, 1, 1, -1, -1, -1, -1],
        "bos_1": [0, 0, 0, 1, 0, 1, 0, 0, 0, -1, 0],
        "choch_1": [0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0],
    }
    for name, expected in e.items():
        assert_array_equal(out[name], expected, err_msg=name)


def test_swing_confirmation_lag_and_ties():
    # Equal highs at bars 2 and 3: the earlier one is the swing (strict left, weak right).
    high = [1, 2, 5, 5, 3, 2, 1, 1]
    low = [0.5] * 8
    out = compute_features(hlc_frame(high, low, low), ["swings(2)"], "M5", keep_input=False)
    sh = out["swing_high_2"].to_numpy()
    assert_array_equal(np.flatnonzero(~np.isnan(sh)), [4])  # bar 2 confirmed at bar 4
    assert sh[4] == 5
    assert np.isnan(out["swing_low_2"]).all()  # equal lows are never strictly lower


def test_swing_values_are_real_pivots():
    bars = make_bars(500)
    k = 3
    out = compute_features(bars, [f"swings({k})"], "M5")
    high = bars["high"].to_numpy()
    for i in np.flatnonzero(~np.isnan(out["swing_high_3"].to_numpy())):
        t = i - k
        assert high[t] == out["swing_high_3"].iloc[i]
        assert high[t] > high[t - k : t].max() and high[t] >= high[t + 1 : t + k + 1].max()


def test_events_only_on_breaks():
    out = compute_features(make_bars(2000), ["structure(2)"], "M5")
    close = out["close"].to_numpy()
    prev_h = np.r_[nan, out["last_swing_high_2"].to_numpy()[:-1]]
    bull = (out["bos_2"] > 0) | (out["choch_2"] > 0)
    assert bull.any() and (close[bull] > prev_h[bull]).all()
    trend = out["trend_2"].to_numpy()
    choch = out["choch_2"].to_numpy()
    flips = np.flatnonzero(np.diff(trend) != 0) + 1
    assert np.all((choch[flips] != 0) | (trend[flips - 1] == 0))
