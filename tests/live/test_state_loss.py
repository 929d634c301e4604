"""State directory damage that loses history, fresh directories left by a crashed first start,
malformed files with valid checksums and OS errors: each is a clear `StateError`, never a
silent loss or a traceback."""

from __future__ import annotations

import json
import os

import pytest

from tests.live.test_state import _run
from tradeforge.core.errors import StateError
from tradeforge.live.history import HistoryLost
from tradeforge.live.lock import StateLock
from tradeforge.live.model import EngineState, Identity
from tradeforge.live.persist import document_bytes, read_document, sha256_of
from tradeforge.live.schema import check_engine_state
from tradeforge.live.state import StateRepository


def _files(directory) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def _lines(repo: StateRepository) -> list[bytes]:
    return repo.journal.path.read_bytes().splitlines(keepends=True)


def test_corrupt_middle_line_is_refused_then_accepted_keeping_every_valid_line(tmp_path):
    repo = StateRepository(tmp_path)
    final = _run(repo, 6)  # journal seq 1..7
    lines = _lines(repo)
    repo.journal.path.write_bytes(b"".join(lines[:2]) + b'{"rec": garbage}\n' + b"".join(lines[3:]))
    before = _files(tmp_path)
    with pytest.raises(HistoryLost) as exc:
        StateRepository(tmp_path).load()
    msg = str(exc.value)
    assert "journal.jsonl line 3: not valid JSON" in msg and "seq 3 of 1-7 missing" in msg
    assert "--accept-state-loss" in msg
    assert _files(tmp_path) == before  # refusing writes nothing
    # an observer sees the same, without writing
    state, report = StateRepository(tmp_path).load(heal=False)
    assert state == final and any("history loss found" in p for p in report.problems)
    assert _files(tmp_path) == before
    # accepted: the state is intact, every valid record kept, the gap marked, the file kept
    state, report = StateRepository(tmp_path).load(accept_loss=True)
    assert state == final and any("history loss accepted" in p for p in report.problems)
    records = StateRepository(tmp_path).records()
    assert [(r["seq"], r["kind"]) for r in records][1:4] == [(2, "step"), (3, "lost"), (4, "step")]
    assert [r["seq"] for r in records] == list(range(1, 8))
    assert (tmp_path / "journal.jsonl.damaged").read_bytes() == before["journal.jsonl"]
    # the accepted loss is remembered: later starts neither refuse nor report it again
    repo = StateRepository(tmp_path)
    state, report = repo.load()
    assert state == final and not report.problems
    repo.commit({**state, "counter": 99}, "step")
    assert StateRepository(tmp_path).load()[0]["counter"] == 99


def test_deleted_journal_is_refused_naming_what_the_snapshot_covers(tmp_path):
    repo = StateRepository(tmp_path)
    final = _run(repo, 4)
    repo.journal.path.unlink()
    with pytest.raises(HistoryLost, match=r"journal.jsonl is missing.*seq 1-5 of 1-5 missing"):
        StateRepository(tmp_path).load()
    state, _ = StateRepository(tmp_path).load(accept_loss=True)
    assert state == final
    assert [(r["kind"], r["first"], r["seq"]) for r in repo.records()] == [("lost", 1, 5)]
    assert StateRepository(tmp_path).load()[1].problems == []


def test_truncated_journal_names_the_missing_tail(tmp_path):
    repo = StateRepository(tmp_path)
    _run(repo, 5)
    repo.journal.path.write_bytes(b"".join(_lines(repo)[:4]))
    with pytest.raises(HistoryLost, match="seq 5-6 of 1-6 missing"):
        StateRepository(tmp_path).load()


def test_damaged_complete_last_line_is_refused(tmp_path):
    """A crash tears the last line (no newline); a complete bad line may be a committed
    record whose content is unknown."""
    repo = StateRepository(tmp_path)
    _run(repo, 3)
    with open(repo.journal.path, "ab") as fh:
        fh.write(b'{"rec":{"seq":5},"sum":"bad"}\n')
    with pytest.raises(HistoryLost, match=r"line 5: checksum mismatch.*after seq 4.*unknown"):
        StateRepository(tmp_path).load()


def test_stray_line_between_consecutive_records_loses_nothing(tmp_path):
    repo = StateRepository(tmp_path)
    final = _run(repo, 3)
    lines = _lines(repo)
    repo.journal.path.write_bytes(b"".join(lines[:2]) + b"stray\n" + b"".join(lines[2:]))
    state, report = StateRepository(tmp_path).load()
    assert state == final
    assert any("line 3: not valid JSON (no record is missing" in p for p in report.problems)
    assert repo.journal.path.read_bytes() == b"".join(lines)
    assert (tmp_path / "journal.jsonl.damaged").exists()


def test_gap_that_blocks_rebuilding_the_state_is_refused_even_if_accepted(tmp_path):
    repo = StateRepository(tmp_path)
    _run(repo, 4)
    repo.state_path.write_text("x")
    repo.prev_path.unlink()
    lines = _lines(repo)
    repo.journal.path.write_bytes(b"".join(lines[:2]) + b"bad\n" + b"".join(lines[3:]))
    with pytest.raises(StateError, match="journal gap.*record 3 is missing") as exc:
        StateRepository(tmp_path).load(accept_loss=True)
    assert not isinstance(exc.value, HistoryLost)


