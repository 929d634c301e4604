"""Downloaded quote ticks, one Parquet file per symbol and UTC day.

``<home>/raw/<source>/<SYMBOL>/<YYYY-MM-DD>.parquet`` (beside the Dukascopy bi5 files in
``raw/dukascopy``) holds a frame with a UTC ``time`` index and ``bid`` and ``ask`` columns,
time-sorted (ticks of one millisecond keep their order): what the source sent, e.g. one-sided
events for cTrader (`tradeforge.data.ticks.paired_quotes` pairs them), never data derived from
ticks outside the file's range. A download is authoritative for the
range it covered: `TickCache.write` replaces a day's ticks inside ``[start, end)`` and keeps the
rest, so a repeated or overlapping download neither loses nor doubles a tick. Files are
replaced atomically under the day's lock.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tradeforge.core.atomic import atomic_write
from tradeforge.core.errors import DataError
from tradeforge.core.filelock import locked
from tradeforge.core.names import validate_symbol
from tradeforge.core.paths import user_path

COLUMNS = ("bid", "ask")
_DAY = pd.Timedelta(days=1)


class TickCache:
    """The tick files of one source under ``home`` (see the module docstring)."""

    def __init__(self, home: str | Path, source: str) -> None:
        self.root = user_path(home) / "raw" / source

    def _path(self, symbol: str, day: pd.Timestamp) -> Path:
        return self.root / validate_symbol(symbol) / f"{day:%Y-%m-%d}.parquet"

    def write(
        self, symbol: str, ticks: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
    ) -> list[Path]:
        """Store ``ticks`` (all inside ``[start, end)``) as the ticks of that range; the day
        files written."""
        written = []
        day = start.floor("D")
        while day < end:
            lo, hi = max(start, day), min(end, day + _DAY)
            path = self._path(symbol, day)
            path.parent.mkdir(parents=True, exist_ok=True)
            part = ticks[(ticks.index >= lo) & (ticks.index < hi)]
            with locked(path.with_name(path.name + ".lock")):
                if path.exists():
                    old = _read(path)
                    keep = old[(old.index < lo) | (old.index >= hi)]
                    part = pd.concat([keep, part]).sort_index(kind="stable")
                if len(part):
                    frame = part[list(COLUMNS)]
                    atomic_write(path, lambda fh, f=frame: f.to_parquet(fh, compression="lz4"))
                    written.append(path)
            day += _DAY
        return written

    def load(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """The stored ticks in ``[start, end)`` (an empty frame when there are none)."""
        parts = []
        day = start.floor("D")
        while day < end:
            path = self._path(symbol, day)
            if path.exists():
                parts.append(_read(path))
            day += _DAY
        if not parts:
            return pd.DataFrame({c: [] for c in COLUMNS}, index=pd.DatetimeIndex([], tz="UTC"))
        frame = pd.concat(parts)
        return frame[(frame.index >= start) & (frame.index < end)]


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several kinds for a damaged file
        raise DataError(
            f"{path}: unreadable tick file ({exc}); delete it and download again"
        ) from None


__all__ = ["TickCache"]
