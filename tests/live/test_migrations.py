"""Typed state and schema migrations, on a state directory written by the v1 code.

``fixtures/v1_session`` is a dry-run of ``test_pending_cross`` (limit entries, ``atr``
slippage) stopped after 373 events with a position open, written by the code before the typed
state (schema version 1): state, journal, paper broker and decision log (its ``dryrun.json``,
which named a bars file of that machine, is left out: the tests pass the same settings).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.live.helpers import small_spec
from tradeforge.core.errors import StateError
from tradeforge.live.migrations import MIGRATIONS, SCHEMA_VERSION, upgrade, v1_to_v2
from tradeforge.live.model import EngineState
from tradeforge.live.persist import document_bytes, read_document
from tradeforge.live.runner import run_dry, trades_frame
from tradeforge.live.schema import check_engine_state, load_engine_state
from tradeforge.live.state import StateRepository

FIXTURE = Path(__file__).parent / "fixtures" / "v1_session"
V1_SEQ = 78  # the fixture's state.json
NAME = "test_pending_cross"  # the session of one a v1..v3 state becomes (schema 4)


def _book(body: dict) -> dict:
    """The one strategy's part of a current-layout body."""
    return body["strategies"][NAME]


def _spec(tmp: Path):
    return small_spec(
        tmp,
        strategy="test_pending_cross",
        params={"entry": "limit", "expiry": 4, "exit_on_opposite": True},
        slippage="atr:0.05",
        commission=3.0,
    )


def _v1_dir(tmp: Path) -> Path:
    state_dir = tmp / "v1"
    shutil.copytree(FIXTURE, state_dir)
    return state_dir


def _v1_body() -> dict:
    return read_document(FIXTURE / "state.json")


def test_fixture_is_the_v1_layout():
    body = _v1_body()
    assert body["schema_version"] == 1 and body["seq"] == V1_SEQ
    (pos,) = body["positions"].values()
    assert "exit_time" not in pos and "exit_reason" not in pos


def test_every_version_has_a_step():
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))


def test_v1_to_v2_makes_optional_keys_explicit_and_keeps_the_rest():
    body = _v1_body()
    oldest = json.loads(json.dumps(body))  # the earliest v1 bodies lacked these keys too
    for key in ("queued", "atr"):
        del oldest[key]
    del oldest["stats"]["expired"]
    for pos in oldest["positions"].values():
        for key in ("signal_exit", "fill_at_open", "entry_type"):
            del pos[key]
    out = upgrade(oldest)
    assert out["schema_version"] == SCHEMA_VERSION and oldest["schema_version"] == 1  # untouched
    book = _book(out)
    assert book["queued"] == {} and book["atr"] is None and out["stats"]["expired"] == 0
    assert book["stats"]["expired"] == 0
    (pos,) = book["positions"].values()
    assert (pos["signal_exit"], pos["fill_at_open"], pos["entry_type"]) == (False, True, "market")
    assert (pos["exit_time"], pos["exit_reason"]) == (None, None)
    full = upgrade(body)
    (cid,) = body["positions"]
    kept = _book(full)["positions"][cid]
    assert {k: v for k, v in kept.items() if k in body["positions"][cid]} == body["positions"][cid]
    state = load_engine_state(full)
    assert state.positions[cid].entry_type == "limit" and state.strategies[NAME].atr is not None
    assert state.stats.expired == body["stats"]["expired"]


def test_migration_leaves_malformed_bodies_to_the_validation():
    assert v1_to_v2({"schema_version": 1, "positions": [1], "stats": "x"})["schema_version"] == 2
    with pytest.raises(StateError, match="unsupported schema version"):
        upgrade({"schema_version": SCHEMA_VERSION + 1})


def test_typed_state_round_trips_the_stored_form():
    body = upgrade(_v1_body())
    bare = {k: v for k, v in body.items() if k not in ("seq", "schema_version")}
    state = EngineState.from_json(bare)
    assert state.to_json() == bare
    copy = EngineState.from_json(bare)
    (pos,) = copy.positions.values()
    pos.booked.append("x")
    pos.pf[0] = None
    copy.stats.trades += 1
    assert EngineState.from_json(bare).to_json() == bare  # copies never touch the source


def test_validation_names_the_file_and_field(tmp_path):
    state_dir = _v1_dir(tmp_path)
    body = _v1_body()
    (cid,) = body["positions"]
    body["positions"][cid]["steps"] = "1264"
    for name in ("state.json", "state.json.prev"):
        (state_dir / name).write_bytes(document_bytes(body))
    (state_dir / "journal.jsonl").unlink()
    with pytest.raises(StateError, match="no valid state") as exc:
        StateRepository(state_dir, validate=check_engine_state).load()
    text = str(exc.value)
    assert f"{state_dir / 'state.json'}: malformed state" in text
    assert f"'strategies.{NAME}.positions.{cid}.steps' is str, expected an integer" in text


def test_read_only_load_migrates_in_memory(tmp_path):
    state_dir = _v1_dir(tmp_path)
    before = {p.name: p.read_bytes() for p in state_dir.iterdir()}
    state, report = StateRepository(state_dir, validate=check_engine_state).load(heal=False)
    assert state["schema_version"] == SCHEMA_VERSION and report.migrated_from == 1
    assert report.seq == V1_SEQ and "migrated from schema version 1" in report.message()
    assert {p.name: p.read_bytes() for p in state_dir.iterdir()} == before


def test_load_journals_the_migration_and_replays_across_it(tmp_path):
    state_dir = _v1_dir(tmp_path)
    repo = StateRepository(state_dir, validate=check_engine_state)
    state, report = repo.load()
    assert state["seq"] == V1_SEQ + 1 and report.to_dict()["migrated_from"] == 1
    last = repo.records()[-1]
    assert last["kind"] == "migrate" and last["event"] == [1, SCHEMA_VERSION]
    # both snapshots lost: genesis (v1) + v1 records + the migrate record rebuild the state
    (state_dir / "state.json").write_text("x")
    (state_dir / "state.json.prev").write_text("y")
    again, report = StateRepository(state_dir, validate=check_engine_state).load()
    assert again == state and report.source == "journal genesis"
    assert report.replayed == V1_SEQ and report.migrated_from is None


def test_v1_session_resumes_and_ends_like_an_uninterrupted_run(tmp_path):
    spec = _spec(tmp_path)
    resumed = run_dry(_v1_dir(tmp_path), spec)
    fresh = run_dry(tmp_path / "fresh", spec)
    strip = ("seq",)
    assert {k: v for k, v in resumed.state.items() if k not in strip} == {
        k: v for k, v in fresh.state.items() if k not in strip
    }
    assert read_document(tmp_path / "v1" / "paper_broker.json") == read_document(
        tmp_path / "fresh" / "paper_broker.json"
    )
    assert trades_frame(tmp_path / "v1").equals(trades_frame(tmp_path / "fresh"))
    kinds = [r["kind"] for r in StateRepository(tmp_path / "v1").records()]
    assert kinds[V1_SEQ] == "migrate" and kinds.count("migrate") == 1
