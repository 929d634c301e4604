"""Dukascopy historical data over HTTP: the classic ``datafeed`` bi5 files or the JSON API.

Four modes, all producing M1 **bid** bars with a ``spread`` column:

* ``"ticks"`` (default) — hourly tick files ``{SYM}/{YYYY}/{MM}/{DD}/{HH}h_ticks.bi5``
  aggregated by `tradeforge.data.ticks` (spread = mean ask - bid over the minute, volume = sum
  of bid volume in millions of units);
* ``"candles"`` — daily minute-candle files ``{BID,ASK}_candles_min_1.bi5``. Dukascopy fills
  closed minutes with flat zero-volume candles; those are dropped. Spread = mean of the open
  and close spreads, ``((ask_open - bid_open) + (ask_close - bid_close)) / 2`` (floored at 0),
  the closest the candles get to the tick-mode mean; minutes whose ask candle is missing take
  the nearest earlier (else later) minute's spread; without any ask file the column is left out.

* ``"json"`` — hourly tick bodies of the JSON API (``json_base_url``, default
  ``https://jetta.dukascopy.com/v1``), aggregated exactly like ``"ticks"``;
* ``"json-candles"`` — daily BID/ASK minute-candle bodies of the JSON API, turned into bars
  like ``"candles"``. The JSON format and what was verified upstream is documented in
  `tradeforge.data.sources.dukascopy_json`; its ``multiplier`` must equal the instrument's
  ``point`` (else `DataError`).

bi5 ``MM`` in URLs is **zero-based** (``00`` = January); JSON URLs use 1-based, unpadded
months. Prices are scaled by the instrument's ``point`` (never guessed from the symbol).

Downloading (stdlib only: ``urllib`` + a thread pool):

* at most ``max_concurrency`` requests in flight;
* timeouts, connection errors, 5xx, 408 and 429 are retried ``retries`` times with exponential
  backoff (``backoff * 2**attempt`` seconds, jittered in [50 %, 100 %]); then the file fails;
* 404 means "no data" (logged, not cached, not an error); a 0-byte body is a closed period;
  an HTML body (block page) is an error;
* raw files are cached under ``cache_dir`` at the URL's path relative to ``base_url``; a file
  already there is never requested again. Bodies stream into ``<file>.part`` which is renamed
  atomically when complete; a later attempt (or run) resumes a ``.part`` with an HTTP ``Range``
  request and restarts the file when the server ignores the range. Files of periods that are not
  over yet are used but never cached (JSON mode asks for them with ``?from={epoch_ms}``).
* JSON mode only: the API answers every period with a JSON object, so a 0-byte body, a 2xx
  other than 200/206, or a body that is not JSON is retried (never cached as "empty"); a
  cached JSON file is named after its URL path plus ``.json``.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import random
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.data.bi5 import decode_candles, decode_tick_arrays
from tradeforge.data.resample import resample_ohlcv
from tradeforge.data.sources import dukascopy_json as dj
from tradeforge.data.ticks import aggregate_ticks_m1, bars_frame
from tradeforge.data.validate import empty_ohlcv, validate_ohlcv

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://datafeed.dukascopy.com/datafeed"
MODES = ("ticks", "candles", "json", "json-candles")
JSON_MODES = ("json", "json-candles")
DEFAULT_JSON_BASE_URL = dj.DEFAULT_JSON_BASE_URL
USER_AGENT = "tradeforge (+https://github.com/tradeforge)"
_CHUNK = 1 << 16
_DECODE_WORKERS = min(8, os.cpu_count() or 1)
_M1 = Timeframe.parse("M1")

ProgressCallback = Callable[[int, int], None]


# ------------------------------------------------------------------------------------ files


@dataclass(frozen=True)
class RemoteFile:
    """One remote file and the UTC period it covers.

    ``path`` is where it is cached (relative to the cache dir) and, unless ``remote`` is set,
    also its path relative to the base URL. ``live`` is the path (with query) to request
    instead while the period is not over; ``side`` is ``"BID"``/``"ASK"`` for candle files.
    """

    path: str
    start: pd.Timestamp
    end: pd.Timestamp
    remote: str = ""
    live: str = ""
    side: str = ""


def tick_file(dukascopy_symbol: str, hour: pd.Timestamp) -> RemoteFile:
    """The hourly tick file containing ``hour`` (month zero-based in the path)."""
    h = hour.floor("h")
    path = f"{dukascopy_symbol}/{h.year:04d}/{h.month - 1:02d}/{h.day:02d}/{h.hour:02d}h_ticks.bi5"
    return RemoteFile(path, h, h + pd.Timedelta(hours=1))


def candle_file(dukascopy_symbol: str, day: pd.Timestamp, side: str) -> RemoteFile:
    """The daily minute-candle file of ``side`` (``"BID"`` or ``"ASK"``) for ``day``."""
    side = side.upper()
    if side not in ("BID", "ASK"):
        raise ConfigError(f"candle side must be BID or ASK, got {side!r}")
    d = day.floor("D")
    path = f"{dukascopy_symbol}/{d.year:04d}/{d.month - 1:02d}/{d.day:02d}/{side}_candles_min_1.bi5"
    return RemoteFile(path, d, d + pd.Timedelta(days=1), side=side)


def json_tick_file(code: str, hour: pd.Timestamp) -> RemoteFile:
    """The JSON API's tick body for ``hour`` (``code`` like ``EUR-USD``)."""
    h = hour.floor("h")
    remote = dj.tick_path(code, h)
    return RemoteFile(
        remote + ".json", h, h + pd.Timedelta(hours=1), remote, dj.tick_live_path(code, h)
    )


