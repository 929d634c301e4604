"""Dukascopy ``.bi5`` files: LZMA-compressed arrays of big-endian fixed-size records.

Two record layouts exist (see docs/protocols.md §Records):

* tick, 20 bytes ``>3I2f``: ms since the start of the hour, **ask**, **bid** (integer points),
  ask volume, bid volume (float32, millions of units);
* candle, 24 bytes ``>5if``: seconds since the start of the file period, open, **close**,
  **low**, **high** (integer points), volume (float32, millions of units).

Prices are integers in the instrument's Dukascopy point (``price = raw * point``, e.g. 1e-5 for
EURUSD, 1e-3 for USDJPY). A 0-byte file means the period had no data (closed market). Decoding is
vectorized through numpy structured dtypes. The encoders exist so tests (and fake servers) can
build files in the real format.
"""

from __future__ import annotations

import lzma
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from tradeforge.core.errors import DataError

TICK_DTYPE = np.dtype(
    [("ms", ">u4"), ("ask", ">u4"), ("bid", ">u4"), ("ask_volume", ">f4"), ("bid_volume", ">f4")]
)
CANDLE_DTYPE = np.dtype(
    [
        ("seconds", ">i4"),
        ("open", ">i4"),
        ("close", ">i4"),
        ("low", ">i4"),
        ("high", ">i4"),
        ("volume", ">f4"),
    ]
)
assert TICK_DTYPE.itemsize == 20 and CANDLE_DTYPE.itemsize == 24

_MS_PER_HOUR = 3_600_000
_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000
#: mimic Dukascopy's encoder: LZMA1 "alone" format with a 4 MiB dictionary
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA1, "dict_size": 1 << 22}]


# ---------------------------------------------------------------------------------- decoding


def decompress(data: bytes, name: str = "bi5 data") -> bytes:
    """Decompress a bi5 body; ``b""`` for an empty (closed-period) file.

    Raises `DataError` naming ``name`` when the body is an HTML page (a block or error page
    served with status 200) or is not a complete LZMA stream.
    """
    if not data:
        return b""
    if data.lstrip()[:1] == b"<":
        raise DataError(f"{name}: got an HTML page instead of a bi5 file (blocked or error page?)")
    try:
        return lzma.decompress(data, format=lzma.FORMAT_AUTO)
    except lzma.LZMAError as exc:
        raise DataError(f"{name}: corrupt or truncated LZMA data ({exc})") from exc


def parse_records(raw: bytes, dtype: np.dtype, name: str = "bi5 data") -> np.ndarray:
    """View decompressed bytes as records of ``dtype`` (zero-copy, read-only)."""
    if len(raw) % dtype.itemsize:
        raise DataError(
            f"{name}: {len(raw)} decompressed bytes is not a multiple of the "
            f"{dtype.itemsize}-byte record size"
        )
    return np.frombuffer(raw, dtype=dtype)


def price_scale(point: float) -> tuple[bool, float]:
    """How to turn integer points into prices: ``(divide, factor)``.

    Dividing by an exact integer factor (100000 for a 1e-5 point) gives the correctly rounded
    price (``114545 / 100000 == 1.14545``); multiplying by ``1e-5`` can be off by one ulp.
    """
    if not point > 0:
        raise DataError(f"point must be positive, got {point!r}")
    factor = 1.0 / point
    rounded = round(factor)
    if rounded >= 1 and abs(factor - rounded) <= 1e-9 * rounded:
        return True, float(rounded)
    return False, float(point)


def _scale(values: np.ndarray, point: float) -> np.ndarray:
    divide, k = price_scale(point)
    values = values.astype(np.float64)
    return values / k if divide else values * k


def _utc_index(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.astype("datetime64[ns]"), name="time").tz_localize("UTC")


def _epoch_ns(ts: pd.Timestamp) -> int:
    ts = pd.Timestamp(ts)
    if ts.tzinfo is None:
        raise DataError(f"bi5 period start must be tz-aware UTC, got {ts}")
    return int(ts.tz_convert("UTC").as_unit("ns").value)


