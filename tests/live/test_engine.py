"""Engine behaviour: reconciliation, corrupt state, duplicates, kill switch, guards."""

from __future__ import annotations

import json

import pytest

from tests.live.helpers import outcome, positions_of, small_spec
from tradeforge.core.errors import StateError
from tradeforge.live.engine import engine_summary
from tradeforge.live.feeds import Tick
from tradeforge.live.guards import request_kill
from tradeforge.live.runner import build_dry_run, journal_trades, run_dry
from tradeforge.live.state import StateRepository


def _run_until_position(state_dir, spec):
    """Start a dry-run and feed it events until it holds an open position; returns the engine."""
    engine = build_dry_run(state_dir, spec)
    engine.start()
    after = None
    for event in engine.feed.events(after):
        engine.handle(event)
        if positions_of(engine.state) and isinstance(event, Tick):
            return engine
    raise AssertionError("no position opened")


def _records(state_dir):
    return StateRepository(state_dir).records()


def test_reconcile_books_broker_closes_and_closes_orphans_before_trading(tmp_path):
    spec = small_spec(tmp_path)
    engine = _run_until_position(tmp_path / "s", spec)
    ((cid, pos),) = positions_of(engine.state).items()
    broker = engine.broker
    # while "down": the broker stopped the position out, and someone opened a foreign one
    deal = broker.force_close(pos["ticket"], price=pos["entry_price"] - 0.0005)
    broker.doc["positions"]["999"] = {
        "ticket": 999, "symbol": "EURUSD", "side": 1, "lots": 0.1, "price_open": 1.1,
        "stop": None, "target": None, "client_id": "manual", "time": 0,
    }  # fmt: skip
    broker._save()
    n_before = len(_records(tmp_path / "s"))

    engine = build_dry_run(tmp_path / "s")
    engine.start()
    recs = _records(tmp_path / "s")[n_before:]
    assert [r["kind"] for r in recs] == ["start", "reconcile"]
    reasons = [d["reason"] for d in recs[1]["decisions"]]
    assert any("closed at the broker while away" in r for r in reasons)
    assert any("unknown position at broker; closed" in r for r in reasons)
    (trade,) = recs[1]["trades"]
    assert trade["exit_price"] == pytest.approx(deal.price)
    assert not positions_of(engine.state)
    assert [p.ticket for p in engine.broker.positions()] == []
    # trading continues afterwards; every later record comes after the corrections
    engine.run()
    later = _records(tmp_path / "s")[n_before + 2 :]
    assert all(r["kind"] in ("tick", "bar") for r in later)


def test_reconcile_resets_a_stop_that_differs(tmp_path):
    spec = small_spec(tmp_path)
    engine = _run_until_position(tmp_path / "s", spec)
    (pos,) = positions_of(engine.state).values()
    engine.broker.modify(pos["ticket"], 1.0)
    engine = build_dry_run(tmp_path / "s")
    engine.start()
    rec = _records(tmp_path / "s")[-1]
    assert rec["kind"] == "reconcile"
    assert "stop at broker differs" in rec["decisions"][0]["reason"]
    (bp,) = engine.broker.positions()
    assert bp.stop == pytest.approx(rec["decisions"][0]["state_stop"]) and bp.stop != 1.0


def test_truncated_state_recovers_and_finishes_like_an_uninterrupted_run(tmp_path):
    spec = small_spec(tmp_path)
    run_dry(tmp_path / "ref", spec)
    engine = _run_until_position(tmp_path / "s", spec)
    path = engine.repo.state_path
    path.write_bytes(path.read_bytes()[:40])  # truncated mid-document
    engine = build_dry_run(tmp_path / "s")
    report = engine.start()
    assert report.source == "state.json.prev" and report.recovered
    assert "not valid JSON" in report.message()
    engine.run()
    assert outcome(tmp_path / "s")["journal"] == outcome(tmp_path / "ref")["journal"]
    assert journal_trades(tmp_path / "s") == journal_trades(tmp_path / "ref")


def test_unvalidated_state_is_refused(tmp_path):
    spec = small_spec(tmp_path)
    _run_until_position(tmp_path / "s", spec)
    for name in ("state.json", "state.json.prev", "journal.jsonl"):
        (tmp_path / "s" / name).write_text("{broken")
    with pytest.raises(StateError, match="Refusing to trade"):
        build_dry_run(tmp_path / "s").start()


def test_duplicate_and_out_of_order_events_change_nothing(tmp_path):
    spec = small_spec(tmp_path)
    engine = _run_until_position(tmp_path / "s", spec)
    seen = list(engine.feed.events(None))
    n = len(_records(tmp_path / "s"))
    state = json.dumps(engine.state, sort_keys=True)
    broker = json.dumps(engine.broker.doc, sort_keys=True)
    last = engine.state["last_key"]
    for event in [e for e in seen if tuple(e.key) <= tuple(last)][::-1][:40]:
        engine.handle(event)  # redelivered, newest first
    assert len(_records(tmp_path / "s")) == n
    assert json.dumps(engine.state, sort_keys=True) == state
    # the broker too: a resubmitted order and a repeated close return the original answers
    (pos,) = positions_of(engine.state).values()
    from tradeforge.live.brokers.base import OrderRequest

    first = engine.broker.order_status(pos["cid"])
    again = engine.broker.place(OrderRequest(pos["cid"], "EURUSD", pos["side"], 5.0))
    assert again == first
    assert json.dumps(engine.broker.doc, sort_keys=True) == broker
    d1 = engine.broker.close(pos["ticket"], 0.01, "dup-close")
    d2 = engine.broker.close(pos["ticket"], 0.01, "dup-close")
    assert d1 == d2 and len(engine.broker.deals_for(pos["ticket"])) == 1


def test_kill_switch_closes_everything_and_stops(tmp_path):
    spec = small_spec(tmp_path)
    engine = _run_until_position(tmp_path / "s", spec)
    request_kill(tmp_path / "s", "test")
    engine.run()
    assert engine.stopped and engine.state["risk"]["halted"] == "kill: test"
    assert not positions_of(engine.state) and not engine.broker.positions()
    decisions = [d["kind"] for r in _records(tmp_path / "s") for d in r.get("decisions", [])]
    assert "kill" in decisions
    # a restart while the KILL file exists does not trade
    engine = build_dry_run(tmp_path / "s")
    engine.start()
    seq = engine.state["seq"]
    engine.run()
    assert engine.state["seq"] == seq
    summary = engine_summary(engine.state)
    assert summary["risk"]["halted"] == "kill: test" and summary["positions"] == []


def test_spread_guard_blocks_entries_and_logs_why(tmp_path):
    spec = small_spec(tmp_path, limits={"max_spread_pips": 0.5})  # bars carry 0.8 pips
    engine = run_dry(tmp_path / "s", spec)
    assert engine.state["stats"]["orders"] == 0
    lines = (tmp_path / "s" / "decisions.jsonl").read_text().splitlines()
    guards = [json.loads(x) for x in lines if '"guard"' in x]
    assert guards and all(g["guard"] == "spread" for g in guards)
    assert "spread 0.80 pips vs limit 0.5" in guards[0]["reason"]


def test_restart_with_other_settings_is_refused(tmp_path):
    from tradeforge.core.errors import ConfigError

    spec = small_spec(tmp_path)
    run_dry(tmp_path / "s", spec)
    with pytest.raises(ConfigError, match="other settings"):
        build_dry_run(tmp_path / "s", small_spec(tmp_path, window=50))
