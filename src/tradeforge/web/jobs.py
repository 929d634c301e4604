"""The asynchronous backtest manager. The database row (`Backtest`) is the job's record; the
queue only carries "run job N". A worker claims a job atomically (queued → running), runs it
in a child process (`runjob`), reports progress and a heartbeat into the row, kills the child
when a cancel is requested, and imports the finished run folder. A job whose worker died is
found by `recover` (its worker's process is gone, or its heartbeat is stale) and queued again.
Django never runs a backtest in a request: views only call `submit` and `cancel`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.core.process import pid_alive
from tradeforge.web.models import Backtest, Strategy

#: seconds between heartbeats (and cancel checks) of a running job
HEARTBEAT_S = 1.0
#: seconds a cancelled child gets to exit on SIGTERM before SIGKILL
KILL_GRACE_S = 3.0

_active: set[int] = set()  # jobs this process runs now
_active_lock = threading.Lock()


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# -- strategies -----------------------------------------------------------------------------
def sync_strategies() -> list[Strategy]:
    """One `Strategy` row per registered strategy (description and default parameters)."""
    from tradeforge.strategy.registry import available_strategies, create_strategy, get_strategy

    rows = []
    for name in available_strategies():
        try:
            params = create_strategy(name).describe().get("params") or {}
        except TradeforgeError:  # a strategy without defaults for every parameter
            params = {}
        doc = (get_strategy(name).__doc__ or "").strip().splitlines()
        row, _ = Strategy.objects.update_or_create(
            name=name, defaults={"defaults": params, "description": doc[0] if doc else ""}
        )
        rows.append(row)
    return rows


# -- submit / cancel ------------------------------------------------------------------------
def check_spec(doc: dict[str, Any]) -> dict[str, Any]:
    """The canonical form of a submitted spec; `ConfigError` naming what is wrong."""
    from tradeforge.trading.spec import RunSpec

    if not isinstance(doc, dict):
        raise ConfigError("the run specification must be a JSON object")
    spec = RunSpec.from_dict(doc)
    if spec.strategy is None:
        raise ConfigError("the run specification names no strategy")
    if not spec.symbols:
        raise ConfigError("the run specification names no symbol")
    if spec.timeframe is None:
        raise ConfigError("the run specification names no timeframe")
    if spec.live is not None:
        raise ConfigError("a backtest takes no live settings")
    strategy = spec.create_strategy()  # unknown strategy or bad parameters refuse here
    return RunSpec.for_strategy(strategy, **{k: getattr(spec, k) for k in _SPEC_FIELDS}).to_dict()


_SPEC_FIELDS = (
    "symbols",
    "timeframe",
    "start",
    "end",
    "execution",
    "sizing",
    "position_mode",
    "portfolio",
    "initial_capital",
    "account_currency",
    "conversion",
    "instruments",
)


def submit(doc: dict[str, Any], user: Any = None) -> Backtest:
    """Record a backtest of spec ``doc`` and queue it (after the transaction commits)."""
    spec = check_spec(doc)
    strategy = Strategy.objects.filter(name=spec["strategy"]["name"]).first()
    backtest = Backtest.objects.create(
        spec=spec,
        strategy=strategy,
        symbols=",".join(spec["symbols"]),
        timeframe=spec["timeframe"] or "",
        submitted_by=user if getattr(user, "is_authenticated", False) else None,
    )
    transaction.on_commit(lambda: enqueue(backtest.pk))
    return backtest


def enqueue(backtest_id: int) -> None:
    from tradeforge.web.tasks import run_backtest_job

    run_backtest_job(backtest_id)


def cancel(backtest: Backtest) -> str:
    """Cancel a queued job at once, ask a running one to stop; returns what happened."""
    now = timezone.now()
    if Backtest.objects.filter(pk=backtest.pk, status=Backtest.QUEUED).update(
        status=Backtest.CANCELLED, finished=now, stage="cancelled before it started"
    ):
        return "cancelled"
    if Backtest.objects.filter(pk=backtest.pk, status=Backtest.RUNNING).update(
        cancel_requested=True
    ):
        return "cancel requested"
    raise ConfigError(f"backtest #{backtest.pk} has already finished ({backtest.status})")


# -- the worker side --------------------------------------------------------------------------
#: PostgreSQL advisory lock key of the claim section (any constant of this application's own)
_CLAIM_LOCK = 0x7466_636C  # "tfcl"


def _lock_claims() -> None:
    """Serialise claims across worker processes for the rest of the transaction: PostgreSQL
    takes a transaction-scoped advisory lock; SQLite's transactions begin IMMEDIATE (see
    settings), which already holds the database's one write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_CLAIM_LOCK])


