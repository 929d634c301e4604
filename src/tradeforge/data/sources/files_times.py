"""Timestamp columns of bar files as int64 nanoseconds, one state per row.

Each parser returns ``(ns, state)``: ``state`` is `OK`, `BAD` (does not parse), `OUTSIDE`
(parses, but outside the nanosecond range 1677-09-21 … 2262-04-11 that bars are stored in)
or `MIXED` (an ISO time with a UTC offset where the first row has none, or the reverse). The
caller (`tradeforge.data.sources.files`) turns the first non-OK row into an error naming the
file line. Dates and clock strings repeat, so each distinct value is parsed once, strictly.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

OK, BAD, OUTSIDE, MIXED = 0, 1, 2, 3
NS_RANGE = f"{pd.Timestamp.min:%Y-%m-%d} … {pd.Timestamp.max:%Y-%m-%d}"

_NS = 1_000_000_000
_OFFSET_END = r"(?:Z|[+-]\d{2}:?\d{2})\s*$"
_CLOCK = re.compile(
    r"^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"\s*(?:(?:GMT|UTC)\s*(?:([+-])(\d{1,2}):?(\d{2})?)?)?\s*$"
)

Parsed = tuple[np.ndarray, np.ndarray]  # int64 ns, uint8 state
DATE_FORMATS = {".": "%Y.%m.%d", "-": "%Y-%m-%d", "/": "%Y/%m/%d", "": "%Y%m%d"}


def to_ns(index: pd.DatetimeIndex) -> Parsed:
    """``index`` (any resolution, naive) as ns; NaT is `BAD`, values outside the ns range
    `OUTSIDE` (pandas would raise converting them)."""
    missing = np.asarray(index.isna())
    outside = ~missing & np.asarray((index < pd.Timestamp.min) | (index > pd.Timestamp.max))
    state = np.where(missing, BAD, np.where(outside, OUTSIDE, OK)).astype("uint8")
    ns = pd.DatetimeIndex(index.where(state == OK)).as_unit("ns").asi8
    return np.where(state == OK, ns, 0), state


def by_distinct(values: pa.Array, parse: Callable[[list[str]], Parsed]) -> Parsed:
    """Apply ``parse`` (distinct strings -> ns, state) to each distinct value once."""
    encoded = pc.dictionary_encode(values.fill_null(""))
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    ns, state = parse(encoded.dictionary.to_pylist())
    return ns[codes], state[codes]


def strptime(fmt: str, utc: bool = False) -> Callable[[list[str]], Parsed]:
    """A parser of texts in the strptime format ``fmt`` (``utc``: converted from offsets)."""

    def parse(texts: list[str]) -> Parsed:
        times = pd.to_datetime(pd.Series(texts, dtype=object), format=fmt, errors="coerce", utc=utc)
        index = pd.DatetimeIndex(times)
        return to_ns(index.tz_convert("UTC").tz_localize(None) if utc else index)

    return parse


def clocks(texts: list[str]) -> Parsed:
    """``HH:MM[:SS[.fff]][ GMT+hhmm]`` -> ns since midnight UTC (the offset subtracted)."""
    ns = np.zeros(len(texts), dtype="int64")
    state = np.full(len(texts), BAD, dtype="uint8")
    for k, text in enumerate(texts):
        m = _CLOCK.match(text)
        if m is None:
            continue
        hh, mm, ss, frac, sign, oh, om = m.groups()
        h, mi, sec = int(hh), int(mm), int(ss or 0)
        if h > 23 or mi > 59 or sec > 59 or int(oh or 0) > 14 or int(om or 0) > 59:
            continue
        offset = (int(oh or 0) * 3600 + int(om or 0) * 60) * (-1 if sign == "-" else 1)
        seconds = h * 3600 + mi * 60 + sec - offset
        ns[k] = seconds * _NS + int((frac or "0").ljust(9, "0"))
        state[k] = OK
    return ns, state


def date_and_clock(date: pa.Array, clock: pa.Array | None, date_fmt: str) -> Parsed:
    """A date column (``date_fmt``) plus an optional clock column."""
    ns, state = by_distinct(date, strptime(date_fmt))
    if clock is not None:  # MetaTrader omits <TIME> from daily exports
        clock_ns, clock_state = by_distinct(clock, clocks)
        total = ns + clock_ns  # wraps around past the ns range: caught below
        wrapped = ((clock_ns > 0) & (total < ns)) | ((clock_ns < 0) & (total > ns))
        state = np.maximum(np.maximum(state, clock_state), np.where(wrapped, OUTSIDE, OK))
        ns = total
    return ns, state.astype("uint8")


def dukascopy(text: pa.Array) -> Parsed:
    """``dd.mm.yyyy HH:MM:SS[.fff][ GMT+hhmm]``: dates and the rest, each distinct value once."""
    rest = pc.utf8_slice_codeunits(text, 10)
    sep_ok = pc.starts_with(rest, " ").to_numpy(zero_copy_only=False)
    ns, state = date_and_clock(pc.utf8_slice_codeunits(text, 0, 10), rest, "%d.%m.%Y")
    return ns, np.where(sep_ok, state, np.maximum(state, BAD)).astype("uint8")


def with_format(values: pa.Array, fmt: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """Times in the strptime format ``fmt``; aware (converted to UTC) when it has ``%z``."""
    aware = "%z" in fmt
    ns, state = by_distinct(values, strptime(fmt, utc=aware))
    return ns, state, aware


def iso_or_epoch(values: pd.Series) -> tuple[np.ndarray, np.ndarray, bool, str]:
    """ISO 8601 strings (all naive or all with an offset, as the first row) or epoch numbers
    (s, ms, us or ns); returns ns, state, whether aware, and what was expected."""
    first = next((v for v in values if isinstance(v, str) and v.strip()), "")
    if re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", first):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy("float64")
        bad = ~np.isfinite(numbers)
        magnitude = np.nanmax(np.abs(numbers)) if (~bad).any() else 0.0
        limits = ((1e11, 1e9), (1e14, 1e6), (1e17, 1e3), (np.inf, 1.0))  # s, ms, us, ns
        scale = next(factor for limit, factor in limits if magnitude < limit)
        scaled = np.where(bad, 0.0, np.round(numbers * scale))
        outside = np.abs(scaled) >= 2.0**63
        state = np.where(bad, BAD, np.where(outside, OUTSIDE, OK)).astype("uint8")
        return np.where(state == OK, scaled, 0).astype("int64"), state, True, "epoch times"
    aware = bool(re.search(_OFFSET_END, first))
    text = values.astype(object).where(values.notna(), "")
    mixed = text.str.contains(_OFFSET_END, regex=True).to_numpy(bool) != aware
    mixed &= text.str.strip().ne("").to_numpy(bool)
    parsed = pd.to_datetime(text.where(~mixed, ""), format="ISO8601", errors="coerce", utc=aware)
    index = pd.DatetimeIndex(parsed)
    ns, state = to_ns(index.tz_convert("UTC").tz_localize(None) if aware else index)
    state = np.where(mixed, MIXED, state).astype("uint8")
    return ns, state, aware, "an ISO 8601 time such as 2024-01-02T00:00:00"
