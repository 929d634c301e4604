"""State repository: atomic snapshots, checksums, journal replay and recovery."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.core.errors import StateError
from tradeforge.live.journal import Journal
from tradeforge.live.persist import read_document, write_document
from tradeforge.live.state import StateRepository, apply_patch, diff


def _initial() -> dict:
    return {"positions": {}, "pending": {}, "counter": 0, "name": "t"}


def _run(repo: StateRepository, n: int) -> dict:
    state = repo.create(_initial())
    for i in range(n):
        state = dict(state)
        state["counter"] = i + 1
        state["positions"] = {**state["positions"], f"p{i}": {"size": i, "stop": 1.0 + i / 10}}
        if i % 3 == 2:
            state["positions"].pop(f"p{i - 2}")
        state = repo.commit(state, "step", {"i": i}) and repo.state
    return repo.state


def test_commit_and_reload_round_trip(tmp_path):
    repo = StateRepository(tmp_path)
    final = _run(repo, 5)
    state, report = StateRepository(tmp_path).load()
    assert state == final
    assert report.source == "state.json" and report.replayed == 0 and not report.problems
    assert state["seq"] == 6 and state["counter"] == 5


def test_truncated_state_recovers_from_prev_and_journal(tmp_path):
    repo = StateRepository(tmp_path)
    final = _run(repo, 7)
    raw = repo.state_path.read_bytes()
    repo.state_path.write_bytes(raw[: len(raw) // 2])
    state, report = StateRepository(tmp_path).load()
    assert state == final
    assert report.source == "state.json.prev" and report.replayed == 1
    assert any("not valid JSON" in p for p in report.problems)
    # the snapshot was healed
    assert read_document(repo.state_path) == final


def test_edited_state_detected_by_checksum(tmp_path):
    repo = StateRepository(tmp_path)
    final = _run(repo, 3)
    doc = json.loads(repo.state_path.read_text())
    doc["body"]["counter"] = 999
    repo.state_path.write_text(json.dumps(doc))
    state, report = StateRepository(tmp_path).load()
    assert state == final
    assert any("checksum mismatch" in p for p in report.problems)


def test_both_snapshots_bad_recovers_from_genesis(tmp_path):
    repo = StateRepository(tmp_path)
    final = _run(repo, 4)
    repo.state_path.write_text("garbage")
    repo.prev_path.unlink()
    state, report = StateRepository(tmp_path).load()
    assert state == final and report.source == "journal genesis" and report.replayed == 4


def test_torn_journal_tail_is_cut_and_reported(tmp_path):
    repo = StateRepository(tmp_path)
    final = _run(repo, 3)
    with open(repo.journal.path, "ab") as fh:
        fh.write(b'{"rec":{"seq":5,"kin')
    state, report = StateRepository(tmp_path).load()
    assert state == final
    assert any("torn" in p for p in report.problems)
    assert repo.journal.scan().torn_at is None


def test_crash_between_journal_and_snapshot_replays(tmp_path):
    repo = StateRepository(tmp_path)
    _run(repo, 2)
    before = repo.state_path.read_bytes()
    state = dict(repo.state)
    state["counter"] = 42
    repo.commit(state, "step")
    repo.state_path.write_bytes(before)  # as if the snapshot write never happened
    loaded, report = StateRepository(tmp_path).load()
    assert loaded["counter"] == 42 and report.replayed == 1 and not report.problems


def test_nothing_valid_raises(tmp_path):
    repo = StateRepository(tmp_path)
    _run(repo, 2)
    repo.state_path.write_text("x")
    repo.prev_path.write_text("y")
    repo.journal.path.write_text("z\n")
    with pytest.raises(StateError, match="Refusing to trade"):
        StateRepository(tmp_path).load()


def test_journal_gap_raises(tmp_path):
    repo = StateRepository(tmp_path)
    _run(repo, 4)
    repo.state_path.write_text("x")
    repo.prev_path.write_text("y")
    lines = repo.journal.path.read_text().splitlines(keepends=True)
    repo.journal.path.write_text("".join(lines[:2] + lines[3:]))  # drop record 3
    with pytest.raises(StateError, match="gap"):
        StateRepository(tmp_path).load()


def test_scan_keeps_valid_lines_after_a_damaged_one(tmp_path):
    j = Journal(tmp_path / "j.jsonl")
    for i in range(1, 5):
        j.append({"seq": i})
    lines = j.path.read_bytes().splitlines(keepends=True)
    j.path.write_bytes(lines[0] + b"broken\n" + b"".join(lines[2:]) + b'{"rec":{"seq":5')
    scan = j.scan()
    assert [r["seq"] for r in scan.records] == [1, 3, 4]
    assert scan.damaged == [(2, "not valid JSON")] and scan.lines == {1: 1, 3: 3, 4: 4}
    assert scan.torn_at is not None and scan.torn_line == 5
    saved = j.rewrite(scan.records)
    assert saved.name == "j.jsonl.damaged" and saved.read_bytes().startswith(lines[0] + b"broken")
    assert [r["seq"] for r in j.scan().records] == [1, 3, 4] and j.rewrite([]).name.endswith(".2")


def test_document_nan_written_as_null(tmp_path):
    write_document(tmp_path / "d.json", {"a": float("nan"), "b": [1.5, float("inf")]})
    assert read_document(tmp_path / "d.json") == {"a": None, "b": [1.5, None]}


_values = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none())
_states = st.dictionaries(
    st.sampled_from(list("abcde")),
    st.one_of(_values, st.dictionaries(st.sampled_from(list("xyz")), _values, max_size=3)),
    max_size=5,
)


@settings(max_examples=200, deadline=None)
@given(_states, _states)
def test_patch_roundtrip(old, new):
    assert apply_patch(old, diff(old, new)) == new
