"""Chart rendering: files, determinism, candles, envelope downsampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection

from tradeforge.analytics import build_report
from tradeforge.analytics.sample import sample_result
from tradeforge.plotting import render_charts
from tradeforge.plotting._base import envelope, new_figure
from tradeforge.plotting.candles import draw_candles, signal_points


@pytest.fixture(scope="module")
def run():
    result, ohlc = sample_result(60, 2500, seed=11)
    return result, ohlc, build_report(result)


def test_full_set_and_stale_files_removed(run, tmp_path):
    result, ohlc, report = run
    (tmp_path / "trade_best_1_999.png").write_bytes(b"old")
    paths = render_charts(report, result, tmp_path, ohlc, n_best=1, n_worst=1)
    names = [p.name for p in paths]
    assert names[:4] == [
        "equity.png",
        "monthly_returns.png",
        "r_multiples.png",
        "tag_expectancy.png",
    ]
    assert sum(n.startswith("trade_best") for n in names) == 1
    assert sum(n.startswith("trade_worst") for n in names) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_png_bytes_are_deterministic(run, tmp_path):
    result, ohlc, report = run
    a = render_charts(report, result, tmp_path / "a", ohlc, n_best=1, n_worst=0)
    b = render_charts(report, result, tmp_path / "b", ohlc, n_best=1, n_worst=0)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_window_chart_with_signals(run, tmp_path):
    result, ohlc, report = run
    bars = ohlc["EURUSD"]
    signals = {"EURUSD": pd.DataFrame({"side": ["long", "short"]}, index=bars.index[[100, 120]])}
    window = (bars.index[80], bars.index[300])
    paths = render_charts(report, result, tmp_path, ohlc, signals, window=window)
    candles = [p for p in paths if p.name.startswith("candles_EURUSD_")]
    assert len(candles) == 1 and not any(p.name.startswith("trade_") for p in paths)


def test_signal_points_from_frame_and_table(run):
    bars = run[1]["EURUSD"]
    frame = pd.DataFrame({"time": bars.index[[3, 7]], "side": [1, -1]})
    pos, side = signal_points(frame, bars)
    assert pos.tolist() == [3, 7] and side.tolist() == [1, -1]

    class Table:  # the `Signals` duck type: bar positions + side
        bar = np.array([5])
        side = np.array([-1])

    pos, side = signal_points(Table(), bars)
    assert pos.tolist() == [5] and side.tolist() == [-1]


def test_candles_are_two_collections():
    fig = new_figure()
    ax = fig.add_subplot()
    o = np.array([1.0, 2.0, 3.0])
    c = np.array([2.0, 1.0, 3.0])  # up, down, doji
    draw_candles(ax, o, np.maximum(o, c) + 0.5, np.minimum(o, c) - 0.5, c)
    kinds = [type(col) for col in ax.collections]
    assert kinds == [LineCollection, PolyCollection]
    bodies = ax.collections[1].get_paths()
    assert len(bodies) == 3
    doji = bodies[2].vertices[:, 1]
    assert doji.max() > doji.min()  # a flat body is still visible


def test_envelope_keeps_extremes_in_order():
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.normal(size=100_003))
    x = np.arange(len(y))
    xs, ys = envelope(x, y, buckets=500)
    assert len(xs) <= 1000 and (np.diff(xs) >= 0).all()
    assert ys.max() == y.max() and ys.min() == y.min()
    short_x, short_y = envelope(x[:50], y[:50])
    assert len(short_y) == 50


def test_no_trades_draws_equity_only(tmp_path):
    from tests.analytics.helpers import make_result

    res = make_result([], equity=[100.0, 101.0, 99.0], initial=100.0)
    paths = render_charts(build_report(res), res, tmp_path)
    assert [p.name for p in paths] == ["equity.png", "monthly_returns.png"]
