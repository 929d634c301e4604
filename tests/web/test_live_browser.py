"""A live cTrader session started, watched and stopped from the operations page, in a real
browser (Playwright driving Debian's Chromium) against ``tradeforge web`` (the console
script) and the fake cTrader Open API server of the cTrader tests (TLS on 127.0.0.1).

The web process holds the cTrader credentials in its environment; the form names only the
endpoint, the account and the CA file. The operator must tick the confirmation; the session
the web process launches is a real ``tradeforge live --broker ctrader``: it subscribes to the
fake's live bars, handles a few scripted quotes and answers ``tradeforge ctl status``. The
stop is a SIGTERM the session handles as Ctrl-C. No secret appears on a page, in the audit
log or in the recorded command; a viewer cannot start one."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from tests.ctrader.fake_server import ACCOUNT, CLIENT_SECRET, FakeCTrader, make_certificate
from tests.ctrader.live_script import SCRIPT, Driver, environment, make_script
from tests.live.control_support import run_ctl
from tests.web.support import add_user, make_home, wait_for, web_env, web_server
from tradeforge.core.process import pid_alive

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed"),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("live-web")
    home = make_home(root / "home")
    (root / "tls").mkdir()
    cert = make_certificate(root / "tls")
    with FakeCTrader(*cert) as server:
        env = web_env(home, **{k: v for k, v in environment().items() if k.startswith("CTRADER_")})
        add_user(env, "olga", "operator")
        add_user(env, "victor", "viewer")
        with web_server(env, "--no-worker") as (url, _proc):
            yield url, home, server


def _login(page, url: str, name: str) -> None:
    page.goto(f"{url}/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", f"{name}-pw")
    page.click("#login")
    page.wait_for_selector("#backtests")


def _fill_live(page, server, name: str) -> None:
    page.fill("#live-name", name)
    page.select_option("#live-broker", "ctrader")
    page.select_option("#live-strategy", "sma_cross")
    page.fill("#live-params", "fast=3, slow=12, stop_pips=6, target_pips=8")
    page.fill("#live-symbol", "EURUSD")
    page.fill("#live-timeframe", "M1")
    page.fill("#live-host", server.endpoint)
    page.fill("#live-account", str(ACCOUNT))
    page.fill("#live-ca-file", str(server.cert_file))
    page.fill("#live-health", "skew=off")


def test_operator_starts_and_stops_a_live_ctrader_session(browser, setup):
    url, home, server = setup
    state = home / "sessions" / "live1"
    driver = Driver(server, make_script(n_live=4), state)
    first = driver.prepare()
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    _login(page, url, "olga")
    page.goto(f"{url}/operations/")

    # without the confirmation: refused, nothing started
    _fill_live(page, server, "live1")
    page.click("#start-live-button")
    assert "tick the confirmation box" in page.locator(".msg.error").inner_text()
    assert not state.exists()

    _fill_live(page, server, "live1")
    page.check("#live-confirm")
    page.click("#start-live-button")
    pid = int(re.search(r"pid (\d+)", page.locator(".msg.info").inner_text())[1])
    alive = lambda: pid_alive(pid)  # noqa: E731
    log = home / "web" / "session-logs" / "live1.log"
    assert driver.wait_subscribed(alive, 120), log.read_text()[-2000:]
    for i in range(first, len(driver.spots)):  # it trades the scripted quotes
        driver.push(i)
        assert driver.wait_handled(i, alive), log.read_text()[-2000:]
    wait_for(lambda: run_ctl(state, "--json", "status")[0] == 0, 60, "the control channel")
    status = json.loads(run_ctl(state, "--json", "status")[1])
    assert "sma_cross" in status["control"]["strategies"]

    page.goto(f"{url}/operations/")
    session = page.locator(f"section.session[data-state='{state}']")
    heading = session.locator("h2").inner_text()
    assert "running" in heading and "live" in heading
    assert f"pid {pid}" in session.locator(".launched").inner_text()
    assert session.locator("button.resume-session").count() == 0

    # stop: SIGTERM, handled as Ctrl-C; the state stays
    session.locator("button.stop").click()
    assert "SIGTERM sent" in page.locator(".msg.info").inner_text()
    wait_for(lambda: not pid_alive(pid), 60, "the session to end")
    page.goto(f"{url}/operations/")
    session = page.locator(f"section.session[data-state='{state}']")
    assert "stopped" in session.locator("h2").inner_text()
    assert session.locator(".confirm-resume").count() == 1  # a live resume asks again
    assert "Traceback" not in log.read_text()

    # no secret anywhere the control plane shows or keeps
    for path in ("/operations/", "/audit/", "/compliance/", "/audit/?format=csv"):
        text = page.evaluate(f"async () => (await fetch('{path}')).text()")
        assert CLIENT_SECRET not in text
    page.goto(f"{url}/audit/")
    rows = [r.split("\t") for r in page.locator("#audit tr").all_inner_texts()[1:]]
    assert [(r[2], r[5]) for r in rows] == [
        ("session_stop", "ok"),
        ("session_start", "ok"),
        ("session_start", "refused"),
    ]
    args = json.loads(page.evaluate("async () => (await fetch('/api/sessions/')).text()"))
    (doc,) = [s for s in args["sessions"] if s["state_dir"] == str(state)]
    assert doc["mode"] == "live" and doc["launched_by"] == "olga"
    with sqlite3.connect(home / "web" / "db.sqlite3") as db:
        (command,) = db.execute(
            "SELECT command FROM tradeforge_web_runtimestate WHERE state_dir = ?", (str(state),)
        ).fetchone()
        kept = command + "".join(
            a for (a,) in db.execute("SELECT args FROM tradeforge_web_auditlog")
        )
    assert json.loads(command)[1:4] == ["live", f"--state={state}", "--broker=ctrader"]
    assert CLIENT_SECRET not in kept and "CTRADER" not in kept
    page.close()


def test_viewer_cannot_start_a_live_session(browser, setup):
    url, home, server = setup
    page = browser.new_page()
    _login(page, url, "victor")
    page.goto(f"{url}/operations/")
    assert page.locator("#start-live").count() == 0
    status = page.evaluate(
        """async (host) => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const body = new URLSearchParams({mode: 'live', name: 'v2', broker: 'ctrader',
                strategy: 'sma_cross', symbol: 'EURUSD', timeframe: 'M1', host, confirm: 'on'});
            const r = await fetch('/operations/start/', {method: 'POST',
                headers: {'X-CSRFToken': token}, body});
            return r.status;
        }""",
        server.endpoint,
    )
    assert status == 403
    assert not (home / "sessions" / "v2").exists()
    page.close()
