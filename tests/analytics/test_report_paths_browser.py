"""report.html of a real run in Chromium: each trade's stop path, targets and the signals
appear when zoomed in to it, the per-tag / per-symbol P&L panels are drawn, and the page
says which trades' paths were verified (summary count, a sortable table column).

The run: the `breakout` strategy (two targets, break-even at 1R) on four months of seeded
synthetic H1 EURUSD; the page's hidden sources hold what `trade_paths` recomputed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tradeforge.analytics import write_report
from tradeforge.analytics.tradepath import trade_paths
from tradeforge.backtest import run_backtest
from tradeforge.strategy import create_strategy


def _bars():
    from tradeforge.data.sources.synthetic import generate_bars

    return generate_bars("EURUSD", "H1", "2024-01-01", "2024-05-01", seed=7)


@pytest.fixture(scope="module")
def breakout_run(tmp_path_factory):
    bars = _bars()
    result = run_backtest(create_strategy("breakout"), {"EURUSD": bars}, timeframe="H1")
    paths = trade_paths(result, {"EURUSD": bars})
    out = tmp_path_factory.mktemp("paths")
    files = write_report(result, out, {"EURUSD": bars}, charts=False, paths=paths)
    return result, paths, files.html


@pytest.fixture
def page(browser, breakout_run):  # noqa: F811
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.errors, pg.requests = [], []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.goto(breakout_run[2].as_uri())
    pg.wait_for_function("window.Bokeh && Bokeh.documents.length > 0")
    pg.wait_for_selector(".slick-row", timeout=15_000)
    yield pg
    pg.close()


def _data(page, name: str, col: str) -> list:
    return page.evaluate(
        f"() => Array.from(Bokeh.documents[0].get_model_by_name({name!r}).data[{col!r}])"
    )


def test_paths_appear_when_zoomed_to_a_trade(page, breakout_run):
    result, paths, _ = breakout_run
    assert page.errors == [] and len(page.requests) == 1
    # zoomed out: every trade is in view, too many paths to draw
    assert len(paths.stops) > 0 and _data(page, "stops_EURUSD", "y") == []
    # a trade whose stop moved to break-even
    moved = paths.stops[paths.stops["kind"] == "breakeven"]["trade_id"].iloc[0]
    i = int(np.flatnonzero(result.trades["trade_id"].to_numpy() == moved)[0])
    page.evaluate(f"() => Bokeh.documents[0].get_model_by_name('trades').selected.indices = [{i}]")
    page.wait_for_function(
        "() => Bokeh.documents[0].get_model_by_name('stops_EURUSD').data.y.length > 0"
    )
    mine = paths.stops[paths.stops["trade_id"] == moved]
    ys = np.array(_data(page, "stops_EURUSD", "y"), np.float64)
    colors = _data(page, "stops_EURUSD", "color")
    for price in mine["price"]:  # its initial and break-even levels are drawn, in colour
        assert np.isclose(ys, np.float32(price), rtol=0, atol=1e-6).any()
    assert "#212121" in colors  # break-even
    hit = _data(page, "targets_hit_EURUSD", "y") + _data(page, "targets_open_EURUSD", "y")
    for price in paths.targets[paths.targets["trade_id"] == moved]["price"]:
        assert np.isclose(hit, np.float32(price), rtol=0, atol=1e-6).any()
    assert len(_data(page, "signals_EURUSD", "x0")) > 0
    # its entry and exit markers are drawn
    trade = result.trades.iloc[i]
    entries = _data(page, f"entries_{trade['side']}_EURUSD", "y")
    assert np.isclose(entries, np.float32(trade["entry_price"]), rtol=0, atol=1e-6).any()
    assert trade["exit_time"].value / 1e6 in _data(page, "exits_EURUSD", "x0")
    assert page.errors == []


def test_per_tag_and_symbol_panels(page, breakout_run):
    result = breakout_run[0]
    for name in ("pnl_by_tag", "pnl_by_symbol"):
        n = page.evaluate(f"() => Bokeh.documents[0].get_model_by_name({name!r}).renderers.length")
        groups = "tag" if name.endswith("tag") else "symbol"
        assert n == result.trades[groups].nunique()
    assert page.locator("h2", has_text="By tag").count() == 1


@pytest.fixture(scope="module")
def one_unverified(breakout_run, tmp_path_factory):
    """The run with one trade's recorded exit moved 10 pips: its replay no longer reproduces
    it, so that trade alone is not verified."""
    result, _, _ = breakout_run
    bad = int(result.trades["trade_id"].iloc[3])
    legs = result.legs.copy()
    last = legs.index[legs["trade_id"] == bad][-1]
    legs.loc[last, "price"] += 0.0010
    changed = replace(result, legs=legs)
    bars = {"EURUSD": _bars()}
    paths = trade_paths(changed, bars)
    out = tmp_path_factory.mktemp("verified")
    files = write_report(changed, out, bars, charts=False, paths=paths)
    return changed, paths, files.html, bad


def test_table_and_summary_show_which_trades_were_verified(browser, one_unverified):
    from playwright.sync_api import expect

    result, paths, html, bad = one_unverified
    n = len(result.trades)
    assert paths.verified == set(result.trades["trade_id"].tolist()) - {bad}
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(html.as_uri())
    pg.wait_for_selector(".slick-row", timeout=15_000)
    assert (
        pg.locator("#verified")
        .inner_text()
        .startswith(f"Trade paths: {n - 1:,} of {n:,} trades verified")
    )
    flags = pg.evaluate(  # codes into the labels ["no", "yes"]
        "() => Array.from(Bokeh.documents[0].get_model_by_name('trades').data.verified)"
    )
    ids = result.trades["trade_id"].tolist()
    assert flags == [0 if i == bad else 1 for i in ids]
    # sorted by the verified column, the one unverified trade comes first ("no" < "yes")
    pg.locator(".slick-header-column", has_text="verified").click()
    first = pg.locator(".slick-row").first.locator(".slick-cell")
    expect(first.first).to_have_text(str(bad))
    expect(first.last).to_have_text("no")
    # text columns travel as codes and show their labels
    row = result.trades.set_index("trade_id").loc[bad]
    expect(first.nth(1)).to_have_text("EURUSD")
    expect(first.nth(2)).to_have_text(str(row["side"]))
    expect(first.nth(3)).to_have_text(str(row["tag"]))
    assert errors == []
    pg.close()
