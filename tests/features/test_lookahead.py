"""No look-ahead, proven by truncation: values at bars <= t must not change when the data
after t is removed. Covers every registered feature on the base timeframe and on informative
timeframes (merges included), and checks that the test catches a peeking feature or merge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.features import (
    FeatureEngine,
    available_features,
    register_feature,
    unregister_feature,
)
from tradeforge.features import engine as engine_module

from .conftest import make_bars

N_BARS = 700
_FRAMES = {
    seed: make_bars(N_BARS, seed=seed, start="2024-01-06 13:00", gaps=True) for seed in range(4)
}
_EXTRA = {
    "distance_atr": ["distance_atr('prior_day.prev_day_high')", "distance_atr('ema(20)@H1', 5)"]
}
_NON_DEFAULT = [
    "structure(1)",
    "swings(5)",
    "ema(7, source='high')",
    "macd(3,7,2)",
    "session_range('new_york')",
    "session_range('london', 'local')",
    "sessions(clock='local')",
    "prior_day(roll='utc')",
    "prior_week(roll='utc')",
    "atr_percentile(3, 10)",
    "keltner(5, 3, 1.0)",
]


def all_requests() -> list[str]:
    base: list[str] = []
    for name in available_features():
        if name.startswith("t_"):
            continue
        base += _EXTRA.get(name, [name])
    base += _NON_DEFAULT
    informative = [f"{r}@M30" for r in base] + [
        f"{r}@H4" for r in ("structure(2)", "atr(3)", "prior_day", "sessions")
    ]
    return base + informative


REQUESTS = all_requests()
_FULL: dict[int, pd.DataFrame] = {}


def full(seed: int, requests=REQUESTS) -> pd.DataFrame:
    if requests is not REQUESTS:
        return FeatureEngine().compute(_FRAMES[seed], requests, "M5")
    if seed not in _FULL:
        _FULL[seed] = FeatureEngine().compute(_FRAMES[seed], requests, "M5")
    return _FULL[seed]


def assert_no_lookahead(seed: int, cut: int, requests=REQUESTS) -> None:
    bars = _FRAMES[seed]
    cut = min(cut, len(bars) - 1)
    truncated = FeatureEngine().compute(bars.iloc[: cut + 1], requests, "M5")
    expected = full(seed, requests).iloc[: cut + 1]
    for column in expected.columns:
        a, b = truncated[column].to_numpy(), expected[column].to_numpy()
        if a.dtype.kind == "f" and b.dtype.kind == "f":
            ok = np.array_equal(a, b, equal_nan=True)
        else:
            ok = pd.Series(a).equals(pd.Series(b))
        assert ok, f"{column} at cut {cut} differs on truncated data (look-ahead)"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 3), cut=st.integers(0, N_BARS - 1))
def test_no_feature_uses_future_bars(seed, cut):
    assert_no_lookahead(seed, cut)


@pytest.mark.parametrize("cut", [0, 1, 5, 6, 47, 48, 287, 288])
def test_no_lookahead_at_bucket_edges(cut):
    assert_no_lookahead(0, cut)


def test_covers_every_registered_feature():
    names = {r.split("(")[0].split("@")[0] for r in REQUESTS}
    assert names >= {n for n in available_features() if not n.startswith("t_")}


@pytest.fixture
def peeking():
    @register_feature("t_peek", inputs=("close",), outputs=("t_peek",))
    def t_peek(close):
        return np.r_[close[1:], np.nan]  # tomorrow's close: look-ahead

    yield
    unregister_feature("t_peek")


@pytest.mark.parametrize("request_text", ["t_peek", "t_peek@M30"])
def test_a_peeking_feature_is_caught(peeking, request_text):
    caught = 0
    for cut in range(0, 200, 7):
        try:
            assert_no_lookahead(1, cut, [request_text])
        except AssertionError:
            caught += 1
    assert caught > 0


def test_a_peeking_merge_is_caught(monkeypatch):
    def merge_on_open(src_open, src_tf, dst_open, dst_tf):  # shows bars when they open
        return np.searchsorted(src_open, dst_open, side="right").astype(np.int64) - 1

    monkeypatch.setattr(engine_module, "merge_index", merge_on_open)
    with pytest.raises(AssertionError, match="look-ahead"):
        for cut in range(0, 120, 5):
            assert_no_lookahead(2, cut, ["atr(3)@M30"])
