"""Runtime control in process: blackout boundaries (hand-computed), the command checks and
their refusals, partial-close booking, journal replay, determinism, the v2 → v3 migration."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.live.helpers import outcome, small_spec
from tradeforge.core.errors import ConfigError
from tradeforge.live import manager as M
from tradeforge.live.control.blackout import (
    MINUTE,
    covering,
    flatten_point,
    parse_calendar,
)
from tradeforge.live.control.commands import check
from tradeforge.live.decisions import DECISIONS_FILE
from tradeforge.live.feeds import Tick
from tradeforge.live.migrations import (
    upgrade,
    v1_to_v2,
    v2_to_v3,
    v3_to_v4,
    v4_to_v5,
    v5_to_v6,
)
from tradeforge.live.model import Blackout, EngineState
from tradeforge.live.runner import build_dry_run
from tradeforge.live.schema import check_engine_state, load_engine_state
from tradeforge.live.state import StateRepository

WHO = {"user": "tester", "uid": 0, "pid": 1}
NS = 1_000_000_000
M5 = 5 * MINUTE
FIXTURES = Path(__file__).parent / "fixtures"


def ns(text: str) -> int:
    return pd.Timestamp(text, tz="UTC").value


def once(start: str, end: str, flatten: bool = False) -> Blackout:
    return Blackout(ns(start), ns(end), None, None, flatten, "", None)


# -- window arithmetic, by hand ----------------------------------------------------------------
def test_a_one_off_window_holds_both_ends():
    w = once("2024-01-01 09:00", "2024-01-01 10:00")
    assert covering(w, ns("2024-01-01 09:00"), M5) is not None  # exactly at the start
    assert covering(w, ns("2024-01-01 10:00"), M5) is not None  # exactly at the end
    assert covering(w, ns("2024-01-01 09:00") - 1, M5) is None
    assert covering(w, ns("2024-01-01 10:00") + 1, M5) is None


def test_a_daily_window_recurs_and_may_cross_midnight():
    w = Blackout(None, None, 23 * 60 + 50, 20, False, "", None)  # 23:50 .. 00:10 UTC
    start, end = ns("2024-03-05 23:50"), ns("2024-03-06 00:10")
    assert covering(w, ns("2024-03-06 00:10"), M5) == (start, end)  # seen from the next day
    assert covering(w, ns("2024-03-05 23:50"), M5) == (start, end)
    assert covering(w, ns("2024-03-06 00:10") + 1, M5) is None
    assert covering(w, ns("2024-03-06 23:49"), M5) is None
    assert covering(w, ns("2024-03-06 23:55"), M5) == (start + 86400 * NS, end + 86400 * NS)


def test_a_flattening_window_blocks_from_the_last_bar_close_before_it():
    # a window starting 14:32 on M5: the last bar ending strictly before it closes at 14:30
    assert flatten_point(ns("2024-01-01 14:32"), M5) == ns("2024-01-01 14:30")
    # on the grid, 14:30 itself is inside the window: the flatten point is 14:25
    assert flatten_point(ns("2024-01-01 14:30"), M5) == ns("2024-01-01 14:25")
    w = once("2024-01-01 14:32", "2024-01-01 15:00", flatten=True)
    assert covering(w, ns("2024-01-01 14:30"), M5) is not None
    assert covering(w, ns("2024-01-01 14:30") - 1, M5) is None


def test_calendar_csv_and_its_errors():
    text = "time,currency,impact,event\n2024-01-05T13:30:00Z,USD,High,Non-Farm Payrolls\n\n"
    assert parse_calendar(text, "cal.csv") == [
        {"time": "2024-01-05T13:30:00+00:00", "currency": "USD", "impact": "High",
         "event": "Non-Farm Payrolls"}
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="cal.csv: line 1: header"):
        parse_calendar("when,what\n", "cal.csv")
    with pytest.raises(ConfigError, match="line 3 of cal.csv"):
        parse_calendar(text.strip() + "\nyesterday,USD,High,x\n", "cal.csv")


# -- an engine driven in process ---------------------------------------------------------------
def _spec(tmp_path, **kw):
    params = {"fast": 3, "slow": 12, "stop_pips": 6, "target_pips": 8}
    return small_spec(tmp_path, params={**params, **kw.pop("params", {})}, **kw)


def _engine(state_dir, spec):
    engine = build_dry_run(state_dir, spec)
    engine.start()
    return engine


def _send(engine, name, **args):
    return engine.acknowledge(
        name, lambda st: check(name, args, st, engine.ctx), WHO, "2024-01-01T00:00:00Z"
    )


def _decisions(state_dir):
    return [json.loads(x) for x in (state_dir / DECISIONS_FILE).read_text().splitlines()]


@pytest.fixture(scope="module")
def signal_time(tmp_path_factory):
    """The bar close of the first entry signal of the plain run (hand-picked instant)."""
    tmp = tmp_path_factory.mktemp("ref")
    engine = _engine(tmp / "s", _spec(tmp))
    engine.run()
    first = next(d for d in _decisions(tmp / "s") if d["kind"] == "order")
    return first["time"]


@pytest.mark.parametrize(
    ("start", "end", "blocked"),
    [
        (0, 3600, True),  # the signal exactly at the window's start
        (-3600, 0, True),  # exactly at its end
        (1e-9, 3600, False),  # the window starts 1 ns after the signal
        (-3600, -1e-9, False),  # it ended 1 ns before
    ],
)
def test_signal_at_the_window_boundaries(tmp_path, signal_time, start, end, blocked):
    t = ns(signal_time)
    iso = lambda dt: pd.Timestamp(t + round(dt * NS), tz="UTC").isoformat()  # noqa: E731
    engine = _engine(tmp_path / "s", _spec(tmp_path))
    _send(engine, "blackout_add", start=iso(start), end=iso(end), label="b")
    engine.run()
    at_t = [d for d in _decisions(tmp_path / "s") if d["time"] == signal_time]
    skipped = [d for d in at_t if d["kind"] == "skip" and d.get("control") == "blackout"]
    ordered = [d for d in at_t if d["kind"] == "order"]
    assert (len(skipped), len(ordered)) == ((1, 0) if blocked else (0, 1))


def test_refusals_change_nothing(tmp_path):
    engine = _engine(tmp_path / "s", _spec(tmp_path))
    engine.run(max_events=60)
    before = (tmp_path / "s" / "journal.jsonl").read_bytes()
    last = pd.Timestamp(engine.current.last_key[0], tz="UTC")
    cases = [
        ("pause", {"strategy": "nope"}, "unknown strategy 'nope' (this session runs: sma_cross)"),
        ("enable", {}, "missing argument 'strategy'"),
        ("blackout_add", {"start": "2030-01-02", "end": "2030-01-01"}, "bad window: end"),
        ("blackout_add", {"at": "25:00", "minutes": 5}, "bad window: --at must be HH:MM"),
        ("blackout_add", {"at": "10:00", "minutes": 0}, "minutes must be 1..1440"),
        ("blackout_add", {"start": "2020-01-01", "end": str(last - pd.Timedelta("1min"))},
         "before the session's time"),
        ("blackout_remove", {"id": "9"}, "unknown blackout window '9'"),
        ("close", {"position": "#999"}, "unknown position '#999'"),
        ("close_all", {}, "needs confirmation"),
        ("kill", {"reason": "x"}, "needs confirmation"),
        ("reboot", {}, "unknown command 'reboot'"),
    ]  # fmt: skip
    for name, args, message in cases:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            _send(engine, name, **args)
    assert (tmp_path / "s" / "journal.jsonl").read_bytes() == before


def test_partial_then_full_close_book_like_any_exit(tmp_path):
    spec = _spec(tmp_path, params={"stop_pips": 60, "target_pips": 80})
    engine = _engine(tmp_path / "s", spec)
    for event in engine.feed.events(None):
        engine.handle(event)
        if engine.current.positions and isinstance(event, Tick):
            break
    ((cid, pos),) = engine.current.positions.items()
    steps = M.remaining(M.pf_from_json(pos.pf))
    assert steps >= 2
    lot = engine.inst.lot_step
    cmd = _send(engine, "close", position=f"#{pos.trade_id}", lots=round(lot * (steps // 2), 8))
    assert cmd.args == {"position": cid, "steps": steps // 2}
    realized = engine.current.stats.realized
    events = engine.feed.events(engine.current.last_key)
    engine.handle(next(events))  # the next boundary applies it
    after = engine.current.positions[cid]
    deal = engine.broker.deal(after.booked[-1])
    unit, comm = engine.inst.unit, engine.ctx.comm_step
    # by hand: gross = side * (exit - entry) * steps * unit; round-turn commission per step
    gross = pos.side * (deal.price - pos.entry_price) * (steps // 2) * unit
    leg_pnl = gross - 2 * comm * (steps // 2) + deal.swap
    assert after.pnl == pytest.approx(pos.pnl + leg_pnl, abs=1e-9)
    assert M.remaining(M.pf_from_json(after.pf)) == steps - steps // 2
    assert M.stop_of(M.pf_from_json(after.pf)) == M.stop_of(M.pf_from_json(pos.pf))  # kept
    assert engine.current.stats.realized == pytest.approx(realized + leg_pnl)
    assert engine.broker.positions()[0].lots == pytest.approx(lot * (steps - steps // 2))
    _send(engine, "close", position=cid)
    engine.handle(next(events))
    assert cid not in engine.current.positions
    trade = StateRepository(tmp_path / "s").records()[-1]["trades"][0]
    deal2 = engine.broker.deal(engine.ctx.client_id(after, "leg2"))
    rest = steps - steps // 2
    gross2 = pos.side * (deal2.price - pos.entry_price) * rest * unit
    assert trade["pnl"] == pytest.approx(leg_pnl + gross2 - 2 * comm * rest + deal2.swap)
    assert trade["exit_price"] == pytest.approx(
        (deal.price * (steps // 2) + deal2.price * rest) / steps
    )
    assert trade["size"] == pytest.approx(lot * steps) and trade["exit_reason"] == "signal"


def _session_with_commands(state_dir, spec):
    """A dry-run with a command at fixed events: pause, blackout import, resume, close-all."""
    engine = _engine(state_dir, spec)
    plan = {40: ("pause", {}), 120: ("resume", {}), 200: ("close_all", {"confirm": True})}
    plan[80] = (
        "blackout_import",
        {"events": [{"time": "2024-01-01T09:00", "currency": "USD", "impact": "High",
                     "event": "x"}], "minutes": 20, "flatten": True},
    )  # fmt: skip
    for n, event in enumerate(engine.feed.events(None)):
        if n in plan:
            _send(engine, plan[n][0], **plan[n][1])
        engine.handle(event)
    return engine


def _no_audit(value):
    """``value`` without the fields that name the client or the wall clock."""
    if isinstance(value, dict):
        return {k: _no_audit(v) for k, v in value.items() if k not in ("who", "received")}
    if isinstance(value, list):
        return [_no_audit(v) for v in value]
    return value


def test_replaying_the_journal_reproduces_the_state_and_runs_are_deterministic(tmp_path):
    spec = _spec(tmp_path)
    engine = _session_with_commands(tmp_path / "a", spec)
    kinds = {d["kind"] for d in _decisions(tmp_path / "a")}
    assert {"paused", "resumed", "blackout", "flatten", "command"} <= kinds
    # replay from the genesis record alone: the same state as the snapshot
    snapshot = engine.state
    for name in ("state.json", "state.json.prev"):
        (tmp_path / "a" / name).unlink()
    replayed, report = StateRepository(tmp_path / "a", validate=check_engine_state).load()
    assert report.source == "journal genesis" and replayed == snapshot
    # the same commands at the same events: the same trading, state and journal
    _session_with_commands(tmp_path / "b", spec)
    assert _no_audit(outcome(tmp_path / "a")) == _no_audit(outcome(tmp_path / "b"))


def test_v2_state_migrates_to_v3_with_control_defaults():
    v1 = json.loads((FIXTURES / "v1_session" / "state.json").read_text())["body"]
    v2 = v1_to_v2(json.loads(json.dumps(v1)))
    v3 = v2_to_v3(json.loads(json.dumps(v2)))
    assert v3["schema_version"] == 3
    assert v3["control"] == {
        "paused": False,
        "strategies": {v2["identity"]["strategy"]: {"paused": False, "disabled": None}},
    }
    assert v3["blackouts"] == {} and v3["commands"] == {}
    assert {k: v for k, v in v3.items() if k not in ("control", "blackouts", "commands",
                                                     "schema_version")} == {
        k: v for k, v in v2.items() if k != "schema_version"
    }  # fmt: skip
    v4 = v3_to_v4(json.loads(json.dumps(v3)))  # then a session of one (schema 4)
    v5 = v4_to_v5(json.loads(json.dumps(v4)))  # and code versions (schema 5)
    v6 = v5_to_v6(json.loads(json.dumps(v5)))  # and execution-guard state (schema 6)
    assert upgrade(v2) == v6
    state = load_engine_state(v6)
    assert isinstance(state, EngineState) and state.control.strategies
    # a malformed identity is left for the validation to name
    assert v2_to_v3({"schema_version": 2, "identity": 5})["control"]["strategies"] == {}


def test_control_decisions_become_notifications():
    from tradeforge.notify import events
    from tradeforge.notify.message import Level

    t = "2024-01-01T05:00:00+00:00"
    paused = {"kind": "paused", "reason": "trading paused: no new entries, by ana (command 6)",
              "strategy": None, "time": t}  # fmt: skip
    msg = events.switched(paused)
    assert (msg.level, msg.kind, msg.text) == (Level.WARNING, "control", paused["reason"])
    assert events.switched({**paused, "kind": "enabled"}).level == Level.INFO
    refused = {"kind": "command_refused", "reason": "bad token", "command": "pause",
               "who": {"user": "bob"}, "time": None}  # fmt: skip
    assert events.refused(refused).text == "command pause from bob refused: bad token"
    failed = {"kind": "command", "outcome": "failed", "id": 9, "command": "close",
              "reason": "not applied: position x is no longer open", "who": {"user": "ana"}}  # fmt: skip
    assert events.refused(failed).text.startswith("command 9 (close) from ana failed")
    one = events.killed({"kind": "kill", "reason": "strategy s killed: drill", "strategy": "s"})
    assert one.level == Level.CRITICAL and "halted" not in one.text
