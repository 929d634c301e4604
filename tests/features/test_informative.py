import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.core.timeframes import Timeframe
from tradeforge.data.resample import resample_ohlcv
from tradeforge.features import compute_features, merge_index, merge_informative
from tradeforge.features.errors import FeatureError
from tradeforge.features.informative import open_times_ns, take_merged

from .conftest import make_bars


def test_m30_bar_visible_from_the_m5_bar_that_closes_it():
    bars = make_bars(n=48, start="2024-01-01 10:00")
    m30 = resample_ohlcv(bars, "M30")
    merged = merge_informative(bars, m30[["close"]], "M30", "M5")
    col = merged["close@M30"]
    t = pd.Timestamp
    assert np.isnan(col[t("2024-01-01 10:20", tz="UTC")])
    assert col[t("2024-01-01 10:25", tz="UTC")] == m30["close"].iloc[0]
    assert col[t("2024-01-01 10:50", tz="UTC")] == m30["close"].iloc[0]
    assert col[t("2024-01-01 10:55", tz="UTC")] == m30["close"].iloc[1]
    # The M30 close equals the close of the M5 bar that completes it.
    assert col[t("2024-01-01 10:25", tz="UTC")] == bars["close"].iloc[5]


def test_merge_index_with_gaps():
    base = pd.DatetimeIndex(["2024-01-05 21:40", "2024-01-08 00:00", "2024-01-08 00:25"], tz="UTC")
    info = pd.DatetimeIndex(["2024-01-05 21:30", "2024-01-08 00:00"], tz="UTC")
    pos = merge_index(
        open_times_ns(info), Timeframe.parse("M30"), open_times_ns(base), Timeframe.parse("M5")
    )
    # 21:30 closes at 22:00: not visible at 21:40 (close 21:45), visible on Monday's bars.
    np.testing.assert_array_equal(pos, [-1, 0, 1])


def test_engine_informative_equals_manual_resample_compute_merge():
    bars = make_bars(n=900, gaps=True)
    out = compute_features(bars, ["ema(10)@M30", "atr(5)@H1"], "M5")
    m30 = compute_features(resample_ohlcv(bars, "M30"), ["ema(10)"], "M30", keep_input=False)
    h1 = compute_features(resample_ohlcv(bars, "H1"), ["atr(5)"], "H1", keep_input=False)
    expected = pd.concat(
        [merge_informative(bars, m30, "M30", "M5"), merge_informative(bars, h1, "H1", "M5")],
        axis=1,
    )
    pd.testing.assert_frame_equal(out[["ema_10@M30", "atr_5@H1"]], expected)


def test_base_feature_can_consume_informative_output():
    bars = make_bars(n=400)
    out = compute_features(
        bars, ["distance_atr('ema(10)@M30', 14)", "ema(10)@M30", "atr(14)"], "M5"
    )
    expected = (out["close"] - out["ema_10@M30"]) / out["atr_14"]
    np.testing.assert_allclose(out["dist_ema_10_M30_atr_14"], expected)


def test_string_label_outputs_merge_with_none():
    bars = make_bars(n=100)
    out = compute_features(bars, ["sessions@H1"], "M5")
    assert out["session@H1"].iloc[0] is None or pd.isna(out["session@H1"].iloc[0])
    assert out["session@H1"].iloc[11] == "asia"


@settings(max_examples=200, deadline=None)
@given(
    src=st.lists(st.integers(0, 500), max_size=40, unique=True),
    dst=st.lists(st.integers(0, 500), max_size=60, unique=True),
    spans=st.sampled_from([("M5", "M1"), ("M30", "M5"), ("H1", "M5"), ("M5", "M5")]),
)
def test_merge_index_is_the_last_source_bar_closed_and_take_merged_its_values(src, dst, spans):
    """Against the definition: a binary search of each destination close among the source
    closes; the values taken there, NaN / None before the first source bar closes."""
    src_tf, dst_tf = (Timeframe.parse(s) for s in spans)
    minute = 60 * 10**9
    src_ns = np.array(sorted(src), dtype=np.int64) * minute
    dst_ns = np.array(sorted(dst), dtype=np.int64) * minute
    pos = merge_index(src_ns, src_tf, dst_ns, dst_tf)
    closes = src_ns + src_tf.seconds * 10**9
    expected = np.searchsorted(closes, dst_ns + dst_tf.seconds * 10**9, side="right") - 1
    np.testing.assert_array_equal(pos, expected)
    numbers = np.arange(len(src_ns), dtype=np.float64) * 1.5
    labels = np.array([f"s{i}" for i in range(len(src_ns))], dtype=object)
    for values in (numbers, labels):
        got = take_merged(values, pos)
        assert len(got) == len(dst_ns)
        for p, g in zip(pos, got, strict=True):
            if p < 0:
                assert g is None if values is labels else np.isnan(g)
            else:
                assert g == values[p]


def test_merge_informative_refuses_an_unsorted_index():
    bars = make_bars(60)
    m30 = resample_ohlcv(bars, "M30")
    with pytest.raises(FeatureError, match="sorted ascending"):
        merge_informative(bars, m30.iloc[::-1], "M30", "M5")
    with pytest.raises(FeatureError, match="tz-aware"):
        merge_informative(bars.tz_localize(None), m30, "M30", "M5")