def json_candle_file(code: str, day: pd.Timestamp, side: str) -> RemoteFile:
    """The JSON API's minute candles of ``side`` for ``day``."""
    side = side.upper()
    if side not in ("BID", "ASK"):
        raise ConfigError(f"candle side must be BID or ASK, got {side!r}")
    d = day.floor("D")
    remote = dj.minute_candle_path(code, d, side)
    live = dj.minute_candle_live_path(code, d, side)
    return RemoteFile(remote + ".json", d, d + pd.Timedelta(days=1), remote, live, side)


# ----------------------------------------------------------------------------------- report


@dataclass
class DownloadReport:
    """What a download did. Each file counts in exactly one of the first five fields."""

    downloaded: int = 0  # fetched with data
    empty: int = 0  # fetched, 0-byte body: closed period
    cached: int = 0  # already on disk, not requested
    missing: int = 0  # HTTP 404: no data on the server
    failed: int = 0  # gave up (after retries) or unusable body
    bytes: int = 0  # body bytes received over the network (all attempts)
    errors: list[str] = field(default_factory=list)

    @property
    def files(self) -> int:
        return self.downloaded + self.empty + self.cached + self.missing + self.failed

    def summary(self) -> str:
        return (
            f"{self.files} files: {self.downloaded} downloaded, {self.empty} empty, "
            f"{self.cached} cached, {self.missing} missing, {self.failed} failed, "
            f"{self.bytes:,} bytes"
        )


_DOWNLOADED, _EMPTY, _CACHED, _MISSING, _FAILED = (
    "downloaded",
    "empty",
    "cached",
    "missing",
    "failed",
)


@dataclass
class _Result:
    file: RemoteFile
    status: str
    nbytes: int = 0
    data: bytes | None = None  # body of a file that is not cached (period not over)
    error: str = ""


class _Retryable(Exception):
    """A transient failure worth another attempt."""


# ----------------------------------------------------------------------------------- source


