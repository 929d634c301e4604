"""Crash safety of a session with real processes: ``tradeforge dry-run --session`` of two
instances on two symbols, SIGKILLed at random points (file writes slowed so kills land
inside them too) and restarted with only ``--state`` each time, ends with the same state,
paper account, trades and trading journal as an uninterrupted run. While it runs, reloads that
fail their check are refused through ``tradeforge ctl`` in one line, changing nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

from tests.live.control_support import TRADEFORGE, run_ctl, wait_for
from tests.live.helpers import outcome
from tests.live.session_support import make_session, write_session
from tradeforge.live.session_runner import build_session_dry_run, strategy_trades

KILLS = 4


def _lines(path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_sigkilled_session_resumes_to_the_uninterrupted_run(tmp_path):
    names = ("fast", "gbp")
    # Paced at 0.2 s a bar, so the first run outlives the three ctl calls however loaded the
    # machine is; pacing changes no result, so the reference runs at full speed.
    session_file = write_session(tmp_path, names=names, n_bars=120, pace=0.2)
    reference = make_session(tmp_path, "ref.toml", names=names, n_bars=120)
    build_session_dry_run(tmp_path / "ref", reference).run()

    state = tmp_path / "s"
    journal = state / "journal.jsonl"
    rng = random.Random(12)
    args = [TRADEFORGE, "dry-run", "--state", str(state), "--session", str(session_file)]
    killed = 0
    for k in range(KILLS):
        before = _lines(journal)
        env = {**os.environ, "TRADEFORGE_CRASH_WRITE_DELAY": "0.01"}
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            target = before + rng.randint(3, 10)  # of about 80 records

            def due(target: int = target, proc: subprocess.Popen = proc) -> bool:
                return _lines(journal) >= target or proc.poll() is not None

            wait_for(due, 240, 0.002)
            if k == 0 and proc.poll() is None:  # refusals through the real door change nothing
                wait_for(lambda: (state / "control.sock").exists(), 60)
                code, _, err = run_ctl(state, "reload", "--strategy", "nope", "-p", "fast=4")
                assert code == 2 and "unknown strategy 'nope'" in err, err
                assert len(err.strip().splitlines()) == 1
                code, _, err = run_ctl(state, "reload", "--strategy", "fast", "-p", "fast=0")
                assert code == 2 and "reload of fast refused" in err, err
                code, out, err = run_ctl(state, "status")  # per strategy and in total
                if code == 0:  # (unless the run ended meanwhile)
                    status = json.loads(out)
                    assert sorted(status["strategies"]) == list(names), out
                    assert status["stats"]["trades"] == sum(
                        b["stats"]["trades"] for b in status["strategies"].values()
                    )
            finished = proc.poll() is not None
            if not finished:
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
        finally:
            proc.kill()
            out, err = proc.communicate()
        if finished:  # it reached the end before its kill
            assert proc.returncode == 0, (out + err).decode()[-2000:]
            break
        assert proc.returncode == -signal.SIGKILL
        args = [TRADEFORGE, "dry-run", "--state", str(state)]  # resumed with only --state
        time.sleep(0.01)
    assert killed >= 2  # killed mid-way and resumed, more than once
    final = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stdout + final.stderr
    assert outcome(state) == outcome(tmp_path / "ref")
    own, ref = strategy_trades(state), strategy_trades(tmp_path / "ref")
    assert sorted(own) == list(names) and all(own[n].equals(ref[n]) for n in names)
