import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_bars
from tradeforge.core.errors import ConfigError
from tradeforge.data.resample import resample_ohlcv


def _frame(times, rows):
    idx = pd.DatetimeIndex(pd.to_datetime(times, utc=True), name="time")
    return pd.DataFrame(
        rows, columns=["open", "high", "low", "close", "volume", "spread"], index=idx
    )


def test_hand_computed_m30_bars_with_gap_dropped():
    frame = _frame(
        [
            "2024-01-02 10:00",
            "2024-01-02 10:05",
            "2024-01-02 10:25",
            "2024-01-02 11:30",
            "2024-01-02 11:35",
        ],
        [
            [1.0, 1.2, 0.9, 1.1, 10, 0.1],
            [1.1, 1.5, 1.0, 1.4, 5, 0.3],
            [1.4, 1.4, 0.8, 0.85, 1, 0.2],
            [2.0, 2.1, 1.9, 2.05, 7, 0.4],
            [2.05, 2.2, 2.0, 2.1, 3, 0.6],
        ],
    )
    out = resample_ohlcv(frame.astype(float), "M30")
    expected = _frame(
        ["2024-01-02 10:00", "2024-01-02 11:30"],
        [[1.0, 1.5, 0.8, 0.85, 16, 0.2], [2.0, 2.2, 1.9, 2.1, 10, 0.5]],
    )
    pd.testing.assert_frame_equal(
        out, expected.astype(float), check_index_type=False, check_freq=False
    )


def test_weekly_bars_open_on_monday():
    frame = make_bars(24 * 14, start="2024-01-03", freq="1h")  # Wednesday start
    out = resample_ohlcv(frame, "W1")
    assert list(out.index.day_of_week) == [0, 0, 0]
    assert out.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert out["open"].iloc[0] == frame["open"].iloc[0]
    assert out["volume"].sum() == frame["volume"].sum()


def test_refuses_finer_target():
    with pytest.raises(ConfigError, match="coarser"):
        resample_ohlcv(make_bars(10, freq="1h"), "M5")


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 400),
    seed=st.integers(0, 10_000),
    target=st.sampled_from(["M15", "H1", "H4", "D1"]),
)
def test_matches_pandas_resample(n, seed, target):
    frame = make_bars(n, start="2024-01-01 07:35", seed=seed)
    keep = np.random.default_rng(seed).random(n) > 0.3  # random holes
    frame = frame[keep] if keep.any() else frame
    out = resample_ohlcv(frame, target)
    freq = {"M15": "15min", "H1": "1h", "H4": "4h", "D1": "1D"}[target]
    ref = (
        frame.resample(freq, label="left", closed="left")
        .agg(
            {
                "open": "first",
                "high": "max",
                "low": "min",
                "close": "last",
                "volume": "sum",
                "spread": "mean",
            }
        )
        .dropna()
    )
    np.testing.assert_array_equal(out.index.as_unit("ns").asi8, ref.index.as_unit("ns").asi8)
    np.testing.assert_allclose(out.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-12)


def test_weekly_bars_open_on_a_stated_day():
    frame = make_bars(24 * 14, start="2024-01-03", freq="1h")  # Wed 3 Jan .. Tue 16 Jan
    out = resample_ohlcv(frame, "W1", week_start="SUN")
    # Sunday anchors: 31 Dec (holds Wed 3 .. Sat 6), 7 Jan, 14 Jan (holds Sun 14 .. Tue 16)
    assert list(out.index.strftime("%Y-%m-%d")) == ["2023-12-31", "2024-01-07", "2024-01-14"]
    first_week = frame[frame.index < pd.Timestamp("2024-01-07", tz="UTC")]
    assert out["high"].iloc[0] == first_week["high"].max()
    assert out["volume"].sum() == frame["volume"].sum()
    with pytest.raises(ConfigError, match="week_start"):
        resample_ohlcv(frame, "W1", week_start="FUNDAY")
