"""Local Parquet store of OHLCV bars: ``<home>/bars/<SYMBOL>/<TF>/<YEAR>.parquet``.

Each partition carries metadata (source, created, rows, checksum) in its Parquet key-value
metadata, so listing the store reads footers only. Loading a range reads only the years it
needs. Writes are atomic (temp file, fsync, rename); writing bars that overlap stored ones
merges them, the newer write winning on equal timestamps, never duplicating a bar.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradeforge.core.atomic import atomic_write
from tradeforge.core.errors import DataError
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.data.checksum import frame_checksum
from tradeforge.data.validate import validate_ohlcv

_META_KEY = b"tradeforge"


@dataclass(frozen=True)
class PartitionInfo:
    symbol: str
    timeframe: str
    year: int
    path: Path
    rows: int
    first: pd.Timestamp
    last: pd.Timestamp
    source: str
    created: str
    checksum: str
    size_bytes: int


class ParquetStore:
    """Bars cache rooted at ``<home>/bars``."""

    def __init__(self, home: str | Path) -> None:
        self.root = Path(home) / "bars"

    def _dir(self, symbol: str, timeframe: Timeframe) -> Path:
        return self.root / symbol.upper() / timeframe.name

    # -- writing -----------------------------------------------------------------------------
    def write(
        self, symbol: str, timeframe: Timeframe | str, frame: pd.DataFrame, source: str
    ) -> int:
        """Merge ``frame`` into the store; returns the number of partitions written."""
        tf = Timeframe.parse(timeframe)
        frame = validate_ohlcv(frame, source=f"{source} {symbol} {tf}")
        if frame.empty:
            return 0
        years = frame.index.year
        written = 0
        for year in sorted(set(years)):
            part = frame[years == year]
            path = self._dir(symbol, tf) / f"{year}.parquet"
            if path.exists():
                old = self._read_partition(path)
                part = pd.concat([old[~old.index.isin(part.index)], part]).sort_index()
                if "spread" in old.columns and "spread" not in frame.columns:
                    part = part.drop(columns="spread")
            self._write_partition(path, part, source)
            written += 1
        return written

    def _write_partition(self, path: Path, frame: pd.DataFrame, source: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "source": source,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rows": len(frame),
            "checksum": frame_checksum(frame),
        }
        table = pa.Table.from_pandas(frame, preserve_index=True)
        schema_meta = dict(table.schema.metadata or {})
        schema_meta[_META_KEY] = json.dumps(meta).encode()
        table = table.replace_schema_metadata(schema_meta)
        atomic_write(path, lambda fh: pq.write_table(table, fh, compression="lz4"))

    # -- reading -----------------------------------------------------------------------------
    def _read_partition(self, path: Path) -> pd.DataFrame:
        try:
            return pq.read_table(path).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read cache partition {path}: {exc}") from exc

    def load(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Bars with open time in ``[start, end)``; raises `DataError` when none are stored."""
        tf = Timeframe.parse(timeframe)
        start_ts, end_ts = to_utc(start, "start"), to_utc(end, "end")
        directory = self._dir(symbol, tf)
        paths = sorted(directory.glob("*.parquet"), key=lambda p: int(p.stem))
        if start_ts is not None:
            paths = [p for p in paths if int(p.stem) >= start_ts.year]
        if end_ts is not None:
            paths = [p for p in paths if int(p.stem) <= end_ts.year]
        if not paths:
            raise DataError(
                f"no cached {tf} bars for {symbol.upper()} in {self.root}"
                f"{_range_text(start_ts, end_ts)}; run `tradeforge data synth|import|download` first"
            )
        try:
            table = pa.concat_tables([pq.read_table(p) for p in paths])
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read cache for {symbol} {tf}: {exc}") from exc
        frame = table.to_pandas()
        if start_ts is not None or end_ts is not None:
            lo = 0 if start_ts is None else frame.index.searchsorted(start_ts, "left")
            hi = len(frame) if end_ts is None else frame.index.searchsorted(end_ts, "left")
            frame = frame.iloc[lo:hi]
        if frame.empty:
            raise DataError(
                f"no cached {tf} bars for {symbol.upper()}{_range_text(start_ts, end_ts)}"
            )
        return frame

    # -- listing -----------------------------------------------------------------------------
    def has(self, symbol: str, timeframe: Timeframe | str) -> bool:
        """Whether any bars of ``symbol`` on ``timeframe`` are stored (no file is read)."""
        directory = self._dir(symbol, Timeframe.parse(timeframe))
        return any(directory.glob("*.parquet"))

    def partitions(self, symbol: str | None = None) -> list[PartitionInfo]:
        out: list[PartitionInfo] = []
        if not self.root.exists():
            return out
        pattern = f"{symbol.upper()}/*/*.parquet" if symbol else "*/*/*.parquet"
        for path in sorted(self.root.glob(pattern)):
            md = pq.read_metadata(path)
            meta = json.loads((md.metadata or {}).get(_META_KEY, b"{}"))
            times = pq.read_table(path, columns=["time"]).column("time")
            out.append(
                PartitionInfo(
                    symbol=path.parent.parent.name,
                    timeframe=path.parent.name,
                    year=int(path.stem),
                    path=path,
                    rows=int(meta.get("rows", md.num_rows)),
                    first=pd.Timestamp(times[0].as_py()),
                    last=pd.Timestamp(times[-1].as_py()),
                    source=str(meta.get("source", "?")),
                    created=str(meta.get("created", "?")),
                    checksum=str(meta.get("checksum", "")),
                    size_bytes=path.stat().st_size,
                )
            )
        return out

    def summary(self) -> pd.DataFrame:
        """One row per (symbol, timeframe): first, last, rows, bytes, sources."""
        rows = [
            {
                "symbol": p.symbol,
                "timeframe": p.timeframe,
                "first": p.first,
                "last": p.last,
                "rows": p.rows,
                "bytes": p.size_bytes,
                "source": p.source,
            }
            for p in self.partitions()
        ]
        if not rows:
            return pd.DataFrame(
                columns=["symbol", "timeframe", "first", "last", "rows", "bytes", "source"]
            )
        df = pd.DataFrame(rows)
        agg = df.groupby(["symbol", "timeframe"], sort=True).agg(
            first=("first", "min"),
            last=("last", "max"),
            rows=("rows", "sum"),
            bytes=("bytes", "sum"),
            source=("source", lambda s: ",".join(sorted(set(s)))),
        )
        return agg.reset_index()


def _range_text(start: pd.Timestamp | None, end: pd.Timestamp | None) -> str:
    if start is None and end is None:
        return ""
    return f" between {start or '-inf'} and {end or '+inf'}"
