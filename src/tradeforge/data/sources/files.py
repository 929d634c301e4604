"""Import OHLCV bars from CSV and Parquet files (MetaTrader, Dukascopy, generic layouts).

`read_bars_file` reads one file into a validated frame; `FileSource` (in
`tradeforge.data.sources.file_source`, re-exported here) serves files or a folder of them
through the `DataSource` protocol. Layouts are detected by
`tradeforge.data.sources.files_formats`. Parsing is vectorised (Arrow's CSV reader, pandas'
C reader as the fallback that names bad lines; each distinct date and clock string parsed once,
strictly), well under a second per million rows.

Rules:
- timestamps become tz-aware UTC; naive ones (MetaTrader exports, generic files without an
  offset) are read in ``tz`` (an IANA name such as ``"EET"``, or a fixed offset ``"+02:00"``);
- MetaTrader's ``<SPREAD>`` is in points and becomes price units (points x 10**-digits of the
  instrument), so it needs ``symbol`` (or an explicit ``point``);
- nothing is silently fixed: unsorted or duplicate timestamps, NaN and inconsistent OHLC are
  `DataValidationError` naming the file, the row and the file line.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from tradeforge.core.errors import ConfigError, DataError, DataValidationError
from tradeforge.core.instruments import get_instrument
from tradeforge.core.paths import user_path
from tradeforge.data.sources import files_times as ft
from tradeforge.data.sources.files_formats import (
    FORMATS,
    NUMERIC_ROLES,
    TIME_ROLES,
    CsvLayout,
    detect_csv_layout,
    is_parquet,
)
from tradeforge.data.validate import OHLCV_COLUMNS, validate_ohlcv

if TYPE_CHECKING:  # re-exported lazily by __getattr__ below
    from tradeforge.data.sources.file_source import (  # noqa: F401
        FileSource,
        infer_timeframe,
        timeframes_in_name,
    )

__all__ = ["FORMATS", "FileSource", "read_bars_file"]

_OFFSET_TZ = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


# --------------------------------------------------------------------------- public API


def read_bars_file(
    path: str | Path,
    format: str = "auto",
    tz: str | dt.tzinfo = "UTC",
    symbol: str | None = None,
    *,
    point: float | None = None,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Read a bar file into a validated OHLCV frame (see `tradeforge.data.validate`).

    ``format`` is ``"auto"`` or one of `FORMATS` (mt5, mt4, dukascopy, generic, parquet).
    ``tz`` is the time zone of naive timestamps (MetaTrader exports are in broker server time,
    often ``"EET"``). ``symbol`` (or ``point``) converts MetaTrader spreads from points to price.
    ``date_format`` (strptime, e.g. ``"%d.%m.%Y"``) overrides the detected format of the date
    column, or of the whole time column of files that have one, and of Parquet time text.
    """
    path = user_path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    zone = resolve_tz(tz)
    if format == "parquet" or (format == "auto" and is_parquet(path)):
        return _read_parquet(path, zone, date_format)
    layout = detect_csv_layout(path, format)
    raw = _read_csv(path, layout)
    index = _parse_times(raw, layout, path, zone, date_format)
    frame = pd.DataFrame(
        {c: np.asarray(raw[c], dtype="float64") for c in NUMERIC_ROLES if c in raw},
        index=index,
    )
    if "spread" in frame.columns and layout.format == "mt5":
        frame["spread"] = _points_to_price(frame["spread"].to_numpy(), path, symbol, point)
    return _validate(frame, path, layout.first_data_line)


def resolve_tz(tz: str | dt.tzinfo | None) -> dt.tzinfo:
    """``"UTC"``, an IANA zone name (``"EET"``) or a fixed offset (``"+02:00"``, ``"UTC+2"``)."""
    if tz is None:
        return dt.timezone.utc
    if isinstance(tz, dt.tzinfo):
        return tz
    text = str(tz).strip()
    if text.upper() in ("UTC", "GMT", "Z"):
        return dt.timezone.utc
    m = _OFFSET_TZ.match(text)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
        if minutes > 14 * 60:
            raise ConfigError(f"time zone offset out of range: {tz!r}")
        return dt.timezone(sign * dt.timedelta(minutes=minutes))
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {tz!r}; use an IANA name such as 'Europe/Athens' or 'EET', "
            "or a fixed offset such as '+02:00'"
        ) from None


# --------------------------------------------------------------------------- CSV reading


Columns = dict[str, Any]  # role -> pa.Array of strings (time roles) or float64 ndarray


