"""Execution backends: run ``fn(state, item)`` over items in-process, in local processes or on a
Dask distributed cluster, with results in item order whichever backend ran them.

The large shared input (bars, precomputed features) travels once per worker as a `Shared`
payload; each worker builds its state from it once (``Shared.build``) and keeps it for every
chunk of items it is given. Items are cut into contiguous chunks so that per-task overhead is
paid per chunk, not per item.

Optional dependency: the Dask backend imports ``distributed`` only when used
(``pip install "tradeforge[research]"``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol

from tradeforge.core.errors import ConfigError

Progress = Callable[[int, int], None]  # (items done, items total)


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


def _state(shared: Shared) -> Any:
    state = _STATES.get(shared.token)
    if state is None:
        state = shared.build()
        while len(_STATES) >= _MAX_STATES:
            _STATES.pop(next(iter(_STATES)))
        _STATES[shared.token] = state
    return state


def _run_chunk(fn: Callable[[Any, Any], Any], shared: Shared, chunk: Sequence[Any]) -> list[Any]:
    state = _state(shared)
    return [fn(state, item) for item in chunk]


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
    """What the optimiser and walk-forward need from an execution backend."""

    name: str
    workers: int

    def map(
        self,
        fn: Callable[[Any, Any], Any],
        shared: Shared,
        items: Sequence[Any],
        progress: Progress | None = None,
    ) -> list[Any]: ...

    def close(self) -> None: ...


class InProcessBackend:
    """Everything in the calling process (the reference every other backend must match)."""

    name = "inprocess"
    workers = 1

    def map(self, fn, shared, items, progress=None):
        state = _state(shared)
        out = []
        for i, item in enumerate(items):
            out.append(fn(state, item))
            if progress:
                progress(i + 1, len(items))
        return out

    def close(self) -> None:
        _STATES.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _gather(
    completed: Iterable[Any],
    chunk_of: Callable[[Any], int],
    chunks: Sequence[Sequence[Any]],
    progress: Progress | None,
) -> list[Any]:
    """Results of the chunk futures in item order, whatever order they complete in;
    ``chunk_of`` gives a future's chunk index. Progress is reported per finished chunk."""
    results: list[list[Any] | None] = [None] * len(chunks)
    total = sum(len(c) for c in chunks)
    done = 0
    for fut in completed:
        i = chunk_of(fut)
        results[i] = fut.result()
        done += len(chunks[i])
        if progress:
            progress(done, total)
    return [r for part in results for r in (part or [])]


class ProcessBackend:
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

    def map(self, fn, shared, items, progress=None):
        pool = self._pool_for(shared)
        chunks = chunked(items, self.workers * self.chunks_per_worker)
        futures = {
            pool.submit(_run_chunk_installed, fn, shared.token, chunk): i
            for i, chunk in enumerate(chunks)
        }
        return _gather(as_completed(futures), futures.__getitem__, chunks, progress)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._token = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskBackend:
    """A Dask distributed cluster: ``DaskBackend("tcp://host:8786")`` or ``client=Client(…)``.

    The payload is scattered (broadcast) once per map; each worker builds its state once per
    payload and reuses it for every chunk.
    """

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        *,
        client: Any = None,
        chunks_per_worker: int = 4,
        timeout: float = 30.0,
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
        self._scattered: tuple[str, Any] | None = None

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def _future(self, shared: Shared) -> Any:
        if self._scattered is None or self._scattered[0] != shared.token:
            future = self.client.scatter(shared, broadcast=True, hash=False)
            self._scattered = (shared.token, future)
        return self._scattered[1]

    def map(self, fn, shared, items, progress=None):
        from distributed import as_completed as dask_completed

        payload = self._future(shared)
        chunks = chunked(items, self.workers * self.chunks_per_worker)
        futures = [
            self.client.submit(_run_chunk, fn, payload, chunk, pure=False) for chunk in chunks
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        completed = dask_completed(futures, loop=self.client.loop)
        return _gather(completed, lambda fut: index[fut.key], chunks, progress)

    def close(self) -> None:
        self._scattered = None
        if self._own:
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_backend(workers: int = 1, scheduler: str | None = None) -> Backend:
    """In-process for 1 worker, local processes for more, Dask when a scheduler is given."""
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if scheduler:
        return DaskBackend(scheduler)
    if workers == 1:
        return InProcessBackend()
    return ProcessBackend(workers)
