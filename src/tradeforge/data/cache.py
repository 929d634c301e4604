"""Local Parquet store of OHLCV bars: ``<home>/bars/<SYMBOL>/<TF>/<YEAR>.parquet``.

Each partition carries metadata (source, created, rows, checksum) in its Parquet key-value
metadata, so listing the store reads footers only. A partition holds one row group per calendar
month, and loading scans it through ``pyarrow.dataset`` with the time range pushed down: a load
opens only the year files overlapping its range, reads only the row groups whose time
statistics overlap it, and only the columns asked for (`scan_partition`), then cuts the range
exactly. Writes are atomic (temp file, fsync, rename); writing bars that overlap stored ones
merges them, the newer write winning on equal timestamps, never duplicating a bar.

A write holds an exclusive lock on the partition (``.<YEAR>.parquet.lock`` beside it) from
reading the old bars to renaming the merged file, so concurrent writers (threads or processes)
never lose each other's bars; the OS drops the lock if the writer dies. Readers take no lock:
the rename is atomic, so they see the old or the new partition. A partition that cannot be read
is reported with the `tradeforge data repair` command that moves it aside.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from tradeforge.core.atomic import atomic_write
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.filelock import locked
from tradeforge.core.names import validate_symbol
from tradeforge.core.paths import user_path
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
    """Bars cache rooted at ``<home>/bars``.

    ``home`` may also be an fsspec URL (``file:///shared/tf``, ``s3://bucket/tf`` with s3fs
    installed, ``memory://tf``): such a store is read-only here (`load` and `has`; writing,
    listing and repair need a local path) — what workers of a cluster need to read the bars
    from one place."""

    def __init__(self, home: str | Path) -> None:
        self.fs: Any = None  # an fsspec filesystem when ``home`` is a URL
        if is_url(home):
            import fsspec

            try:
                self.fs, root = fsspec.core.url_to_fs(str(home))
            except (ValueError, ImportError) as exc:  # unknown scheme, its package missing
                raise ConfigError(f"cannot open the bar store {home}: {exc}") from None
            self.root: Path = PurePosixPath(root) / "bars"  # type: ignore[assignment]
        else:
            self.root = user_path(home) / "bars"

    def _local(self, what: str) -> None:
        if self.fs is not None:
            raise ConfigError(
                f"the store at {self.fs.unstrip_protocol(str(self.root.parent))} is read "
                f"through fsspec: {what} needs a local path (--home DIR)"
            )

    def _stored(self, directory: Path) -> list[Path]:
        """The year partitions in ``directory``, oldest first."""
        if self.fs is None:
            paths = list(directory.glob("*.parquet"))
        else:
            paths = [PurePosixPath(p) for p in self.fs.glob(f"{directory}/*.parquet")]  # type: ignore[misc]
        return sorted(paths, key=lambda p: int(p.stem))

    def _dir(self, symbol: str, timeframe: Timeframe) -> Path:
        return self.root / validate_symbol(symbol) / timeframe.name

    def partition_dir(self, symbol: str, timeframe: Timeframe | str) -> Path:
        """The folder holding the ``<YEAR>.parquet`` partitions of ``symbol``/``timeframe``."""
        return self._dir(symbol, Timeframe.parse(timeframe))

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
        self._local("writing bars")
        directory = self._dir(symbol, tf)
        directory.mkdir(parents=True, exist_ok=True)
        written = 0
        for year in sorted(set(years)):
            part = frame[years == year]
            path = directory / f"{year}.parquet"
            with partition_lock(path):
                if path.exists():
                    old = read_partition_table(path).to_pandas()
                    part = pd.concat([old[~old.index.isin(part.index)], part]).sort_index()
                    if "spread" in old.columns and "spread" not in frame.columns:
                        part = part.drop(columns="spread")
                self._write_partition(path, part, source)
            written += 1
        return written

    def _write_partition(self, path: Path, frame: pd.DataFrame, source: str) -> None:
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
        months = frame.index.month.to_numpy()
        bounds = [0, *(np.flatnonzero(months[1:] != months[:-1]) + 1).tolist(), len(frame)]

        def write(fh: Any) -> None:  # one row group per month: the unit a range load skips
            with pq.ParquetWriter(fh, table.schema, compression="lz4") as writer:
                for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
                    writer.write_table(table.slice(lo, hi - lo))

        atomic_write(path, write)

    # -- reading -----------------------------------------------------------------------------
    def load(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Bars with open time in ``[start, end)`` (only ``columns`` beside the time index,
        when given); raises `DataError` when none are stored. Reads no more than that (see
        the module docstring)."""
        tf = Timeframe.parse(timeframe)
        start_ts, end_ts = to_utc(start, "start"), to_utc(end, "end")
        directory = self._dir(symbol, tf)
        paths = self._stored(directory)
        if start_ts is not None:
            paths = [p for p in paths if int(p.stem) >= start_ts.year]
        if end_ts is not None:
            paths = [p for p in paths if int(p.stem) <= end_ts.year]
        if not paths:
            raise DataError(
                f"no cached {tf} bars for {symbol.upper()} in {self.root}"
                f"{_range_text(start_ts, end_ts)}; run `tradeforge data synth|import|download` first"
            )
        tables = [scan_partition(p, start_ts, end_ts, columns, self.fs) for p in paths]
        frame = pa.concat_tables(tables).to_pandas()
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
        return bool(self._stored(self.partition_dir(symbol, timeframe)))

    def partitions(
        self, symbol: str | None = None, unreadable: list[DataError] | None = None
    ) -> list[PartitionInfo]:
        """Stored partitions (of ``symbol``, or all). An unreadable one raises its `DataError`,
        or is appended to ``unreadable`` when a list is given (listing what still reads)."""
        self._local("listing partitions")
        out: list[PartitionInfo] = []
        pattern = f"{validate_symbol(symbol)}/*/*.parquet" if symbol else "*/*/*.parquet"
        if not self.root.exists():
            return out
        for path in sorted(self.root.glob(pattern)):
            try:
                with open(path, "rb") as fh:  # one handle: a concurrent rename cannot interfere
                    parquet = pq.ParquetFile(fh)
                    md = parquet.metadata
                    times = parquet.read(columns=["time"]).column("time")
                meta = json.loads((md.metadata or {}).get(_META_KEY, b"{}"))
            except (OSError, ValueError, pa.ArrowException) as exc:
                if unreadable is None:
                    raise unreadable_partition(path, exc) from exc
                unreadable.append(unreadable_partition(path, exc))
                continue
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

    def summary(self, unreadable: list[DataError] | None = None) -> pd.DataFrame:
        """One row per (symbol, timeframe): first, last, rows, bytes, sources (``unreadable``:
        see `partitions`)."""
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
            for p in self.partitions(unreadable=unreadable)
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


