"""The broker server's clock: MetaTrader 5 stamps bars and ticks in it, tradeforge in UTC.

A MetaTrader 5 server encodes its *local wall time* as epoch seconds. Most FX brokers keep
"New York close" time: UTC+2, and UTC+3 while New York is on summer time, so that the daily bar
opens at 17:00 New York all year. A fixed offset cannot follow that switch, so a `ServerClock`
is a rule: a fixed offset, an IANA zone, or a zone plus a shift (``ny`` = America/New_York
+ 7 h). The MT5 data source and the live feed convert through the same clock object.

Text forms (`ServerClock.parse`, ``--server-time``): ``utc``; ``+2``, ``-5``, ``+5:30``,
``UTC+2`` (fixed); ``ny`` (UTC+2, UTC+3 during New York summer time); an IANA zone such as
``Europe/Athens``. ``auto`` is resolved at connection (`detect_clock`).

Server wall time → UTC is ambiguous for one hour when the server's clock falls back (that
hour happens twice); the later occurrence is taken. FX markets are closed then.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError

__all__ = ["AUTO", "NY_CLOSE", "ServerClock", "detect_clock"]

AUTO = "auto"
NY_CLOSE = "ny"
_NS = 1_000_000_000
_FIXED = re.compile(r"^(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


@dataclass(frozen=True)
class ServerClock:
    """``zone`` (IANA name or None) plus ``shift`` seconds; ``label`` is how it was given."""

    zone: str | None
    shift: int
    label: str

    @classmethod
    def fixed(cls, seconds: int) -> ServerClock:
        if not -14 * 3600 <= seconds <= 14 * 3600 or seconds % 60:
            raise ConfigError(
                f"server time offset must be whole minutes in [-14 h, +14 h], got {seconds} s"
            )
        sign = "-" if seconds < 0 else "+"
        h, m = divmod(abs(seconds) // 60, 60)
        return cls(
            None, seconds, "utc" if not seconds else f"{sign}{h}" + (f":{m:02d}" if m else "")
        )

    @classmethod
    def parse(cls, text: str) -> ServerClock:
        """A clock from its text form (see the module docstring); ``auto`` is not one."""
        raw = str(text).strip()
        low = raw.lower()
        if low in ("utc", "gmt", "0", "+0", "-0"):
            return cls.fixed(0)
        if low in (NY_CLOSE, "new-york", "nyc"):
            return cls("America/New_York", 7 * 3600, NY_CLOSE)
        match = _FIXED.match(raw)
        if match:
            sign, hours, minutes = match.groups()
            seconds = int(hours) * 3600 + int(minutes or 0) * 60
            return cls.fixed(-seconds if sign == "-" else seconds)
        if low == AUTO:
            raise ConfigError("server time 'auto' is resolved at connection, not parsed")
        try:
            zoneinfo.ZoneInfo(raw)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"unknown server time {raw!r}; use auto, utc, ny (UTC+2, +3 in New York "
                "summer), a fixed offset like +2 or +5:30, or an IANA zone like Europe/Athens"
            ) from None
        return cls(raw, 0, raw)

    def describe(self) -> str:
        if self.zone is None:
            return "UTC" if not self.shift else f"UTC{self.label}"
        if self.label == NY_CLOSE:
            return "UTC+2, UTC+3 during New York summer time"
        return self.zone

    # ------------------------------------------------------------------ conversion
    def offset_ns(self, utc_ns: np.ndarray) -> np.ndarray:
        """Server time minus UTC (ns) at each UTC instant."""
        utc_ns = np.asarray(utc_ns, dtype=np.int64)
        shift = np.int64(self.shift) * _NS
        if self.zone is None:
            return np.full(utc_ns.shape, shift, dtype=np.int64)
        idx = pd.DatetimeIndex(utc_ns.astype("datetime64[ns]")).tz_localize("UTC")
        local = idx.tz_convert(self.zone).tz_localize(None).asi8
        return (local - utc_ns) + shift

    def to_utc_ns(self, server_ns: np.ndarray) -> np.ndarray:
        """UTC instants (ns) of server wall times encoded as epoch ns."""
        w = np.asarray(server_ns, dtype=np.int64)
        first = w - self.offset_ns(w)  # right unless a switch lies between w and the answer
        return w - self.offset_ns(first)

    def to_utc(self, server_seconds: np.ndarray) -> pd.DatetimeIndex:
        """A UTC index from server-clock epoch seconds (``copy_rates_*``'s ``time``)."""
        ns = self.to_utc_ns(np.asarray(server_seconds, dtype=np.int64) * _NS)
        return pd.DatetimeIndex(ns.astype("datetime64[ns]"), name="time").tz_localize("UTC")

    def to_server_seconds(self, ts: pd.Timestamp) -> int:
        """A UTC instant as server-clock epoch seconds (for range requests)."""
        ns = ts.as_unit("ns").value
        return int((ns + int(self.offset_ns(np.array([ns]))[0])) // _NS)


def detect_clock(server_ms: int, utc_ms: int, tolerance_s: int = 120) -> ServerClock | None:
    """The clock a server whose latest tick is stamped ``server_ms`` keeps, seen at wall
    time ``utc_ms``; None when the tick is too old to tell (market closed).

    The difference is rounded to a quarter hour and must sit within ``tolerance_s`` of it.
    When the offset equals the New York close rule's offset at that moment, the server is
    taken to follow that rule (the common broker convention, which also switches with New
    York's DST); otherwise it is a fixed offset.
    """
    delta = (int(server_ms) - int(utc_ms)) / 1000.0
    offset = int(round(delta / 900.0)) * 900
    if abs(delta - offset) > tolerance_s or not -12 * 3600 <= offset <= 14 * 3600:
        return None
    ny = ServerClock.parse(NY_CLOSE)
    if int(ny.offset_ns(np.array([utc_ms * 1_000_000]))[0]) == offset * _NS:
        return ny
    return ServerClock.fixed(offset)
