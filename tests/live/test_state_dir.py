"""The state directory as operators meet it through the command line: one writer at a time (real
processes), lost history refused until accepted, and one-line errors for wrong paths and
malformed files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.live.helpers import small_spec
from tradeforge.cli import app
from tradeforge.core.errors import StateError
from tradeforge.live.history import HistoryLost
from tradeforge.live.persist import document_bytes, read_document
from tradeforge.live.runner import journal_trades

SCRIPT = Path(sys.executable).with_name("tradeforge")
needs_script = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
runner = CliRunner()


def _dry_run_args(state: Path, bars_file: str, pace: float = 0.0) -> list[str]:
    return [
        "dry-run", "--state", str(state), "--strategy", "sma_cross",
        "-p", "fast=3", "-p", "slow=12", "-p", "stop_pips=6", "-p", "target_pips=8",
        "--symbol", "EURUSD", "--timeframe", "M5", "--replay", "2024-01-01T03:00..2024-01-01T10:00",
        "--bars", bars_file, "--window", "36", "--close-at-end", "--pace", str(pace),
    ]  # fmt: skip


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def _one_line_error(r: subprocess.CompletedProcess, text: str) -> None:
    assert r.returncode == 2, r.stdout + r.stderr
    assert text in r.stderr and "Traceback" not in r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@needs_script
def test_second_engine_on_a_state_dir_is_refused_and_a_killed_holder_leaves_no_lock(tmp_path):
    bars = small_spec(tmp_path).live.bars_file
    reference = tmp_path / "reference"
    assert runner.invoke(app, _dry_run_args(reference, bars)).exit_code == 0
    expected = journal_trades(reference)
    assert len(expected) >= 3
    state = tmp_path / "state"
    first = subprocess.Popen(
        [str(SCRIPT), *_dry_run_args(state, bars, pace=0.5)],  # outlives the second
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        journal = state / "journal.jsonl"
        while not (journal.exists() and journal.read_bytes().count(b"\n") >= 3):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        second = _script("dry-run", "--state", str(state))
        _one_line_error(second, f"in use by another tradeforge process (pid {first.pid})")
        assert (state / "LOCK").read_text().strip() == str(first.pid)
        assert first.poll() is None  # the holder keeps running, undisturbed
        first.send_signal(signal.SIGKILL)  # the OS releases its lock: no stale lock
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    resumed = _script("dry-run", "--state", str(state))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    trades = journal_trades(state)
    assert trades == expected and len({t["trade_id"] for t in trades}) == len(trades)
    assert (state / "trades.csv").read_text().count("\n") == len(expected) + 1


@needs_script
def test_kill_or_status_on_a_wrong_state_path_is_a_one_line_error(tmp_path):
    typo = tmp_path / "runs" / "drry"
    _one_line_error(_script("kill", "--state", str(typo)), "holds no dry-run/live session")
    assert not (tmp_path / "runs").exists()  # no directory created for a typo
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    _one_line_error(_script("status", "--state", str(a_file)), "not a state directory")
    _one_line_error(
        _script("dry-run", "--state", str(a_file), "--strategy", "sma_cross", "-s", "EURUSD",
                "-t", "M5", "--replay", "2024-01-01:2024-01-02"),
        "is not a directory",
    )  # fmt: skip
    assert a_file.read_text() == "x"


def _trade_line(state: Path) -> int:
    """Index of a journal line in the middle of the history that records a closed trade."""
    lines = (state / "journal.jsonl").read_bytes().splitlines()
    with_trades = [i for i, x in enumerate(lines) if json.loads(x)["rec"].get("trades")]
    return with_trades[len(with_trades) // 2]


def test_lost_journal_history_is_refused_until_accepted(tmp_path):
    bars = small_spec(tmp_path).live.bars_file
    state = tmp_path / "state"
    assert runner.invoke(app, _dry_run_args(state, bars)).exit_code == 0
    n_trades = len(journal_trades(state))
    lines = (state / "journal.jsonl").read_bytes().splitlines(keepends=True)
    i = _trade_line(state)
    lost = json.loads(lines[i])["rec"]
    lines[i] = lines[i].replace(b'"trades":[{', b'"trades":[{"x":1,', 1)  # checksum now wrong
    (state / "journal.jsonl").write_bytes(b"".join(lines))

    refused = runner.invoke(app, ["dry-run", "--state", str(state)])
    assert isinstance(refused.exception, HistoryLost)  # main() prints it as one line, exit 2
    msg = str(refused.exception)
    assert f"journal.jsonl line {i + 1}: checksum mismatch" in msg
    assert f"seq {lost['seq']} of " in msg and "--accept-state-loss" in msg
    assert f"the state counts {n_trades} closed trade(s), the journal still holds" in msg

    accepted = runner.invoke(app, ["dry-run", "--state", str(state), "--accept-state-loss"])
    assert accepted.exit_code == 0, accepted.output
    assert f"{n_trades - len(lost['trades'])} closed trade(s)" in accepted.output
    assert f"history incomplete: the session closed {n_trades} trade(s)" in accepted.output
    log = [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]
    start = [d for d in log if d["kind"] == "start"][-1]
    assert any("history loss accepted" in p for p in start["load"]["problems"])
    trades = journal_trades(state)
    assert len(trades) == n_trades - len(lost["trades"])  # every valid line's trades kept
    assert (state / "trades.csv").read_text().count("\n") == len(trades) + 1
    again = runner.invoke(app, ["dry-run", "--state", str(state)])  # the loss is on record
    assert again.exit_code == 0, again.output


def test_deleted_journal_is_refused(tmp_path):
    state = tmp_path / "state"
    assert (
        runner.invoke(app, _dry_run_args(state, small_spec(tmp_path).live.bars_file)).exit_code == 0
    )
    seq = read_document(state / "state.json")["seq"]
    (state / "journal.jsonl").unlink()
    refused = runner.invoke(app, ["dry-run", "--state", str(state)])
    assert isinstance(refused.exception, HistoryLost)
    assert "journal.jsonl is missing" in str(refused.exception)
    assert f"seq 1-{seq} of 1-{seq} missing" in str(refused.exception)
    assert not (state / "journal.jsonl").exists()  # refusing writes nothing


def test_malformed_state_with_a_valid_checksum_is_a_state_error_naming_the_file(tmp_path):
    state = tmp_path / "state"
    assert (
        runner.invoke(app, _dry_run_args(state, small_spec(tmp_path).live.bars_file)).exit_code == 0
    )
    body = read_document(state / "state.json")
    del body["strategies"]
    (state / "state.json").write_bytes(document_bytes(body))
    # the journal can still rebuild it: recovered, and reported
    status = runner.invoke(app, ["status", "--state", str(state)])
    assert status.exit_code == 0 and "'strategies' missing" in status.output
    os.remove(state / "state.json.prev")
    os.remove(state / "journal.jsonl")  # now nothing else can
    for args in (["status", "--state", str(state)], ["dry-run", "--state", str(state)]):
        result = runner.invoke(app, args)
        assert isinstance(result.exception, StateError), result.exception
        assert f"{state / 'state.json'}: malformed state ('strategies' missing)" in str(
            result.exception
        )


def test_a_restart_removes_temp_files_of_writers_killed_mid_write_and_expands_tilde(
    tmp_path, monkeypatch
):
    from tradeforge.live.runner import run_dry

    monkeypatch.setenv("HOME", str(tmp_path))
    spec = small_spec(tmp_path, n_bars=80)
    run_dry("~/state", spec)
    state = tmp_path / "state"
    assert state.is_dir() and not (tmp_path / "~").exists()
    stale = [state / ".state.json.0123456789ab.tmp", state / ".paper_broker.json.ba9876543210.tmp"]
    for path in stale:
        path.write_bytes(b"half a document")
    run_dry(state)  # resume: the lock is ours, so nobody else can be writing those
    assert not any(p.exists() for p in stale)
    assert read_document(state / "state.json")  # the real files are untouched


def test_a_first_start_that_cannot_load_its_bars_stores_no_settings(tmp_path):
    from dataclasses import replace

    from tradeforge.core.errors import DataError
    from tradeforge.live.runner import SPEC_FILE, run_dry

    spec = small_spec(tmp_path, n_bars=80)
    state = tmp_path / "state"
    with pytest.raises(DataError):
        live = replace(spec.live, home=str(tmp_path / "empty-home"), bars_file=None)
        run_dry(state, replace(spec, live=live))
    assert not (state / SPEC_FILE).exists()  # else the corrected run below would be refused
    run_dry(state, spec)
    assert read_document(state / SPEC_FILE)["live"]["bars_file"] == spec.live.bars_file


def test_a_decision_log_that_cannot_be_written_is_a_state_error_naming_it(tmp_path):
    from tradeforge.live.decisions import DECISIONS_FILE, append_decisions

    (tmp_path / DECISIONS_FILE).mkdir()  # appending to it fails like a full or read-only disk
    with pytest.raises(StateError, match=f"cannot append to .*{DECISIONS_FILE}"):
        append_decisions(tmp_path, 1, [{"kind": "start", "reason": "test"}])