class DukascopySource:
    """`DataSource` for Dukascopy's datafeed; see the module docstring for behaviour.

    ``cache_dir=None`` downloads into a temporary directory removed after each call (nothing is
    kept, `download` is refused). ``instruments`` resolves a symbol to its `Instrument`
    (``point`` scales prices, ``dukascopy_symbol`` names the URL folder). JSON modes read
    from ``json_base_url``; ``json_codes`` maps symbols whose API code cannot be derived
    (see `tradeforge.data.sources.dukascopy_json.json_code`). In a JSON mode without
    ``json_base_url``, ``base_url`` names the JSON root (so one ``--base-url`` serves all modes).
    """

    name = "dukascopy"

    def __init__(
        self,
        base_url: str | None = None,
        cache_dir: str | Path | None = None,
        *,
        mode: str = "ticks",
        max_concurrency: int = 4,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 30.0,
        on_progress: ProgressCallback | None = None,
        instruments: Callable[[str], Instrument] = get_instrument,
        json_base_url: str | None = None,
        json_codes: dict[str, str] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown Dukascopy mode {mode!r}; use one of {', '.join(MODES)}")
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if retries < 0:
            raise ConfigError(f"retries must be >= 0, got {retries}")
        if backoff < 0 or not timeout > 0:
            raise ConfigError("backoff must be >= 0 and timeout > 0")
        json_root = json_base_url or (base_url if mode in JSON_MODES else None)
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.json_base_url = (json_root or DEFAULT_JSON_BASE_URL).rstrip("/")
        self.json_codes = dict(json_codes or {})
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.mode = mode
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.on_progress = on_progress
        self._instruments = instruments
        self._now: Callable[[], pd.Timestamp] = lambda: pd.Timestamp(datetime.now(timezone.utc))

    # ------------------------------------------------------------------------ public API

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: pd.Timestamp | str,
        end: pd.Timestamp | str,
    ) -> pd.DataFrame:
        """Validated bid bars with open time in ``[start, end)``, built from M1.

        Raises `DataError` when any file could not be downloaded (the others stay cached, so
        a rerun only fetches what is missing).
        """
        tf = Timeframe.parse(timeframe)
        inst = self._instruments(symbol)
        t0, t1 = _utc_range(start, end)
        label = f"dukascopy {inst.symbol} {self.mode} {t0} .. {t1}"
        with self._cache_root() as root:
            results = self._download(self._files(inst, t0, t1), root)
            _raise_failures(results, label)
            if self.mode in ("ticks", "json"):
                bars = self._tick_bars(results, root, inst)
            else:
                bars = self._candle_bars(results, root, inst)
        if len(bars):
            ns = bars.index.as_unit("ns").asi8
            keep = (ns >= t0.as_unit("ns").value) & (ns < t1.as_unit("ns").value)
            bars = bars[keep]
        else:
            bars = empty_ohlcv(with_spread=True)
        frame = validate_ohlcv(bars, source=label)
        if tf != _M1:
            frame = validate_ohlcv(resample_ohlcv(frame, tf), source=f"{label} -> {tf}")
        return frame

    def fetch_ticks(
        self, symbol: str, start: pd.Timestamp | str, end: pd.Timestamp | str
    ) -> pd.DataFrame:
        """Raw ticks in ``[start, end)``: UTC index, ``ask, bid, ask_volume, bid_volume``."""
        inst = self._instruments(symbol)
        t0, t1 = _utc_range(start, end)
        files = self._tick_files(inst, t0, t1)
        label = f"dukascopy {inst.symbol} ticks {t0} .. {t1}"
        with self._cache_root() as root:
            results = self._download(files, root)
            _raise_failures(results, label)
            parts = [self._decode_ticks(r, root, inst) for r in results]
        cols = ("time", "ask", "bid", "ask_volume", "bid_volume")
        arrays = {c: np.concatenate([p[c] for p in parts]) if parts else np.array([]) for c in cols}
        ns = arrays.pop("time").astype(np.int64)
        keep = (ns >= t0.as_unit("ns").value) & (ns < t1.as_unit("ns").value)
        index = pd.DatetimeIndex(ns[keep].astype("datetime64[ns]"), name="time").tz_localize("UTC")
        return pd.DataFrame({c: v[keep] for c, v in arrays.items()}, index=index)

    def download(
        self, symbol: str, start: pd.Timestamp | str, end: pd.Timestamp | str
    ) -> DownloadReport:
        """Fill the raw-file cache for ``[start, end)`` without decoding; failures are counted
        in the report (and listed in ``errors``), not raised."""
        if self.cache_dir is None:
            raise ConfigError("DukascopySource.download needs a cache_dir to download into")
        inst = self._instruments(symbol)
        t0, t1 = _utc_range(start, end)
        results = self._download(self._files(inst, t0, t1), self.cache_dir)
        report = DownloadReport()
        for r in results:
            setattr(report, r.status, getattr(report, r.status) + 1)
            report.bytes += r.nbytes
            if r.error:
                report.errors.append(r.error)
        return report

    def files(
        self, symbol: str, start: pd.Timestamp | str, end: pd.Timestamp | str
    ) -> list[RemoteFile]:
        """The remote files the current mode needs for ``[start, end)``."""
        t0, t1 = _utc_range(start, end)
        return self._files(self._instruments(symbol), t0, t1)

    def url(self, file: RemoteFile, live: bool = False) -> str:
        """Where ``file`` is downloaded from (``live``: the variant for an unfinished period)."""
        base = self.json_base_url if self.mode in JSON_MODES else self.base_url
        return f"{base}/{file.live if live and file.live else file.remote or file.path}"

    # ------------------------------------------------------------------------ planning

    def _files(self, inst: Instrument, t0: pd.Timestamp, t1: pd.Timestamp) -> list[RemoteFile]:
        if self.mode in ("ticks", "json"):
            return self._tick_files(inst, t0, t1)
        days = pd.date_range(t0.floor("D"), (t1 - pd.Timedelta(1, "ns")).floor("D"), freq="D")
        if self.mode == "json-candles":
            code = dj.json_code(inst, self.json_codes)
            return [json_candle_file(code, d, side) for d in days for side in ("BID", "ASK")]
        sym = inst.dukascopy_symbol
        return [candle_file(sym, d, side) for d in days for side in ("BID", "ASK")]

    def _tick_files(self, inst: Instrument, t0: pd.Timestamp, t1: pd.Timestamp) -> list[RemoteFile]:
        hours = pd.date_range(t0.floor("h"), (t1 - pd.Timedelta(1, "ns")).floor("h"), freq="h")
        if self.mode in JSON_MODES:
            code = dj.json_code(inst, self.json_codes)
            return [json_tick_file(code, h) for h in hours]
        return [tick_file(inst.dukascopy_symbol, h) for h in hours]

    @contextlib.contextmanager
    def _cache_root(self) -> Iterator[Path]:
        if self.cache_dir is not None:
            yield self.cache_dir
            return
        with tempfile.TemporaryDirectory(prefix="tradeforge-dukascopy-") as tmp:
            yield Path(tmp)

    # ------------------------------------------------------------------------ downloading

    def _download(self, files: list[RemoteFile], root: Path) -> list[_Result]:
        """Fetch every file not yet cached, at most ``max_concurrency`` at a time; results
        come back in the order of ``files``."""
        total = len(files)
        done = 0
        results: dict[int, _Result] = {}
        pending: list[int] = []
        for i, f in enumerate(files):
            if (root / f.path).is_file():
                results[i] = _Result(f, _CACHED)
                done += 1
                self._progress(done, total)
            else:
                pending.append(i)
        if pending:
            workers = min(self.max_concurrency, len(pending))
            pool = ThreadPoolExecutor(workers, thread_name_prefix="dukascopy")
            try:
                futures = {pool.submit(self._get, files[i], root): i for i in pending}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    done += 1
                    self._progress(done, total)
            except BaseException:  # Ctrl-C or a bug: do not start the queued downloads
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
        return [results[i] for i in range(total)]

    def _progress(self, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total)

    def _get(self, file: RemoteFile, root: Path) -> _Result:
        """Download one file with retries; never raises for network trouble."""
        cacheable = file.end <= self._now()
        url = self.url(file, live=not cacheable)
        target = root / file.path
        received = [0]
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1) * (0.5 + 0.5 * random.random())
                time.sleep(delay)
            try:
                return self._get_once(file, url, target, cacheable, received)
            except _Retryable as exc:
                last = str(exc)
                log.debug("attempt %d for %s failed: %s", attempt + 1, url, last)
            except DataError as exc:
                return _Result(file, _FAILED, received[0], error=str(exc))
        attempts = self.retries + 1
        msg = f"{url}: failed after {attempts} attempt{'s' * (attempts > 1)}: {last}"
        log.warning(msg)
        return _Result(file, _FAILED, received[0], error=msg)

    def _get_once(
        self, file: RemoteFile, url: str, target: Path, cacheable: bool, received: list[int]
    ) -> _Result:
        """One attempt. Network trouble raises `_Retryable`; a local file-system problem or
        an unusable answer raises `DataError`."""
        part = target.with_name(target.name + ".part")
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            offset = part.stat().st_size if part.exists() else 0
        except OSError as exc:
            raise DataError(f"cannot write to the cache at {part.parent}: {exc}") from exc
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if self.mode in JSON_MODES:
            headers["Accept"] = "application/json"
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                log.info("no data (HTTP 404): %s", url)
                return _Result(file, _MISSING, received[0])
            if exc.code == 416 and offset:  # our .part is stale or complete: start over
                part.unlink(missing_ok=True)
                raise _Retryable("HTTP 416 on resume; restarting the file") from None
            if exc.code >= 500 or exc.code in (408, 429):
                raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
            raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise _Retryable(_describe(exc)) from None

        with response:
            if self.mode in JSON_MODES and response.status not in (200, 206):
                raise _Retryable(f"HTTP {response.status} instead of a JSON body")
            if response.status == 206:
                if not offset or _range_start(response) != offset:
                    part.unlink(missing_ok=True)
                    raise _Retryable("server sent a range we did not ask for; restarting")
                mode = "ab"
            else:  # 200: the server ignored the range (or there was none)
                mode, offset = "wb", 0
            length = response.headers.get("Content-Length")
            expected = offset + int(length) if length and length.isdigit() else None
            try:
                out = open(part, mode)  # noqa: SIM115 (closed below; errors differ per step)
            except OSError as exc:
                raise DataError(f"cannot write {part}: {exc}") from exc
            with out:
                while True:
                    try:
                        chunk = response.read1(_CHUNK)
                    except (http.client.HTTPException, OSError) as exc:
                        raise _Retryable(f"interrupted: {_describe(exc)}") from None
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise DataError(f"cannot write {part}: {exc}") from exc
                    received[0] += len(chunk)
        json_body = self.mode in JSON_MODES
        return self._finish(file, url, part, target, expected, cacheable, received[0], json_body)

    @staticmethod
    def _finish(
        file: RemoteFile,
        url: str,
        part: Path,
        target: Path,
        expected: int | None,
        cacheable: bool,
        received: int,
        json_body: bool = False,
    ) -> _Result:
        """Check a complete ``.part`` and move it into the cache (or into memory)."""
        try:
            size = part.stat().st_size
            if expected is not None and size < expected:
                raise _Retryable(f"body ended after {size} of {expected} bytes")
            if json_body:
                _check_json_part(part, url)
            with open(part, "rb") as fh:
                head = fh.read(64)
            if head.lstrip()[:1] == b"<":
                part.unlink(missing_ok=True)
                raise DataError(f"{url}: got an HTML page instead of a bi5 file (blocked?)")
            status = _EMPTY if size == 0 else _DOWNLOADED
            if not cacheable:
                data = part.read_bytes()
                part.unlink(missing_ok=True)
                return _Result(file, status, received, data=data)
            os.replace(part, target)  # atomic: a cached file is always complete
        except OSError as exc:
            raise DataError(f"cannot move {part} into the cache: {exc}") from exc
        return _Result(file, status, received)

    # ------------------------------------------------------------------------ decoding

    @staticmethod
    def _body(result: _Result, root: Path) -> tuple[bytes, str]:
        if result.data is not None:
            return result.data, result.file.path
        path = root / result.file.path
        return path.read_bytes(), str(path)

    def _decode_ticks(self, result: _Result, root: Path, inst: Instrument) -> dict:
        if result.status == _MISSING:
            return _no_ticks()
        data, name = self._body(result, root)
        if self.mode in JSON_MODES:
            return dj.decode_json_ticks(data, inst.point, name)
        return decode_tick_arrays(data, result.file.start, inst.point, name)

    def _hour_bars(self, result: _Result, root: Path, inst: Instrument) -> dict | None:
        t = self._decode_ticks(result, root, inst)
        if not len(t["time"]):
            return None
        return aggregate_ticks_m1(t["time"], t["bid"], t["ask"], t["bid_volume"])

    def _tick_bars(self, results: list[_Result], root: Path, inst: Instrument) -> pd.DataFrame:
        # One hour per task: a minute never spans two hourly files, so memory stays at one
        # hour of ticks per worker. LZMA releases the GIL, hence threads speed decoding up.
        workers = max(1, min(_DECODE_WORKERS, len(results)))
        with ThreadPoolExecutor(workers, thread_name_prefix="bi5-decode") as pool:
            hours = pool.map(lambda r: self._hour_bars(r, root, inst), results)
            parts = [p for p in hours if p is not None]
        if not parts:
            return empty_ohlcv(with_spread=True)
        return bars_frame({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})

    def _candle_bars(self, results: list[_Result], root: Path, inst: Instrument) -> pd.DataFrame:
        bids, asks = [], []
        for r in results:
            if r.status == _MISSING:
                continue
            data, name = self._body(r, root)
            if self.mode in JSON_MODES:
                candles = dj.decode_json_candles(data, inst.point, name)
            else:
                candles = decode_candles(data, r.file.start, inst.point, name)
            (asks if r.file.side == "ASK" else bids).append(candles)
        if not bids:
            return empty_ohlcv(with_spread=True)
        bid = pd.concat(bids)
        flat = (
            (bid["volume"] == 0)
            & (bid["open"] == bid["close"])
            & (bid["high"] == bid["low"])
            & (bid["open"] == bid["high"])
        )
        bid = bid[~flat]
        if not asks or not len(bid):
            return bid
        ask = pd.concat(asks).reindex(bid.index)
        spread = ((ask["open"] - bid["open"]) + (ask["close"] - bid["close"])) / 2.0
        spread = spread.clip(lower=0.0).ffill().bfill()
        if spread.isna().all():
            return bid
        return bid.assign(spread=spread)


