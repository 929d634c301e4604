"""The operations page in a real browser (Playwright driving Debian's Chromium) against a
running ``tradeforge dry-run`` (the console script, paced, with its control channel) and
``tradeforge web``: an operator sees the session, its strategy and its position, pauses the
strategy, closes part of the position, adds a blackout window, is refused close-all without
the confirmation box, then closes everything and kills with it — each change read back from
the engine (``tradeforge ctl status``; after the kill, which ends the session, its state
file) — and every action is in the audit log with the
operator's name. A viewer sees the page without buttons and is refused (403) when posting."""

from __future__ import annotations

import json

import pytest

from tests.live.control_support import dry_run_args, run_ctl, start, state_of
from tests.web.support import add_user, make_home, screenshot, wait_for, web_env, web_server

pytestmark = pytest.mark.slow


def engine_status(state) -> dict:
    """The running engine's own answer (``tradeforge ctl --json status``)."""
    code, out, err = run_ctl(state, "--json", "status")
    assert code == 0, out + err
    return json.loads(out)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ops")
    home = make_home(tmp / "home")
    state = home / "sessions" / "s1"
    session = start(dry_run_args(tmp, state, pace=0.2, n_bars=1500))
    try:
        wait_for(lambda: (s := state_of(state)) is not None and s.positions, 120, "a position")
        env = web_env(home)
        add_user(env, "olga", "operator")
        add_user(env, "victor", "viewer")
        with web_server(env, "--no-worker") as (url, _proc):
            yield url, state, session
    finally:
        session.terminate()
        session.communicate(timeout=60)


def _login(page, url: str, name: str) -> None:
    page.goto(f"{url}/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", f"{name}-pw")
    page.click("#login")
    page.wait_for_selector("#backtests")
    page.goto(f"{url}/operations/")


def _section(page, state):
    return page.locator(f"section.session[data-state='{state}']")


def test_operator_drives_the_session(browser, setup):
    url, state, proc = setup
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _login(page, url, "olga")
    session = _section(page, state)
    assert "running" in session.locator("h2").inner_text()
    row = session.locator("tr[data-strategy=sma_cross]")
    assert row.locator(".paused-flag").inner_text() == "no"
    positions = session.locator("table.positions tr:has(form)")
    assert positions.count() == 1
    (before,) = engine_status(state)["positions"]
    assert positions.first.locator("td").first.inner_text() == before["id"]

    screenshot(page, "operations.png", state.parent)

    # pause the one strategy: the engine's control state says so
    row.locator("button.pause-strategy").click()
    page.wait_for_selector(".msg.info")
    wait_for(
        lambda: engine_status(state)["control"]["strategies"]["sma_cross"]["paused"],
        60,
        "the engine to pause sma_cross",
    )
    page.goto(f"{url}/operations/")
    assert session.locator("tr[data-strategy=sma_cross] .paused-flag").inner_text() == "yes"

    # close 0.1 lots of the position: the engine keeps the rest open
    form = session.locator("table.positions tr:has(form)").first
    form.locator("input[name=lots]").fill("0.1")
    form.locator("button.close").click()
    page.wait_for_selector(".msg.info")
    left = before["lots_open"] - 0.1
    wait_for(
        lambda: (
            [round(p["lots_open"], 6) for p in engine_status(state)["positions"]]
            == [round(left, 6)]
        ),
        60,
        "the partial close",
    )

    # a blackout window far ahead
    session.locator("input[name=start]").fill("2030-01-01T00:00")
    session.locator("input[name=end]").fill("2030-01-01T01:00")
    session.locator("input[name=label]").fill("web test")
    session.locator("button.blackout").click()
    page.wait_for_selector(".msg.info")
    windows = wait_for(
        lambda: engine_status(state)["control"]["blackouts"], 60, "the blackout window"
    )
    assert [w["label"] for w in windows] == ["web test"]

    # close-all without the confirmation box is refused and changes nothing
    session.locator("button.close-all").click()
    assert "needs the confirmation box" in page.locator(".msg.error").inner_text()
    assert len(engine_status(state)["positions"]) == 1
    session.locator("input.confirm-close-all").check()
    session.locator("button.close-all").click()
    page.wait_for_selector(".msg.info")
    wait_for(lambda: not engine_status(state)["positions"], 60, "close-all")

    # the kill switch, confirmed: the engine halts, writes KILL and ends the session
    session.locator("input[name=reason]").fill("web drill")
    session.locator("input.confirm-kill").check()
    session.locator("button.kill").click()
    page.wait_for_selector(".msg.info")
    assert proc.wait(60) == 0
    assert state_of(state).risk.halted.startswith("kill: web drill")
    assert (state / "KILL").exists()
    page.goto(f"{url}/operations/")
    assert "halted" in session.locator("h2").inner_text()
    assert "running" not in session.locator("h2").inner_text()

    # the audit log names the operator for every action, the refusal included
    page.goto(f"{url}/audit/")
    rows = [r.split("\t") for r in page.locator("#audit tr").all_inner_texts()[1:]]
    seen = [(r[1], r[2], r[5]) for r in rows]
    expected = [
        ("olga", "kill", "ok"),
        ("olga", "close_all", "ok"),
        ("olga", "close_all", "refused"),
        ("olga", "blackout_add", "ok"),
        ("olga", "close", "ok"),
        ("olga", "pause", "ok"),
    ]
    assert seen == expected, seen
    screenshot(page, "operations-after-kill.png", state.parent)
    page.close()


def test_viewer_sees_the_session_but_cannot_act(browser, setup):
    url, state, _proc = setup
    page = browser.new_page()
    _login(page, url, "victor")
    session = _section(page, state)
    assert session.locator("tr[data-strategy=sma_cross]").count() == 1
    assert session.locator("button").count() == 0
    status = page.evaluate(
        """async (state) => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const body = new URLSearchParams({state_dir: state, action: 'pause'});
            const r = await fetch('/operations/command/', {method: 'POST',
              headers: {'X-CSRFToken': token}, body});
            return r.status;
        }""",
        str(state),
    )
    assert status == 403
    page.close()
