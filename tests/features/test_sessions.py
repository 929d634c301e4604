import numpy as np
import pandas as pd
from numpy.testing import assert_allclose, assert_array_equal

from tradeforge.features import compute_features

from .conftest import make_bars


def test_session_labels_and_flags():
    bars = make_bars(24, start="2024-01-01 00:00", freq="1h")
    out = compute_features(bars, ["sessions"], "H1", keep_input=False)
    labels = out["session"].tolist()
    assert labels[:7] == ["asia"] * 7
    assert labels[7:9] == ["asia_london"] * 2
    assert labels[9:12] == ["london"] * 3
    assert labels[12:16] == ["london_new_york"] * 4
    assert labels[16:21] == ["new_york"] * 5
    assert labels[21:] == ["off"] * 3
    assert_array_equal(out["session_asia"], [1.0] * 9 + [0.0] * 15)
    assert_array_equal(out["session_london"], [0.0] * 7 + [1.0] * 9 + [0.0] * 8)
    assert_array_equal(out["session_new_york"], [0.0] * 12 + [1.0] * 9 + [0.0] * 3)
    assert_array_equal(out["session_overlap"], [0.0] * 7 + [1] * 2 + [0] * 3 + [1] * 4 + [0] * 8)


def test_bar_index_and_day_of_week():
    idx = pd.DatetimeIndex(
        [
            "2024-01-05 06:30",
            "2024-01-05 06:45",
            "2024-01-05 07:00",
            "2024-01-05 07:15",
            "2024-01-08 06:45",
            "2024-01-08 07:00",
        ],
        tz="UTC",
        name="time",
    )
    f = make_bars(6).set_axis(idx)
    out = compute_features(f, ["bar_index", "day_of_week"], "M15", keep_input=False)
    assert_array_equal(out["bar_in_day"], [0, 1, 2, 3, 0, 1])
    assert_array_equal(out["bar_in_session"], [0, 1, 0, 1, 0, 0])
    assert_array_equal(out["day_of_week"], [4, 4, 4, 4, 0, 0])  # Friday, Monday


def test_session_range_runs_then_holds():
    bars = make_bars(48, start="2024-01-01 00:00", freq="1h")
    out = compute_features(bars, ["session_range('london')"], "H1")
    hi, lo = out["session_high_london"].to_numpy(), out["session_low_london"].to_numpy()
    assert np.isnan(hi[:7]).all()
    for i in range(7, 16):
        assert hi[i] == bars["high"].iloc[7 : i + 1].max()
        assert lo[i] == bars["low"].iloc[7 : i + 1].min()
    assert_allclose(hi[16:31], hi[15])  # held until London opens again on day 2
    assert hi[31] == bars["high"].iloc[31]


def test_local_clock_follows_daylight_saving():
    """London opens 08:00 local: 08:00 UTC in January, 07:00 UTC in July; New York opens
    08:00 local: 13:00 UTC in January (EST), 12:00 UTC in July (EDT). Tokyo has no DST."""
    winter = pd.date_range("2024-01-15", periods=24, freq="1h", tz="UTC")
    summer = pd.date_range("2024-07-15", periods=24, freq="1h", tz="UTC")
    for index, london_open, ny_open in ((winter, 8, 13), (summer, 7, 12)):
        bars = pd.DataFrame(
            {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}, index=index
        )
        out = compute_features(bars, ["sessions(clock='local')"], "H1", keep_input=False)
        london = out["session_london_local"].to_numpy()
        ny = out["session_new_york_local"].to_numpy()
        asia = out["session_asia_local"].to_numpy()
        assert_array_equal(london, [0.0] * london_open + [1.0] * 9 + [0.0] * (15 - london_open))
        assert_array_equal(ny, [0.0] * ny_open + [1.0] * 9 + [0.0] * (15 - ny_open))
        assert_array_equal(asia, [1.0] * 9 + [0.0] * 15)
    utc = compute_features(bars, ["sessions"], "H1", keep_input=False)
    assert_array_equal(utc["session_london"], [0.0] * 7 + [1.0] * 9 + [0.0] * 8)
