"""The research pages in a real browser: Playwright driving Debian's Chromium through the
shared ``browser`` fixture (`tests/conftest.py`: skipped outside CI without Chromium or
Playwright, failing in CI)."""

from __future__ import annotations

import pytest

from tests.research.pages_data import consistency_inputs, optimize_result, walkforward_result
from tradeforge.research.pages import consistency_page, optimize_page, walkforward_page


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("pages")
    doc, exp, act = consistency_inputs()
    return {
        "optimize": optimize_page(optimize_result(), out),
        "walkforward": walkforward_page(walkforward_result(), out),
        "consistency": consistency_page(doc, exp, act, out),
    }


def _open(browser, path):  # noqa: F811
    pg = browser.new_page(viewport={"width": 1300, "height": 1000})
    pg.errors, pg.requests = [], []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.goto(path.as_uri())
    pg.wait_for_function("window.Bokeh && Bokeh.documents.length > 0")
    pg.wait_for_function("() => Bokeh.documents[0].is_idle")
    return pg


def _model(page, name: str, expr: str):
    return page.evaluate(
        f"() => {{ const m = Bokeh.documents[0].get_model_by_name({name!r}); return {expr}; }}"
    )


def _screen_xy(page, figure: str, x, y, dx: float = 0.0) -> tuple[float, float]:
    """Page coordinates of data point (x + dx, y) of a figure (factors for categorical axes;
    ``dx`` in factor widths, as Bokeh's ``dodge``)."""
    return page.evaluate(
        """([name, x, y, dx]) => {
          const m = Bokeh.documents[0].get_model_by_name(name);
          const v = Bokeh.index.find_one(m), f = v.frame;
          const r = v.canvas_view.el.getBoundingClientRect();
          const sx = (typeof x === "string" ? m.x_range.synthetic(x) : x) + dx;
          const sy = typeof y === "string" ? m.y_range.synthetic(y) : y;
          return [r.left + f.x_scale.compute(sx), r.top + f.y_scale.compute(sy)]; }""",
        [figure, x, y, dx],
    )


@pytest.mark.parametrize("name", ["optimize", "walkforward", "consistency"])
def test_page_opens_offline_without_errors(browser, pages, name):  # noqa: F811
    pg = _open(browser, pages[name])
    try:
        assert pg.errors == []
        assert pg.requests == [pages[name].as_uri()]
        assert pg.locator(".bk-Figure").count() >= 1
    finally:
        pg.close()


def test_heatmap_shows_every_cell_and_hover_tells_the_status(browser, pages):  # noqa: F811
    pg = _open(browser, pages["optimize"])
    try:
        status = _model(pg, "cells", "Array.from(m.data.status)")
        assert len(status) == 18
        assert sorted(set(status)) == ["invalid", "ok", "rejected", "undefined"]
        pg.mouse.move(*_screen_xy(pg, "heatmap", "25", "40"))
        from playwright.sync_api import expect

        tip = pg.locator(".bk-Tooltip")
        expect(tip.get_by_text("trades>=40", exact=True)).to_be_visible()
        expect(tip.get_by_text("rejected", exact=True)).to_be_visible()
    finally:
        pg.close()


def test_clicking_a_cell_selects_its_trials(browser, pages):  # noqa: F811
    pg = _open(browser, pages["optimize"])
    try:
        pg.mouse.click(*_screen_xy(pg, "heatmap", "10", "60"))
        pg.wait_for_function(
            "() => Bokeh.documents[0].get_model_by_name('trials').selected.indices.length > 0"
        )
        picked = _model(pg, "trials", "m.selected.indices")
        ids = _model(pg, "trials", "Array.from(m.data.trial_id)")
        # fast 10 is the second value, slow 60 the third: trial 1 * 3 + 2
        assert [ids[i] for i in picked] == [5]
    finally:
        pg.close()


def test_walkforward_hover_on_a_fold(browser, pages):  # noqa: F811
    pg = _open(browser, pages["walkforward"])
    try:
        assert _model(pg, "folds", "Array.from(m.data.fold)") == ["0", "1", "2"]
        n = _model(pg, "equity_fold_2", "m.data.x.length")
        assert n == 100
        # the in-sample bar of fold 1 is 0.2 high: hover its middle
        pg.mouse.move(*_screen_xy(pg, "is_oos", "1", 0.1, dx=-0.18))
        from playwright.sync_api import expect

        expect(pg.locator(".bk-Tooltip").get_by_text("0.2000", exact=True)).to_be_visible()
    finally:
        pg.close()


def test_consistency_wheel_zooms_the_pnl_curves(browser, pages):  # noqa: F811
    pg = _open(browser, pages["consistency"])
    try:
        assert _model(pg, "cum_pnl", "m.renderers.length") == 2
        span = "(r => r.end - r.start)(Bokeh.documents[0].get_model_by_name('cum_pnl').x_range)"
        before = pg.evaluate(f"() => {span}")
        box = pg.locator(".bk-Figure").first.bounding_box()
        pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        pg.mouse.wheel(0, -600)
        pg.wait_for_function(f"() => {span} < {before}")
    finally:
        pg.close()