def _read_csv(path: Path, layout: CsvLayout) -> Columns:
    """The file's columns by role: time roles as Arrow strings, numeric roles as float64.

    Arrow's multi-threaded reader does the common case; anything it rejects (ragged rows,
    stray spaces, decimal commas, zip archives, non-numbers) goes through pandas' C reader,
    which either copes or yields an error naming the line.
    """
    positions = {role: i for i, role in enumerate(layout.roles) if role}
    missing = [c for c in OHLCV_COLUMNS if c not in positions]
    if missing:
        raise DataError(f"{path}: {layout.format} layout without columns {missing}")
    if layout.decimal == "." and layout.compression in (None, "gzip", "bz2"):
        try:
            return _read_csv_arrow(path, layout, positions)
        except (pa.ArrowException, UnicodeError):
            pass
    return _read_csv_pandas(path, layout, positions)


def _read_csv_arrow(path: Path, layout: CsvLayout, positions: dict[str, int]) -> Columns:
    from pyarrow import csv as pacsv

    types = {
        f"f{i}": pa.string() if role in TIME_ROLES else pa.float64()
        for role, i in positions.items()
    }
    encoding = "utf8" if layout.encoding in ("utf-8", "utf-8-sig") else layout.encoding
    with pa.input_stream(str(path), compression=layout.compression) as stream:
        table = pacsv.read_csv(
            stream,
            read_options=pacsv.ReadOptions(
                skip_rows=1 if layout.header else 0,
                autogenerate_column_names=True,
                encoding=encoding,
            ),
            parse_options=pacsv.ParseOptions(delimiter=layout.sep),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=list(types), strings_can_be_null=False
            ),
        )
    out: Columns = {}
    for role, i in positions.items():
        col = table.column(f"f{i}").combine_chunks()
        out[role] = col if role in TIME_ROLES else col.to_numpy(zero_copy_only=False)
    return out


def _read_csv_pandas(path: Path, layout: CsvLayout, positions: dict[str, int]) -> Columns:
    dtypes: dict[int, Any] = {
        i: (object if role in TIME_ROLES else "float64") for role, i in positions.items()
    }
    kwargs: dict[str, Any] = {
        "sep": layout.sep,
        "header": None,
        "skiprows": 1 if layout.header else 0,
        "usecols": sorted(positions.values()),
        "encoding": layout.encoding,
        "compression": layout.compression,
        "decimal": layout.decimal,
        "skip_blank_lines": True,
        "skipinitialspace": True,
        "engine": "c",
    }
    try:
        table = pd.read_csv(path, dtype=dtypes, **kwargs)
    except ValueError as exc:  # a value that is not a number: find which, where
        if isinstance(exc, pd.errors.ParserError):
            raise DataError(f"{path}: {exc}") from None
        raise _locate_bad_number(path, kwargs, positions, layout) from None
    except (OSError, UnicodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    return {
        role: _to_arrow(table[i]) if role in TIME_ROLES else table[i].to_numpy("float64")
        for role, i in positions.items()
    }


def _locate_bad_number(
    path: Path, kwargs: dict[str, Any], positions: dict[str, int], layout: CsvLayout
) -> DataError:
    try:
        table = pd.read_csv(path, dtype=object, **kwargs)
    except (ValueError, OSError, UnicodeError) as exc:  # e.g. rows without the layout's columns
        return DataError(f"cannot read {path} as {layout.format} CSV: {exc}")
    for role in NUMERIC_ROLES:
        if role not in positions:
            continue
        text = table[positions[role]]
        if layout.decimal != ".":
            text = text.str.replace(layout.decimal, ".", regex=False)
        bad = pd.to_numeric(text, errors="coerce").isna().to_numpy() & text.notna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            line = row + layout.first_data_line
            return DataError(
                f"{path}: line {line}: {role} is not a number: {table[positions[role]].iloc[row]!r}"
            )
    return DataError(f"{path}: cannot parse the numeric columns")


# --------------------------------------------------------------------------- timestamps


def _parse_times(
    raw: Columns, layout: CsvLayout, path: Path, tz: dt.tzinfo, date_format: str | None
) -> pd.DatetimeIndex:
    if "date" in raw:
        fmt = date_format or _sniffed_date_format(layout.sample.get("date", ""))
        ns, state = ft.date_and_clock(raw["date"], raw.get("time"), fmt)
        aware, what = False, fmt.replace("%", "") + (" HH:MM[:SS]" if "time" in raw else "")
    elif date_format:
        ns, state, aware = ft.with_format(raw["datetime"], date_format)
        what = f"--date-format {date_format!r}"
    elif layout.format == "dukascopy" and not re.match(r"^\d{4}-", layout.sample["datetime"]):
        # "Gmt time" is UTC and "Local time" carries explicit offsets: ``tz`` does not apply
        ns, state = ft.dukascopy(raw["datetime"])
        aware, what = True, "dd.mm.yyyy HH:MM:SS.fff [GMT+hhmm]"
    else:
        ns, state, aware, what = ft.iso_or_epoch(raw["datetime"].to_pandas())
    if state.any():
        row = int(np.flatnonzero(state)[0])
        shown = " ".join(str(raw[c][row]) for c in TIME_ROLES if c in raw)
        problem = _TIME_PROBLEMS[int(state[row])].format(
            time=_clip(shown),
            what=what,
            range=ft.NS_RANGE,
            offset="no UTC offset" if aware else "a UTC offset",
        )
        raise DataError(f"{path}: line {row + layout.first_data_line}: {problem}")
    index = pd.DatetimeIndex(ns.view("datetime64[ns]"), name="time")
    if aware:
        return index.tz_localize("UTC")
    return _localize(index, tz, path)


_TIME_PROBLEMS = {
    ft.BAD: "cannot parse time {time!r} (expected {what}; see --date-format)",
    ft.OUTSIDE: "time {time!r} is outside the supported range {range}",
    ft.MIXED: "time {time!r} has {offset}, unlike the first row: a file's times must all have "
    "an offset or all lack one",
}


def _sniffed_date_format(sample: str) -> str:
    m = re.match(r"^\d{4}([./-]?)\d{2}", sample)
    return ft.DATE_FORMATS[m.group(1) if m else "."]


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _localize(index: pd.DatetimeIndex, tz: dt.tzinfo, path: Path | str) -> pd.DatetimeIndex:
    if tz == dt.timezone.utc or str(tz) == "UTC":
        return index.tz_localize("UTC")
    try:
        local = index.tz_localize(tz, ambiguous="infer", nonexistent="raise")
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"{path}: cannot place naive times in time zone {tz} (daylight-saving change?): {exc}"
        ) from None
    return local.tz_convert("UTC")


