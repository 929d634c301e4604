"""One execution path for independent jobs: ``fn(state, item)`` over items in this process,
on a thread pool, in local processes or on a Dask distributed cluster, results in item order
whichever backend ran them.

The backtest runner maps its per-symbol jobs through these backends and the research layer
(optimisation, walk-forward) maps its trials through the same ones
(`tradeforge.research.backends` re-exports them).

* `InProcessBackend` — serial, the reference every other backend must match.
* `ThreadBackend` — a thread pool in this process: no pickling, no process start-up, results
  stay arrays and frames. It pays when the jobs spend their time in code that releases the
  GIL: the Numba kernels (the bar loops and the feature kernels are compiled ``nogil``) and
  numpy's array work.
* `ProcessBackend` — local processes (pays for Python-heavy jobs such as optimiser trials).
* `DaskBackend` — a Dask cluster (``tcp://host:8786``); the payload is scattered once.

The large shared input travels once per worker as a `Shared` payload: each worker builds its
state from it once (``Shared.build``) and keeps it for every chunk of items it is given. A
payload may as well name where the data is (a bar store path every worker can read) instead
of holding it: then nothing large passes through the scheduler.

Cancellation: Ctrl-C (``KeyboardInterrupt``) in ``map`` cancels every job not yet started,
sets the shared `cancelled` event that running thread jobs poll between their stages (see
`check_cancelled`), waits for the running ones to stop and re-raises, so no job outlives the
call. Local worker processes get the terminal's SIGINT themselves. On a Dask cluster the
map's stop event tells the running tasks to stop at their next check, and the rest are
cancelled.

Optional dependency: the Dask backend imports ``distributed`` only when used
(``pip install "tradeforge[research]"``).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import as_completed as futures_completed
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from tradeforge.core.errors import ConfigError

__all__ = [
    "Backend",
    "Cancelled",
    "OnResult",
    "DaskBackend",
    "InProcessBackend",
    "ProcessBackend",
    "Progress",
    "Shared",
    "ThreadBackend",
    "cancelled",
    "check_cancelled",
    "chunked",
    "make_backend",
    "release",
]

Progress = Callable[[int, int], None]  # (items done, items total)
OnResult = Callable[[int, Any], None]  # (item index, its result), in the caller's thread

#: Set while a ``map`` is being cancelled; thread jobs poll it through `check_cancelled`.
cancelled = threading.Event()


class Cancelled(Exception):
    """A job stopped because its run was cancelled (raised by `check_cancelled`)."""


#: On a Dask worker, the running task's stop flag (a `distributed.Event` named per map).
_remote = threading.local()


def check_cancelled() -> None:
    """Raise `Cancelled` when the running ``map`` is being cancelled: long jobs call it
    between their stages (a compiled kernel itself cannot be interrupted). On a Dask worker
    it asks the map's stop event on the scheduler (one round trip)."""
    if cancelled.is_set():
        raise Cancelled("cancelled")
    stop = getattr(_remote, "stop", None)
    if stop is not None and stop.is_set():
        raise Cancelled("cancelled")


@dataclass
class Shared:
    """A payload shipped to every worker; ``build()`` turns it into the worker's state."""

    factory: Callable[..., Any]
    args: tuple[Any, ...] = ()
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def build(self) -> Any:
        return self.factory(*self.args)


_STATES: dict[str, Any] = {}  # per process: token -> built state (the last few payloads)
_MAX_STATES = 2
_STATES_LOCK = threading.Lock()


def _state(shared: Shared) -> Any:
    with _STATES_LOCK:  # Dask runs several tasks of one worker in threads
        state = _STATES.get(shared.token)
        if state is None:
            state = shared.build()
            while len(_STATES) >= _MAX_STATES:
                _STATES.pop(next(iter(_STATES)))
            _STATES[shared.token] = state
        return state


def release(shared: Shared) -> None:
    """Drop this process's state of ``shared`` (a one-off payload: a backtest's frames)."""
    with _STATES_LOCK:
        _STATES.pop(shared.token, None)


