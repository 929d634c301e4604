"""The dashboard in a real browser (Playwright driving Debian's Chromium) against
``tradeforge web`` started through the console script on the embedded default: an operator
logs in, submits two small backtests through the form, watches them finish, opens a report
(the interactive Bokeh page inside the dashboard) and compares the two runs; the audit log
names the operator; a viewer sees no actions and is refused when posting anyway."""

from __future__ import annotations

import pytest

from tests.web.support import add_user, make_home, screenshot, web_env, web_server
from tradeforge.analytics.format import KEY_METRICS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = make_home(tmp_path_factory.mktemp("web") / "home")
    env = web_env(home)
    add_user(env, "olga", "operator")
    add_user(env, "victor", "viewer")
    with web_server(env, "--concurrency", "2") as (url, _proc):
        yield url


def _login(page, url: str, name: str) -> None:
    page.goto(f"{url}/")
    assert "/login/" in page.url
    page.fill("#id_username", name)
    page.fill("#id_password", f"{name}-pw")
    page.click("#login")
    page.wait_for_selector("#backtests")


def _submit(page, url: str, params: str) -> str:
    page.goto(f"{url}/backtests/new/")
    page.select_option("#strategy", "sma_cross")
    page.fill("#params", params)
    page.fill("#symbols", "EURUSD")
    page.fill("#timeframe", "H1")
    page.fill("#start", "2024-01-01")
    page.fill("#end", "2024-03-01")
    page.click("#submit")
    page.wait_for_selector("#status")
    return page.url


def test_operator_submits_watches_opens_report_and_compares(browser, server, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _login(page, server, "olga")
    first = _submit(page, server, "fast=10\nslow=30")
    second = _submit(page, server, "fast=5\nslow=20")
    for detail in (first, second):
        page.goto(detail)
        page.wait_for_function(
            "document.getElementById('status').textContent === 'done'", timeout=240_000
        )
    # the finished run's page: headline metrics, breakdowns and the interactive report
    page.wait_for_selector("#summary")
    assert page.locator("#breakdowns tr").count() > 1
    report = page.frame_locator("#report")
    report.locator(".bk-Figure").first.wait_for(timeout=60_000)
    frame = page.frame(url=lambda u: u.endswith("/report.html"))
    assert frame.evaluate("() => window.Bokeh.documents.length") > 0
    screenshot(page, "report-page.png", tmp_path)

    # compare the two from the list: tick both, press compare
    page.goto(f"{server}/")
    boxes = page.locator("#backtests input[type=checkbox]")
    assert boxes.count() == 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#compare")
    page.wait_for_selector("#comparison")
    rows = page.locator("#comparison tr[data-key]")
    assert rows.count() == sum(len(m) for m in KEY_METRICS.values())
    trades = page.locator("#comparison tr[data-key=trades] td")
    assert trades.nth(1).inner_text() != "" and trades.nth(2).inner_text() != ""

    # sorting by trades puts the larger count first
    page.goto(f"{server}/?sort=-trades")
    screenshot(page, "dashboard.png", tmp_path)
    counts = [
        int(t) for t in page.locator("#backtests tbody tr td:nth-child(10)").all_inner_texts()
    ]
    assert counts == sorted(counts, reverse=True) and len(counts) == 2

    page.goto(f"{server}/audit/")
    assert page.locator("#audit tr", has_text="backtest_submit").count() == 2
    assert "olga" in page.locator("#audit").inner_text()
    page.close()


def test_viewer_sees_no_actions_and_cannot_act(browser, server):
    page = browser.new_page()
    _login(page, server, "victor")
    assert page.locator("nav", has_text="New backtest").count() == 0
    assert "viewer" in page.locator("nav").inner_text()
    response = page.goto(f"{server}/backtests/new/")
    assert response.status == 403
    # a POST with a valid CSRF token is still refused for the role
    page.goto(f"{server}/operations/")
    status = page.evaluate(
        """async () => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const r = await fetch('/api/backtests/', {method: 'POST', headers:
              {'X-CSRFToken': token, 'Content-Type': 'application/json'}, body: '{}'});
            return r.status;
        }"""
    )
    assert status == 403
    # and a POST without the token is stopped by CSRF
    status = page.evaluate(
        "async () => (await fetch('/api/backtests/', {method: 'POST', body: '{}'})).status"
    )
    assert status == 403
    page.close()
