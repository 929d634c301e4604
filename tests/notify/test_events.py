"""Message texts worked out by hand, risk thresholds by hand, reading a commit back from a real
journal, and the config file's refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import get_instrument
from tradeforge.live import manager as M
from tradeforge.live.guards import RiskLimits
from tradeforge.live.journal import Journal
from tradeforge.live.model import EngineState, Identity, Position
from tradeforge.notify import events, records
from tradeforge.notify.config import parse_notify_config
from tradeforge.notify.message import Level
from tradeforge.notify.risk import RiskWatch
from tradeforge.trading import rules

FMT = events.Formats.of(get_instrument("EURUSD"))  # 5 digits, USD, lot step 0.01
T = "2024-03-05T10:15:00+00:00"


def _state(**positions: Position) -> EngineState:
    state = EngineState.initial(Identity("sma_cross", "EURUSD", "M5"), 10_000.0)
    state.positions.update(positions)
    return state


def _position(cid: str = "o1", remaining: int = 50) -> Position:
    pf = np.full(rules.F_TSTEPS + rules.MAX_T, np.nan)
    pf[rules.F_REMAINING] = remaining
    return Position(
        cid=cid, trade_id=7, ticket=11, tag="t", side=-1, signal_time=0, entry_time=0,
        entry_price=1.08412, entry_type="market", fill_at_open=True, steps=100,
        initial_stop=1.08512, risk_money=100.0, pf=M.pf_to_json(pf), bars=0, time_stop=0,
        time_due=False, signal_exit=False, legs=1, booked=[], pnl=0.0, commission=0.0,
        exit_value=0.0, exit_time=None, exit_reason=None,
    )  # fmt: skip


def test_texts_of_each_event():
    pos = _position()
    state = _state(o1=pos)
    fill = {
        "time": T,
        "kind": "filled",
        "order": "o1",
        "lots": 1.0,
        "price": 1.08412,
        "stop": 1.08512,
    }
    assert events.opened(fill, state, FMT).text == (
        "opened #7 short 1 EURUSD at 1.08412, stop 1.08512, risk 100.00 USD"
    )
    assert events.opened(fill, _state(), FMT).text == "opened 1 EURUSD at 1.08412, stop 1.08512"
    leg = {
        "time": T,
        "kind": "exit",
        "reason": "target",
        "position": "o1",
        "price": 1.08312,
        "lots": 0.5,
    }
    msg = events.partial(leg, state, FMT)
    assert msg.text == "partial close #7 short EURUSD: 0.5 at 1.08312 (target), 0.5 open"
    assert (msg.level, msg.kind, msg.time) == (Level.INFO, "partial", T)
    stop = {
        "time": T,
        "kind": "stop",
        "reason": "break-even armed",
        "position": "o1",
        "stop": 1.0841,
    }
    assert events.stop_moved(stop, state, FMT).text == (
        "stop of #7 moved to 1.08410 (break-even armed)"
    )
    trade = {
        "trade_id": 7, "side": "short", "size": 1.0, "entry_price": 1.08412,
        "exit_price": 1.083620000001, "exit_reason": "target", "pnl": 43.0, "r_multiple": 0.43,
    }  # fmt: skip
    closed = events.closed(trade, FMT, T)
    assert closed.line() == (
        "• closed #7 short 1 EURUSD 1.08412 → 1.08362 (target): P&L +43.00 USD, +0.43R"
    )
    assert closed.data["pnl"] == 43.0 and closed.data["r_multiple"] == 0.43
    loss = events.closed({**trade, "pnl": -1234.5, "r_multiple": None}, FMT, T)
    assert loss.text.endswith("P&L -1,234.50 USD, R n/a")
    guard = {
        "time": T,
        "kind": "guard",
        "reason": "drawdown 5.10% vs limit 5.0%",
        "guard": "drawdown",
    }
    g = events.guard(guard)
    assert (g.level, g.line()) == (
        Level.CRITICAL,
        "🛑 entry blocked by the drawdown guard: drawdown 5.10% vs limit 5.0%",
    )
    assert events.guard({**guard, "guard": "max_positions"}).level == Level.INFO
    rejected = {"time": T, "kind": "rejected", "reason": "no money", "order": "o2"}
    assert events.error(rejected).line() == "⚠️ order rejected by the broker: no money (o2)"
    kill = {"time": T, "kind": "kill", "reason": "kill switch: lunch; closing everything"}
    assert events.killed(kill).line() == (
        "🛑 kill switch: lunch; closing everything; trading halted"
    )
    back = {"time": None, "kind": "health", "reason": "feed recovered (0.3 s)", "health": "feed",
            "rules": ["feed>300:halt"], "recovered": True}  # fmt: skip
    assert (events.recovered(back).level, events.recovered(back).kind) == (Level.INFO, "health")
    assert events.recovered(back).text == "health: feed recovered (0.3 s)"
    start = {"time": None, "kind": "start", "reason": "state seq 1 from new"}
    assert events.started(start, state).text == (
        "session started: sma_cross EURUSD M5 (state seq 1 from new)"
    )
    state.stats.trades, state.stats.realized = 3, -56.25
    assert events.ended(state, FMT, None).text == (
        "session ended: 3 closed trade(s), realized -56.25 USD"
    )
    crash = events.ended(state, FMT, RuntimeError("disk full"))
    assert (crash.level, crash.text) == (
        Level.CRITICAL,
        "session stopped (disk full); 3 closed trade(s), realized -56.25 USD",
    )


def _trade(pnl: float, exit_time: str = T) -> dict:
    return {"pnl": pnl, "exit_time": exit_time}


def test_risk_alerts_by_hand():
    """Day opening balance 10,000, equity peak 10,400, max-drawdown guard 10 %."""
    watch = RiskWatch(RiskLimits(max_drawdown_pct=10.0), [1.0, 2.0], [0.5, 0.8])
    state = _state()
    state.daily.day = 19787  # 2024-03-05
    state.risk.peak_equity = 10_400.0
    # -60: day loss 0.6 %; drawdown (10400 - 9940) / 10400 = 4.42 % = 44 % of the guard
    assert watch.on_trade(_trade(-60.0), state) == []
    # -100 more: day loss 1.6 % (alert at 1 %); drawdown 560 / 10400 = 5.38 % = 54 % of the
    # guard (alert at 50 %)
    day, dd = watch.on_trade(_trade(-100.0), state)
    assert day.text == "daily loss 1.60% of the day's opening balance (alert at 1%)"
    assert dd.text == (
        "drawdown 5.38% from the equity peak: 54% of the 10% max-drawdown guard (alert at 50%)"
    )
    # -300 more: 4.6 % (2 % crosses); drawdown 860 / 10400 = 8.27 % = 83 %: 80 % crosses
    day, dd = watch.on_trade(_trade(-300.0), state)
    assert day.text == "daily loss 4.60% of the day's opening balance (alert at 2%)"
    assert dd.text.endswith("83% of the 10% max-drawdown guard (alert at 80%)")
    # +500: the day at +0.4 %; drawdown 360 / 10400 = 3.46 % < 50 %: both fractions re-arm
    assert watch.on_trade(_trade(500.0), state) == []
    # a trade closed yesterday does not count today
    assert watch.on_trade(_trade(-999.0, "2024-03-04T23:55:00+00:00"), state) == []
    # -200: the day at -1.6 % again, but today's 1 % alert was given; drawdown 5.38 % again:
    # 50 % alerts again (re-armed)
    (dd,) = watch.on_trade(_trade(-200.0), state)
    assert dd.text.endswith("54% of the 10% max-drawdown guard (alert at 50%)")
    # the next day starts afresh
    state.daily.day, state.daily.start_balance = 19788, 9_890.0
    (day,) = [m for m in watch.on_trade(_trade(-100.0, "2024-03-06T09:00:00+00:00"), state)
              if "daily" in m.text]  # fmt: skip
    assert day.text == "daily loss 1.01% of the day's opening balance (alert at 1%)"


def _journal(path, n: int, torn: bool = False) -> list[dict]:
    journal = Journal(path)
    recs = []
    for seq in range(1, n + 1):
        trades = [{"trade_id": seq, "pnl": float(seq)}] if seq % 3 == 0 else []
        rec = {
            "seq": seq,
            "kind": "tick",
            "patch": {"pad": "x" * (seq * 37 % 500)},
            "trades": trades,
        }
        journal.append(rec)
        recs.append(json.loads(json.dumps(rec)))
    if torn:
        with open(path, "ab") as fh:
            fh.write(b'{"rec": {"seq": ' + str(n + 1).encode() + b', "kind": "ti')
    return recs


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 40), st.integers(16, 2048), st.booleans())
def test_any_commit_is_found_from_the_end(tmp_path_factory, n, block, torn):
    path = tmp_path_factory.mktemp("j") / "journal.jsonl"
    recs = _journal(path, n, torn)
    old, records.BLOCK = records.BLOCK, block
    try:
        for rec in recs:
            assert records.commit_record(path, rec["seq"]) == rec
            assert records.commit_trades(path, rec["seq"]) == rec["trades"]
        assert records.commit_record(path, n + 1) is None  # the torn line is no record
    finally:
        records.BLOCK = old


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"telegram": {"token": "1:x", "chats": {"info": [1]}}}, "telegram.token: the bot token"),
        ({"telegram": {"chats": {"info": ["someone"]}}}, "'someone' is not a chat id"),
        ({"webhook": {"urls": {"info": ["ftp://x"]}}}, "'ftp://x' is not an http(s) URL"),
        ({"telegram": {"chats": {}}}, "no Telegram chat and no webhook URL to notify"),
        ({"webhook": {"urls": {"info": ["http://x"]}}, "mute": ["trades"]}, "unknown event 'trades'"),
        ({"webhook": {"urls": {"info": ["http://x"]}}, "risk": {"drawdown_guard_fraction": [1.5]}},
         "risk.drawdown_guard_fraction: Value error, fractions of the guard's limit"),
        ({"webhook": {"urls": {"info": ["http://x"]}}, "delivery": {"queue": 5}},
         "delivery.queue: unknown setting"),
    ],
)  # fmt: skip
def test_config_refusals_name_the_setting(data, message):
    with pytest.raises(ConfigError, match="^cfg.toml: ") as err:
        parse_notify_config(data, "cfg.toml")
    assert message in str(err.value)


def test_the_token_comes_from_a_file_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MY_BOT_TOKEN", raising=False)
    config = parse_notify_config(
        {"telegram": {"token_env": "MY_BOT_TOKEN", "chats": {"info": [1]}}}
    )
    with pytest.raises(ConfigError, match="set the environment variable MY_BOT_TOKEN"):
        config.check_secrets()
    monkeypatch.setenv("MY_BOT_TOKEN", "1:from-env")
    assert config.telegram.token() == "1:from-env"
    secret = tmp_path / "token"
    secret.write_text("2:from-file\n")
    from_file = parse_notify_config(
        {"telegram": {"token_file": str(secret), "chats": {"critical": ["@alerts_channel"]}}}
    )
    assert from_file.telegram.token() == "2:from-file"
    (tg,) = from_file.channels("label")
    assert tg.routes()[Level.CRITICAL] == ("@alerts_channel",) and tg.routes()[Level.INFO] == ()


def test_the_package_exports_resolve_and_load_python_telegram_bot_only_when_used():
    code = (
        "import sys, tradeforge.notify as n; "
        "assert all(getattr(n, name) is not None for name in n.__all__); "
        "print('telegram' in sys.modules, 'httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
