"""A child process that compiles Numba kernels into the on-disk cache while this process works.

A cold compile holds a core for seconds, but it depends on argument types only, not on the
data: a child process can do it meanwhile (the monitor's shadow kernels beside a live session,
the backtest kernel while a run loads its bars and computes features). The parent then waits
for the child (`CompileChild.wait`) and calls the kernel, which Numba loads from the cache.

Numba writes each cache file to a temporary name and renames it into place, but writes a new
entry's index before its data: a process reading an entry while another writes it can find the
index and no data yet (it then compiles itself). A parent that calls the kernel only once the
child has exited reads a complete entry. A child that failed left nothing the parent's call
does not redo: the parent compiles in-process, as without the child.

Two ways to start one:

- `CompileChild.spawn` runs ``python -m <module>`` (the same interpreter and environment) with
  a JSON task on the first line of its stdin; the module calls `child_main`.
  Safe from any process, but the child pays the interpreter's start and the imports (~0.5 s).
- `CompileChild.fork` forks this process, which already imported what the kernels need; only
  where ``os.fork`` is safe enough: on Linux, from a process with no other Python thread (a
  thread holding a lock at the fork would hold it forever in the child). `can_fork` says.

Either child watches a pipe from its parent and exits as soon as it closes: on `close`, or when
the parent ends however it ends (an error, Ctrl-C, SIGKILL). So no child outlives its parent.
Its stdout is discarded and its stderr kept in a temporary file (`outcome`: the last line).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["PARENT_GONE", "CompileChild", "can_fork", "child_main"]

_LIVE: set[CompileChild] = set()  # closed at exit
#: a child's exit code when the pipe from its parent closed (the parent ended or let it go)
PARENT_GONE = 3


def can_fork() -> bool:
    """Whether `CompileChild.fork` may be used here (Linux, no other Python thread)."""
    return sys.platform == "linux" and threading.active_count() == 1


class CompileChild:
    """A running (or finished) child process; build it with `spawn` or `fork`."""

    def __init__(self, err: Any, pid: int, proc: subprocess.Popen | None, watch: int | None):
        self.started = time.perf_counter()
        self.seconds: float | None = None  # how long it ran, once it has ended
        self.returncode: int | None = None
        self._err = err
        self._pid = pid
        self._proc = proc  # spawned: its Popen (whose stdin is the pipe watched)
        self._watch = watch  # forked: our end of the pipe the child watches
        self._lock = threading.Lock()
        _LIVE.add(self)

    @classmethod
    def spawn(cls, module: str, task: Any) -> CompileChild:
        """Start ``python -m module``; ``task`` (JSON-able) goes to its `child_main`."""
        err = tempfile.TemporaryFile()  # noqa: SIM115 - closed by `close`
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", module],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        except OSError:
            err.close()
            raise
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(task).encode() + b"\n")
        proc.stdin.flush()
        return cls(err, proc.pid, proc, None)

    @classmethod
    def fork(cls, work: Callable[[], None]) -> CompileChild:
        """Fork this process; the child runs ``work()`` and exits (see `can_fork`)."""
        err = tempfile.TemporaryFile()  # noqa: SIM115 - closed by `close`
        read, write = os.pipe()
        parent = os.getpid()
        for stream in (sys.stdout, sys.stderr):  # or the child would hold their buffers too
            with contextlib.suppress(Exception):
                stream.flush()
        # the objects so far go to the collector's permanent generation: the child's
        # collections skip them instead of writing to (so copying) every page they are on
        gc.freeze()
        try:
            with warnings.catch_warnings():
                # Python >= 3.12 warns whenever the process has other OS threads (numpy's
                # BLAS pool has): the child never uses them; `can_fork` excludes Python ones
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            for fd in (read, write):
                os.close(fd)
            err.close()
            raise
        finally:
            if os.getpid() == parent:
                gc.unfreeze()
        if pid == 0:  # pragma: no cover - the child; its coverage is not collected
            os.close(write)
            _run_forked(work, read, err.fileno())
        os.close(read)
        return cls(err, pid, None, write)

    def done(self) -> bool:
        """Whether the child has ended (never blocks)."""
        with self._lock:
            if self.returncode is None:
                if self._proc is not None:
                    self.returncode = self._proc.poll()
                else:
                    try:
                        pid, status = os.waitpid(self._pid, os.WNOHANG)
                    except ChildProcessError:  # reaped by someone else: its outcome is lost
                        pid, status = self._pid, -1
                    if pid:
                        self.returncode = os.waitstatus_to_exitcode(status) if status >= 0 else -1
                if self.returncode is not None:
                    self.seconds = round(time.perf_counter() - self.started, 3)
            return self.returncode is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the child ends, at most ``timeout`` seconds; whether it has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while not self.done():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        return True

    def outcome(self) -> tuple[bool, str]:
        """Whether the child compiled its kernels, and its last error line if not."""
        if self.done() and self.returncode == 0:
            return True, ""
        if self._err.closed:
            return False, f"exit code {self.returncode}"
        self._err.seek(0)
        lines = self._err.read().decode(errors="replace").strip().splitlines()
        return False, lines[-1] if lines else f"exit code {self.returncode}"

    def close(self) -> None:
        """Stop the child if it still runs (closing its pipe, then killing it); free it."""
        _LIVE.discard(self)
        if self._proc is not None:
            if self._proc.stdin is not None and not self._proc.stdin.closed:
                self._proc.stdin.close()
        elif self._watch is not None:
            os.close(self._watch)
            self._watch = None
        if not self.done():
            if self._proc is not None:
                self._proc.kill()
            else:
                os.kill(self._pid, signal.SIGKILL)
            self.wait()
        self._err.close()


def child_main(work: Callable[[Any], None]) -> int:
    """The spawned child's side: ``work(task)`` with the task read from stdin, exiting at
    once if the parent closes the pipe first. Returns the exit code."""
    task = json.loads(sys.stdin.buffer.readline())
    _watch_parent(sys.stdin.buffer.fileno())
    work(task)
    return 0


def _watch_parent(fd: int) -> None:
    """A thread that ends the process when the pipe ``fd`` from the parent closes."""

    def watch() -> None:
        while os.read(fd, 4096):
            pass
        os._exit(PARENT_GONE)

    threading.Thread(target=watch, name="tradeforge-parent-watch", daemon=True).start()


def _run_forked(work: Callable[[], None], watch: int, err: int) -> None:  # pragma: no cover
    """The forked child: its output redirected, ``work()``, then `os._exit` — never back into
    the parent's stack (its ``finally`` blocks, atexit handlers and buffers are the parent's)."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd, to in ((0, null), (1, null), (2, err)):
            os.dup2(to, fd)
        # the parent's stream objects (a console, a test's capture) write elsewhere
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child exits with os._exit
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        _watch_parent(watch)
        work()
        code = 0
    except BaseException:  # noqa: BLE001 - reported on the error file, then the child exits
        with contextlib.suppress(BaseException):
            os.write(2, traceback.format_exc().encode(errors="replace"))
    finally:
        os._exit(code)


@atexit.register
def _close_all() -> None:
    for child in list(_LIVE):
        child.close()
