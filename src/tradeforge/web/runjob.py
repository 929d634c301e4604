"""The process of one backtest job. The worker runs every backtest in a process of its own so
that cancelling kills it and a crash of the backtest cannot take the worker down. That process
is forked from a fork server (`multiprocessing`'s ``forkserver``, one per worker process)
which has already imported the backtester and the report writer and loaded their Numba
kernels (`tradeforge.web.warm`), so a job pays neither the imports nor the Numba cache loads
again: a small backtest costs about a quarter of the CPU time of a fresh interpreter, most of
which went to those.

The job process reads the run specification (`RunSpec.to_dict` form), loads the cached bars
under the data home, runs `run_backtest` and writes the run folder and report into ``out``.
It knows nothing of Django: it reports through a pipe, one dict per message —
``{"progress": 0.4, "stage": "..."}`` while it works, ``{"error": "..."}`` for a refusal of
the project's own kind (exit code 2), ``{"done": True}`` last; anything else it would print
goes to the job's stderr file.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from tradeforge.core.errors import TradeforgeError

__all__ = ["run_job", "start_job"]

Say = Callable[..., None]
_context: Any = None
_context_lock = threading.Lock()


def run_job(spec_doc: dict, out: Path, home: Path, say: Say | None = None) -> None:
    """Backtest ``spec_doc`` on the bars cached under ``home``; write run folder + report.
    ``say(**fields)`` receives the progress messages."""
    from tradeforge.analytics import write_report
    from tradeforge.backtest import run_backtest, write_result
    from tradeforge.backtest.conversion import load_conversion
    from tradeforge.data.cache import ParquetStore
    from tradeforge.trading.spec import RunSpec

    say = say or (lambda **fields: None)
    spec = RunSpec.from_dict(spec_doc)
    strategy = spec.create_strategy()
    if not spec.symbols or spec.timeframe is None:
        raise TradeforgeError("the run specification needs symbols and a timeframe")
    say(progress=0.05, stage="loading data")
    store = ParquetStore(home)
    frames = {s: store.load(s, spec.timeframe, spec.start, spec.end) for s in spec.symbols}
    spec, conversion = load_conversion(spec, home)

    def progress(symbol: str, done: int, total: int) -> None:
        say(progress=0.1 + 0.6 * done / total, stage=f"backtested {symbol} ({done}/{total})")

    say(progress=0.1, stage="backtesting")
    result = run_backtest(strategy, frames, spec, conversion=conversion, progress=progress)
    say(progress=0.75, stage="writing the run folder")
    write_result(result, out)
    say(progress=0.85, stage="writing the report")
    write_report(result, out, ohlc=frames, signals=result.signals, charts=False)
    say(done=True)


def _fork_server() -> Any:
    """The multiprocessing context whose fork server preloads `tradeforge.web.warm` (it
    starts with the first job of this worker process and ends with it)."""
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["tradeforge.web.warm"])
            _context = ctx
        return _context


def warm_fork_server() -> None:
    """Start this worker process's fork server and return once it has warmed up (a no-op
    process forked through it), so the first job does not wait for it."""
    proc = _fork_server().Process(target=os.getpid, name="fork server check", daemon=True)
    proc.start()
    proc.join()


def start_job(
    spec_path: Path, out: Path, home: Path, stderr_path: Path
) -> tuple[BaseProcess, Connection]:
    """Start the process of one job; returns it and the end of the pipe its messages come
    through (EOF once it has ended)."""
    ctx = _fork_server()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_job_process,
        args=(str(spec_path), str(out), str(home), str(stderr_path), send),
        name=f"backtest {out}",
        daemon=True,  # ended with the worker, as its child
    )
    proc.start()
    send.close()  # the job holds the only writing end
    return proc, receive


def _die_with_parent() -> None:  # pragma: no cover - runs in the job process
    """Linux: SIGKILL when the fork server (which ends with the worker) dies, so a killed
    worker leaves no orphan writing into a folder a new attempt is about to use."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _job_process(spec_path: str, out: str, home: str, stderr_path: str, conn: Connection) -> None:
    _die_with_parent()
    with open(stderr_path, "ab") as err:  # stray prints and a crash's traceback land here
        os.dup2(err.fileno(), 1)
        os.dup2(err.fileno(), 2)
    # a daemon may not start processes; a backtest of several symbols runs a pool of them
    multiprocessing.current_process().daemon = False

    def say(**fields: object) -> None:
        conn.send(fields)

    try:
        run_job(json.loads(Path(spec_path).read_text(encoding="utf-8")), Path(out), Path(home), say)
    except TradeforgeError as exc:
        say(error=str(exc))
        sys.exit(2)
