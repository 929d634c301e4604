"""report.html of a run of more trades than markers are drawn for (`PATH_VIEW`), in Chromium:
zoomed out, the strip under the candles counts the trades entered per drawn candle (winners
up, losers down) and the price legend says so; zoomed in to fewer trades, the exact entry and
exit markers appear and the legend says that instead.

The expectations are computed here from the trades and the drawn candles (each candle is a
group of bars starting at its time minus half the group's span), not read from the page's
own code.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from tradeforge.analytics import write_report
from tradeforge.analytics.interactive import MARKER_NOTES, PATH_VIEW
from tradeforge.analytics.sample import sample_result

N_TRADES = 4_000


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    result, ohlc = sample_result(N_TRADES, 30_000, seed=5)
    files = write_report(result, tmp_path_factory.mktemp("many"), ohlc, charts=False)
    return result, ohlc["EURUSD"], files.html


@pytest.fixture
def page(browser, many):
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.goto(many[2].as_uri())
    pg.wait_for_selector(".slick-row", timeout=30_000)
    pg.wait_for_function("() => Bokeh.documents[0].is_idle")
    yield pg
    pg.close()


def _get(page, name: str, expr: str):
    return page.evaluate(
        f"() => {{ const m = Bokeh.documents[0].get_model_by_name({name!r}); return {expr}; }}"
    )


def _counts(page) -> dict[str, np.ndarray]:
    data = _get(page, "trade_counts_EURUSD",
                "Object.fromEntries(Object.entries(m.data).map(([k, v]) => [k, Array.from(v)]))")  # fmt: skip
    return {k: np.asarray(v, np.float64) for k, v in data.items()}


def _expected(trades, counts) -> np.ndarray:
    """Trades entered in each drawn candle: the last candle starting at or before the entry."""
    entry = trades["entry_time"].dt.tz_convert("UTC").dt.tz_localize(None)
    ms = entry.to_numpy("datetime64[ms]").astype(np.int64).astype(np.float64)
    k = np.searchsorted(counts["start"], ms, side="right") - 1
    inside = k >= 0
    return np.bincount(k[inside], minlength=len(counts["start"]))


def _strip_colours(page) -> tuple[int, int]:
    """Pixels of the winners' and the losers' colour in the strip as drawn on screen."""
    from PIL import Image

    box = page.evaluate(
        "() => { const m = Bokeh.documents[0].get_model_by_name('trades_EURUSD');"
        " const el = Bokeh.index.find_one(m).el; el.scrollIntoView();"
        " const r = el.getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height}; }"
    )
    rgb = np.asarray(Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB"))
    px = rgb.reshape(-1, 3).astype(int)
    up = np.all(np.abs(px - (0x26, 0xA6, 0x9A)) <= 8, axis=1).sum()
    down = np.all(np.abs(px - (0xEF, 0x53, 0x50)) <= 8, axis=1).sum()
    return int(up), int(down)


def test_zoomed_out_the_strip_counts_every_trade(page, many):
    result, _, _ = many
    trades = result.trades
    assert len(trades) > PATH_VIEW and page.errors == []
    # no markers: too many trades in view; the legend says what shows them instead
    for name in ("entries_long_EURUSD", "entries_short_EURUSD", "exits_EURUSD"):
        assert _get(page, name, "m.data.x0.length") == 0
    assert _get(page, "legend_EURUSD", "m.title") == MARKER_NOTES[1]
    c = _counts(page)
    candles = _get(page, "candles_EURUSD", "Array.from(m.data.x)")
    np.testing.assert_array_equal(c["x"], candles)  # one bar per drawn candle
    assert c["win"].sum() + c["lost"].sum() == len(trades) == c["entered"].sum()
    assert c["win"].sum() == (trades["pnl"] > 0).sum()
    assert c["long"].sum() == (trades["side"] == "long").sum()
    assert np.isclose(c["net"].sum(), trades["pnl"].round(2).sum(), atol=0.01)
    np.testing.assert_array_equal(c["entered"], _expected(trades, c))
    np.testing.assert_array_equal(c["loss"], -c["lost"])
    # the strip is drawn: both colours are on screen
    up, down = _strip_colours(page)
    assert up > 200 and down > 200


def test_zoomed_in_the_exact_markers_appear(page, many):
    result, _, _ = many
    trades = result.trades
    start, end = _get(page, "x_range", "[m.start, m.end]")
    level = _get(page, "candles_EURUSD", "m.tags[0]")
    a = start + (end - start) * 0.4
    b = a + (end - start) / 40
    page.evaluate(
        "([a, b]) => Bokeh.documents[0].get_model_by_name('x_range').setv({start: a, end: b})",
        [a, b],
    )
    entry = trades["entry_time"].dt.tz_convert("UTC").dt.tz_localize(None)
    ms = entry.to_numpy("datetime64[ms]").astype(np.int64).astype(np.float64)
    seen = (ms >= a) & (ms <= b)
    assert 0 < seen.sum() < PATH_VIEW
    for side in ("long", "short"):
        xs = np.asarray(_get(page, f"entries_{side}_EURUSD", "Array.from(m.data.x0)"))
        np.testing.assert_array_equal(np.sort(xs), np.sort(ms[seen & (trades["side"] == side)]))
    assert _get(page, "legend_EURUSD", "m.title") == MARKER_NOTES[0]
    # the strip now counts per finer candle, still every trade of the candles drawn
    assert _get(page, "candles_EURUSD", "m.tags[0]") < level
    c = _counts(page)
    np.testing.assert_array_equal(c["x"], _get(page, "candles_EURUSD", "Array.from(m.data.x)"))
    assert c["entered"].sum() >= seen.sum()
    # (the last drawn candle's group ends where the next, undrawn one starts: left out)
    np.testing.assert_array_equal(c["entered"][:-1], _expected(trades, c)[:-1])
    assert page.errors == []


def test_legend_above_the_candles_with_an_icon_per_item(page):
    """The price legend sits above the candles (inside the plot it hid candles zoomed in to a
    trade), and every item has a row to draw its icon from, also those whose glyphs are
    drawn only zoomed in (Bokeh draws a legend icon from the first row of the data)."""
    assert _get(page, "price_EURUSD", "m.above.filter((x) => x === "
                "Bokeh.documents[0].get_model_by_name('legend_EURUSD')).length") == 1  # fmt: skip
    labels = _get(page, "legend_EURUSD", "m.items.map((it) => it.label.value)")
    assert {"long entry", "exit", "signal", "target (not filled)"} <= set(labels)
    assert _get(page, "legend_EURUSD",
                "m.items.every((it) => it.renderers.some((r) => r.data_source.get_length() > 0))")  # fmt: skip


def test_equity_and_drawdown_axes_fit_the_view(page):
    """Zoomed in, the equity and drawdown axes span the curves' points in view, not the whole
    run's (a flat line otherwise)."""
    start, end = _get(page, "x_range", "[m.start, m.end]")
    a = start + (end - start) * 0.3
    b = a + (end - start) / 50
    page.evaluate(
        "([a, b]) => Bokeh.documents[0].get_model_by_name('x_range').setv({start: a, end: b})",
        [a, b],
    )
    curves = {k: np.asarray(_get(page, "curves", f"Array.from(m.data.{k})"))
              for k in ("x", "equity", "dd")}  # fmt: skip
    seen = (curves["x"] >= a) & (curves["x"] <= b)
    assert seen.sum() > 10
    for name, col, top in (("equity_y", "equity", -np.inf), ("drawdown_y", "dd", 0.0)):
        lo, hi = _get(page, name, "[m.start, m.end]")
        v = curves[col][seen]
        want_lo, want_hi = v.min(), max(v.max(), top)
        assert lo <= want_lo and hi >= want_hi
        assert hi - lo <= 1.3 * (want_hi - want_lo) + 1e-9  # fitted: 5 % margins (+ a point)
        full = curves[col]
        assert hi - lo < 0.5 * (max(full.max(), top) - full.min())
