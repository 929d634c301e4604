"""``tradeforge live --broker mt5 --session``: two strategy instances on two symbols polled on
one terminal (`MT5SessionFeed`), through the console script, the terminal being the stand-in
module (tests/support/mt5_module) playing a scripted market per symbol and keeping its server
state in a file, so it outlives a SIGKILLed session as a real server does. Each instance's
trades are the terminal's own orders and deals of its symbol; a session SIGKILLed with a
position open resumes on a restart, losing and doubling nothing."""

from __future__ import annotations

import json
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_bars
from tests.notify.support import WebhookReceiver
from tests.support.mt5_market import module_environment
from tradeforge.live.runner import journal_trades
from tradeforge.live.session_runner import strategy_trades

SCRIPT = Path(sys.executable).with_name("tradeforge")
HISTORY, LIVE = 40, 50
SEEDS = {"EURUSD": 5, "GBPUSD": 9}
SESSION = """
[limits]
stale_seconds = 600

[[strategies]]
name = "eur"
strategy = "sma_cross"
params = { fast = 3, slow = 12, stop_pips = 6, target_pips = 8 }
symbol = "EURUSD"
timeframe = "M5"
window = 36
sizing = "fixed:0.1"

[[strategies]]
name = "gbp"
strategy = "sma_cross"
params = { fast = 4, slow = 10, stop_pips = 5, target_pips = 7 }
symbol = "GBPUSD"
timeframe = "M5"
window = 36
sizing = "fixed:0.2"
"""
DEAL_ENTRY_IN, ACTION_DEAL = 0, 1

pytestmark = [
    pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed"),
    pytest.mark.slow,  # console-script sessions polling a scripted terminal
]


def setup(tmp_path: Path, name: str = "live") -> tuple[list[str], dict[str, str], Path, Path, Path]:
    bars = {}
    for symbol, seed in SEEDS.items():
        bars[symbol] = tmp_path / f"{symbol}.parquet"
        frame = make_bars(HISTORY + LIVE + 1, start="2024-03-04", seed=seed).round(5)
        frame.to_parquet(bars[symbol])
    session = tmp_path / "session.toml"
    session.write_text(SESSION)
    state, orders, store = tmp_path / name, tmp_path / "orders", tmp_path / "server.pickle"
    env = module_environment(bars, HISTORY, state, orders, store=store)
    argv = [str(SCRIPT), "live", "--broker", "mt5", "--state", str(state), "--session",
            str(session), "--server-time", "utc", "--magic", "4242", "--health-interval", "0.05"]  # fmt: skip
    return argv, env, state, orders, store


def sent(orders: Path) -> list[dict]:
    if not orders.exists():
        return []
    return [json.loads(line) for line in orders.read_text().splitlines()]


def entries(orders: Path) -> list[dict]:
    return [r for r in sent(orders) if r["action"] == ACTION_DEAL and "position" not in r]


def server(store: Path) -> dict:
    return pickle.loads(store.read_bytes())


def decisions(state: Path) -> list[dict]:
    return [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]


def check_against_the_terminal(state: Path, orders: Path, store: Path) -> None:
    """Every trade one entry order at the terminal under its own client id, on its own
    instance's symbol and size; each instance's P&L its symbol's closing deals; nothing open."""
    own = strategy_trades(state)
    assert set(own) == {"eur", "gbp"}
    sent_entries = entries(orders)
    trades = journal_trades(state)
    assert len(sent_entries) == len({r["comment"] for r in sent_entries}) == len(trades)
    for name, symbol, lots in (("eur", "EURUSD", 0.1), ("gbp", "GBPUSD", 0.2)):
        mine = [r for r in sent_entries if r["symbol"] == symbol]
        assert len(mine) == len(own[name]) >= 1, (name, len(mine), len(own[name]))
        assert {r["volume"] for r in mine} == {lots} and {r["magic"] for r in mine} == {4242}
        assert set(own[name]["symbol"]) == {symbol}
    fake = server(store)
    assert fake["open_positions"] == {} and fake["pending_orders"] == {}  # the kill flattened
    for name, symbol in (("eur", "EURUSD"), ("gbp", "GBPUSD")):
        closing = [d for d in fake["deals"] if d.symbol == symbol and d.entry != DEAL_ENTRY_IN]
        assert own[name]["pnl"].sum() == pytest.approx(sum(d.profit for d in closing), abs=0.011)
        opened = [d for d in fake["deals"] if d.symbol == symbol and d.entry == DEAL_ENTRY_IN]
        assert len(opened) == len(own[name])


def test_two_instances_on_two_symbols_through_one_terminal(tmp_path: Path) -> None:
    argv, env, state, orders, store = setup(tmp_path)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    check_against_the_terminal(state, orders, store)
    made = [d for d in decisions(state) if d["kind"] == "order"]
    assert {r["comment"] for r in entries(orders)} <= {d["order"] for d in made}
    assert (state / "session.json").exists()