def decode_tick_arrays(
    data: bytes, hour_start: pd.Timestamp, point: float, name: str = "bi5 ticks"
) -> dict[str, np.ndarray]:
    """Decode an hourly tick file into numpy arrays.

    Returns ``time`` (int64 ns since epoch, UTC), ``ask``, ``bid`` (float64 prices),
    ``ask_volume``, ``bid_volume`` (float64, millions of units), sorted by time (stable).
    """
    recs = parse_records(decompress(data, name), TICK_DTYPE, name)
    ms = recs["ms"].astype(np.int64)
    if len(ms) and int(ms.max()) >= _MS_PER_HOUR:
        row = int(np.flatnonzero(ms >= _MS_PER_HOUR)[0])
        raise DataError(f"{name}: record {row} has offset {ms[row]} ms, beyond the hour")
    out = {
        "time": _epoch_ns(hour_start) + ms * _NS_PER_MS,
        "ask": _scale(recs["ask"], point),
        "bid": _scale(recs["bid"], point),
        "ask_volume": recs["ask_volume"].astype(np.float64),
        "bid_volume": recs["bid_volume"].astype(np.float64),
    }
    if len(ms) > 1 and (np.diff(ms) < 0).any():
        order = np.argsort(ms, kind="stable")
        out = {k: v[order] for k, v in out.items()}
    return out


def decode_ticks(
    data: bytes, hour_start: pd.Timestamp, point: float, name: str = "bi5 ticks"
) -> pd.DataFrame:
    """Decode an hourly tick file into a frame indexed by UTC tick time.

    Columns ``ask, bid, ask_volume, bid_volume``; volumes in millions of units as in the file.
    """
    arrays = decode_tick_arrays(data, hour_start, point, name)
    index = _utc_index(arrays.pop("time"))
    return pd.DataFrame(arrays, index=index)


def decode_candles(
    data: bytes, period_start: pd.Timestamp, point: float, name: str = "bi5 candles"
) -> pd.DataFrame:
    """Decode a candle file (minute, hour or day candles) into an OHLCV frame.

    The index is ``period_start`` plus each record's seconds offset; columns
    ``open, high, low, close, volume`` (volume in millions of units). Dense "flat" filler
    candles of closed periods are kept; callers decide whether to drop them.
    """
    recs = parse_records(decompress(data, name), CANDLE_DTYPE, name)
    seconds = recs["seconds"].astype(np.int64)
    if len(seconds) and int(seconds.min()) < 0:
        row = int(np.flatnonzero(seconds < 0)[0])
        raise DataError(f"{name}: record {row} has a negative time offset")
    index = _utc_index(_epoch_ns(period_start) + seconds * _NS_PER_S)
    frame = pd.DataFrame(
        {
            "open": _scale(recs["open"], point),
            "high": _scale(recs["high"], point),
            "low": _scale(recs["low"], point),
            "close": _scale(recs["close"], point),
            "volume": recs["volume"].astype(np.float64),
        },
        index=index,
    )
    if len(seconds) > 1 and (np.diff(seconds) < 0).any():
        frame = frame.sort_index(kind="stable")
    return frame


# ---------------------------------------------------------------------------------- encoding


def compress(raw: bytes) -> bytes:
    """LZMA-compress like Dukascopy does; ``b""`` stays empty (a closed period)."""
    if not raw:
        return b""
    return lzma.compress(raw, format=lzma.FORMAT_ALONE, filters=_LZMA_FILTERS)


def _records(rows: Iterable[Sequence[float]] | np.ndarray, dtype: np.dtype) -> np.ndarray:
    if isinstance(rows, np.ndarray) and rows.dtype.names:
        return rows.astype(dtype)
    rows = [tuple(r) for r in rows]
    width = len(dtype.names or ())
    for i, row in enumerate(rows):
        if len(row) != width:
            raise DataError(f"record {i} has {len(row)} fields, expected {width}")
    return np.array(rows, dtype=dtype)


def encode_ticks(rows: Iterable[Sequence[float]] | np.ndarray) -> bytes:
    """Build a tick ``.bi5`` body from ``(ms, ask_points, bid_points, ask_vol, bid_vol)`` rows."""
    return compress(_records(rows, TICK_DTYPE).tobytes())


def encode_candles(rows: Iterable[Sequence[float]] | np.ndarray) -> bytes:
    """Build a candle ``.bi5`` body from ``(seconds, open, close, low, high, volume)`` rows
    (prices in integer points, Dukascopy's O, C, L, H field order)."""
    return compress(_records(rows, CANDLE_DTYPE).tobytes())
