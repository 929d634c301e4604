"""``tradeforge live --broker ctrader --session``: two strategy instances on two symbols over
one connection (the merged cTrader feed), through the console script against the fake
server; each instance's trades and P&L, and the total, are the fake account's own record.
The session also runs with ``--notify`` (a webhook on 127.0.0.1): each instance's divergence
monitor compares it with its shadow backtest on the bars it saw, and a feed that goes quiet
and comes back is a warning, then one recovery message. A session SIGKILLed with positions
open on both symbols resumes the merged stream on a restart, losing and doubling nothing."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.ctrader.fake_server import ACCOUNT, FakeSymbol
from tests.ctrader.live_script import SCRIPT, Driver, environment, make_script, run_scripted
from tests.notify.support import WebhookReceiver
from tradeforge.live.runner import journal_trades
from tradeforge.live.session import load_session
from tradeforge.live.session_runner import strategy_trades

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")

EUR, GBP = 1, 4  # the fake's symbol ids
SESSION = """
[[strategies]]
name = "eur"
strategy = "sma_cross"
params = { fast = 3, slow = 12, stop_pips = 6, target_pips = 8 }
symbol = "EURUSD"
timeframe = "M1"
sizing = "fixed:0.1"

[[strategies]]
name = "gbp"
strategy = "sma_cross"
params = { fast = 4, slow = 10, stop_pips = 5, target_pips = 7 }
symbol = "GBPUSD"
timeframe = "M1"
sizing = "fixed:0.2"
"""


def session_args(server, state: Path, session: Path, *extra: str) -> list[str]:
    return [
        "live", "--broker", "ctrader", "--host", server.endpoint, "--ca-file",
        str(server.cert_file), "--account-id", str(ACCOUNT), "--state", str(state),
        "--session", str(session), "--health", "skew=off", "--health-interval", "0.05", *extra,
    ]  # fmt: skip


def notify_file(tmp_path: Path, hook: WebhookReceiver) -> Path:
    urls = f'info = ["{hook.url("/info")}"], warning = ["{hook.url("/warn")}"]'
    path = tmp_path / "notify.toml"
    path.write_text(
        f"[webhook]\nurls = {{ {urls} }}\n[delivery]\ndrain_seconds = 10\n"
        "[monitor]\nevery_bars = 5\nmin_trades = 1\n"
    )
    return path


def decisions(state: Path) -> list[dict]:
    return [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]


def scripts(n_live: int = 24) -> dict:
    eur = make_script(n_live=n_live, seed=11)
    # GBPUSD quotes 7 s after EURUSD's in every 20 s: the merged stream interleaves them
    return {EUR: eur, GBP: make_script(n_live, seed=23, first_live=eur.first_live, offset_ms=7_000)}


def closing_pnl(server, symbol_id: int) -> float:
    deals = [d for d in server.deals if d.HasField("closePositionDetail")]
    return sum(d.closePositionDetail.grossProfit for d in deals if d.symbolId == symbol_id) / 100


def test_two_instances_on_two_symbols_through_one_connection(server, tmp_path):
    server.symbols[GBP] = FakeSymbol(GBP, "GBPUSD", bid=127_000, ask=127_002)
    session = tmp_path / "session.toml"
    session.write_text(SESSION)
    state = tmp_path / "state"
    hook = WebhookReceiver()
    try:
        quiet = ["--health", "feed=1.5:warn", "--notify", str(notify_file(tmp_path, hook))]
        args = session_args(server, state, session, *quiet)
        out = run_scripted(server, scripts(), state, args, pauses={20: 3.0})  # a quiet feed
    finally:
        hook.stop()
    own = strategy_trades(state)
    assert set(own) == {"eur", "gbp"}, out
    assert len(own["eur"]) >= 1 and len(own["gbp"]) >= 1
    assert set(own["eur"]["symbol"]) == {"EURUSD"} and set(own["gbp"]["symbol"]) == {"GBPUSD"}
    # every trade is one entry order at the server, under its instance's client id
    entries = [o for o in server.order_history.values() if not o.closingOrder]
    trades = journal_trades(state)
    assert len(entries) == len({o.tradeData.label for o in entries}) == len(trades)
    by_symbol = {EUR: 0, GBP: 0}
    for o in entries:
        by_symbol[o.tradeData.symbolId] += 1
    assert by_symbol == {EUR: len(own["eur"]), GBP: len(own["gbp"])}
    assert {o.tradeData.volume for o in entries if o.tradeData.symbolId == EUR} == {1_000_000}
    assert {o.tradeData.volume for o in entries if o.tradeData.symbolId == GBP} == {2_000_000}
    # P&L per instance is its symbol's closing deals; the total the balance change
    assert own["eur"]["pnl"].sum() == pytest.approx(closing_pnl(server, EUR), abs=0.011)
    assert own["gbp"]["pnl"].sum() == pytest.approx(closing_pnl(server, GBP), abs=0.011)
    total = sum(t["pnl"] for t in trades)
    assert total == pytest.approx(server.balance / 100 - 10_000, abs=0.011)
    assert server.positions == {} and server.orders == {}  # the kill switch flattened
    log = decisions(state)
    # the divergence monitor ran for each instance on the bars it saw: its trades are the
    # session's, every one matched by its shadow backtest
    summaries = {d["strategy"]: d["summary"] for d in log if d["kind"] == "monitor_summary"}
    assert set(summaries) == {"eur", "gbp"}
    for name in ("eur", "gbp"):
        assert summaries[name]["actual_trades"] == len(own[name])
        assert summaries[name]["matched"] == len(own[name]), summaries[name]
        assert summaries[name]["missing"] == summaries[name]["extra"] == 0
    assert not [d for d in log if d["kind"] in ("monitor_unavailable", "monitor_error")]
    # the quiet feed: a warning, then one recovery each time (the last may still be active)
    messages = [(path, m) for path, body in hook.bodies for m in body["messages"]]
    warned = [m for p, m in messages if p == "/warn" and "health: feed" in m["text"]]
    recovered = [m for p, m in messages if m["kind"] == "health"]
    assert len(recovered) >= 1 and len(warned) - len(recovered) in (0, 1), messages
    assert all(m["level"] == "info" and "feed recovered" in m["text"] for m in recovered)
    assert len(recovered) == len([d for d in log if d["kind"] == "health" and d.get("recovered")])
    status = subprocess.run(
        [str(SCRIPT), "status", "--state", str(state)], capture_output=True, text=True,
        env=environment(),
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout[status.stdout.index("{") :])
    books = summary["strategies"]
    for name in ("eur", "gbp"):
        assert books[name]["stats"]["trades"] == len(own[name])
        assert books[name]["stats"]["realized"] == pytest.approx(own[name]["pnl"].sum(), abs=0.011)


def test_an_unknown_symbol_or_one_broker_name_for_two_is_refused_in_one_line(server, tmp_path):
    session = tmp_path / "session.toml"
    session.write_text(SESSION)  # the fake has no GBPUSD here
    r = subprocess.run(
        [str(SCRIPT), *session_args(server, tmp_path / "s", session)],
        capture_output=True, text=True, env=environment(), timeout=60,
    )  # fmt: skip
    assert r.returncode != 0 and "GBPUSD" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    args = session_args(server, tmp_path / "s", session, "--broker-symbol", "EURUSD.x")
    r = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=environment())
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "this one trades EURUSD, GBPUSD" in r.stderr, r.stderr


def test_a_two_symbol_session_sigkilled_with_positions_open_resumes_without_loss(server, tmp_path):
    """SIGKILL while positions are open, restart with the same command: the merged stream
    resumes after the last committed event and nothing is lost or sent twice."""
    server.symbols[GBP] = FakeSymbol(GBP, "GBPUSD", bid=127_000, ask=127_002)
    session = tmp_path / "session.toml"
    session.write_text(SESSION)
    state = tmp_path / "state"
    driver = Driver(server, scripts(n_live=16), state)
    argv = [str(SCRIPT), *session_args(server, state, session)]

    def start() -> tuple[subprocess.Popen, int]:
        first = driver.prepare()
        proc = subprocess.Popen(argv, env=environment(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert driver.wait_subscribed(lambda: proc.poll() is None), proc.communicate()[1]
        return proc, first

    proc, i = start()
    try:
        while len(server.positions) < 2 and i < len(driver.spots) - 6:  # both trade, or late
            driver.push(i)
            assert driver.wait_handled(i, lambda: proc.poll() is None), proc.communicate()[1]
            i += 1
        assert server.positions
        open_before = set(server.positions)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc, first = start()
        assert first <= i
        alive = lambda: proc.poll() is None  # noqa: E731
        for j in range(first, len(driver.spots)):
            driver.push(j)
            assert driver.wait_handled(j, alive), proc.communicate()[1][-3000:]
        driver.finish(alive)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    log = decisions(state)
    starts = [d for d in log if d["kind"] == "start"]
    assert len(starts) == 2  # the restart loaded the state the kill left
    # the positions open at the kill were the engine's own: managed on, none orphaned
    assert not [d for d in log if d["kind"] == "reconcile" and "unknown" in d["reason"]]
    trades = journal_trades(state)
    entries = [o for o in server.order_history.values() if not o.closingOrder]
    assert len(entries) == len({o.tradeData.label for o in entries}) == len(trades)
    assert open_before <= {int(o.positionId) for o in entries}
    closing = [d for d in server.deals if d.HasField("closePositionDetail")]
    assert len({d.positionId for d in closing}) == len(entries)  # each position closed, once
    assert sum(d.closePositionDetail.closedVolume for d in closing) == sum(
        o.tradeData.volume for o in entries
    )
    own = strategy_trades(state)
    for name, sid in (("eur", EUR), ("gbp", GBP)):
        assert own[name]["pnl"].sum() == pytest.approx(closing_pnl(server, sid), abs=0.011)
    total = sum(t["pnl"] for t in trades)
    assert total == pytest.approx(server.balance / 100 - 10_000, abs=0.011)
    assert server.positions == {} and server.orders == {}


def test_paper_trading_a_two_symbol_session_on_the_ctrader_feed(server, tmp_path):
    """``dry-run --feed ctrader --session``: both instances paper-trade on the merged feed of
    the one connection; nothing reaches the account, and the paper account's balance is the
    instances' P&L."""
    server.symbols[GBP] = FakeSymbol(GBP, "GBPUSD", bid=127_000, ask=127_002)
    session = tmp_path / "session.toml"
    session.write_text(SESSION)
    state = tmp_path / "paper"
    args = session_args(server, state, session)
    args[0:3] = ["dry-run", "--feed", "ctrader"]  # instead of live --broker ctrader
    out = run_scripted(server, scripts(), state, args)
    assert "paper session of 2 strategies on the ctrader feed" in out.replace("\n", " "), out
    own = strategy_trades(state)
    assert set(own) == {"eur", "gbp"} and len(own["eur"]) >= 1 and len(own["gbp"]) >= 1
    assert set(own["eur"]["symbol"]) == {"EURUSD"} and set(own["gbp"]["symbol"]) == {"GBPUSD"}
    assert server.order_history == {} and server.positions == {}  # paper only
    assert not (state / "ctrader_broker.json").exists()
    paper = json.loads((state / "paper_broker.json").read_text())["body"]
    total = sum(t["pnl"] for t in journal_trades(state))
    capital = load_session(session).first.initial_capital
    assert paper["balance"] == pytest.approx(capital + total, abs=1e-6)
    assert (state / "session.json").exists()
