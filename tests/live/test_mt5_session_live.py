"""A live session of two strategy instances on one MetaTrader 5 account (`run_live_session`)
on the stand-in's scripted market: both trade through the terminal, every position the server
opened is booked once to the instance that opened it, and the terminal link is shut at the
end."""

from __future__ import annotations

from tests.conftest import make_bars
from tests.live.session_support import make_session
from tests.support.fake_mt5_trading import FakeMT5Trading
from tests.support.mt5_market import ScriptedMarket
from tradeforge.data.sources.mt5_terminal import MT5Terminal
from tradeforge.live.brokers.mt5 import MT5Feed
from tradeforge.live.runner import journal_trades
from tradeforge.live.session_runner import run_live_session

HISTORY, LIVE = 40, 80


def test_two_instances_trade_through_one_terminal(tmp_path) -> None:
    session = make_session(tmp_path, names=("fast", "slow"))
    fake = FakeMT5Trading()
    market = ScriptedMarket(fake, make_bars(HISTORY + LIVE + 2, seed=5).round(5), HISTORY)
    terminal = MT5Terminal(fake, server_time="utc", sleep=lambda s: None)
    feed = MT5Feed(terminal, "EURUSD", "M5", max_polls=LIVE, sleep=lambda s: market.step())
    state = tmp_path / "live"
    engine = run_live_session(state, session, mt5=terminal, feed=feed, magic=77)

    entries = [d for d in fake.deals if d.entry == fake.DEAL_ENTRY_IN]
    assert {d.magic for d in fake.deals if d.comment[:1] != "["} == {77}
    assert len({d.comment for d in entries}) == len(entries)  # no entry sent twice
    trades = journal_trades(state)
    assert {t["strategy"] for t in trades} == {"fast", "slow"}
    held = {p.ticket for p in fake.open_positions.values()}
    engine_open = {
        p["ticket"] for b in engine.state["strategies"].values() for p in b["positions"].values()
    }
    assert engine_open == held and len(trades) + len(held) == len(entries)
    lots = {"fast": 0.5, "slow": 0.2}  # each instance's fixed size
    assert all(t["size"] == lots[t["strategy"]] for t in trades)
    assert not fake.initialized  # the session shut the terminal link


def test_a_live_session_is_stored_and_a_restart_with_another_file_is_refused(tmp_path) -> None:
    """The first start stores ``session.json``; restarting the state with a different session
    file is refused in one line (exit 2) before any connection, and the stored file stays;
    ``live --state`` alone restarts the stored session."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from tradeforge.live.session import SESSION_FILE, Session

    session = make_session(tmp_path, names=("fast", "slow"))
    fake = FakeMT5Trading()
    market = ScriptedMarket(fake, make_bars(HISTORY + 12, seed=5).round(5), HISTORY)
    terminal = MT5Terminal(fake, server_time="utc", sleep=lambda s: None)
    feed = MT5Feed(terminal, "EURUSD", "M5", max_polls=8, sleep=lambda s: market.step())
    state = tmp_path / "live"
    run_live_session(state, session, mt5=terminal, feed=feed, magic=77)
    stored = json.loads((state / SESSION_FILE).read_text())["body"]
    assert Session.from_dict(stored).to_dict() == session.to_dict()

    other = tmp_path / "other.toml"  # the same instances, one of them resized
    other.write_text((tmp_path / "session.toml").read_text().replace("fixed:0.5", "fixed:0.7"))
    script = Path(sys.executable).with_name("tradeforge")
    proc = subprocess.run(
        [str(script), "live", "--broker", "mt5", "--state", str(state), "--session", str(other)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "holds a session with other settings (strategies.fast.sizing" in lines[0], lines[0]
    assert json.loads((state / SESSION_FILE).read_text())["body"] == stored  # untouched
    # with only --state the stored session restarts: it gets as far as the terminal (none
    # here) instead of asking for --symbol
    proc = subprocess.run(
        [str(script), "live", "--broker", "mt5", "--state", str(state)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "MetaTrader5 package is not installed" in proc.stderr, proc.stderr
