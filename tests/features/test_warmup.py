"""Declared warm-ups are enough, proven by truncation: computed on the last ``warmup + k``
bars of a long history, every requested value on the final ``k`` bars equals the
full-history one — exactly for windowed and calendar features, to 1e-9 of the series'
magnitude where running sums or recursive filters (EMA, Wilder) are involved. Covers every
registered feature, informative and chained requests, on continuous bars with holes and on
FX-hours bars (no weekend), at random window ends (so informative bars are cut anywhere);
and checks the test catches an under-declared feature and an under-counted merge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.features import (
    FeatureEngine,
    FeatureError,
    available_features,
    register_feature,
    unregister_feature,
    warmup_bars,
)
from tradeforge.features import history as history_module
from tradeforge.features.library import _kernels

from .conftest import make_bars
from .test_lookahead import all_requests

N_BARS = 12_000
MAX_BACK = 800  # window ends drawn from the last MAX_BACK bars
RTOL = 1e-9
#: Features whose values are exact functions of their window (no running sum, no filter).
EXACT = {
    "wma",
    "hma",
    "linreg_slope",
    "donchian",
    "realized_vol",
    "swings",
    "structure",
    "prior_day",
    "prior_week",
    "bar_index",
    "session_range",
    "sessions",
    "day_of_week",
}
CHAINED = [
    "ema(10, source='rsi(14)')",
    "zscore(20, source='macd(3,7,2).macd')",
    "sma(5, source='atr(3)@M30')",
    "distance_atr('ema(20)@H1', 5)@M30",
    "atr_percentile(3, 10)@M30",
]
INFORMATIVE = [
    "structure(2)@H4",
    "sma(3, source='high')@H4",
    "atr(3)@H4",
    "prior_day@H4",
    "bar_index@H1",
    "session_range('london', 'local')@H1",
    "prior_week(roll='utc')@H1",
]
REQUESTS = all_requests() + CHAINED + INFORMATIVE


def fx_hours(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the FX weekend: Friday 21:00 to Sunday 21:00 UTC."""
    t = frame.index
    hour = t.day_of_week * 24 + t.hour
    return frame[(hour < 4 * 24 + 21) | (hour >= 6 * 24 + 21)]


