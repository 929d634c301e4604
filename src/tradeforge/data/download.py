"""Resumable, bounded-concurrency HTTP downloads into a file cache (stdlib only).

`Downloader.fetch_all` fetches a list of `FileRequest` (URL + cache path):

* a file already at its cache path (and passing its validator, see below) is never requested
  again (status ``"cached"``);
* at most ``max_concurrency`` requests are in flight;
* timeouts, connection errors, 5xx, 408 and 429 are retried ``retries`` times with exponential
  backoff (``backoff * 2**attempt`` seconds, jittered in [50 %, 100 %]); then the file fails;
* 404 is ``"missing"`` (not cached, not an error); a 0-byte body is ``"empty"`` (cached);
  any other 4xx fails the file;
* bodies stream into ``<file>.part``, renamed atomically when complete, so a cached file is
  always whole; a later attempt (or run) resumes a ``.part`` with an HTTP ``Range`` request
  and restarts the file when the server ignores or mangles the range;
* a request with ``cacheable=False`` (a period that is not over yet) is downloaded into memory
  (`FetchResult.data`) and never written to the cache;
* a request's ``validate`` callback checks each complete body before it is accepted: it raises
  `TransientError` to have the file retried or `DataError` to fail it (e.g. an HTML block
  page); either way the rejected body is deleted. A cached file is checked the same way before
  it is reused, and downloaded again (as if absent) when it fails, so garbage never sticks;
* a host that cannot be reached at all (name does not resolve, connection refused, no route)
  stops the whole run at once with `UnreachableError`: no file is retried;
* ``fetch_all(..., time_limit=s)`` bounds the whole run: files not finished by then are
  ``"unfinished"`` (a partial body stays as ``.part`` for the next run to resume).

Nothing here knows what the files contain.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data.reachability import UnreachableError, unreachable_reason

log = logging.getLogger(__name__)

USER_AGENT = "tradeforge (+https://github.com/tradeforge)"
_CHUNK = 1 << 16

ProgressCallback = Callable[[int, int], None]
BodyValidator = Callable[[Path, str], None]
"""``validate(body_path, url)``: raise `TransientError` (retry) or `DataError` (fail)."""
FetchStatus = Literal["downloaded", "empty", "cached", "missing", "failed", "unfinished"]

DOWNLOADED: FetchStatus = "downloaded"  # fetched with data
EMPTY: FetchStatus = "empty"  # fetched, 0-byte body
CACHED: FetchStatus = "cached"  # already on disk, not requested
MISSING: FetchStatus = "missing"  # HTTP 404
FAILED: FetchStatus = "failed"  # gave up (after retries) or unusable body
UNFINISHED: FetchStatus = "unfinished"  # the run's time limit came first


class TransientError(Exception):
    """A failure worth another attempt (raised by body validators, or internally)."""


class _OutOfTime(Exception):
    """The run's time limit passed in the middle of a body (the ``.part`` is kept)."""


@dataclass
class _Run:
    """What the workers of one `Downloader.fetch_all` share: its deadline (`time.monotonic`)
    and the stop signal set when the host turns out to be unreachable."""

    deadline: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def over(self) -> bool:
        left = self.remaining()
        return self.stop.is_set() or (left is not None and left <= 0)

    def sleep(self, seconds: float) -> None:
        left = self.remaining()
        self.stop.wait(seconds if left is None else max(0.0, min(seconds, left)))


@dataclass(frozen=True)
class FileRequest:
    """One file to fetch: from ``url`` into ``path`` (kept only when ``cacheable``)."""

    url: str
    path: Path
    cacheable: bool = True
    validate: BodyValidator | None = None


@dataclass
class FetchResult:
    """The outcome of one `FileRequest`; ``data`` holds the body of a non-cacheable file."""

    request: FileRequest
    status: FetchStatus
    nbytes: int = 0  # body bytes received over the network (all attempts)
    data: bytes | None = None
    error: str = ""


