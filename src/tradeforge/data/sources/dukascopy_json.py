"""Dukascopy's JSON data API (``https://jetta.dukascopy.com/v1``): URL paths and decoding.

Since July 2026 the bi5 ``datafeed`` endpoint hangs; dukascopy-node >= 1.47 reads this API
instead. `DukascopySource` uses it in modes ``"json"`` (hourly ticks) and ``"json-candles"``
(daily BID/ASK minute candles); this module only knows the format.

Verified from the public dukascopy-node repository (Leo4815162342/dukascopy-node, HEAD as
stored, commits 1b41396 / a567c90):

* root ``https://jetta.dukascopy.com/v1`` — ``src/config/data-api.ts`` (``DATA_API_ROOT``);
* paths — ``src/__mocks__/fixtures/README.md`` (fixtures are unmodified server bodies):
  ``/ticks/{CODE}/{YYYY}/{M}/{D}/{H}`` and
  ``/candles/{minute|hour|day}/{CODE}/{BID|ASK}/{YYYY}[/{M}][/{D}]`` (minute candles per day,
  hour per month, day per year); month, day and hour are **1-based and not zero-padded**
  (fixture ``ticks-EUR-USD-2026-7-13-12.json``, ``candles-minute-EUR-USD-BID-2026-7-10.json``);
  the period in progress is read as ``/candles/minute/BTC-USD/BID?from=1783900800000`` —
  **no date segments**, ``from`` = period start in epoch ms, the body's ``timestamp`` equals it;
* ``CODE`` is the instrument code of ``/instruments/{code}`` (``instrument-EUR-USD.json``:
  ``"name":"EUR/USD","code":"EUR-USD"``), i.e. the name with ``/`` replaced by ``-``;
* tick body keys ``timestamp`` (ms, hour start), ``multiplier`` (1e-5 for EURUSD), ``ask``,
  ``bid`` (first tick's prices), ``times``, ``asks``, ``bids`` (int deltas), ``askVolumes``,
  ``bidVolumes`` (absolute, in units: 900000.0);
* minute-candle body keys ``timestamp``, ``multiplier``, ``open/high/low/close`` (first
  candle), ``shift`` (60000 ms), ``times``, ``opens``, ``highs``, ``lows``, ``closes`` (int
  deltas), ``volumes`` (absolute); candles are sparse (gaps appear as a ``times`` delta > 1);
  a closed day is ``"open":null,…,"times":[],…`` (``…-2026-7-11-empty.json``);
* the deltas are **cumulative** (each value relative to the previous record, first delta 0):
  checked on the EURUSD minute fixture — with running sums all of the first 40 candles satisfy
  low <= open, close <= high and open ~ previous close; read as offsets from the first
  candle, 15 of 40 violate it. Candle ``times`` ``[0,1,1,…]`` only make sense as running
  sums. So ``time = timestamp + cumsum(times) * shift`` (ticks: ms, no shift) and
  ``price = (first / multiplier + cumsum(deltas)) * multiplier``.

Not found in the stored copy (the TypeScript decoder and request code are not indexed), hence
assumed: the tick endpoint of the hour in progress is ``/ticks/{CODE}?from={ms}`` (by analogy
with candles); candle ``volumes`` are in millions like the bi5 candle files (their magnitude,
~100 per EURUSD minute, matches); tick volumes are divided by 1e6 to the same unit; request
headers (we send ``Accept: application/json``; a third-party script reports an empty HTTP 202
without browser-like headers, so a 0-byte or non-200 body is retried, never cached); CODEs of
instruments other than ``AAA/BBB`` pairs and ``XXX.IDX/CCC`` indices (pass ``json_codes``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.instruments import Instrument
from tradeforge.data.bi5 import price_scale
from tradeforge.data.ticks import empty_tick_arrays

DEFAULT_JSON_BASE_URL = "https://jetta.dukascopy.com/v1"
CANDLE_SHIFT_MS = 60_000  # minute candles
_NS_PER_MS = 1_000_000
_UNITS_PER_MILLION = 1e6
TICK_KEYS = ("times", "asks", "bids", "askVolumes", "bidVolumes")
CANDLE_KEYS = ("times", "opens", "highs", "lows", "closes", "volumes")


# ------------------------------------------------------------------------------------ paths


def json_code(inst: Instrument, overrides: Mapping[str, str] | None = None) -> str:
    """The API's instrument code: ``EURUSD`` -> ``EUR-USD``, ``USATECHIDXUSD`` ->
    ``USATECH.IDX-USD``. ``overrides`` (symbol -> code) wins; anything else is a ConfigError."""
    if overrides and inst.symbol in overrides:
        return overrides[inst.symbol]
    sym, quote = inst.dukascopy_symbol.upper(), inst.quote_currency.upper()
    base = sym[: -len(quote)] if quote and sym.endswith(quote) else ""
    if not base.isalnum():
        raise ConfigError(
            f"cannot derive the Dukascopy JSON code of {inst.symbol} ({inst.dukascopy_symbol}); "
            "pass json_codes={symbol: 'BASE-QUOTE'}"
        )
    if base.endswith("IDX") and len(base) > 3:
        base = base[:-3] + ".IDX"
    return f"{base}-{quote}"


def tick_path(code: str, hour: pd.Timestamp) -> str:
    """``ticks/{CODE}/{YYYY}/{M}/{D}/{H}`` (1-based month, no zero padding)."""
    return f"ticks/{code}/{hour.year}/{hour.month}/{hour.day}/{hour.hour}"


def tick_live_path(code: str, hour: pd.Timestamp) -> str:
    """The hour still in progress (assumed, see the module docstring)."""
    return f"ticks/{code}?from={_epoch_ms(hour)}"


def minute_candle_path(code: str, day: pd.Timestamp, side: str) -> str:
    """``candles/minute/{CODE}/{SIDE}/{YYYY}/{M}/{D}``."""
    return f"candles/minute/{code}/{side}/{day.year}/{day.month}/{day.day}"


def minute_candle_live_path(code: str, day: pd.Timestamp, side: str) -> str:
    """The day still in progress: ``candles/minute/{CODE}/{SIDE}?from={ms}``."""
    return f"candles/minute/{code}/{side}?from={_epoch_ms(day)}"


def _epoch_ms(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).as_unit("ns").value // _NS_PER_MS)


# --------------------------------------------------------------------------------- decoding


def load_body(data: bytes, name: str = "Dukascopy JSON") -> dict[str, Any]:
    """Parse a body into its top-level object; anything else is a DataError."""
    if data.lstrip()[:1] == b"<":
        raise DataError(f"{name}: got an HTML page instead of JSON (blocked or error page?)")
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{name}: not valid JSON ({exc})") from exc
    if not isinstance(body, dict) or "timestamp" not in body or "multiplier" not in body:
        raise DataError(f"{name}: not a Dukascopy data body (no timestamp/multiplier)")
    return body


def check_body(data: bytes, keys: tuple[str, ...], name: str = "Dukascopy JSON") -> None:
    """Raise DataError unless ``data`` is a data body whose ``keys`` columns are lists of one
    length (the shape check of decoding, without the instrument)."""
    _columns(load_body(data, name), keys, name)


def decode_json_ticks(data: bytes, point: float, name: str = "Dukascopy JSON ticks") -> dict:
    """Decode a tick body into arrays like `tradeforge.data.bi5.decode_tick_arrays`:
    ``time`` (int64 ns UTC), ``ask``, ``bid`` (prices), ``ask_volume``, ``bid_volume``
    (millions of units)."""
    body = load_body(data, name)
    cols = _columns(body, TICK_KEYS, name)
    n = len(cols["times"])
    if n == 0:
        return empty_tick_arrays()
    _check_multiplier(body, point, name)
    ms = _cumulative_times(body, cols["times"], 1, name)
    return {
        "time": ms * _NS_PER_MS,
        "ask": _prices(body, "ask", cols["asks"], point, name),
        "bid": _prices(body, "bid", cols["bids"], point, name),
        "ask_volume": _floats(cols["askVolumes"], "askVolumes", name) / _UNITS_PER_MILLION,
        "bid_volume": _floats(cols["bidVolumes"], "bidVolumes", name) / _UNITS_PER_MILLION,
    }


def decode_json_candles(
    data: bytes, point: float, name: str = "Dukascopy JSON candles"
) -> pd.DataFrame:
    """Decode a candle body into an OHLCV frame like `tradeforge.data.bi5.decode_candles`
    (UTC index ``time`` = candle open; volume as served)."""
    body = load_body(data, name)
    cols = _columns(body, CANDLE_KEYS, name)
    if len(cols["times"]) == 0:
        empty = np.array([], dtype=np.float64)
        index = pd.DatetimeIndex(np.array([], dtype="datetime64[ns]"), name="time")
        return pd.DataFrame(
            {c: empty for c in ("open", "high", "low", "close", "volume")},
            index=index.tz_localize("UTC"),
        )
    _check_multiplier(body, point, name)
    shift = _integer(body.get("shift", CANDLE_SHIFT_MS), "shift", name)
    if shift <= 0:
        raise DataError(f"{name}: shift must be positive, got {shift}")
    ms = _cumulative_times(body, cols["times"], shift, name)
    index = pd.DatetimeIndex((ms * _NS_PER_MS).astype("datetime64[ns]"), name="time")
    return pd.DataFrame(
        {
            "open": _prices(body, "open", cols["opens"], point, name),
            "high": _prices(body, "high", cols["highs"], point, name),
            "low": _prices(body, "low", cols["lows"], point, name),
            "close": _prices(body, "close", cols["closes"], point, name),
            "volume": _floats(cols["volumes"], "volumes", name),
        },
        index=index.tz_localize("UTC"),
    )


# ---------------------------------------------------------------------------------- helpers


def _columns(body: dict, keys: tuple[str, ...], name: str) -> dict[str, list]:
    cols = {}
    for key in keys:
        value = body.get(key)
        if not isinstance(value, list):
            raise DataError(f"{name}: missing or non-list {key!r}")
        cols[key] = value
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise DataError(f"{name}: column lengths differ: {lengths}")
    return cols


def _check_multiplier(body: dict, point: float, name: str) -> None:
    """The body's price unit must be the instrument's point: a mismatch would silently scale
    every price by a power of ten."""
    mult = body.get("multiplier")
    if not isinstance(mult, int | float) or not mult > 0:
        raise DataError(f"{name}: bad multiplier {mult!r}")
    if not math.isclose(float(mult), point, rel_tol=1e-9):
        raise DataError(
            f"{name}: multiplier {mult!r} from the server does not match the instrument's "
            f"point {point!r}; fix the instrument's point (prices would be off by "
            f"{float(mult) / point:g}x)"
        )


def _integers(values: list, key: str, name: str) -> np.ndarray:
    arr = _floats(values, key, name)
    ints = np.rint(arr)
    if not np.array_equal(arr, ints):
        raise DataError(f"{name}: {key!r} holds non-integer deltas")
    return ints.astype(np.int64)


def _floats(values: list, key: str, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}: {key!r} holds non-numbers") from exc
    if arr.ndim != 1 or not np.isfinite(arr).all():
        raise DataError(f"{name}: {key!r} must be a flat list of finite numbers")
    return arr


def _integer(value: Any, key: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise DataError(f"{name}: {key!r} must be an integer, got {value!r}")
    return int(value)


def _cumulative_times(body: dict, deltas: list, unit_ms: int, name: str) -> np.ndarray:
    steps = _integers(deltas, "times", name)
    if (steps < 0).any():
        raise DataError(f"{name}: negative time delta at record {int(np.argmax(steps < 0))}")
    return _integer(body["timestamp"], "timestamp", name) + np.cumsum(steps) * unit_ms


def _prices(body: dict, first_key: str, deltas: list, point: float, name: str) -> np.ndarray:
    first = body.get(first_key)
    if isinstance(first, bool) or not isinstance(first, int | float):
        raise DataError(f"{name}: {first_key!r} must be a number when there is data")
    points = round(first / body["multiplier"]) + np.cumsum(_integers(deltas, first_key, name))
    divide, k = price_scale(point)
    values = points.astype(np.float64)
    return values / k if divide else values * k


__all__ = [
    "DEFAULT_JSON_BASE_URL",
    "check_body",
    "decode_json_candles",
    "decode_json_ticks",
    "json_code",
    "load_body",
    "minute_candle_live_path",
    "minute_candle_path",
    "tick_live_path",
    "tick_path",
]