def test_two_records_claiming_one_seq_are_refused(tmp_path):
    repo = StateRepository(tmp_path)
    _run(repo, 2)
    other = {"rec": {"seq": 2, "kind": "other"}}
    other["sum"] = sha256_of(other["rec"])
    with open(repo.journal.path, "ab") as fh:
        fh.write(json.dumps(other).encode() + b"\n")
    with pytest.raises(StateError, match="two different records claim seq 2"):
        StateRepository(tmp_path).load()


def test_torn_first_append_is_a_fresh_directory(tmp_path):
    """SIGKILL inside the genesis append: nothing was committed, so the next start is new."""
    repo = StateRepository(tmp_path)
    repo.journal.path.write_bytes(b'{"rec":{"kind":"genesis","seq":1,"sta')
    (tmp_path / ".state.json.1a2b.tmp").write_bytes(b"{")  # debris of a first snapshot write
    assert not repo.exists()
    state = repo.create({"positions": {}, "counter": 0})
    assert state["seq"] == 1
    assert StateRepository(tmp_path).load()[0] == state
    # but a corrupt *complete* first line is damage, not a fresh start
    (tmp_path / "state.json").unlink()
    (tmp_path / "state.json.prev").unlink(missing_ok=True)
    repo.journal.path.write_bytes(b"garbage\n")
    assert repo.exists()
    with pytest.raises(StateError, match="no valid state"):
        StateRepository(tmp_path).load()


def _malformed(body: dict) -> bytes:
    return document_bytes(body)  # a valid checksum over a body of the wrong shape


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"schema_version": 1}, "seq None is not a positive integer"),
        ({"schema_version": 1, "seq": "7"}, "seq '7' is not a positive integer"),
        ({"schema_version": 1, "seq": 3}, "'strategies' missing"),
        ([1, 2], "unsupported schema version"),
    ],
)
def test_malformed_snapshot_with_valid_checksum_is_a_state_error_naming_it(tmp_path, body, text):
    repo = StateRepository(tmp_path)
    _run(repo, 2)
    repo.state_path.write_bytes(_malformed(body))
    repo.prev_path.write_bytes(_malformed(body))
    repo.journal.path.unlink()
    with pytest.raises(StateError, match="no valid state") as exc:
        StateRepository(tmp_path, validate=check_engine_state).load()
    assert f"{repo.state_path}: " in str(exc.value) and text in str(exc.value)


def test_malformed_snapshot_falls_back_to_the_previous_one(tmp_path):
    repo = StateRepository(tmp_path, validate=lambda body: None)
    final = _run(repo, 3)
    body = read_document(repo.state_path)
    del body["seq"]
    repo.state_path.write_bytes(_malformed(body))
    state, report = StateRepository(tmp_path).load()
    assert state == final and report.source == "state.json.prev" and report.replayed == 1
    assert any("malformed state" in p for p in report.problems)


def test_engine_state_shape():
    good = EngineState.initial(Identity("s", "EURUSD", "M5"), 1.0).to_json()
    check_engine_state(good)
    inst = good["strategies"]["s"]

    def with_inst(**fields):
        return {**good, "strategies": {"s": {**inst, **fields}}}

    for bad, text in [
        (with_inst(positions=[]), "'strategies.s.positions' is list, expected a mapping"),
        (with_inst(pending={"a": 1}), "'strategies.s.pending.a' is int"),
        ({**good, "positions": {}}, "'positions' is not a field of the state"),
        ({**good, "stats": {**good["stats"], "trades": "2"}}, "'stats.trades' is str"),
        ({**good, "last_key": 5}, "'last_key' is int"),
        ({**good, "risk": {}}, "'risk.halted' missing"),
    ]:
        with pytest.raises(StateError, match=text):
            check_engine_state(bad)


def test_write_errors_are_state_errors_naming_the_file(tmp_path, monkeypatch):
    repo = StateRepository(tmp_path)
    _run(repo, 1)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tradeforge.core.atomic.os.replace", denied)
    with pytest.raises(StateError, match=r"cannot write .*state.json.prev: Permission denied"):
        repo.commit({**repo.state, "counter": 5}, "step")
    monkeypatch.setattr("tradeforge.live.journal.os.fsync", denied)
    with pytest.raises(StateError, match=r"cannot append to .*journal.jsonl: Permission denied"):
        repo.commit({**repo.state, "counter": 6}, "step")
    monkeypatch.setattr("tradeforge.live.lock.os.open", denied)  # a read-only directory
    with pytest.raises(StateError, match=r"cannot open the lock file .*LOCK: Permission denied"):
        StateLock(tmp_path).__enter__()


def test_state_path_that_is_a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(StateError, match="is not a directory"), StateLock(path):
        pass
    with pytest.raises(StateError, match="not a state directory"):
        StateRepository(path).load(heal=False)
    assert not StateRepository(path).exists()
    assert path.read_text() == "hello"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_state_directory(tmp_path):
    repo = StateRepository(tmp_path / "s")
    _run(repo, 1)
    os.chmod(repo.dir, 0o555)
    try:
        with pytest.raises(StateError, match="Permission denied"), StateLock(repo.dir):
            pass
    finally:
        os.chmod(repo.dir, 0o755)