def kill_and_restart(
    argv: list[str], env: dict[str, str], orders: Path, store: Path, at_entry: int = 1
) -> str:
    """Start the session, SIGKILL it once the terminal answered its ``at_entry``-th entry (a
    position open at the server), start it again with the same command and let it finish;
    its stderr."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while len(entries(orders)) < at_entry:  # that entry answered (the server saved it)
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert server(store)["open_positions"]  # killed with a position open at the server
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    return err


def test_a_two_symbol_mt5_session_sigkilled_with_a_position_open_resumes_without_loss(
    tmp_path: Path,
) -> None:
    argv, env, state, orders, store = setup(tmp_path)
    kill_and_restart(argv, env, orders, store)
    log = decisions(state)
    assert len([d for d in log if d["kind"] == "start"]) == 2  # the restart loaded the state
    assert not [d for d in log if d["kind"] == "reconcile" and "unknown" in d["reason"]]
    check_against_the_terminal(state, orders, store)


def test_an_entry_the_terminal_took_just_before_a_crash_is_adopted_on_the_restart(
    tmp_path: Path,
) -> None:
    """The session dies right after the terminal answered its 2nd entry, before its commit
    (the stand-in kills its own process there): the state does not hold that position. On
    the restart the reconciliation leaves it (it bears our client id) for the redo of its
    bar, which adopts it whatever the guards say (the stale-data guard has no quote of the
    symbol yet); nothing is closed as an orphan and every order is one journal trade."""
    argv, env, state, orders, store = setup(tmp_path)
    crash = subprocess.run(argv, env={**env, "FAKE_MT5_CRASH_AT_ENTRY": "2"},
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert crash.returncode == -signal.SIGKILL, crash.stderr[-3000:]
    (in_flight,) = [r["comment"] for r in entries(orders)][1:]
    assert in_flight in {p.comment for p in server(store)["open_positions"].values()}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    log = decisions(state)
    left = [d for d in log if d["kind"] == "reconcile" and "left for the redo" in d["reason"]]
    assert [d["order"] for d in left] == [in_flight]
    adopted = [d for d in log if d["kind"] == "reconcile" and "adopted" in d["reason"]]
    assert [d["order"] for d in adopted] == [in_flight]
    assert not [d for d in log if d["kind"] == "reconcile" and "unknown" in d["reason"]]
    assert not [r for r in sent(orders) if str(r.get("comment", "")).startswith("orphan")]
    check_against_the_terminal(state, orders, store)


def test_the_divergence_monitor_resumes_from_the_sessions_history_after_a_sigkill(
    tmp_path: Path,
) -> None:
    """The monitor of a session SIGKILLed and restarted compares the whole session with its
    shadow backtest — the trades entered before the kill included — from the bars recorded
    in the state directory, not from the restart's first bar."""
    argv, env, state, orders, store = setup(tmp_path)
    hook = WebhookReceiver()
    notify = tmp_path / "notify.toml"
    notify.write_text(
        f'[webhook]\nurls = {{ info = ["{hook.url("/info")}"] }}\n'
        "[monitor]\nevery_bars = 5\nmin_trades = 1\n"
    )
    try:
        kill_and_restart([*argv, "--notify", str(notify)], env, orders, store, at_entry=4)
    finally:
        hook.stop()
    check_against_the_terminal(state, orders, store)
    assert (state / "recorded" / "EURUSD.json").exists()
    assert (state / "recorded" / "GBPUSD.json").exists()
    log = decisions(state)
    summaries = {d["strategy"]: d["summary"] for d in log if d["kind"] == "monitor_summary"}
    own = strategy_trades(state)
    first_exit = min(own["eur"]["exit_time"].min(), own["gbp"]["exit_time"].min())
    restart = [i for i, d in enumerate(log) if d["kind"] == "start"][1]
    after = next(d["time"] for d in log[restart:] if d.get("time"))  # the restart's first event
    assert first_exit < pd.Timestamp(after)  # a trade over before the restart
    for name in ("eur", "gbp"):
        assert summaries[name]["actual_trades"] == len(own[name]), summaries[name]
        assert summaries[name]["matched"] == len(own[name]), summaries[name]
        assert summaries[name]["missing"] == summaries[name]["extra"] == 0
    assert not [d for d in log if d["kind"] in ("monitor_unavailable", "monitor_error")]


def test_paper_trading_a_two_symbol_session_on_the_mt5_feed_makes_the_replays_trades(
    tmp_path: Path,
) -> None:
    """``dry-run --feed mt5 --session``: both instances paper-trade on the terminal's quotes
    (nothing is sent to it), each making the trades of a replay dry-run of the same session on
    the same bars."""
    _, env, paper, orders, _ = setup(tmp_path, "paper")
    args = ["dry-run", "--feed", "mt5", "--state", str(paper), "--session",
            str(tmp_path / "session.toml"), "--server-time", "utc", "--health-interval", "0.05"]  # fmt: skip
    proc = subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "paper session of 2 strategies on the mt5 feed" in proc.stdout.replace("\n", " ")
    assert not orders.exists()  # paper: the terminal was never sent an order
    assert (paper / "paper_broker.json").exists() and (paper / "session.json").exists()
    # the replay of the same bars, from the last bar closed before the paper session started
    frame = make_bars(HISTORY + LIVE + 1, start="2024-03-04", seed=5)
    start, end = (frame.index[i].strftime("%Y-%m-%dT%H:%M") for i in (HISTORY - 1, -1))
    files = "\n".join(f'{s} = "{tmp_path / f"{s}.parquet"}"' for s in SEEDS)
    replay_file = tmp_path / "replay.toml"
    replay_file.write_text(f'start = "{start}"\nend = "{end}"\n[bars]\n{files}\n{SESSION}')
    replay = subprocess.run(
        [str(SCRIPT), "dry-run", "--state", str(tmp_path / "replay"), "--session",
         str(replay_file)], env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr[-3000:]
    traded, expected = strategy_trades(paper), strategy_trades(tmp_path / "replay")
    for name in ("eur", "gbp"):
        got, want = traded[name], expected[name]
        assert len(want) >= 1
        assert list(got["exit_reason"][len(want) :]) in ([], ["kill"])
        for column in ("symbol", "side", "entry_time", "exit_time", "exit_reason", "size"):
            assert list(got[column][: len(want)]) == list(want[column]), (name, column)
        for column in ("entry_price", "exit_price", "pnl"):
            assert list(got[column][: len(want)]) == pytest.approx(list(want[column]), abs=1e-9)