def _claim(backtest_id: int) -> str:
    """``claimed`` (queued → running, ours), ``full`` (``MAX_RUNNING`` jobs already run;
    still queued) or ``gone`` (no longer queued: cancelled, or taken by another worker)."""
    with transaction.atomic():
        _lock_claims()
        limit = settings.MAX_RUNNING
        if limit and Backtest.objects.filter(status=Backtest.RUNNING).count() >= limit:
            queued = Backtest.objects.filter(pk=backtest_id, status=Backtest.QUEUED).exists()
            return "full" if queued else "gone"
        now = timezone.now()  # inside the lock: a later claim starts after an earlier finish
        claimed = Backtest.objects.filter(pk=backtest_id, status=Backtest.QUEUED).update(
            status=Backtest.RUNNING,
            worker=worker_id(),
            heartbeat=now,
            started=now,
            progress=0.0,
            stage="starting",
            error="",
        )
    return "claimed" if claimed else "gone"


def _claim_when_free(backtest_id: int) -> bool:
    """Claim the job, waiting while the global limit is reached; False when it went away."""
    while True:
        outcome = _claim(backtest_id)
        if outcome != "full":
            return outcome == "claimed"
        # the heartbeat tells `recover` that a worker holds the message
        Backtest.objects.filter(pk=backtest_id, status=Backtest.QUEUED).update(
            stage=f"waiting for a free slot ({settings.MAX_RUNNING} running)",
            heartbeat=timezone.now(),
        )
        time.sleep(settings.CLAIM_RETRY_S)


def _finish(backtest_id: int, status: str, **fields: Any) -> None:
    Backtest.objects.filter(pk=backtest_id).update(
        status=status, finished=timezone.now(), heartbeat=timezone.now(), **fields
    )


def _stop(proc: Any) -> None:
    proc.terminate()
    proc.join(KILL_GRACE_S)
    if proc.exitcode is None:
        proc.kill()
        proc.join()


def _error_text(messages: list[dict], stderr_path: Path, code: int) -> str:
    for msg in reversed(messages):
        if "error" in msg:
            return str(msg["error"])
    tail = stderr_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    last = tail[-1] if tail else ""
    return f"the backtest process exited with code {code}" + (f": {last}" if last else "")


def execute(backtest_id: int) -> None:
    """Run job ``backtest_id`` if it is still queued (a duplicate message does nothing)."""
    if not _claim_when_free(backtest_id):
        return
    with _active_lock:
        _active.add(backtest_id)
    try:
        _run(backtest_id)
    except Exception as exc:  # a bug or an unreadable folder: the job shows it
        _finish(backtest_id, Backtest.FAILED, error=f"{type(exc).__name__}: {exc}")
    finally:
        with _active_lock:
            _active.discard(backtest_id)