def _to_arrow(values: pd.Series) -> pa.Array:
    return pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


# --------------------------------------------------------------------------- other pieces


def _points_to_price(
    points: np.ndarray, path: Path, symbol: str | None, point: float | None
) -> np.ndarray:
    if point is None:
        if not points.any():
            return points.astype("float64")  # zero is zero at any point size
        if symbol is None:
            raise ConfigError(
                f"{path}: MetaTrader spreads are in points; pass symbol= (or point=) to "
                "convert them to price units"
            )
        digits = get_instrument(symbol).digits
        return np.round(points * 10.0**-digits, digits)
    if not (np.isfinite(point) and point > 0):
        raise ConfigError(f"point must be > 0, got {point!r}")
    decimals = max(0, -int(np.floor(np.log10(point)))) + 2
    return np.round(points * point, decimals)


def _validate(frame: pd.DataFrame, path: Path, first_line: int | None) -> pd.DataFrame:
    """`validate_ohlcv` with the file line added to its row-numbered message."""
    try:
        return validate_ohlcv(frame, source=str(path))
    except DataValidationError as exc:
        m = re.search(r": row (\d+) at ", str(exc))
        if m is None or first_line is None:
            raise
        line = int(m.group(1)) + first_line
        raise DataValidationError(f"{exc} [file line {line}]") from None


def _read_parquet(path: Path, tz: dt.tzinfo, date_format: str | None) -> pd.DataFrame:
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise DataError(f"cannot read Parquet file {path}: {exc}") from None
    table = table.rename(columns={c: str(c).strip().lower() for c in table.columns})
    if not isinstance(table.index, pd.DatetimeIndex):
        names = [c for c in ("time", "timestamp", "datetime", "date") if c in table.columns]
        if not names:
            raise DataError(
                f"{path}: no time index or column (time, timestamp, datetime, date) in "
                f"{list(table.columns)}"
            )
        col = table[names[0]]
        if pd.api.types.is_numeric_dtype(col):
            ns, state, _, _ = ft.iso_or_epoch(col.astype(str).astype(object))
            if state.any():
                raise DataError(f"{path}: row {int(np.flatnonzero(state)[0])}: bad epoch time")
            index = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
        else:
            try:
                fmt = date_format or "ISO8601"  # never guess day-first or month-first
                index = pd.DatetimeIndex(pd.to_datetime(col, format=fmt, errors="raise"))
            except (ValueError, TypeError) as exc:
                raise DataError(f"{path}: cannot parse column {names[0]!r}: {exc}") from None
        table = table.drop(columns=[names[0]]).set_index(index)
    index = table.index
    index = _localize(index, tz, path) if index.tz is None else index.tz_convert("UTC")
    table.index = index.rename("time")
    return _validate(table, path, None)


# --------------------------------------------------------------------------- re-exports

_FILE_SOURCE_NAMES = ("FileSource", "infer_timeframe", "timeframes_in_name")


def __getattr__(name: str) -> Any:
    """``from tradeforge.data.sources.files import FileSource`` keeps working; resolved
    lazily because `tradeforge.data.sources.file_source` imports this module."""
    if name in _FILE_SOURCE_NAMES:
        from tradeforge.data.sources import file_source

        return getattr(file_source, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
