"""A pause (of one strategy or of all) cancels the paused instances' resting limit/stop entry
orders at the broker — a paused instance opens nothing, so nothing may fill while it is
paused — and a resume lets the strategy's next signals place new ones."""

from __future__ import annotations

from tests.live.helpers import small_spec
from tradeforge.live.brokers.paper import PAPER_FILE
from tradeforge.live.control.commands import check
from tradeforge.live.persist import read_document
from tradeforge.live.runner import build_dry_run

WHO = {"user": "tester", "uid": 0, "pid": 1}
NAME = "test_pending_cross"
HOURS_2 = 2 * 3600 * 10**9


def _send(engine, name: str, **args) -> None:
    engine.acknowledge(name, lambda st: check(name, args, st, engine.ctx), WHO, "t")


def _run_to(engine, until) -> None:
    for event in engine.feed.events(engine.resume_key()):
        engine.handle(event)
        if until():
            return
    raise AssertionError("the condition never held")


def _broker_status(state_dir) -> dict[str, str]:
    return {cid: o["status"] for cid, o in read_document(state_dir / PAPER_FILE)["orders"].items()}


def test_pause_cancels_resting_entry_orders_of_the_paused_strategy(tmp_path):
    spec = small_spec(tmp_path, n_bars=400, strategy=NAME, params={"entry": "limit", "expiry": 6})
    state = tmp_path / "s"
    engine = build_dry_run(state, spec)
    engine.start()
    book = lambda: engine.current.strategies[NAME]  # noqa: E731
    for pause in ({"strategy": NAME}, {}):  # one strategy, then all
        _run_to(engine, lambda: book().pending)
        resting = sorted(book().pending)
        assert all(_broker_status(state)[cid] == "pending" for cid in resting)
        _send(engine, "pause", **pause)
        _run_to(engine, lambda: True)  # the next event applies it
        assert not book().pending and not book().queued
        assert all(_broker_status(state)[cid] == "cancelled" for cid in resting)
        (paused,) = [d for d in _decisions(engine) if d["kind"] == "paused"]
        assert f"{len(resting)} entry order(s) cancelled" in paused["reason"]
        cancels = [d["order"] for d in _decisions(engine) if d["kind"] == "cancel"]
        assert cancels == resting
        # paused: two hours of bars later still nothing resting and no new position
        held, since = set(book().positions), engine.current.last_key[0]
        _run_to(engine, lambda s=since: book().pending or engine.current.last_key[0] > s + HOURS_2)
        assert not book().pending and set(book().positions) <= held
        _send(engine, "resume", **pause)
    skipped = [
        d for r in engine.repo.records() for d in r.get("decisions", [])
        if d["kind"] == "skip" and d.get("control") == "paused"
    ]  # fmt: skip
    assert skipped  # signals came while paused, and were not placed


def _decisions(engine) -> list[dict]:
    """The decisions of the last record that has any."""
    records = engine.repo.records()
    return next(r["decisions"] for r in reversed(records) if r.get("decisions"))