def _run(backtest_id: int) -> None:
    backtest = Backtest.objects.get(pk=backtest_id)
    attempt = backtest.attempts + 1
    Backtest.objects.filter(pk=backtest_id).update(attempts=attempt)
    runs = Path(settings.RUNS_DIR)
    runs.mkdir(parents=True, exist_ok=True)
    final = runs / str(backtest_id)
    work = runs / f"{backtest_id}.part"
    shutil.rmtree(work, ignore_errors=True)  # a dead attempt's leftovers
    work.mkdir()
    spec_path, stderr_path, out = work / "spec.json", work / "stderr.txt", work / "run"
    spec_path.write_text(json.dumps(backtest.spec), encoding="utf-8")
    from tradeforge.web.runjob import start_job

    proc, conn = start_job(spec_path, out, Path(settings.HOME), stderr_path)
    messages: list[dict] = []
    cancelled = False
    while True:
        update: dict[str, Any] = {"heartbeat": timezone.now()}
        if conn.poll(HEARTBEAT_S):
            try:
                msg = conn.recv()
            except EOFError:  # the job process has ended
                break
            messages.append(msg)
            if "progress" in msg:
                update.update(progress=float(msg["progress"]), stage=str(msg["stage"]))
        Backtest.objects.filter(pk=backtest_id).update(**update)
        if Backtest.objects.filter(pk=backtest_id, cancel_requested=True).exists():
            cancelled = True
            _stop(proc)
            break
    conn.close()
    proc.join()
    code = proc.exitcode
    if cancelled:
        shutil.rmtree(work, ignore_errors=True)
        _finish(backtest_id, Backtest.CANCELLED, stage="cancelled while running")
        return
    if code != 0 or not any(m.get("done") for m in messages):
        error = _error_text(messages, stderr_path, code)
        shutil.rmtree(work, ignore_errors=True)
        _finish(backtest_id, Backtest.FAILED, error=error, stage="failed")
        return
    shutil.rmtree(final, ignore_errors=True)
    out.rename(final)
    shutil.rmtree(work, ignore_errors=True)
    Backtest.objects.filter(pk=backtest_id).update(
        progress=0.95, stage="importing results", run_dir=str(final), heartbeat=timezone.now()
    )
    from tradeforge.web.importer import import_run

    import_run(backtest, final)
    _finish(backtest_id, Backtest.DONE, progress=1.0, stage="done")

    return True


def _lost(job: Backtest, now: Any) -> bool:
    if job.heartbeat is None or now - job.heartbeat > timedelta(seconds=settings.STALE_AFTER_S):
        return True
    host, _, pid = job.worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        with _active_lock:
            return job.pk not in _active
    return not pid_alive(int(pid))


def recover() -> list[int]:
    """Queue again the running jobs whose worker is gone, and the queued jobs the queue lost
    (a web process that died between commit and enqueue); returns their ids."""
    from tradeforge.web.queue import huey

    now = timezone.now()
    requeued = []
    for job in Backtest.objects.filter(status=Backtest.RUNNING):
        if not _lost(job, now):
            continue
        if job.cancel_requested:
            _finish(job.pk, Backtest.CANCELLED, stage="cancelled (its worker had died)")
            continue
        if Backtest.objects.filter(pk=job.pk, status=Backtest.RUNNING, worker=job.worker).update(
            status=Backtest.QUEUED, worker="", progress=0.0, stage="requeued: its worker died"
        ):
            enqueue(job.pk)
            requeued.append(job.pk)
    pending = {t.args[0] for t in huey.pending() if t.args}
    old = now - timedelta(seconds=settings.STALE_AFTER_S)
    lost = Backtest.objects.filter(status=Backtest.QUEUED, created__lt=old).exclude(
        heartbeat__gte=old  # a worker waiting for a free slot holds it
    )
    for pk in lost.values_list("pk", flat=True):
        if pk not in pending and pk not in requeued:
            enqueue(pk)
            requeued.append(pk)
    return requeued


def run_worker(
    concurrency: int | None = None,
    recover_every_s: float = 5.0,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """The worker process: recover lost jobs, warm the fork server the jobs' processes come
    from, tell ``on_ready(slots)``, then consume the queue with ``concurrency`` threads.
    Returns on SIGTERM/SIGINT."""
    from tradeforge.web import tasks  # registers the task with the consumer
    from tradeforge.web.queue import huey

    del tasks
    workers = concurrency or settings.WORKER_CONCURRENCY
    if workers < 1:
        raise ConfigError(f"worker concurrency must be >= 1, got {workers}")
    recover()
    stop = threading.Event()

    def recover_loop() -> None:
        while not stop.wait(recover_every_s):
            try:
                recover()
            finally:
                close_old_connections()

    threading.Thread(target=recover_loop, name="recover", daemon=True).start()
    from tradeforge.web.runjob import warm_fork_server

    warm_fork_server()
    if on_ready is not None:
        on_ready(workers)
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=False)
    try:
        consumer.run()
    finally:
        stop.set()


def wait_finished(backtest_id: int, timeout: float) -> Backtest:
    """Poll until job ``backtest_id`` finished (for scripts and tests)."""
    deadline = time.monotonic() + timeout
    while True:
        job = Backtest.objects.get(pk=backtest_id)
        if job.status in Backtest.FINISHED or time.monotonic() > deadline:
            return job
        time.sleep(0.2)