def _run_chunk_stoppable(
    fn: Callable[[Any, Any], Any], shared: Shared, chunk: Sequence[Any], stop: str
) -> list[Any]:
    """A chunk of items on a Dask worker; `check_cancelled` (here, before each item, and in
    the jobs) reads the map's stop event ``stop``."""
    from distributed import Event

    _remote.stop = Event(stop)
    try:
        state = _state(shared)
        out = []
        for item in chunk:
            check_cancelled()
            out.append(fn(state, item))
        return out
    finally:
        _remote.stop = None


def _install(shared: Shared) -> None:
    _state(shared)


def _run_chunk_installed(fn: Callable[[Any, Any], Any], token: str, chunk: Sequence[Any]):
    return [fn(_STATES[token], item) for item in chunk]


def chunked(items: Sequence[Any], n_chunks: int) -> list[list[Any]]:
    """``items`` cut into at most ``n_chunks`` contiguous, near-equal chunks (order kept)."""
    items = list(items)
    if not items:
        return []
    n_chunks = max(1, min(n_chunks, len(items)))
    size = math.ceil(len(items) / n_chunks)
    return [items[i : i + size] for i in range(0, len(items), size)]


class Backend(Protocol):
    """What the backtest runner, the optimiser and walk-forward need from a backend."""

    name: str
    workers: int

    def map(
        self,
        fn: Callable[[Any, Any], Any],
        shared: Shared,
        items: Sequence[Any],
        progress: Progress | None = None,
        on_result: OnResult | None = None,
    ) -> list[Any]: ...

    def close(self) -> None: ...


class _Closing:
    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessBackend(_Closing):
    """Everything in the calling process (the reference every other backend must match)."""

    name = "inprocess"
    workers = 1

    def map(self, fn, shared, items, progress=None, on_result=None):
        state = _state(shared)
        out = []
        for i, item in enumerate(items):
            out.append(fn(state, item))
            if on_result:
                on_result(i, out[-1])
            if progress:
                progress(i + 1, len(items))
        return out

    def close(self) -> None:
        _STATES.clear()


def _gather(
    completed: Iterable[Any],
    chunk_of: Callable[[Any], int],
    chunks: Sequence[Sequence[Any]],
    progress: Progress | None,
    on_result: OnResult | None = None,
) -> list[Any]:
    """Results of the chunk futures in item order, whatever order they complete in;
    ``chunk_of`` gives a future's chunk index. Progress is reported per finished chunk."""
    results: list[list[Any] | None] = [None] * len(chunks)
    starts = [0]
    for c in chunks:
        starts.append(starts[-1] + len(c))
    total = starts[-1]
    done = 0
    for fut in completed:
        i = chunk_of(fut)
        results[i] = part = fut.result()
        if on_result:
            for k, result in enumerate(part):
                on_result(starts[i] + k, result)
        done += len(chunks[i])
        if progress:
            progress(done, total)
    return [r for part in results for r in (part or [])]


def _stop(futures: Iterable[Future], pool: Any) -> None:
    """Cancel what has not started, tell running thread jobs to stop, wait for them."""
    cancelled.set()
    try:
        for fut in futures:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        cancelled.clear()


class ThreadBackend(_Closing):
    """``workers`` threads of this process, one item per task (see the module docstring)."""

    name = "threads"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ConfigError("--workers must be >= 1")
        self.workers = int(workers)

    def map(self, fn, shared, items, progress=None, on_result=None):
        state = _state(shared)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tradeforge")
        futures = {pool.submit(fn, state, item): i for i, item in enumerate(items)}
        try:
            results: list[Any] = [None] * len(futures)
            pending = set(futures)
            while pending:
                # a timed wait keeps the main thread responsive to Ctrl-C
                done, pending = futures_wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    results[futures[fut]] = fut.result()
                    if on_result:
                        on_result(futures[fut], results[futures[fut]])
                    if progress:
                        progress(len(futures) - len(pending), len(futures))
        except BaseException:
            _stop(futures, pool)
            raise
        pool.shutdown(wait=True)
        return results

    def close(self) -> None:
        _STATES.clear()