_FRAMES = {
    0: make_bars(N_BARS, seed=0, start="2024-01-06 13:00", gaps=True),
    1: make_bars(N_BARS, seed=1, start="2024-03-01 07:35", gaps=True),  # spans a DST switch
    2: fx_hours(make_bars(N_BARS * 7 // 5, seed=2, start="2024-10-20 00:00", gaps=True)),
    3: fx_hours(make_bars(N_BARS * 7 // 5, seed=3, start="2024-03-03 21:00")),
}
_FULL: dict[int, pd.DataFrame] = {}


def full(seed: int) -> pd.DataFrame:
    if seed not in _FULL:
        _FULL[seed] = FeatureEngine().compute(_FRAMES[seed], REQUESTS, "M5", keep_input=False)
    return _FULL[seed]


def is_exact(request: str) -> bool:
    plan = FeatureEngine().plan(_FRAMES[0], [request], "M5")
    return all(node.feature.name in EXACT for node in plan.nodes)


def assert_warmup_enough(
    seed: int, request: str, back: int, k: int, expected: pd.DataFrame | None = None
) -> None:
    """Values of ``request`` on the last ``k`` bars of a window of ``warmup + k`` bars that
    ends ``back`` bars before the data's end equal the full-history values."""
    bars = _FRAMES[seed]
    end = len(bars) - back
    start = end - warmup_bars([request], "M5") - k
    assert start > 0, f"{request}: the test history is too short for its warm-up"
    got = FeatureEngine().compute(bars.iloc[start:end], [request], "M5", keep_input=False)
    want = (full(seed) if expected is None else expected).iloc[start:end]
    exact = is_exact(request)
    for column in got.columns:
        a, b = got[column].to_numpy()[-k:], want[column].to_numpy()[-k:]
        where = f"{column} (seed {seed}, {back} bars before the end, k={k})"
        if a.dtype.kind != "f" or b.dtype.kind != "f":
            assert pd.Series(a).equals(pd.Series(b)), f"{where} differs after the warm-up"
            continue
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{where}: NaN after the warm-up"
        if exact:
            assert np.array_equal(a, b, equal_nan=True), f"{where} differs after the warm-up"
        else:
            scale = np.nanmax(np.abs(want[column].to_numpy()), initial=0.0)
            ok = np.abs(a - b) <= RTOL * scale
            assert ok[~np.isnan(b)].all(), f"{where} differs after the warm-up"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 3), back=st.integers(0, MAX_BACK), k=st.integers(1, 60))
def test_declared_warmups_are_enough(seed, back, k):
    for request in REQUESTS:
        assert_warmup_enough(seed, request, back, k)


@pytest.mark.parametrize("back", range(0, 48, 7))  # every offset into an M30 / H4 bar
def test_informative_warmups_at_every_alignment(back):
    for request in ("atr@M30", "sma(3, source='high')@H4", "prior_day@M30", "structure(1)@M30"):
        assert_warmup_enough(3, request, back, 1)


def test_covers_every_registered_feature():
    names = {r.split("(")[0].split("@")[0].split(".")[0] for r in REQUESTS}
    assert names >= {n for n in available_features() if not n.startswith("t_")}


def test_test_data_holds_the_largest_warmup():
    longest = max(warmup_bars([r], "M5") for r in REQUESTS)
    assert longest + 60 + MAX_BACK < min(len(f) for f in _FRAMES.values())


# -- the test catches what it should --------------------------------------------------------


@pytest.fixture
def under_declared():
    """An EMA declared with its seed window only, and an SMA one bar short."""

    @register_feature("t_ema", inputs=("close",), outputs=("t_ema",), warmup=lambda p: 9)
    def t_ema(close):
        return _kernels.ema(close, 2.0 / 11, 10)

    @register_feature("t_sma", inputs=("high",), outputs=("t_sma",), warmup=8)
    def t_sma(high):  # the high, not the close: a partial informative bar has the right close
        return _kernels.rolling_mean(high, 10)

    yield
    unregister_feature("t_ema")
    unregister_feature("t_sma")


@pytest.mark.parametrize("request_text", ["t_ema", "t_sma", "t_sma@M30"])
def test_an_under_declared_feature_is_caught(under_declared, request_text):
    expected = FeatureEngine().compute(_FRAMES[0], [request_text], "M5", keep_input=False)
    with pytest.raises(AssertionError, match="after the warm-up"):
        for back in range(0, 60, 7):
            assert_warmup_enough(0, request_text, back, 5, expected)


def test_one_merge_bar_is_not_enough(monkeypatch):
    """``ratio * (w + 1)`` (no bar for the partial first informative bar) falls short."""
    monkeypatch.setattr(history_module, "MERGE_BARS", 1)
    with pytest.raises(AssertionError, match="after the warm-up"):
        for back in range(0, 48):
            assert_warmup_enough(0, "sma(3, source='high')@H4", back, 1)


def test_a_feature_without_a_declared_warmup_is_refused():
    @register_feature("t_plain", inputs=("close",), outputs=("t_plain",))
    def t_plain(close):
        return close * 2.0

    try:
        with pytest.raises(FeatureError, match=r"sma\(3,source='t_plain'\) -> t_plain -> dec"):
            warmup_bars(["sma(3, source='t_plain')"], "M5")
    finally:
        unregister_feature("t_plain")


def test_a_bad_constant_warmup_fails_at_registration():
    with pytest.raises(ValueError, match="non-negative int"):
        register_feature("t_bad", inputs=("close",), outputs=("t_bad",), warmup=-1)


# -- the arithmetic -------------------------------------------------------------------------


def test_warmup_arithmetic():
    assert warmup_bars(["sma(400)"], "H1") == 399
    assert warmup_bars(["sma(400)", "sma(10)", "day_of_week"], "H1") == 399
    assert warmup_bars([], "H1") == 0
    rsi, ema = warmup_bars(["rsi(14)"], "M5"), warmup_bars(["ema(10)"], "M5")
    assert warmup_bars(["ema(10, source='rsi(14)')"], "M5") == rsi + ema  # chains add
    ema50 = warmup_bars(["ema(50)"], "H4")
    assert warmup_bars(["ema(50)@H4"], "M5") == 48 * (ema50 + 2)  # partial bar + close
    assert warmup_bars(["atr(14)"], "M5") == warmup_bars(["true_range"], "M5") + 13 + 373
    parts = [warmup_bars([r], "M5") for r in ("ema(20)", "atr(10)")]
    assert warmup_bars(["keltner(20, 10)"], "M5") == max(parts)  # inputs: the longer one


@pytest.mark.parametrize(
    ("timeframe", "utc", "ny17"), [("M5", 575, 1163), ("H1", 47, 96), ("D1", 1, 4), ("W1", 1, 1)]
)
def test_prior_day_needs_two_trading_days(timeframe, utc, ny17):
    assert warmup_bars(["prior_day(roll='utc')"], timeframe) == utc
    assert warmup_bars(["prior_day"], timeframe) == ny17  # Monday: Friday 17:00 on, 73 h
