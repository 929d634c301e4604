"""`CompileChild`: a child's outcome, stopping it, and no child outliving its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tradeforge.core.compilechild import CompileChild, can_fork

linux = pytest.mark.skipif(sys.platform != "linux", reason="forked children: Linux only")


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _running(pid):
            return True
        time.sleep(0.02)
    return False


def _fail() -> None:
    raise RuntimeError("no kernel today")


@linux
def test_a_forked_child_reports_success_and_its_error_line():
    ok = CompileChild.fork(lambda: None)
    assert ok.wait(30) and ok.outcome() == (True, "")
    assert ok.seconds is not None and ok.seconds >= 0
    ok.close()
    bad = CompileChild.fork(_fail)
    assert bad.wait(30)
    assert bad.outcome() == (False, "RuntimeError: no kernel today")
    bad.close()


@linux
def test_close_kills_a_child_still_running():
    child = CompileChild.fork(lambda: time.sleep(60))
    assert not child.wait(0.2)  # still at it
    child.close()
    assert not _running(child._pid)
    assert child.outcome()[0] is False


def test_a_spawned_child_reports_its_error_line():
    child = CompileChild.spawn("tradeforge.notify.warm", {"strategy": {"name": "no_such"}})
    assert child.wait(120)
    ok, error = child.outcome()
    assert not ok and "no_such" in error
    child.close()


def test_fork_is_refused_while_another_thread_runs():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork()
    finally:
        stop.set()
        thread.join()


@linux
@pytest.mark.parametrize("how", ["fork", "spawn"])
def test_the_child_ends_when_its_parent_is_killed(how, tmp_path):
    """A parent SIGKILLed (no cleanup at all) while its child works: the child sees its pipe
    close and exits at once instead of running on."""
    start = (
        "CompileChild.fork(lambda: time.sleep(60))"
        if how == "fork"
        else 'CompileChild.spawn("tradeforge.backtest.precompile", "symbol")'
    )
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        from tradeforge.core.compilechild import CompileChild
        child = {start}
        print(child._pid, flush=True)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}  # empty: compiling for seconds
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == -9, proc.stderr
    pid = int(proc.stdout.split()[0])
    assert _gone(pid, within=5.0)
