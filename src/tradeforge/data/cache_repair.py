"""Quarantine unreadable cache partitions (`tradeforge data repair`).

A partition that cannot be read (truncated, garbage bytes) blocks every load that needs its
year. Repair moves it aside to ``<YEAR>.parquet.corrupt-<UTC time>`` (kept for inspection,
never deleted) so the range can be imported or downloaded again. Each partition is checked
under its write lock, so a partition being rewritten is never mistaken for a broken one;
temporary files left there by a killed writer are removed under the same lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tradeforge.core.atomic import remove_stale_temps
from tradeforge.core.errors import DataError
from tradeforge.core.timeframes import Timeframe
from tradeforge.data.cache import ParquetStore, partition_lock, read_partition_table


@dataclass(frozen=True)
class Quarantined:
    """An unreadable partition and where it was moved."""

    year: int
    path: Path
    moved_to: Path
    reason: str


@dataclass(frozen=True)
class RepairReport:
    checked: int  # partitions examined
    quarantined: list[Quarantined]
    stale_temp_files: int  # leftovers of killed writers, removed


def repair_partitions(
    store: ParquetStore, symbol: str, timeframe: Timeframe | str, year: int | None = None
) -> RepairReport:
    """Move every unreadable partition of ``symbol``/``timeframe`` (one ``year`` or all) aside."""
    tf = Timeframe.parse(timeframe)
    directory = store.partition_dir(symbol, tf)
    pattern = f"{year}.parquet" if year is not None else "*.parquet"
    paths = sorted(directory.glob(pattern))
    if not paths:
        which = f" for {year}" if year is not None else ""
        raise DataError(f"no cached {tf} partitions of {symbol.upper()}{which} in {store.root}")
    moved: list[Quarantined] = []
    stale = 0
    for path in paths:
        with partition_lock(path):
            stale += remove_stale_temps(directory, path.name)
            try:
                read_partition_table(path)
            except DataError as exc:
                target = _quarantine_name(path)
                path.rename(target)
                moved.append(Quarantined(int(path.stem), path, target, str(exc.__cause__ or exc)))
    return RepairReport(len(paths), moved, stale)


def _quarantine_name(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    return target
