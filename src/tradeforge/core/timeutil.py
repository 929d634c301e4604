"""UTC timestamp helpers (all timestamps in tradeforge are tz-aware UTC).

Text is read as ISO 8601 only (``2024-01-05``, ``2024-01-05T10:00``, ``2024-01-05 10:00:30``,
optionally ending in ``Z`` or an offset such as ``+02:00``): anything else is refused instead
of guessed, since pandas would read ``05.01.2024`` as 1 May and ``13/01/2024`` as 13 January.
"""

from __future__ import annotations

import re

import pandas as pd

from tradeforge.core.errors import ConfigError

ISO_HINT = "use ISO 8601, e.g. 2024-01-05 or 2024-01-05T10:00Z"
_ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}"  # date
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"  # then optionally a time,
    r"(?:Z|[+-]\d{2}:?\d{2})?)?"  # which may carry an offset
)


def parse_time(text: str, what: str = "time") -> pd.Timestamp:
    """Strict ISO 8601 text as a tz-aware UTC Timestamp (naive means UTC); `ConfigError`
    naming ``what`` (e.g. ``"--start"``) otherwise."""
    stripped = text.strip()
    if not _ISO_TIME.fullmatch(stripped):
        raise ConfigError(f"invalid {what} {text!r}: {ISO_HINT}")
    try:
        ts = pd.Timestamp(stripped)
    except (ValueError, OverflowError) as exc:  # e.g. 2024-02-30
        raise ConfigError(f"invalid {what} {text!r}: {exc}") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def to_utc(value: str | pd.Timestamp | None, what: str = "timestamp") -> pd.Timestamp | None:
    """A date/time as a tz-aware UTC Timestamp; naive values are taken as UTC and text must be
    ISO 8601 (`parse_time`)."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_time(value, what)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot parse {what} {value!r}: {exc}") from exc
    if ts is pd.NaT:
        raise ConfigError(f"cannot parse {what} {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
