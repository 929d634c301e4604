"""report.html in a real browser: Playwright driving Debian's Chromium (``/usr/bin/chromium``).

`make test` installs Chromium with apt when it is missing (as root; CI runs as root). Outside
CI the tests skip, saying why, when Chromium or Playwright is absent; in CI they fail instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.analytics import write_report
from tradeforge.analytics.indicators import strategy_indicators
from tradeforge.analytics.sample import sample_result

#: the breakout strategy's features drawn on the sample run's bars: Donchian bands on the
#: price pane, ATR in its own pane
BREAKOUT = {"strategy": {"name": "breakout", "params": {}}, "timeframe": "M5"}


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    result, ohlc = sample_result(80, 6_000, seed=3)
    out = tmp_path_factory.mktemp("browser")
    indicators = strategy_indicators(BREAKOUT, ohlc)
    paths = write_report(result, out, ohlc, charts=False, indicators=indicators)
    return result, paths.html, ohlc, indicators["EURUSD"]


@pytest.fixture
def page(browser, report_run):
    html_path = report_run[1]
    url = html_path.as_uri()
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.errors, pg.requests = [], []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.goto(url)
    pg.wait_for_function("window.Bokeh && Bokeh.documents.length > 0")
    pg.wait_for_selector(".slick-row", timeout=15_000)
    pg.url_opened = url
    yield pg
    pg.close()


def _model(page, name: str, expr: str):
    return page.evaluate(
        f"() => {{ const m = Bokeh.documents[0].get_model_by_name({name!r}); return {expr}; }}"
    )


def test_opens_offline_without_errors(page, tmp_path):
    assert page.errors == []
    assert page.requests == [page.url_opened]
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_zoom_changes_visible_range_and_detail(page):
    start, end = _model(page, "x_range", "[m.start, m.end]")
    level0 = _model(page, "candles_EURUSD", "m.tags[0]")
    mid = (start + end) / 2
    span = 6 * 3_600_000  # six hours of M5 bars
    page.evaluate(
        "([a, b]) => Bokeh.documents[0].get_model_by_name('x_range').setv({start: a, end: b})",
        [mid, mid + span],
    )
    new = _model(page, "x_range", "[m.start, m.end]")
    assert new == [mid, mid + span]
    # the finest level is drawn, and only around the visible span
    assert _model(page, "candles_EURUSD", "m.tags[0]") == 0 < level0
    xs = _model(page, "candles_EURUSD", "Array.from(m.data.x)")
    assert xs[0] < mid + span and xs[-1] > mid
    assert len(xs) < 300
    # the price axis fits the visible candles
    lo, hi = _model(page, "y_EURUSD", "[m.start, m.end]")
    assert hi - lo < 0.05


def test_wheel_zooms(page):
    before = _model(page, "x_range", "m.end - m.start")
    box = page.locator(".bk-Figure").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -600)
    page.wait_for_function(
        f"() => Bokeh.documents[0].get_model_by_name('x_range').end - "
        f"Bokeh.documents[0].get_model_by_name('x_range').start < {before}"
    )


def test_clicking_a_trade_zooms_to_it(page, report_run):
    result = report_run[0]
    page.locator(".slick-row").nth(2).locator(".slick-cell").first.click()
    page.wait_for_function(
        "() => Bokeh.documents[0].get_model_by_name('trades').selected.indices.length > 0"
    )
    i = _model(page, "trades", "m.selected.indices[0]")
    trade = result.trades.iloc[i]
    assert i == 2
    a = trade["entry_time"].value / 1e6
    b = trade["exit_time"].value / 1e6
    start, end = _model(page, "x_range", "[m.start, m.end]")
    assert start < a and end > b
    assert end - start < 4 * max(b - a, 12 * 300_000)


def test_table_sorts_by_a_column(page, report_run):
    result = report_run[0]
    first_id = page.locator(".slick-row").first.locator(".slick-cell").first
    assert first_id.inner_text() == str(result.trades["trade_id"].iloc[0])
    page.locator(".slick-header-column", has_text="P&L").click()
    worst = result.trades["trade_id"].iloc[int(np.argmin(result.trades["pnl"].to_numpy()))]
    from playwright.sync_api import expect

    expect(first_id).to_have_text(str(worst))


def _zoom(page, a: float, b: float) -> None:
    page.evaluate(
        "([a, b]) => Bokeh.documents[0].get_model_by_name('x_range').setv({start: a, end: b})",
        [a, b],
    )


def test_indicator_lines_and_pane_exist(page, report_run):
    ind = report_run[3]
    for col in ind.columns:
        assert _model(page, f"line_EURUSD_{col}", "m !== null")
    assert _model(page, "pane_EURUSD_atr", "m.x_range.name") == "x_range"
    assert _model(page, "price_EURUSD", "m.x_range.name") == "x_range"
    # the lines are part of the drawn source, one value per candle
    n = _model(page, "candles_EURUSD", "m.data.x.length")
    assert _model(page, "candles_EURUSD", "m.data.donchian_upper_20.length") == n > 0


def test_zoom_shows_the_indicator_values_of_the_bars(page, report_run):
    _, _, ohlc, ind = report_run
    bars = ohlc["EURUSD"]
    t = bars.index.as_unit("ns").asi8 / 1e6
    a, b = t[3_000], t[3_060]  # five hours of M5 bars, finest level (one candle a bar)
    _zoom(page, a, b)
    assert _model(page, "candles_EURUSD", "m.tags[0]") == 0
    xs = np.array(_model(page, "candles_EURUSD", "Array.from(m.data.x)"))
    upper = np.array(_model(page, "candles_EURUSD", "Array.from(m.data.donchian_upper_20)"))
    pos = np.searchsorted(t, xs)
    np.testing.assert_array_equal(t[pos], xs)
    np.testing.assert_array_equal(
        upper, ind.values["donchian_upper_20"][pos].astype(np.float32).astype(np.float64)
    )
    # the ATR pane's axis fits the visible ATR values
    visible = ind.values["atr_14"][(t >= a) & (t < b)]
    lo, hi = _model(page, "y_EURUSD_atr", "[m.start, m.end]")
    assert lo <= visible.min() and hi >= visible.max()
    assert hi - lo < 1.5 * (visible.max() - visible.min())
    assert page.errors == []
