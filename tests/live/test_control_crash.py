"""A command acknowledged and then SIGKILLed before it applied is applied after the restart, at
the first event after the crash, exactly as an uninterrupted run applying it at that event
would; and the journal alone rebuilds the final state.

Real processes: ``tradeforge dry-run --pace 2`` runs; once it has applied its first event it
sleeps two seconds before the next, and in that pause the test sends ``pause`` over the
control socket, reads the acknowledgement and SIGKILLs the session at once.
"""

from __future__ import annotations

import os
import signal
from dataclasses import replace

from tests.live.control_support import (
    decisions,
    done,
    dry_run_args,
    run_ctl,
    start,
    state_of,
    wait_for,
)
from tests.live.helpers import outcome
from tradeforge.live.control.client import ControlClient
from tradeforge.live.control.commands import check
from tradeforge.live.persist import read_document
from tradeforge.live.runner import build_dry_run
from tradeforge.live.schema import check_engine_state
from tradeforge.live.state import StateRepository
from tradeforge.trading.spec import RunSpec

END = "2024-01-01T03:15"  # three bars to play after the window's history


def test_acknowledged_command_survives_sigkill_before_it_applies(tmp_path):
    state = tmp_path / "s"
    session = start(dry_run_args(tmp_path, state, pace=2.0, n_bars=80, end=END))
    try:
        wait_for(lambda: (s := state_of(state)) is not None and s.last_key is not None)
        with ControlClient(state) as client:
            ack = client.request("pause")
            os.kill(session.pid, signal.SIGKILL)  # acknowledged, not applied
        session.wait()
    finally:
        session.kill()
        session.wait()
    crashed = state_of(state)
    assert str(ack["id"]) in crashed.commands and not crashed.control.paused
    assert not [d for d in decisions(state) if d["kind"] == "command"]
    last = crashed.last_key

    code, out, err = done(start(dry_run_args(tmp_path, state, pace=2.0, n_bars=80, end=END)))
    assert code == 0, out + err
    final = state_of(state)
    assert final.control.paused and not final.commands
    (applied,) = [d for d in decisions(state) if d["kind"] == "command"]
    assert applied["id"] == ack["id"] and applied["outcome"] == "applied"
    records = StateRepository(state).records()
    first_after = next(r for r in records if r.get("event") and tuple(r["event"]) > last)
    assert any(d["kind"] == "command" for d in first_after["decisions"])  # the first event

    # an uninterrupted run applying the same command at that same event ends identically
    spec = RunSpec.from_dict(read_document(state / "dryrun.json"))
    spec = replace(spec, live=replace(spec.live, pace=0.0))
    ref = build_dry_run(tmp_path / "ref", spec)
    ref.start()
    (received,) = [d for d in decisions(state) if d["kind"] == "command_received"]
    for event in ref.feed.events(None):
        if tuple(event.key) == tuple(first_after["event"]):
            checked = lambda st: check("pause", {}, st, ref.ctx)  # noqa: E731
            ref.acknowledge("pause", checked, received["who"], received["received"])
        ref.handle(event)
    assert outcome(state) == outcome(tmp_path / "ref")

    # the journal alone (snapshots gone) rebuilds the final state
    body = StateRepository(state).load(heal=False)[0]
    for name in ("state.json", "state.json.prev"):
        (state / name).unlink()
    replayed, report = StateRepository(state, validate=check_engine_state).load()
    assert report.source == "journal genesis" and replayed == body
    # and with the session gone, ctl says so in one line
    code, _, err = run_ctl(state, "status")
    assert code == 2 and "no control token" in err and len(err.strip().splitlines()) == 1
