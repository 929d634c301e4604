"""Crash safety with real processes: SIGKILL a dry-run replay at many random points (many of
them inside a file write), restart it each time, and compare with an uninterrupted run.
Positions, trades, balance, broker orders and the trading journal must be identical: nothing
lost, nothing duplicated.

Most kills go through a warm fork server (`tests/live/forkserver.py`: every run is a real
forked process, killed with SIGKILL) so 50+ restarts fit in seconds; a few more go through a
cold ``python -m tradeforge.live`` subprocess, the way an operator runs it.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live.helpers import outcome, small_spec, write_spec
from tests.support.forkserver import ForkServer
from tradeforge.live.runner import journal_trades, run_dry

ROOT = Path(__file__).resolve().parents[2]
FORK_KILLS = 60
COLD_KILLS = 3


def _journal_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _mid_write(state_dir: Path) -> bool:
    journal = state_dir / "journal.jsonl"
    torn = journal.exists() and not journal.read_bytes().endswith(b"\n")
    return torn or any(p.name.endswith(".tmp") for p in state_dir.iterdir())


def _writing(state_dir: Path, name: str) -> bool:
    """``name`` is being written: a torn journal line, or an atomic write's temporary file."""
    if name == "journal.jsonl":
        journal = state_dir / name
        return journal.exists() and not journal.read_bytes().endswith(b"\n")
    temp = re.compile(rf"\.{re.escape(name)}(\.[0-9a-f]+)?\.tmp")
    return state_dir.is_dir() and any(temp.fullmatch(p.name) for p in state_dir.iterdir())


def _wait_started(journal: Path, before: int, alive) -> None:
    """Until the restarted process has loaded its state (it journals a start record)."""
    deadline = time.monotonic() + 60
    while alive() and _journal_lines(journal) <= before and time.monotonic() < deadline:
        time.sleep(0.002)


def _env() -> dict:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "FORKSERVER_WRITE_DELAY": "0.002",
    }


def _fork_crash_loop(
    server: ForkServer, state_dir: Path, spec_file: Path, rng, n_kills: int = FORK_KILLS
) -> dict:
    journal = state_dir / "journal.jsonl"
    kills = mid = 0
    spec_arg = str(spec_file)
    for _ in range(10 * n_kills + 10):
        before = _journal_lines(journal)
        pid = int(server.ask(f"RUN {state_dir} {spec_arg}").split()[1])
        spec_arg = "-"  # restarts use the spec stored in the state directory

        def alive(pid=pid) -> bool:  # the fork server's child: running, not a zombie
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except FileNotFoundError:
                return False
            return stat.rsplit(")", 1)[1].split()[0] != "Z"

        if kills < n_kills:
            _wait_started(journal, before, alive)
            time.sleep(rng.uniform(0.0, 0.02))
            if alive():
                os.kill(pid, signal.SIGKILL)
                assert server.ask(f"WAIT {pid}") == f"EXIT {signal.SIGKILL}"
                kills += 1
                mid += _mid_write(state_dir)
                continue
        assert server.ask(f"WAIT {pid}") == "EXIT 0"
        return {"kills": kills, "mid_write": mid}
    raise AssertionError("the dry-run never finished")


def _cold_crash_loop(state_dir: Path, spec_file: Path, rng) -> dict:
    env = {**_env(), "TRADEFORGE_CRASH_WRITE_DELAY": "0.002"}
    journal = state_dir / "journal.jsonl"
    kills = 0
    args_extra = [str(spec_file)]
    for _ in range(10 * COLD_KILLS):
        before = _journal_lines(journal)
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradeforge.live", str(state_dir), *args_extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        args_extra = []
        if kills < COLD_KILLS:
            _wait_started(journal, before, lambda proc=proc: proc.poll() is None)
            time.sleep(rng.uniform(0.0, 0.05))
            if proc.poll() is None:
                proc.kill()
                proc.wait()
                kills += 1
                continue
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-3000:]
        return {"kills": kills}
    raise AssertionError("the dry-run never finished")


def _assert_same(state_dir: Path, reference: Path, expected: dict) -> None:
    got = outcome(state_dir)
    assert got["journal"] == expected["journal"]
    assert got["state"] == expected["state"]
    assert got["broker"] == expected["broker"]  # balance, orders, deals, positions
    trades = journal_trades(state_dir)
    assert trades == journal_trades(reference)
    assert len({t["trade_id"] for t in trades}) == len(trades)


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path, capsys):
    spec = small_spec(tmp_path)
    reference = tmp_path / "reference"
    run_dry(reference, spec)
    expected = outcome(reference)
    n_trades = len(journal_trades(reference))
    assert n_trades >= 5  # the replay trades enough to be meaningful
    spec_file = write_spec(tmp_path / "spec.json", spec)
    rng = random.Random(20240101)

    server = ForkServer(ROOT / "tests/live/forkserver.py", str(spec_file), env=_env())
    try:
        fork = _fork_crash_loop(server, tmp_path / "crash_fork", spec_file, rng)
    finally:
        server.close()
    cold = _cold_crash_loop(tmp_path / "crash_cold", spec_file, rng)

    with capsys.disabled():
        print(
            f"\ncrash test: {fork['kills']} forked + {cold['kills']} cold SIGKILLs "
            f"({fork['mid_write']} inside a write), {n_trades} trades, 0 lost, 0 duplicated"
        )
    assert fork["kills"] + cold["kills"] >= 50
    assert fork["mid_write"] >= 1
    _assert_same(tmp_path / "crash_fork", reference, expected)
    _assert_same(tmp_path / "crash_cold", reference, expected)


