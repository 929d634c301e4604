"""UTC timestamp helpers (all timestamps in tradeforge are tz-aware UTC)."""

from __future__ import annotations

import pandas as pd

from tradeforge.core.errors import ConfigError


def to_utc(value: str | pd.Timestamp | None, what: str = "timestamp") -> pd.Timestamp | None:
    """Parse a date/time into a tz-aware UTC Timestamp; naive values are taken as UTC."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot parse {what} {value!r}: {exc}") from exc
    if ts is pd.NaT:
        raise ConfigError(f"cannot parse {what} {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
