"""Trade charts: the year on the time axis, the strategy's indicators, filled targets, 1600 px."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from tradeforge.analytics.indicators import strategy_indicators
from tradeforge.analytics.sample import sample_result
from tradeforge.plotting import chart_style, save_png, trade_chart
from tradeforge.plotting.candles import PALETTE

BREAKOUT = {"strategy": {"name": "breakout", "params": {}}, "timeframe": "M5"}


@pytest.fixture(scope="module")
def run():
    result, ohlc = sample_result(40, 2_500, seed=11)
    return result, ohlc, strategy_indicators(BREAKOUT, ohlc)["EURUSD"]


def _target_trade(result) -> pd.Series:
    return result.trades[result.trades["exit_reason"] == "target"].iloc[0]


def test_indicators_targets_and_year(run, tmp_path):
    result, ohlc, ind = run
    trade = _target_trade(result)
    with chart_style():
        fig = trade_chart(ohlc["EURUSD"], trade, result.legs, indicators=ind)
        fig.canvas.draw()
        price, pane = fig.axes[:2]
        assert len(fig.axes) == 2  # candles + one ATR pane
        labels = {ln.get_label() for ln in price.get_lines()}
        assert {"donchian_upper_20", "donchian_lower_20", "donchian_mid_20"} <= labels
        assert [ln.get_label() for ln in pane.get_lines()] == ["atr_14"]
        assert pane.get_ylabel() == "atr"
        # the ATR line holds the indicator's values over the drawn bars
        x, y = pane.get_lines()[0].get_data()
        np.testing.assert_array_equal(y, ind.values["atr_14"][x.astype(int)])
        # the filled target: a dashed line at the target leg's price, from entry to the fill
        leg = result.legs[(result.legs["trade_id"] == trade["trade_id"])].iloc[-1]
        targets = [c for c in price.collections if c.get_label() == "target (filled)"]
        assert len(targets) == 1
        seg = targets[0].get_segments()[0]
        assert seg[0][1] == seg[1][1] == pytest.approx(leg["price"])
        assert seg[1][0] - seg[0][0] == trade["bars_held"]
        # the year is on the time axis
        ticks = [t.get_text() for t in pane.get_xticklabels() if t.get_text()]
        assert ticks and all(t.startswith("2019-") for t in ticks)
        path = save_png(fig, tmp_path / "trade.png")
    img = Image.open(path).convert("RGB")
    assert img.width == 1600
    pixels = np.asarray(img).reshape(-1, 3)
    for color in PALETTE[:4]:  # the four lines' colours are on the image
        rgb = (np.array(to_rgb(color)) * 255).round()
        assert (np.abs(pixels - rgb).sum(axis=1) < 30).sum() > 50, color


def test_without_indicators_one_axes(run):
    result, ohlc, _ = run
    with chart_style():
        fig = trade_chart(ohlc["EURUSD"], _target_trade(result), result.legs)
    assert len(fig.axes) == 1


def test_backtest_command_draws_the_strategy_indicators(tmp_path):
    """Through the installed command: the report's page and trade charts carry breakout's
    Donchian bands and ATR."""
    from tradeforge.data.cache import ParquetStore
    from tradeforge.data.sources.synthetic import generate_bars

    home = tmp_path / "home"
    frame = generate_bars("EURUSD", "H1", "2022-01-01", "2022-03-01", seed=2)
    ParquetStore(home).write("EURUSD", "H1", frame, source="synthetic")
    out = tmp_path / "run"
    cmd = [str(Path(sys.executable).with_name("tradeforge")), "backtest", "--strategy",
           "breakout", "--home", str(home), "--out", str(out)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    assert res.returncode == 0, res.stderr
    page = (out / "report.html").read_text()
    for col in ("donchian_upper_20", "donchian_lower_20", "atr_14"):
        assert f'"name":"line_EURUSD_{col}"' in page
    assert '"name":"pane_EURUSD_atr"' in page
    trade_pngs = sorted((out / "charts").glob("trade_*.png"))
    assert trade_pngs and all(Image.open(p).width == 1600 for p in trade_pngs)