@dataclass
class DownloadReport:
    """What a download did. Each file counts in exactly one of the first six fields;
    ``results`` lists every file's `FetchResult` in request order."""

    downloaded: int = 0  # fetched with data
    empty: int = 0  # fetched, 0-byte body: closed period
    cached: int = 0  # already on disk, not requested
    missing: int = 0  # HTTP 404: no data on the server
    failed: int = 0  # gave up (after retries) or unusable body
    unfinished: int = 0  # not fetched before the time limit
    bytes: int = 0  # body bytes received over the network (all attempts)
    errors: list[str] = field(default_factory=list)
    results: list[FetchResult] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def of(cls, results: Sequence[FetchResult]) -> DownloadReport:
        report = cls(results=list(results))
        for r in results:
            setattr(report, r.status, getattr(report, r.status) + 1)
            report.bytes += r.nbytes
            if r.error:
                report.errors.append(r.error)
        return report

    @property
    def files(self) -> int:
        counts = (self.downloaded, self.empty, self.cached, self.missing, self.failed)
        return sum(counts) + self.unfinished

    def summary(self) -> str:
        unfinished = f"{self.unfinished} unfinished, " if self.unfinished else ""
        return (
            f"{self.files} files: {self.downloaded} downloaded, {self.empty} empty, "
            f"{self.cached} cached, {self.missing} missing, {self.failed} failed, "
            f"{unfinished}{self.bytes:,} bytes"
        )


class Downloader:
    """Fetches `FileRequest` lists; see the module docstring for the rules.

    ``headers`` are added to every request. ``retry_other_2xx`` treats a 2xx other than
    200/206 as transient (for APIs that answer 202 while a body is not ready).
    ``on_progress(done, total)`` is called once per file (cached files without a validator
    first).
    """

    def __init__(
        self,
        max_concurrency: int = 4,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 30.0,
        on_progress: ProgressCallback | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        retry_other_2xx: bool = False,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if retries < 0:
            raise ConfigError(f"retries must be >= 0, got {retries}")
        if backoff < 0 or not timeout > 0:
            raise ConfigError("backoff must be >= 0 and timeout > 0")
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.on_progress = on_progress
        self.headers = dict(headers or {})
        self.retry_other_2xx = retry_other_2xx

    def fetch_all(
        self, files: Sequence[FileRequest], *, time_limit: float | None = None
    ) -> DownloadReport:
        """Fetch every file not validly cached, at most ``max_concurrency`` at a time, within
        ``time_limit`` seconds if given. Failures are counted and listed in the report; only
        an unreachable host raises (`UnreachableError`, after stopping every worker)."""
        if time_limit is not None and not time_limit > 0:
            raise ConfigError(f"time_limit must be > 0 seconds, got {time_limit}")
        run = _Run(None if time_limit is None else time.monotonic() + time_limit)
        total = len(files)
        done = 0
        results: dict[int, FetchResult] = {}
        pending: list[int] = []
        for i, f in enumerate(files):
            if f.validate is None and f.path.is_file():  # nothing to check: reuse at once
                results[i] = FetchResult(f, CACHED)
                done += 1
                self._progress(done, total)
            else:
                pending.append(i)
        if pending:
            workers = min(self.max_concurrency, len(pending))
            pool = ThreadPoolExecutor(workers, thread_name_prefix="download")
            try:
                futures = {pool.submit(self._obtain, files[i], run): i for i in pending}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    done += 1
                    self._progress(done, total)
            except BaseException:  # unreachable, Ctrl-C or a bug: start nothing more
                run.stop.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
        return DownloadReport.of([results[i] for i in range(total)])

    def fetch(self, file: FileRequest) -> FetchResult:
        """Download one file with retries (ignoring any cached copy); never raises for
        network trouble except `UnreachableError`."""
        return self._fetch(file, _Run())

    # ------------------------------------------------------------------------ internals

    def _obtain(self, file: FileRequest, run: _Run) -> FetchResult:
        """The cached copy if it passes the validator, else a download."""
        if file.path.is_file():
            try:
                if file.validate is not None:
                    file.validate(file.path, file.url)
                return FetchResult(file, CACHED)
            except (TransientError, DataError) as exc:
                log.info("cached %s is invalid (%s); downloading it again", file.path, exc)
                with contextlib.suppress(OSError):  # else the download replaces it
                    file.path.unlink()
        return self._fetch(file, run)

    def _fetch(self, file: FileRequest, run: _Run) -> FetchResult:
        received = [0]
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                run.sleep(self.backoff * 2 ** (attempt - 1) * (0.5 + 0.5 * random.random()))
            if run.over():
                return FetchResult(file, UNFINISHED, received[0])
            try:
                return self._fetch_once(file, received, run)
            except TransientError as exc:
                last = str(exc)
                log.debug("attempt %d for %s failed: %s", attempt + 1, file.url, last)
            except _OutOfTime:
                return FetchResult(file, UNFINISHED, received[0])
            except UnreachableError:
                run.stop.set()
                raise
            except DataError as exc:
                return FetchResult(file, FAILED, received[0], error=str(exc))
        if run.over():  # the last attempt was cut short by the time limit
            return FetchResult(file, UNFINISHED, received[0])
        attempts = self.retries + 1
        msg = f"{file.url}: failed after {attempts} attempt{'s' * (attempts > 1)}: {last}"
        log.debug(msg)
        return FetchResult(file, FAILED, received[0], error=msg)

    def _progress(self, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total)

    def _fetch_once(self, file: FileRequest, received: list[int], run: _Run) -> FetchResult:
        """One attempt. Network trouble raises `TransientError` (`UnreachableError` when the
        host cannot be reached at all); a local file-system problem or an unusable answer
        raises `DataError`; the time limit passing mid-body raises `_OutOfTime`."""
        url, target = file.url, file.path
        part = target.with_name(target.name + ".part")
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            offset = part.stat().st_size if part.exists() else 0
        except OSError as exc:
            raise DataError(f"cannot write to the cache at {part.parent}: {exc}") from exc
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **self.headers}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(url, headers=headers)
        left = run.remaining()
        timeout = self.timeout if left is None else max(0.01, min(self.timeout, left))
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                log.debug("not found (HTTP 404): %s", url)
                return FetchResult(file, MISSING, received[0])
            if exc.code == 416 and offset:  # our .part is stale or complete: start over
                part.unlink(missing_ok=True)
                raise TransientError("HTTP 416 on resume; restarting the file") from None
            if exc.code >= 500 or exc.code in (408, 429):
                raise TransientError(f"HTTP {exc.code} {exc.reason}") from None
            raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = unreachable_reason(exc)
            if reason is not None:
                host = urllib.parse.urlsplit(url).netloc
                raise UnreachableError(f"cannot reach {host}: {reason}") from None
            raise TransientError(_describe(exc)) from None

        with response:
            if self.retry_other_2xx and response.status not in (200, 206):
                raise TransientError(f"HTTP {response.status} instead of 200/206 with the body")
            if response.status == 206:
                if not offset or _range_start(response) != offset:
                    part.unlink(missing_ok=True)
                    raise TransientError("server sent a range we did not ask for; restarting")
                mode = "ab"
            else:  # 200: the server ignored the range (or there was none)
                mode, offset = "wb", 0
            length = response.headers.get("Content-Length")
            expected = offset + int(length) if length and length.isdigit() else None
            _stream_into(response, part, mode, received, run)
        return _finish(file, part, expected, received[0])


