"""Timeframe parsing and arithmetic (M1 … W1).

A bar's timestamp is its open time; a bar stamped ``t`` covers ``[t, t + duration)`` and is
known only at ``t + duration``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

import pandas as pd

from tradeforge.core.errors import ConfigError

_UNIT_SECONDS = {"M": 60, "H": 3600, "D": 86400, "W": 7 * 86400}
_CANONICAL = ("M1", "M5", "M15", "M30", "H1", "H4", "D1", "W1")
_PANDAS_ALIASES = {
    "min": "M",
    "t": "M",
    "m": "M",
    "h": "H",
    "d": "D",
    "w": "W",
}


@total_ordering
@dataclass(frozen=True)
class Timeframe:
    """A bar duration such as ``M5`` (5 minutes) or ``H4`` (4 hours).

    Weekly bars open on Monday 00:00 UTC.
    """

    unit: str  # one of M, H, D, W
    count: int

    def __post_init__(self) -> None:
        if self.unit not in _UNIT_SECONDS:
            raise ConfigError(f"timeframe unit must be one of M, H, D, W, got {self.unit!r}")
        if self.count <= 0:
            raise ConfigError(f"timeframe count must be positive, got {self.count}")
        span = {"M": 60, "H": 24, "D": 1, "W": 1}[self.unit]
        if span % self.count:
            raise ConfigError(
                f"timeframe {self.unit}{self.count} does not divide the "
                f"{ {'M': 'hour', 'H': 'day', 'D': 'day', 'W': 'week'}[self.unit] } evenly; "
                f"use one of {', '.join(_CANONICAL)}"
            )

    @classmethod
    def parse(cls, value: str | Timeframe) -> Timeframe:
        """Parse ``"M5"``, ``"5min"``, ``"5m"``, ``"1h"``, ``"H4"``, ``"D1"``, ``"1d"``, ``"W1"``."""
        if isinstance(value, Timeframe):
            return value
        text = str(value).strip()
        m = re.fullmatch(r"([MHDW])(\d+)", text.upper())
        if m:
            return cls(m.group(1), int(m.group(2)))
        m = re.fullmatch(r"(\d+)\s*(min|t|m|h|d|w)", text, flags=re.IGNORECASE)
        if m and m.group(2) != "M":  # "5M" is ambiguous with months
            return cls(_PANDAS_ALIASES[m.group(2).lower()], int(m.group(1)))
        raise ConfigError(
            f"cannot parse timeframe {value!r}; use one of {', '.join(_CANONICAL)} or e.g. '5min', '1h'"
        )

    @property
    def name(self) -> str:
        return f"{self.unit}{self.count}"

    @property
    def seconds(self) -> int:
        return _UNIT_SECONDS[self.unit] * self.count

    @property
    def delta(self) -> pd.Timedelta:
        return pd.Timedelta(seconds=self.seconds)

    @property
    def pandas_freq(self) -> str:
        """Frequency string for ``DataFrame.resample`` (weeks anchored on Monday)."""
        if self.unit == "W":
            return f"{self.count}W-MON"
        return {"M": f"{self.count}min", "H": f"{self.count}h", "D": f"{self.count}D"}[self.unit]

    def floor(self, ts: pd.DatetimeIndex | pd.Timestamp):
        """Open time of the bar containing each timestamp."""
        if self.unit == "W":
            ts_idx = pd.DatetimeIndex([ts]) if isinstance(ts, pd.Timestamp) else ts
            days = ts_idx.normalize()
            monday = days - pd.to_timedelta(days.day_of_week, unit="D")
            if self.count != 1:
                raise ConfigError("only W1 is supported for weekly bars")
            return monday[0] if isinstance(ts, pd.Timestamp) else monday
        return ts.floor(self.pandas_freq)

    def divides(self, other: Timeframe) -> bool:
        """True when bars of ``other`` are made of whole bars of ``self``."""
        return other.seconds % self.seconds == 0 and other.seconds >= self.seconds

    def __lt__(self, other: Timeframe) -> bool:
        return self.seconds < other.seconds

    def __str__(self) -> str:
        return self.name
