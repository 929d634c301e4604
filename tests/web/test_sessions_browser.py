"""Sessions started and stopped from the operations page, the notification settings applied
to them and the compliance page — in a real browser (Playwright driving Debian's Chromium)
against ``tradeforge web`` (the console script) and a fake Telegram Bot API server.

An operator adds a Telegram chat on the notifications page; starts a dry-run from the form
(a spread limit below every bar's spread, so its spread guard refuses each entry); the
session it launched is a real ``tradeforge dry-run`` (it answers ``tradeforge ctl status``)
and, run with the control plane's notification file, greets that chat on the fake Telegram.
The operator stops it (SIGTERM: the process ends, its state stays); the compliance page
shows its guard state, the guard's breaches from its decision log and the audit trail, and
its CSV export holds the same events. Every action is audited with the operator's name; a
viewer sees no start form and is refused when posting one."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tests.live.control_support import run_ctl
from tests.notify.fake_telegram import TOKEN, FakeTelegram
from tests.notify.support import WebhookReceiver
from tests.web.support import add_user, make_home, screenshot, wait_for, web_env, web_server
from tradeforge.core.process import pid_alive
from tradeforge.live.decisions import DECISIONS_FILE, wall_clock
from tradeforge.live.state import StateRepository
from tradeforge.notify.config import load_notify_config

pytestmark = pytest.mark.slow

CHAT = "4242"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    home = make_home(tmp_path_factory.mktemp("sessions") / "home")
    with FakeTelegram() as telegram:
        env = web_env(
            home, TRADEFORGE_WEB_TELEGRAM_URL=telegram.base_url, TRADEFORGE_TELEGRAM_TOKEN=TOKEN
        )
        add_user(env, "olga", "operator")
        add_user(env, "victor", "viewer")
        with web_server(env, "--no-worker") as (url, _proc):
            yield url, home, telegram


def _login(page, url: str, name: str) -> None:
    page.goto(f"{url}/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", f"{name}-pw")
    page.click("#login")
    page.wait_for_selector("#backtests")


def _section(page, state):
    return page.locator(f"section.session[data-state='{state}']")


def test_operator_starts_stops_and_checks_compliance(browser, setup):
    url, home, telegram = setup
    test_started = wall_clock()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _login(page, url, "olga")

    # a Telegram chat for every level: written to the file the sessions started here read
    page.goto(f"{url}/notifications/")
    page.fill("#chat-name", "ops")
    page.fill("#chat-id", CHAT)
    for level in ("info", "warning", "critical"):
        page.check(f"input.level-{level}")
    page.click("#save-chat")
    assert "written to" in page.locator(".msg.info").inner_text()
    assert page.locator("#chats tr[data-name=ops]").count() == 1
    notify_file = home / "web" / "notify.yaml"
    assert notify_file.is_file()

    # a bad chat id is refused and leaves the file as it was
    before = notify_file.read_text()
    page.fill("#chat-name", "bad")
    page.fill("#chat-id", "not a chat")
    page.click("#save-chat")
    assert "choose at least one level" in page.locator(".msg.error").inner_text()
    page.fill("#chat-name", "bad")
    page.fill("#chat-id", "not a chat")
    page.check("input.level-critical")
    page.click("#save-chat")
    assert "is not a chat id" in page.locator(".msg.error").inner_text()
    assert page.locator("#chats tr[data-name=bad]").count() == 0
    assert notify_file.read_text() == before

    # start a dry-run from the form
    page.goto(f"{url}/operations/")
    page.fill("#session-name", "gui1")
    page.select_option("#session-strategy", "sma_cross")
    page.fill("#session-params", "fast=3, slow=12")
    page.fill("#session-replay", "2024-01-01:2024-03-01")
    page.fill("#session-pace", "0.05")
    page.fill("#session-max-spread", "0.1")
    page.click("#start")
    started = page.locator(".msg.info").inner_text()
    pid = int(re.search(r"pid (\d+)", started)[1])
    state = home / "sessions" / "gui1"
    assert pid_alive(pid)

    # the notification settings took effect: the session greets the chat
    wait_for(lambda: any("session started" in t for t in telegram.texts(CHAT)), 120, "the greeting")
    # a real engine: its control channel answers, and its spread guard refuses entries
    wait_for(lambda: run_ctl(state, "--json", "status")[0] == 0, 60, "the control channel")
    status = json.loads(run_ctl(state, "--json", "status")[1])
    assert "sma_cross" in status["control"]["strategies"]
    wait_for(
        lambda: (
            (state / DECISIONS_FILE).is_file()
            and '"kind": "guard"' in (state / DECISIONS_FILE).read_text()
        ),
        120,
        "a guard refusal",
    )
    page.goto(f"{url}/operations/")
    session = _section(page, state)
    assert "running" in session.locator("h2").inner_text()
    assert f"pid {pid}" in session.locator(".launched").inner_text()

    screenshot(page, "operations-started-session.png", home)

    # stop it: SIGTERM, the process ends cleanly and its state stays for a restart
    session.locator("button.stop").click()
    assert "SIGTERM sent" in page.locator(".msg.info").inner_text()
    wait_for(lambda: not pid_alive(pid), 60, "the session to end")
    page.goto(f"{url}/operations/")
    assert "stopped" in _section(page, state).locator("h2").inner_text()
    assert _section(page, state).locator("button.stop").count() == 0

    # compliance: the guard state, the breaches from the decision log, the audit trail
    page.goto(f"{url}/compliance/")
    account = page.locator(f"#guards tr[data-session='{state}'][data-strategy='(account)']")
    assert account.locator(".state").inner_text() == "trading"
    breaches = page.locator("#events tr.limit-breach")
    decisions = [json.loads(x) for x in (state / DECISIONS_FILE).read_text().splitlines()]
    guards = [d for d in decisions if d["kind"] == "guard"]
    assert breaches.count() == len(guards) > 0
    assert "spread" in breaches.first.inner_text()
    # market (replay) time and recorded wall time in separate columns: a breach happened at a
    # bar of early 2024 and was written during this test; an action has no market time
    headers = page.locator("#events tr").first.inner_text()
    assert "market time (engine)" in headers and "recorded (wall clock, UTC)" in headers
    first = breaches.first
    assert first.locator(".market-time").inner_text().startswith(("2024-01", "2024-02"))
    assert first.locator(".recorded").inner_text() >= test_started
    audit = page.locator("#events tr.audit").all_inner_texts()
    assert [r.split("\t")[4] for r in audit] == ["session_stop", "session_start"] + [
        "notification_set"
    ] * 3
    assert all(r.split("\t")[7] == "olga" for r in audit)
    assert all(r.split("\t")[0] == "" and r.split("\t")[1] >= test_started for r in audit)

    screenshot(page, "compliance.png", home)

    # the CSV export holds the same events, oldest first
    text = page.evaluate("async () => (await fetch('/compliance/?format=csv')).text()")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == page.locator("#events tr").count() - 1
    assert [r["kind"] for r in rows if r["category"] == "audit"] == ["notification_set"] * 3 + [
        "session_start",
        "session_stop",
    ]
    assert sum(r["category"] == "limit breach" for r in rows) == len(guards)
    assert list(rows[0])[:2] == ["market_time", "recorded"]
    assert [r["recorded"] for r in rows] == sorted(r["recorded"] for r in rows)
    assert {r["market_time"] for r in rows if r["category"] == "limit breach"} == {
        g["time"] for g in guards
    }
    assert all(r["market_time"] == "" for r in rows if r["category"] == "audit")

    page.goto(f"{url}/audit/")
    outcomes = [r.split("\t")[5] for r in page.locator("#audit tr").all_inner_texts()[1:]]
    assert outcomes == ["ok", "ok", "refused", "refused", "ok"]
    page.close()


def test_viewer_cannot_start_or_stop(browser, setup):
    url, home, _telegram = setup
    page = browser.new_page()
    _login(page, url, "victor")
    page.goto(f"{url}/operations/")
    assert page.locator("#start-session").count() == 0
    statuses = page.evaluate(
        """async () => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const out = [];
            for (const [path, body] of [['/operations/start/', {name: 'v1', strategy: 'sma_cross'}],
                                         ['/operations/stop/', {state_dir: '/x'}]]) {
              const r = await fetch(path, {method: 'POST', headers: {'X-CSRFToken': token},
                                           body: new URLSearchParams(body)});
              out.push(r.status);
            }
            return out;
        }"""
    )
    assert statuses == [403, 403]
    assert not (home / "sessions" / "v1").exists()
    page.close()


def test_operator_edits_webhooks(browser, setup):
    """Webhooks added, refused (a bad URL: the engine loader's words, the form kept as typed),
    edited and removed on the notifications page; the file follows each change."""
    url, home, _telegram = setup
    notify_file = home / "web" / "notify.yaml"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _login(page, url, "olga")
    page.goto(f"{url}/notifications/")
    page.fill("#webhook-name", "desk")
    page.fill("#webhook-url", "http://127.0.0.1:9/first")
    page.check("input.webhook-level-warning")
    page.check("input.webhook-level-critical")
    page.click("#save-webhook")
    assert "written to" in page.locator(".msg.info").inner_text()
    row = page.locator("#webhooks tr[data-name=desk]")
    assert row.locator(".url").inner_text() == "http://127.0.0.1:9/first"
    assert row.locator(".levels").inner_text() == "warning, critical"
    hooks = load_notify_config(notify_file).webhook.urls
    assert {level.value: urls for level, urls in hooks.items()} == {
        "warning": ["http://127.0.0.1:9/first"],
        "critical": ["http://127.0.0.1:9/first"],
    }

    # a bad URL: refused with the loader's reason, the form holds what was typed
    before = notify_file.read_text()
    page.fill("#webhook-name", "bad")
    page.fill("#webhook-url", "ftp://127.0.0.1/x")
    page.check("input.webhook-level-info")
    page.click("#save-webhook")
    assert "'ftp://127.0.0.1/x' is not an http(s) URL" in page.locator(".msg.error").inner_text()
    assert page.input_value("#webhook-url") == "ftp://127.0.0.1/x"
    assert page.is_checked("input.webhook-level-info")
    assert page.locator("#webhooks tr[data-name=bad]").count() == 0
    assert notify_file.read_text() == before

    # edit: the row's link fills the form; a new URL and one level
    page.goto(f"{url}/notifications/")
    page.locator("#webhooks tr[data-name=desk] a.edit-webhook").click()
    assert page.input_value("#webhook-url") == "http://127.0.0.1:9/first"
    assert page.is_checked("input.webhook-level-warning")
    page.fill("#webhook-url", "https://127.0.0.1:9/second")
    page.uncheck("input.webhook-level-warning")
    page.click("#save-webhook")
    row = page.locator("#webhooks tr[data-name=desk]")
    assert row.locator(".url").inner_text() == "https://127.0.0.1:9/second"
    assert row.locator(".levels").inner_text() == "critical"
    hooks = load_notify_config(notify_file).webhook.urls
    assert {level.value: urls for level, urls in hooks.items()} == {
        "critical": ["https://127.0.0.1:9/second"]
    }

    # remove
    row.locator("button.remove-webhook").click()
    assert page.locator("#webhooks tr[data-name=desk]").count() == 0
    assert not notify_file.is_file() or load_notify_config(notify_file).webhook is None

    page.goto(f"{url}/audit/")
    rows = [r.split("\t") for r in page.locator("#audit tr").all_inner_texts()[1:]]
    hook_rows = [(r[2], r[5]) for r in rows if r[2].startswith("webhook_")]
    assert hook_rows == [
        ("webhook_delete", "ok"),
        ("webhook_set", "ok"),
        ("webhook_set", "refused"),
        ("webhook_set", "ok"),
    ]
    page.close()


def _committed(state):
    body, _ = StateRepository(state).load(heal=False)
    return body


def _argv(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return [a.decode() for a in fh.read().split(b"\0") if a]


def test_operator_stops_and_resumes_a_session(browser, setup):
    """Stop, then resume: the recorded command runs again on the same state directory and the
    engine continues from the state it committed (its start record loads that seq)."""
    url, home, _telegram = setup
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _login(page, url, "olga")
    page.goto(f"{url}/operations/")
    page.fill("#session-name", "gui2")
    page.select_option("#session-strategy", "sma_cross")
    page.fill("#session-params", "fast=3, slow=12")
    page.fill("#session-replay", "2024-01-01:2024-03-01")
    page.fill("#session-pace", "0.05")
    page.click("#start")
    first = int(re.search(r"pid (\d+)", page.locator(".msg.info").inner_text())[1])
    state = home / "sessions" / "gui2"
    command = _argv(first)
    wait_for(lambda: run_ctl(state, "--json", "status")[0] == 0, 60, "the control channel")
    wait_for(lambda: _committed(state)["seq"] >= 20, 120, "twenty commits")
    page.goto(f"{url}/operations/")
    assert _section(page, state).locator("button.resume-session").count() == 0
    _section(page, state).locator("button.stop").click()
    wait_for(lambda: not pid_alive(first), 60, "the session to end")
    stopped = _committed(state)

    page.goto(f"{url}/operations/")
    session = _section(page, state)
    assert "stopped" in session.locator("h2").inner_text()
    session.locator("button.resume-session").click()
    resumed = page.locator(".msg.info").inner_text()
    second = int(re.search(rf"resumed {state} \(pid (\d+)\)", resumed)[1])
    assert second != first and pid_alive(second)
    assert _argv(second) == command  # the same recorded command line
    wait_for(lambda: run_ctl(state, "--json", "status")[0] == 0, 60, "the control channel")
    wait_for(
        lambda: _committed(state)["last_key"] > stopped["last_key"], 120, "a bar after the resume"
    )
    starts = [
        json.loads(x)
        for x in (state / DECISIONS_FILE).read_text().splitlines()
        if '"kind": "start"' in x
    ]
    assert len(starts) == 2 and starts[1]["load"]["seq"] >= stopped["seq"] > 0
    page.goto(f"{url}/operations/")
    session = _section(page, state)
    assert "running" in session.locator("h2").inner_text()
    assert f"pid {second}" in session.locator(".launched").inner_text()

    # a second resume while it runs is refused
    session.locator("button.stop").wait_for()
    status = page.evaluate(
        """async (state) => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const r = await fetch('/operations/resume/', {method: 'POST',
                headers: {'X-CSRFToken': token}, body: new URLSearchParams({state_dir: state})});
            return (await r.text()).includes('is running (pid');
        }""",
        str(state),
    )
    assert status
    session.locator("button.stop").click()
    wait_for(lambda: not pid_alive(second), 60, "the session to end")

    page.goto(f"{url}/audit/")
    rows = [r.split("\t") for r in page.locator("#audit tr").all_inner_texts()[1:]]
    mine = [(r[2], r[5]) for r in rows if r[3] == str(state)]
    assert mine == [
        ("session_stop", "ok"),
        ("session_resume", "refused"),
        ("session_resume", "ok"),
        ("session_stop", "ok"),
        ("session_start", "ok"),
    ]
    page.close()


def _texts(receiver, path: str) -> list[str]:
    return [m["text"] for p, body in list(receiver.bodies) if p == path for m in body["messages"]]


def test_notification_change_reaches_a_running_session(browser, setup):
    """A running dry-run started with the control plane's notification file: changing the
    webhook's URL on the page hands the new settings to it (a ``notify_reload`` through its
    control channel, journaled by the engine) and its messages go to the new URL from then
    on — to a real HTTP receiver on 127.0.0.1."""
    url, home, _telegram = setup
    receiver = WebhookReceiver()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _login(page, url, "olga")
    try:
        page.goto(f"{url}/notifications/")
        page.fill("#webhook-name", "ops-hook")
        page.fill("#webhook-url", receiver.url("/before"))
        for level in ("info", "warning", "critical"):
            page.check(f"input.webhook-level-{level}")
        page.click("#save-webhook")
        assert "written to" in page.locator(".msg.info").inner_text()

        page.goto(f"{url}/operations/")
        page.fill("#session-name", "gui3")
        page.select_option("#session-strategy", "sma_cross")
        page.fill("#session-params", "fast=3, slow=12")
        page.fill("#session-replay", "2024-01-01:2024-03-01")
        page.fill("#session-pace", "0.1")
        page.click("#start")
        pid = int(re.search(r"pid (\d+)", page.locator(".msg.info").inner_text())[1])
        state = home / "sessions" / "gui3"
        wait_for(lambda: any("session started" in t for t in _texts(receiver, "/before")), 120,
                 "the greeting at the first URL")  # fmt: skip
        wait_for(lambda: run_ctl(state, "--json", "status")[0] == 0, 60, "the control channel")

        # the new URL, handed to the running session
        page.goto(f"{url}/notifications/?webhook=ops-hook")
        page.fill("#webhook-url", receiver.url("/after"))
        page.click("#save-webhook")
        info = page.locator(".msg.info").inner_text()
        assert re.search(rf"{state}: reloaded \(command \d+\)", info), info
        wait_for(
            lambda: any("notification settings reloaded" in t for t in _texts(receiver, "/after")),
            120,
            "the reload notice at the new URL",
        )
        # the session's later messages (its trades) go to the new URL only
        wait_for(lambda: len(_texts(receiver, "/after")) >= 3, 120, "more messages")
        before, after = _texts(receiver, "/before"), _texts(receiver, "/after")
        assert not any("notification settings reloaded" in t for t in before)
        assert not set(before) & set(after)
        assert pid_alive(pid)

        # the engine journaled the command and logged what it did
        decisions = [json.loads(x) for x in (state / DECISIONS_FILE).read_text().splitlines()]
        (reloaded,) = [d for d in decisions if d["kind"] == "notify_reloaded"]
        # the webhook and the Telegram chat of the first test, when it ran before
        assert re.match(
            r"notification settings reloaded: [12] target\(s\), by ", reloaded["reason"]
        )
        applied = [d for d in decisions if d["kind"] == "command" and d.get("outcome")]
        assert [(c["command"], c["outcome"]) for c in applied] == [("notify_reload", "applied")]

        page.goto(f"{url}/audit/")
        rows = [r.split("\t") for r in page.locator("#audit tr").all_inner_texts()[1:]]
        (sent,) = [r for r in rows if r[2] == "notify_reload"]
        assert sent[3] == str(state) and sent[5] == "ok" and "/after" not in sent[4]
        page.goto(f"{url}/operations/")
        _section(page, state).locator("button.stop").click()
        wait_for(lambda: not pid_alive(pid), 60, "the session to end")
    finally:
        receiver.stop()
        page.close()