# ----------------------------------------------------------------------------------- helpers


def _utc_range(start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    t0, t1 = to_utc(start, "start"), to_utc(end, "end")
    if t0 is None or t1 is None:
        raise ConfigError("start and end are required")
    if t0 >= t1:
        raise ConfigError(f"start {t0} must be before end {t1}")
    return t0, t1


def _check_json_part(part: Path, url: str) -> None:
    """A complete JSON-API body must be a JSON data object: the API answers closed periods
    with empty arrays, so an empty or garbled body is a transient fault (retried, never
    cached); an HTML page is a block (not retried)."""
    try:
        data = part.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {part}: {exc}") from exc
    if not data.strip():
        part.unlink(missing_ok=True)
        raise _Retryable("empty body where a JSON object was expected")
    try:
        dj.load_body(data, url)
    except DataError as exc:
        part.unlink(missing_ok=True)
        if data.lstrip()[:1] == b"<":
            raise
        raise _Retryable(str(exc)) from None


def _no_ticks() -> dict[str, np.ndarray]:
    empty = np.array([], dtype=np.float64)
    return {
        "time": np.array([], dtype=np.int64),
        "ask": empty,
        "bid": empty,
        "ask_volume": empty,
        "bid_volume": empty,
    }


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


def _raise_failures(results: list[_Result], label: str) -> None:
    failed = [r.error for r in results if r.status == _FAILED]
    if failed:
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        raise DataError(f"{label}: {len(failed)} file(s) failed: " + "; ".join(failed[:3]) + more)
    missing = sum(r.status == _MISSING for r in results)
    if missing:
        log.warning(
            "%s: %d file(s) not on the server (HTTP 404), treated as no data", label, missing
        )


__all__ = [
    "DEFAULT_BASE_URL",
    "DownloadReport",
    "DukascopySource",
    "DEFAULT_JSON_BASE_URL",
    "MODES",
    "RemoteFile",
    "candle_file",
    "json_candle_file",
    "json_tick_file",
    "tick_file",
]
