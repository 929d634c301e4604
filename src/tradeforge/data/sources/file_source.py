"""`FileSource`: the `DataSource` over one bar file or a folder of them.

Picks a symbol's files in a folder by name (`timeframes_in_name`), joins yearly files, checks
they do not overlap, and resamples finer bars to the requested timeframe (`infer_timeframe`).
Reading a single file is `tradeforge.data.sources.files.read_bars_file`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError, DataValidationError
from tradeforge.core.instruments import get_instrument
from tradeforge.core.paths import user_path
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.data.resample import resample_ohlcv
from tradeforge.data.sources.files import read_bars_file, resolve_tz
from tradeforge.data.sources.files_formats import FORMATS
from tradeforge.data.validate import empty_ohlcv, validate_ohlcv

__all__ = ["FileSource", "infer_timeframe", "timeframes_in_name"]

_NS = 1_000_000_000

_FILE_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq", ".gz", ".zip", ".bz2", ".xz")
_UNIT_WORDS = {
    "M": "M", "MIN": "M", "MINS": "M", "MINUTE": "M", "MINUTES": "M",
    "H": "H", "HOUR": "H", "HOURS": "H",
    "D": "D", "DAY": "D", "DAYS": "D",
    "W": "W", "WEEK": "W", "WEEKS": "W",
}  # fmt: skip


def timeframes_in_name(stem: str, symbol: str) -> set[str]:
    """Timeframe names a file name states after the symbol: ``EURUSD_M5_…`` (MT5),
    ``EURUSD60`` (MT4 minutes), ``EURUSD_Candlestick_1_Hour_BID_…`` (Dukascopy)."""
    rest = stem.upper()[len(symbol) :]
    found: set[str] = set()
    if rest.isdigit():
        minutes = int(rest)
        for tf in ("M1", "M5", "M15", "M30", "H1", "H4", "D1", "W1"):
            if Timeframe.parse(tf).seconds == minutes * 60:
                found.add(tf)
    tokens = [t for t in re.split(r"[^A-Z0-9]+", rest) if t]
    for i, tok in enumerate(tokens):
        try:
            if re.fullmatch(r"[MHDW]\d+|\d+(MIN|H|D|W)", tok):
                found.add(Timeframe.parse(tok).name)
            elif tok.isdigit() and i + 1 < len(tokens) and tokens[i + 1] in _UNIT_WORDS:
                found.add(Timeframe(_UNIT_WORDS[tokens[i + 1]], int(tok)).name)
        except ConfigError:
            continue
    return found


@dataclass(frozen=True)
class _Cached:
    key: tuple[int, int, str | None]
    frame: pd.DataFrame


class FileSource:
    """`DataSource` over one bar file or a folder of them.

    In a folder, files are chosen by name: they must start with the symbol and either state the
    requested timeframe (``EURUSD_M5.csv``, ``EURUSD5.csv``, ``EURUSD_Candlestick_5_M_BID…``) or
    no timeframe at all; Dukascopy ``ASK`` files are skipped. Several matching files (e.g. one per
    year) are concatenated; overlapping files are an error. Bars finer than requested are
    resampled; coarser bars are an error. Parsed files are kept until they change on disk.
    """

    name = "file"

    def __init__(
        self,
        path: str | Path,
        format: str = "auto",
        tz: str | dt.tzinfo = "UTC",
        *,
        point: float | None = None,
        date_format: str | None = None,
    ) -> None:
        self.path = user_path(path)
        if not self.path.exists():
            raise DataError(f"no such file or folder: {self.path}")
        if format != "auto" and format not in FORMATS:
            raise ConfigError(f"unknown format {format!r}; use auto or one of {', '.join(FORMATS)}")
        self.format = format
        self.tz = resolve_tz(tz)
        self.point = point
        self.date_format = date_format
        self.name = f"file:{self.path.name}"
        self._cache: dict[Path, _Cached] = {}

    def files_for(self, symbol: str, timeframe: Timeframe | str) -> list[Path]:
        """The files that hold ``symbol`` bars of ``timeframe`` (see the class docstring)."""
        if self.path.is_file():
            return [self.path]
        tf = Timeframe.parse(timeframe).name
        sym = get_instrument(symbol).symbol
        exact, untagged = [], []
        candidates = sorted(p for p in self.path.iterdir() if p.is_file())
        for p in candidates:
            if p.suffix.lower() not in _FILE_SUFFIXES or not p.name.upper().startswith(sym):
                continue
            stem = p.name.split(".")[0]
            if "ASK" in re.split(r"[^A-Z0-9]+", stem.upper()):
                continue
            tfs = timeframes_in_name(stem, sym)
            if tf in tfs:
                exact.append(p)
            elif not tfs:
                untagged.append(p)
        chosen = exact or untagged
        if not chosen:
            names = ", ".join(p.name for p in candidates[:20]) or "(empty)"
            raise DataError(f"no {sym} {tf} bar file in {self.path}; found: {names}")
        return chosen

    def read(self, path: Path, symbol: str) -> pd.DataFrame:
        """One file as a validated frame, re-read only when the file changed."""
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size, symbol.upper())
        hit = self._cache.get(path)
        if hit is None or hit.key != key:
            frame = read_bars_file(
                path, self.format, self.tz, symbol, point=self.point, date_format=self.date_format
            )
            hit = self._cache[path] = _Cached(key, frame)
        return hit.frame

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: pd.Timestamp | str | None = None,
        end: pd.Timestamp | str | None = None,
    ) -> pd.DataFrame:
        tf = Timeframe.parse(timeframe)
        frame = _concat(((p, self.read(p, symbol)) for p in self.files_for(symbol, tf)), self.path)
        frame = _to_timeframe(frame, tf, self.path)
        lo, hi = to_utc(start, "start"), to_utc(end, "end")
        i = 0 if lo is None else frame.index.searchsorted(lo, side="left")
        j = len(frame) if hi is None else frame.index.searchsorted(hi, side="left")
        return frame.iloc[i:j]


def _concat(parts: Iterable[tuple[Path, pd.DataFrame]], source: Path) -> pd.DataFrame:
    """Frames of several files in time order; overlapping files are an error, not merged."""
    parts = sorted(((p, f) for p, f in parts if len(f)), key=lambda pf: pf[1].index[0])
    if not parts:
        return empty_ohlcv()
    for (prev_path, prev), (path, frame) in zip(parts, parts[1:], strict=False):
        if frame.index[0] <= prev.index[-1]:
            raise DataValidationError(
                f"{source}: {path.name} (from {frame.index[0]}) overlaps {prev_path.name} "
                f"(to {prev.index[-1]}); duplicate timestamps are not merged silently"
            )
    if len(parts) == 1:
        return parts[0][1]
    common = [c for c in parts[0][1].columns if all(c in f.columns for _, f in parts)]
    return validate_ohlcv(pd.concat([f[common] for _, f in parts]), source=str(source))


def infer_timeframe(index: pd.DatetimeIndex) -> Timeframe | None:
    """The bar size of an index: its smallest step; None with fewer than two bars or a step
    that is no timeframe (such as 90 seconds)."""
    if len(index) < 2:
        return None
    step = int(np.diff(index.as_unit("ns").asi8).min()) // _NS
    for unit, size in (("W", 7 * 86400), ("D", 86400), ("H", 3600), ("M", 60)):
        if step % size == 0:
            try:
                return Timeframe(unit, step // size)
            except ConfigError:
                return None
    return None


def _to_timeframe(frame: pd.DataFrame, tf: Timeframe, source: Path) -> pd.DataFrame:
    have = infer_timeframe(frame.index)
    if have is None and len(frame) > 1:
        raise DataError(f"{source}: the bar spacing is not a whole timeframe (M1 … W1)")
    if have is None or have == tf:
        return frame
    if have.divides(tf):
        return resample_ohlcv(frame, tf)
    raise DataError(f"{source}: holds {have} bars (or coarser); cannot serve {tf}")