class ProcessBackend(_Closing):
    """A pool of ``workers`` local processes; the pool lives as long as its payload."""

    name = "processes"

    def __init__(self, workers: int, chunks_per_worker: int = 4) -> None:
        if workers < 1:
            raise ConfigError("--workers must be >= 1")
        self.workers = int(workers)
        self.chunks_per_worker = chunks_per_worker
        self._pool: ProcessPoolExecutor | None = None
        self._token: str | None = None

    def _pool_for(self, shared: Shared) -> ProcessPoolExecutor:
        if self._pool is None or self._token != shared.token:
            self.close()
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, initializer=_install, initargs=(shared,)
            )
            self._token = shared.token
        return self._pool

    def map(self, fn, shared, items, progress=None, on_result=None):
        pool = self._pool_for(shared)
        chunks = chunked(items, self.workers * self.chunks_per_worker)
        futures = {
            pool.submit(_run_chunk_installed, fn, shared.token, chunk): i
            for i, chunk in enumerate(chunks)
        }
        try:
            return _gather(
                futures_completed(futures), futures.__getitem__, chunks, progress, on_result
            )
        except BaseException:
            for fut in futures:
                fut.cancel()
            self.close()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._token = None


class DaskBackend(_Closing):
    """A Dask distributed cluster: ``DaskBackend("tcp://host:8786")`` or ``client=Client(…)``.

    The payload is scattered (broadcast) once per map; each worker builds its state once per
    payload and reuses it for every chunk. A map that is interrupted sets its stop event
    (`distributed.Event`), which the running tasks read through `check_cancelled`, and waits
    up to ``stop_timeout`` seconds for them to end before cancelling what is left, so the
    workers are idle when it re-raises.
    """

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        *,
        client: Any = None,
        chunks_per_worker: int = 4,
        timeout: float = 30.0,
        stop_timeout: float = 60.0,
    ) -> None:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - depends on the install
            raise ConfigError(
                "the Dask backend needs dask[distributed]: pip install 'tradeforge[research]'"
            ) from None
        if client is None and not address:
            raise ConfigError("DaskBackend needs a scheduler address or a client")
        self._own = client is None
        if client is None:
            try:
                client = Client(address, timeout=timeout, set_as_default=False)
            except OSError as exc:
                raise ConfigError(f"cannot reach the Dask scheduler {address}: {exc}") from None
        self.client = client
        self.chunks_per_worker = chunks_per_worker
        self.stop_timeout = stop_timeout
        self._scattered: tuple[str, Any] | None = None

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def _future(self, shared: Shared) -> Any:
        if self._scattered is None or self._scattered[0] != shared.token:
            future = self.client.scatter(shared, broadcast=True, hash=False)
            self._scattered = (shared.token, future)
        return self._scattered[1]

    def map(self, fn, shared, items, progress=None, on_result=None):
        from distributed import Event
        from distributed import as_completed as dask_completed

        payload = self._future(shared)
        chunks = chunked(items, self.workers * self.chunks_per_worker)
        stop = f"tradeforge-stop-{uuid.uuid4().hex}"
        futures = [
            self.client.submit(_run_chunk_stoppable, fn, payload, chunk, stop, pure=False)
            for chunk in chunks
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            completed = dask_completed(futures, loop=self.client.loop)
            return _gather(completed, lambda fut: index[fut.key], chunks, progress, on_result)
        except BaseException:
            Event(stop, client=self.client).set()
            deadline = time.monotonic() + self.stop_timeout
            while not all(f.done() for f in futures) and time.monotonic() < deadline:
                time.sleep(0.05)  # the running tasks end at their next check
            self.client.cancel(futures)
            raise

    def close(self) -> None:
        self._scattered = None
        if self._own:
            self.client.close()


def make_backend(workers: int = 1, scheduler: str | None = None) -> Backend:
    """In-process for 1 worker, local processes for more, Dask when a scheduler is given
    (the research default: trials are Python-heavy; the backtest runner picks threads)."""
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if scheduler:
        return DaskBackend(scheduler)
    if workers == 1:
        return InProcessBackend()
    return ProcessBackend(workers)