def _stream_into(
    response: http.client.HTTPResponse, part: Path, mode: str, received: list[int], run: _Run
) -> None:
    try:
        out = open(part, mode)  # noqa: SIM115 (closed below; errors differ per step)
    except OSError as exc:
        raise DataError(f"cannot write {part}: {exc}") from exc
    with out:
        while True:
            try:
                chunk = response.read1(_CHUNK)
            except (http.client.HTTPException, OSError) as exc:
                raise TransientError(f"interrupted: {_describe(exc)}") from None
            if not chunk:
                break
            try:
                out.write(chunk)
            except OSError as exc:
                raise DataError(f"cannot write {part}: {exc}") from exc
            received[0] += len(chunk)
            if run.over():
                raise _OutOfTime


def _finish(file: FileRequest, part: Path, expected: int | None, received: int) -> FetchResult:
    """Check a complete ``.part`` and move it into the cache (or into memory)."""
    try:
        size = part.stat().st_size
        if expected is not None and size < expected:
            raise TransientError(f"body ended after {size} of {expected} bytes")
        if file.validate is not None:
            try:
                file.validate(part, file.url)
            except (TransientError, DataError):
                part.unlink(missing_ok=True)
                raise
        status = EMPTY if size == 0 else DOWNLOADED
        if not file.cacheable:
            data = part.read_bytes()
            part.unlink(missing_ok=True)
            return FetchResult(file, status, received, data=data)
        os.replace(part, file.path)  # atomic: a cached file is always complete
    except OSError as exc:
        raise DataError(f"cannot move {part} into the cache: {exc}") from exc
    return FetchResult(file, status, received)


def _range_start(response: http.client.HTTPResponse) -> int | None:
    """First byte position of a ``Content-Range: bytes a-b/n`` header."""
    value = response.headers.get("Content-Range", "")
    try:
        unit, rest = value.split(" ", 1)
        return int(rest.split("-", 1)[0]) if unit == "bytes" else None
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return f"connection error: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "CACHED",
    "DOWNLOADED",
    "EMPTY",
    "FAILED",
    "MISSING",
    "USER_AGENT",
    "BodyValidator",
    "DownloadReport",
    "Downloader",
    "FetchResult",
    "FetchStatus",
    "FileRequest",
    "ProgressCallback",
    "TransientError",
    "UNFINISHED",
    "UnreachableError",
]
