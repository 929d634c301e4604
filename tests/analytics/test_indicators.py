"""Strategy indicators for the report: which columns are drawn, on which pane, and how they are
reduced with the candles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.analytics.indicators import classify, on_price_scale, strategy_indicators
from tradeforge.analytics.interactive import (
    CANDLE_BUDGET,
    VALUE_BUDGET,
    VIEW_POINTS,
    candle_budget,
    candle_levels,
)
from tradeforge.analytics.sample import sample_bars
from tradeforge.strategy import create_strategy


@pytest.fixture(scope="module")
def bars():
    return sample_bars(3_000, seed=5)


def _config(name: str, **params) -> dict:
    return {"strategy": {"name": name, "params": params}, "timeframe": "M5"}


def test_price_scale_by_values(bars):
    close = bars["close"].to_numpy()
    assert on_price_scale(pd.Series(close).rolling(20).mean().to_numpy(), bars)
    assert on_price_scale(bars["high"].cummax().to_numpy() * 0 + close, bars)
    # an ATR-like series (tiny positive numbers) and an RSI-like one (0..100) are not
    assert not on_price_scale(np.abs(np.diff(close, prepend=close[0])), bars)
    assert not on_price_scale(np.linspace(20, 80, len(bars)), bars)
    assert not on_price_scale(np.full(len(bars), np.nan), bars)


def test_price_scale_for_a_stock_priced_like_an_oscillator():
    """A 40..60 price next to a 0..100 oscillator: in range, but far from the close."""
    t = pd.date_range("2024-01-01", periods=400, freq="1h", tz="UTC")
    close = 50 + 10 * np.sin(np.arange(400) / 30)
    frame = pd.DataFrame({"open": close, "high": close + 0.2, "low": close - 0.2, "close": close},
                         index=t)  # fmt: skip
    oscillator = 50 + 45 * np.sin(np.arange(400) / 3)
    assert not on_price_scale(oscillator, frame)
    assert on_price_scale(close + 0.1, frame)


def test_classify_skips_flags_and_sparse_columns(bars):
    n = len(bars)
    close = bars["close"].to_numpy()
    sparse = np.full(n, np.nan)
    sparse[::10] = close[::10]
    frame = pd.DataFrame(
        {
            "ma": pd.Series(close).rolling(5).mean().to_numpy(),
            "flag": np.tile([0.0, 1.0, -1.0], n // 3 + 1)[:n],
            "points": sparse,
            "osc": np.linspace(0.0, 100.0, n),
            "osc2": np.linspace(100.0, 0.0, n),
        },
        index=bars.index,
    )
    groups = [("ma", ("ma",)), ("state", ("flag",)), ("swings", ("points",)),
              ("rsi", ("osc", "osc2"))]  # fmt: skip
    ind = classify(bars, groups, frame)
    assert ind.price == ("ma",)
    assert ind.panes == (("rsi", ("osc", "osc2")),)
    assert ind.columns == ("ma", "osc", "osc2")
    np.testing.assert_array_equal(ind.values["osc"], frame["osc"].to_numpy())


def test_builtin_strategies(bars):
    ohlc = {"EURUSD": bars}
    sma = strategy_indicators(_config("sma_cross", fast=5, slow=20), ohlc)["EURUSD"]
    assert sma.price == ("sma_5", "sma_20") and sma.panes == ()
    expected = create_strategy("sma_cross", {"fast": 5, "slow": 20}).compute_features(bars, "M5")
    np.testing.assert_array_equal(sma.values["sma_20"], expected["sma_20"].to_numpy())
    brk = strategy_indicators(_config("breakout"), ohlc)["EURUSD"]
    assert set(brk.price) == {"donchian_upper_20", "donchian_lower_20", "donchian_mid_20"}
    assert brk.panes == (("atr", ("atr_14",)),)
    ref = strategy_indicators(_config("structure"), ohlc)["EURUSD"]
    assert "ema_50@M30" in ref.price
    assert ref.panes == (("atr", ("atr_14", "atr_14@M30")),)
    assert not any("trend" in c or "label" in c for c in ref.columns)


@pytest.mark.parametrize(
    "config", [None, {}, {"strategy": "sample"}, _config("no_such_strategy"),
               {"strategy": {"name": "sma_cross", "params": {"fast": -3}}}],
)  # fmt: skip
def test_no_indicators_without_a_known_strategy(bars, config):
    assert strategy_indicators(config, {"EURUSD": bars}) == {}


def test_levels_carry_the_lines_at_each_group_close(bars):
    lines = {"ma": np.arange(len(bars), dtype=np.float64)}
    levels, widths = candle_levels(bars, 1_000, lines)
    assert len(levels) == len(widths) >= 1
    for lv in levels:
        assert set(lv) == {"x", "o", "h", "l", "c", "ma"}
        # the line is the value at each group's last bar, as the close is
        f = -(-len(bars) // len(lv["x"]))
        ends = np.r_[np.arange(f, len(bars), f), len(bars)] - 1
        np.testing.assert_array_equal(lv["ma"], ends.astype(np.float32))
        np.testing.assert_array_equal(lv["c"], bars["close"].to_numpy()[ends].astype(np.float32))
    assert widths == sorted(widths)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(0, 40))
def test_candle_budget_bounds_the_page_data(symbols, lines):
    budget = candle_budget(symbols, lines)
    assert budget >= VIEW_POINTS
    assert budget * symbols <= max(CANDLE_BUDGET, VIEW_POINTS * symbols)
    if budget > VIEW_POINTS:
        assert budget * symbols * (6 + lines) <= VALUE_BUDGET


def test_page_with_indicators_is_byte_identical(bars):
    from tradeforge.analytics import build_report
    from tradeforge.analytics.sample import sample_result
    from tradeforge.analytics.writers import render_html

    result, ohlc = sample_result(30, 2_000, seed=9)
    ind = strategy_indicators(_config("breakout"), ohlc)
    report = build_report(result)
    a = render_html(report, [], result, ohlc, ind)
    b = render_html(report, [], result, ohlc, ind)
    assert a == b
    assert '"name":"line_EURUSD_donchian_mid_20"' in a and '"name":"pane_EURUSD_atr"' in a
    assert render_html(report, [], result, ohlc) != a