@pytest.mark.slow
def test_sigkill_with_pending_orders_reversals_random_slippage_and_swap(tmp_path, capsys):
    """The same guarantee over the paths that carry more state: resting limit orders that
    expire, opposite-signal exits with queued reversals, random slippage, overnight swap."""
    spec = small_spec(
        tmp_path, n_bars=300, seed=7, strategy="test_pending_cross", start="2024-01-01 02:00",
        params={"entry": "limit", "exit_on_opposite": True, "stop_pips": 12, "target_pips": 20},
        slippage="random:0.6", swap_long=-6.0, swap_short=-2.0,
    )  # fmt: skip
    reference = tmp_path / "reference"
    run_dry(reference, spec)
    expected = outcome(reference)
    trades = journal_trades(reference)
    kinds = {d["kind"] for r in expected["journal"] for d in r.get("decisions") or []}
    assert {"queued", "expired", "exit_due"} <= kinds and len(trades) >= 5
    assert any(d.get("swap") for d in expected["broker"]["deals"].values())
    spec_file = write_spec(tmp_path / "spec.json", spec)
    server = ForkServer(ROOT / "tests/live/forkserver.py", str(spec_file), env=_env())
    try:
        fork = _fork_crash_loop(server, tmp_path / "crash", spec_file, random.Random(7), 25)
    finally:
        server.close()
    with capsys.disabled():
        print(
            f"\ncrash test (pending/reversal/swap): {fork['kills']} SIGKILLs "
            f"({fork['mid_write']} inside a write), {len(trades)} trades, 0 lost, 0 duplicated"
        )
    _assert_same(tmp_path / "crash", reference, expected)


# the writes of a new session before its first commit is complete, in order
FIRST_WRITES = ("dryrun.json", "paper_broker.json", "journal.jsonl", "state.json")


@pytest.mark.slow
def test_sigkill_during_the_first_writes_of_a_new_session(tmp_path):
    """A session killed inside any of its first writes (the genesis journal record included)
    restarts — a directory holding nothing committed is a fresh session — and ends with the
    uninterrupted run's result."""
    spec = small_spec(tmp_path, n_bars=120)
    reference = tmp_path / "reference"
    run_dry(reference, spec)
    expected = outcome(reference)
    spec_file = write_spec(tmp_path / "spec.json", spec)
    server = ForkServer(ROOT / "tests/live/forkserver.py", str(spec_file), env=_env())
    try:
        for name in FIRST_WRITES:
            state_dir = tmp_path / f"first_{name}"
            pid = int(server.ask(f"RUN {state_dir} {spec_file} 0.05").split()[1])
            deadline = time.monotonic() + 30
            while not _writing(state_dir, name):
                assert time.monotonic() < deadline, f"never caught writing {name}"
                time.sleep(0.001)
            os.kill(pid, signal.SIGKILL)
            assert server.ask(f"WAIT {pid}") == f"EXIT {signal.SIGKILL}"
            assert _writing(state_dir, name)  # killed inside that write
            pid = int(server.ask(f"RUN {state_dir} {spec_file} 0").split()[1])  # same command
            assert server.ask(f"WAIT {pid}") == "EXIT 0", f"restart after a kill in {name}"
            _assert_same(state_dir, reference, expected)
    finally:
        server.close()


def soak(kills: int, bars: int, seed: int = 1) -> None:
    """A longer crash soak (not part of the suite): ``python -m tests.live.test_crash 500 2000``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        spec = small_spec(tmp_path, n_bars=bars, seed=seed)
        reference = tmp_path / "reference"
        run_dry(reference, spec)
        spec_file = write_spec(tmp_path / "spec.json", spec)
        server = ForkServer(ROOT / "tests/live/forkserver.py", str(spec_file), env=_env())
        t0 = time.monotonic()
        try:
            res = _fork_crash_loop(
                server, tmp_path / "crash", spec_file, random.Random(seed), kills
            )
        finally:
            server.close()
        _assert_same(tmp_path / "crash", reference, outcome(reference))
        n = len(journal_trades(reference))
        print(
            f"soak: {res['kills']} SIGKILLs ({res['mid_write']} inside a write) over {bars} bars, "
            f"{n} trades identical to the uninterrupted run, 0 lost, 0 duplicated "
            f"({time.monotonic() - t0:.0f}s)"
        )


if __name__ == "__main__":
    soak(
        int(sys.argv[1]) if len(sys.argv) > 1 else 300,
        int(sys.argv[2]) if len(sys.argv) > 2 else 1000,
    )
