"""A command acknowledged after a replay's last event still gets an outcome: when the feed is
over the engine closes its inbox and applies what is left at the last event's instant (an
``end`` journal record); commands sent after that are refused with one line."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.live.control_support import (
    decisions,
    done,
    dry_run_args,
    run_ctl,
    start,
    state_of,
    wait_for,
)
from tradeforge.core.errors import ConfigError
from tradeforge.live.control.commands import check
from tradeforge.live.feeds import PRIO_BAR
from tradeforge.live.persist import read_document
from tradeforge.live.runner import build_dry_run
from tradeforge.live.state import StateRepository
from tradeforge.trading.spec import RunSpec

END = "2024-01-01T03:15"  # three bars to play: the last one closes at 03:15
LAST = (pd.Timestamp(END, tz="UTC").value, PRIO_BAR)
WHO = {"user": "tester", "uid": 0, "pid": 1}


def test_a_command_sent_after_the_last_event_applies_before_the_session_closes(tmp_path):
    state = tmp_path / "s"
    # --pace 10: the replay waits ten seconds after each bar, the last one included; ATR
    # slippage makes every bar change the state, so the last bar's commit shows it was played
    args = dry_run_args(tmp_path, state, pace=10.0, n_bars=80, end=END)
    session = start([*args, "--slippage", "atr:0.05"])
    try:
        wait_for(lambda: (s := state_of(state)) is not None and s.last_key == LAST)
        code, out, err = run_ctl(state, "pause", "--wait")
        assert code == 0, out + err
        assert "acknowledged" in out and "applied at 2024-01-01T03:15:00" in out
        assert "trading paused" in out
        code, out, err = done(session)
        assert code == 0, out + err
    finally:
        session.kill()
        session.wait()
    final = state_of(state)
    assert final.control.paused and not final.commands and final.last_key == LAST
    (applied,) = [d for d in decisions(state) if d["kind"] == "command"]
    assert applied["outcome"] == "applied" and applied["time"] == "2024-01-01T03:15:00+00:00"
    assert StateRepository(state).records()[-1]["kind"] == "end"


def test_the_inbox_left_by_a_crash_after_the_last_event_applies_then_commands_are_refused(
    tmp_path,
):
    state = tmp_path / "s"
    args = dry_run_args(tmp_path, state, pace=0.0, n_bars=80, end=END)
    code, out, err = done(start([*args, "--slippage", "atr:0.05"]))
    assert code == 0, out + err
    assert state_of(state).last_key == LAST  # the last event committed: none left to replay
    # acknowledged after the replay's last event, then the session dies before its end
    crashed = build_dry_run(state)
    crashed.start()
    crashed.acknowledge("pause", lambda st: check("pause", {}, st, crashed.ctx), WHO, "t")
    assert state_of(state).commands

    restarted = build_dry_run(state)  # no event left to play: applied at the last instant
    restarted.run()
    assert restarted.current.control.paused and not restarted.current.commands
    (applied,) = [d for d in decisions(state) if d["kind"] == "command"]
    assert applied["outcome"] == "applied" and applied["time"] == "2024-01-01T03:15:00+00:00"
    assert StateRepository(state).records()[-1]["kind"] == "end"
    with pytest.raises(ConfigError, match="the session is ending"):
        restarted.acknowledge("resume", lambda st: check("resume", {}, st, restarted.ctx),
                              WHO, "t")  # fmt: skip
    assert restarted.current.control.paused


def test_the_end_boundary_is_the_last_event_played_even_when_it_changed_nothing(tmp_path):
    state = tmp_path / "s"
    args = dry_run_args(tmp_path, state, pace=0.0, n_bars=80, end=END)
    code, out, err = done(start(args))  # without ATR slippage the last bars commit nothing
    assert code == 0, out + err
    assert state_of(state).last_key < LAST
    spec = RunSpec.from_dict(read_document(state / "dryrun.json"))
    engine = build_dry_run(tmp_path / "again", spec)
    engine.start()
    for event in engine.feed.events(None):
        engine.handle(event)
    engine.acknowledge("pause", lambda st: check("pause", {}, st, engine.ctx), WHO, "t")
    (done_,) = engine.finish()
    assert done_["outcome"] == "applied" and done_["time"] == "2024-01-01T03:15:00+00:00"
    assert engine.current.last_key == LAST  # a restart plays nothing again
    restarted = build_dry_run(tmp_path / "again")
    restarted.run()
    assert restarted.current.to_json() == engine.current.to_json()