@dataclass(frozen=True)
class StoreSlice:
    """Where a run's bars are: a store ``home`` every worker can read (a local or shared
    file-system path, or an fsspec URL: see `ParquetStore`), a timeframe and an optional
    ``[start, end)`` range.

    Small and picklable: a job (a thread, a local process, a Dask worker) loads its own
    symbol with `load`, so bars never travel through a scheduler and a universe larger than
    memory is read one symbol at a time."""

    home: str
    timeframe: str
    start: str | None = None
    end: str | None = None

    def load(self, symbol: str) -> pd.DataFrame:
        """The bars of ``symbol`` in the slice (`ParquetStore.load`)."""
        return ParquetStore(self.home).load(symbol, self.timeframe, self.start, self.end)


def is_url(home: str | Path) -> bool:
    """Whether a store ``home`` is an fsspec URL (``scheme://…``) rather than a path."""
    return isinstance(home, str) and "://" in home


def partition_lock(path: Path) -> AbstractContextManager[None]:
    """The exclusive lock a partition's writers (and `tradeforge data repair`) hold."""
    return locked(path.with_name(f".{path.name}.lock"))


def read_partition_table(path: Path) -> pa.Table:
    """Read a whole partition; an unreadable one is a `DataError` naming it and its repair.

    The file is opened once: reading by path opens it again for the data pages, and a writer's
    rename in between would pair one file's footer with another's pages."""
    try:
        with open(path, "rb") as fh:
            return pq.read_table(fh)
    except (OSError, pa.ArrowException) as exc:
        raise unreadable_partition(path, exc) from exc


def scan_partition(
    path: Path,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    columns: Sequence[str] | None = None,
    fs: Any = None,
) -> pa.Table:
    """The row groups of a partition whose ``time`` statistics overlap ``[start, end)``, with
    the ``columns`` asked for (all when None; ``time`` always): the range pushed down to the
    row groups, the exact cut left to the caller (rows outside it but in an overlapping row
    group are kept; a row-level filter costs more than it saves). Opened once, as
    `read_partition_table` explains (through ``fs``, an fsspec filesystem, when given); an
    unknown column or an unreadable file is a `DataError`."""
    where = None
    if start is not None:
        where = ds.field("time") >= start
    if end is not None:
        before = ds.field("time") < end
        where = before if where is None else where & before
    try:
        with pa.OSFile(str(path), "r") if fs is None else fs.open(str(path), "rb") as fh:
            fragment = ds.ParquetFileFormat().make_fragment(fh)
            stored = fragment.physical_schema.names
            if columns is not None:
                missing = [c for c in columns if c not in stored]
                if missing:
                    raise DataError(
                        f"cache partition {path} has no column {', '.join(map(repr, missing))}; "
                        f"it stores {', '.join(n for n in stored if n != 'time')}"
                    )
                columns = ["time", *(c for c in columns if c != "time")]
            if where is not None:
                fragment = fragment.subset(filter=where)
            # one thread: month row groups are small, and threads cost more than they give
            return fragment.to_table(columns=columns, use_threads=False)
    except (OSError, pa.ArrowException) as exc:
        raise unreadable_partition(path, exc) from exc


def unreadable_partition(path: Path, exc: BaseException) -> DataError:
    symbol, timeframe, year = path.parent.parent.name, path.parent.name, path.stem
    home = path.parents[3]  # <home>/bars/<SYMBOL>/<TF>/<YEAR>.parquet
    return DataError(
        f"cannot read cache partition {path} ({exc}); run `tradeforge data repair --symbol "
        f"{symbol} --timeframe {timeframe} --year {year} --home {home}` to move it aside, then "
        "re-import or re-download that year"
    )


def _range_text(start: pd.Timestamp | None, end: pd.Timestamp | None) -> str:
    if start is None and end is None:
        return ""
    return f" between {start or '-inf'} and {end or '+inf'}"
