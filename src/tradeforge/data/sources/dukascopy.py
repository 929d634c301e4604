"""Dukascopy historical data over HTTP: the classic ``datafeed`` bi5 files or the JSON API.

Five modes, all producing M1 **bid** bars with a ``spread`` column:

* ``"auto"`` (default) — ``"json"`` first and ``"ticks"`` (bi5) when the JSON API delivers
  nothing usable: a file failed after its retries, the host is unreachable, or no data at all
  came back (every file 404 — the API answers every period, so that is a wrong root — or an
  empty range, which bi5 is then asked too); the mode that
  delivered is ``used_mode`` (the CLI records it as the cached bars' source,
  ``dukascopy:json`` / ``dukascopy:ticks``). Dukascopy's bi5 datafeed stopped answering
  reliably in July 2026, hence JSON first. Given only ``base_url`` (a bi5 root, no
  ``json_base_url``), auto means bi5 only;
* ``"ticks"`` — hourly tick files ``{SYM}/{YYYY}/{MM}/{DD}/{HH}h_ticks.bi5``
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

Downloading is `tradeforge.data.download` (bounded concurrency, retries with backoff, resumed
``.part`` files, atomic cache writes); on top of it:

* 404 means "no data" (logged, not cached, not an error); a 0-byte body is a closed period;
  an HTML body (block page) is an error;
* raw files are cached under ``cache_dir`` at the URL's path relative to ``base_url``; a file
  already there (and valid) is never requested again. Files of periods that are not over yet
  are used but never cached (JSON mode asks for them with ``?from={epoch_ms}``).
* every body is decoded far enough to know it is whole before it is cached
  (`tradeforge.data.sources.dukascopy_bodies`): a corrupt or truncated one is retried and
  never cached, and a cached file that fails the same check is downloaded again;
* a host that cannot be reached (DNS failure, connection refused) stops the run at once with
  `UnreachableError`; `download` takes a ``time_limit`` for the whole run;
* JSON mode only: the API answers every period with a JSON object, so a 0-byte body, a 2xx
  other than 200/206, or a body that is not JSON is retried (never cached as "empty"); a
  cached JSON file is named after its URL path plus ``.json``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.data.bi5 import decode_candles, decode_tick_arrays
from tradeforge.data.download import (
    FAILED,
    MISSING,
    Downloader,
    DownloadReport,
    FetchResult,
    FileRequest,
    ProgressCallback,
)
from tradeforge.data.reachability import UnreachableError
from tradeforge.data.resample import resample_ohlcv
from tradeforge.data.sources import dukascopy_json as dj
from tradeforge.data.sources.dukascopy_bodies import body_validator
from tradeforge.data.ticks import aggregate_ticks_m1, bars_frame, empty_tick_arrays
from tradeforge.data.validate import empty_ohlcv, validate_ohlcv

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://datafeed.dukascopy.com/datafeed"
MODES = ("auto", "ticks", "candles", "json", "json-candles")
AUTO_ORDER = ("json", "ticks")  # what ``auto`` tries, in order
JSON_MODES = ("json", "json-candles")
DEFAULT_JSON_BASE_URL = dj.DEFAULT_JSON_BASE_URL
_DECODE_WORKERS = min(8, os.cpu_count() or 1)
_M1 = Timeframe.parse("M1")


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


Fetched = tuple[RemoteFile, FetchResult]  # a planned file and what downloading it gave


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
        mode: str = "auto",
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
        self._downloader()  # checks the download settings now rather than on first use
        self.auto_modes = AUTO_ORDER if json_base_url or not base_url else ("ticks",)
        self.used_mode: str | None = None if mode == "auto" else mode

    def with_mode(self, mode: str) -> DukascopySource:
        """This source with another mode (same roots, cache and download settings)."""
        other = DukascopySource(
            self.base_url, self.cache_dir, mode=mode, max_concurrency=self.max_concurrency,
            retries=self.retries, backoff=self.backoff, timeout=self.timeout,
            on_progress=self.on_progress, instruments=self._instruments,
            json_base_url=self.json_base_url, json_codes=self.json_codes,
        )  # fmt: skip
        other._now = self._now
        return other

    def _auto(self, action: Callable[[DukascopySource], Any], ok: Callable[[Any], bool]) -> Any:
        """``action`` on each mode of ``auto`` until ``ok`` accepts its result (`DataError`s
        count as failures); the last result when none is accepted, else a `DataError`."""
        errors: list[DataError] = []
        result, have = None, False
        for mode in self.auto_modes:
            try:
                result, have = action(self.with_mode(mode)), True
            except DataError as exc:
                errors.append(exc)
                continue
            self.used_mode = mode
            if ok(result):
                return result
            log.warning("Dukascopy %s mode incomplete; trying the next mode", mode)
        if have:
            return result
        if len(errors) == 1:
            raise errors[0]
        kind = (
            UnreachableError if all(isinstance(e, UnreachableError) for e in errors) else DataError
        )
        text = " | ".join(f"{m}: {e}" for m, e in zip(self.auto_modes, errors, strict=True))
        raise kind(f"no Dukascopy mode delivered — {text}")

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
        if self.mode == "auto":
            return self._auto(
                lambda s: s.fetch(symbol, timeframe, start, end), lambda r: len(r) > 0
            )
        tf = Timeframe.parse(timeframe)
        inst = self._instruments(symbol)
        t0, t1 = _utc_range(start, end)
        label = f"dukascopy {inst.symbol} {self.mode} {t0} .. {t1}"
        with self._cache_root() as root:
            fetched = self._fetched(self._files(inst, t0, t1), root)
            _raise_failures(fetched, label)
            if self.mode in ("ticks", "json"):
                bars = self._tick_bars(fetched, inst)
            else:
                bars = self._candle_bars(fetched, inst)
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
        if self.mode == "auto":
            return self._auto(lambda s: s.fetch_ticks(symbol, start, end), lambda r: len(r) > 0)
        inst = self._instruments(symbol)
        t0, t1 = _utc_range(start, end)
        files = self._tick_files(inst, t0, t1)
        label = f"dukascopy {inst.symbol} ticks {t0} .. {t1}"
        with self._cache_root() as root:
            fetched = self._fetched(files, root)
            _raise_failures(fetched, label)
            parts = [self._decode_ticks(f, inst) for f in fetched]
        cols = ("time", "ask", "bid", "ask_volume", "bid_volume")
        arrays = {c: np.concatenate([p[c] for p in parts]) if parts else np.array([]) for c in cols}
        ns = arrays.pop("time").astype(np.int64)
        keep = (ns >= t0.as_unit("ns").value) & (ns < t1.as_unit("ns").value)
        index = pd.DatetimeIndex(ns[keep].astype("datetime64[ns]"), name="time").tz_localize("UTC")
        return pd.DataFrame({c: v[keep] for c, v in arrays.items()}, index=index)

    def download(
        self,
        symbol: str,
        start: pd.Timestamp | str,
        end: pd.Timestamp | str,
        *,
        time_limit: float | None = None,
    ) -> DownloadReport:
        """Fill the raw-file cache for ``[start, end)`` (bodies are validated, not turned into
        bars); failures are counted in the report (and listed in ``errors``), not raised.
        Files not done within ``time_limit`` seconds are counted as ``unfinished``; an
        unreachable host raises `UnreachableError`."""
        if self.cache_dir is None:
            raise ConfigError("DukascopySource.download needs a cache_dir to download into")
        if self.mode == "auto":
            return self._auto(
                lambda s: s.download(symbol, start, end, time_limit=time_limit),
                lambda r: not r.failed and r.missing < r.files,
            )
        inst = self._instruments(symbol)
        t0, t1 = _utc_range(start, end)
        return self._download(self._files(inst, t0, t1), self.cache_dir, time_limit)

    def files(
        self, symbol: str, start: pd.Timestamp | str, end: pd.Timestamp | str
    ) -> list[RemoteFile]:
        """The remote files the current mode (auto: the one used, else the first) needs."""
        if self.mode == "auto":
            return self.with_mode(self.used_mode or self.auto_modes[0]).files(symbol, start, end)
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

    def _downloader(self) -> Downloader:
        json_mode = self.mode in JSON_MODES
        return Downloader(
            self.max_concurrency,
            self.retries,
            self.backoff,
            self.timeout,
            self.on_progress,
            headers={"Accept": "application/json"} if json_mode else None,
            retry_other_2xx=json_mode,  # the API answers every period with a JSON object
        )

    def _download(
        self, files: list[RemoteFile], root: Path, time_limit: float | None = None
    ) -> DownloadReport:
        """Fetch every file not validly cached under ``root``; results come back in the order
        of ``files`` (``result.request.path`` is the file's place under ``root``)."""
        now = self._now()
        requests = [
            FileRequest(
                self.url(f, live=f.end > now),
                root / f.path,
                f.end <= now,
                body_validator(self.mode, f.side),
            )
            for f in files
        ]
        report = self._downloader().fetch_all(requests, time_limit=time_limit)
        for r in report.results:
            if r.status == MISSING:
                log.info("no data (HTTP 404): %s", r.request.url)
        return report

    def _fetched(self, files: list[RemoteFile], root: Path) -> list[Fetched]:
        return list(zip(files, self._download(files, root).results, strict=True))

    # ------------------------------------------------------------------------ decoding

    def _decode_ticks(self, fetched: Fetched, inst: Instrument) -> dict:
        file, result = fetched
        if result.status == MISSING:
            return empty_tick_arrays()
        data, name = _body(fetched)
        if self.mode in JSON_MODES:
            return dj.decode_json_ticks(data, inst.point, name)
        return decode_tick_arrays(data, file.start, inst.point, name)

    def _hour_bars(self, fetched: Fetched, inst: Instrument) -> dict | None:
        t = self._decode_ticks(fetched, inst)
        if not len(t["time"]):
            return None
        return aggregate_ticks_m1(t["time"], t["bid"], t["ask"], t["bid_volume"])

    def _tick_bars(self, fetched: list[Fetched], inst: Instrument) -> pd.DataFrame:
        # One hour per task: a minute never spans two hourly files, so memory stays at one
        # hour of ticks per worker. LZMA releases the GIL, hence threads speed decoding up.
        workers = max(1, min(_DECODE_WORKERS, len(fetched)))
        with ThreadPoolExecutor(workers, thread_name_prefix="bi5-decode") as pool:
            hours = pool.map(lambda f: self._hour_bars(f, inst), fetched)
            parts = [p for p in hours if p is not None]
        if not parts:
            return empty_ohlcv(with_spread=True)
        return bars_frame({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})

    def _candle_bars(self, fetched: list[Fetched], inst: Instrument) -> pd.DataFrame:
        bids, asks = [], []
        for file, result in fetched:
            if result.status == MISSING:
                continue
            data, name = _body((file, result))
            if self.mode in JSON_MODES:
                candles = dj.decode_json_candles(data, inst.point, name)
            else:
                candles = decode_candles(data, file.start, inst.point, name)
            (asks if file.side == "ASK" else bids).append(candles)
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


def _body(fetched: Fetched) -> tuple[bytes, str]:
    """A fetched file's bytes and a name for messages."""
    file, result = fetched
    if result.data is not None:
        return result.data, file.path
    path = result.request.path
    return path.read_bytes(), str(path)


def _raise_failures(fetched: list[Fetched], label: str) -> None:
    failed = [r.error for _, r in fetched if r.status == FAILED]
    if failed:
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        raise DataError(f"{label}: {len(failed)} file(s) failed: " + "; ".join(failed[:3]) + more)
    missing = sum(r.status == MISSING for _, r in fetched)
    if missing:
        log.warning(
            "%s: %d file(s) not on the server (HTTP 404), treated as no data", label, missing
        )


__all__ = [
    "DEFAULT_BASE_URL",
    "DownloadReport",
    "DukascopySource",
    "DEFAULT_JSON_BASE_URL",
    "AUTO_ORDER",
    "MODES",
    "RemoteFile",
    "candle_file",
    "json_candle_file",
    "json_tick_file",
    "tick_file",
]
