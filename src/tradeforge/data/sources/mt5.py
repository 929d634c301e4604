"""Bars from a MetaTrader 5 terminal through the ``MetaTrader5`` Python package.

The package talks to a locally running terminal and exists for Windows only, so it is imported
lazily, and any object with the same functions can be injected instead (``module=``; tests use
a stand-in, Linux users may pass an ``mt5linux`` client).

Time: MetaTrader stamps bars in the broker's *server* clock encoded as epoch seconds (often
UTC+2 in winter and UTC+3 in summer). ``server_time`` is that clock as a rule
(`tradeforge.data.sources.mt5_clock`: ``ny``, ``+2``, an IANA zone, or ``auto`` to detect it
from the latest tick): bar times are converted to UTC through it, and each end of the
requested UTC range is converted to server time with the offset in force at that instant, so
a range across a daylight-saving switch comes back whole and in UTC. The live feed
(`tradeforge.live.brokers.mt5.MT5Feed`) converts through the same clock.

Spreads arrive in points and are converted to price units with the symbol's ``point``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.data.sources.mt5_clock import AUTO, ServerClock
from tradeforge.data.sources.mt5_terminal import MT5Terminal, error_text
from tradeforge.data.validate import empty_ohlcv, validate_ohlcv

__all__ = ["MT5Source", "rates_to_frame", "timeframe_constant"]

_RATE_FIELDS = ("time", "open", "high", "low", "close", "tick_volume", "spread", "real_volume")


def timeframe_constant(module: Any, timeframe: Timeframe | str) -> int:
    """The package's ``TIMEFRAME_*`` constant for a tradeforge timeframe (M1 … W1)."""
    tf = Timeframe.parse(timeframe)
    value = getattr(module, f"TIMEFRAME_{tf.name}", None)
    if value is None:
        raise ConfigError(f"MetaTrader 5 has no {tf.name} timeframe")
    return int(value)


def rates_to_frame(
    rates: np.ndarray,
    point: float,
    *,
    digits: int | None = None,
    clock: ServerClock | None = None,
    volume: Literal["tick", "real"] = "tick",
    source: str = "mt5",
) -> pd.DataFrame:
    """A ``copy_rates_*`` structured array as a validated OHLCV frame.

    ``time`` (epoch seconds in server time) through ``clock`` (None: UTC) is the UTC index;
    ``spread`` (points) times ``point`` becomes price units, rounded to ``digits``.
    """
    names = rates.dtype.names or ()
    missing = [f for f in _RATE_FIELDS if f not in names]
    if missing:
        raise DataError(f"{source}: rates array lacks fields {missing} (got {list(names)})")
    if len(rates) == 0:
        return empty_ohlcv()
    index = (clock or ServerClock.fixed(0)).to_utc(rates["time"].astype("int64"))
    spread = rates["spread"].astype("float64") * point
    if digits is not None:
        spread = np.round(spread, digits)
    frame = pd.DataFrame(
        {
            "open": rates["open"].astype("float64"),
            "high": rates["high"].astype("float64"),
            "low": rates["low"].astype("float64"),
            "close": rates["close"].astype("float64"),
            "volume": rates[f"{volume}_volume"].astype("float64"),
            "spread": spread,
        },
        index=index,
    )
    return validate_ohlcv(frame, source=source)


class MT5Source:
    """`DataSource` over ``copy_rates_range`` of a MetaTrader 5 terminal.

    ``login``/``password``/``server``/``path`` go to ``initialize()`` when given (otherwise the
    terminal's current account is used). ``symbols`` maps tradeforge symbols to broker names
    (``{"EURUSD": "EURUSD.raw"}``), ``symbol_pattern`` decorates them (``"{symbol}.r"``);
    without either a decorated name is looked up (`MT5Terminal`). Each ``fetch`` calls
    ``initialize()`` and, once done, ``shutdown()``; with ``manage_connection=False`` it does
    neither, for callers that own an open connection (``terminal=`` shares one).
    """

    name = "mt5"

    def __init__(
        self,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        path: str | None = None,
        module: Any = None,
        *,
        server_time: ServerClock | str = AUTO,
        symbols: Mapping[str, str] | None = None,
        symbol_pattern: str | None = None,
        volume: Literal["tick", "real"] = "tick",
        timeout_ms: int | None = None,
        manage_connection: bool = True,
        terminal: MT5Terminal | None = None,
    ) -> None:
        if volume not in ("tick", "real"):
            raise ConfigError(f"volume must be 'tick' or 'real', got {volume!r}")
        self.terminal = terminal or MT5Terminal(
            module, path=path, login=login, password=password, server=server,
            timeout_ms=timeout_ms, server_time=server_time, symbols=symbols,
            symbol_pattern=symbol_pattern,
        )  # fmt: skip
        self.volume = volume
        self.manage_connection = manage_connection

    @property
    def module(self) -> Any:
        return self.terminal.module

    def broker_symbol(self, symbol: str) -> str:
        return self.terminal.broker_symbol(symbol)

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: pd.Timestamp | str,
        end: pd.Timestamp | str,
    ) -> pd.DataFrame:
        """Bars with open time in ``[start, end)`` UTC, spread in price units."""
        lo, hi = to_utc(start, "start"), to_utc(end, "end")
        if lo is None or hi is None:
            raise ConfigError("MT5Source.fetch needs both start and end")
        if hi <= lo:
            return empty_ohlcv()
        tf_const = timeframe_constant(self.module, timeframe)
        if not self.manage_connection:
            return self._fetch(symbol, tf_const, lo, hi)
        self.terminal.connect()
        try:
            return self._fetch(symbol, tf_const, lo, hi)
        finally:
            self.terminal.shutdown()

    def _fetch(
        self, symbol: str, tf_const: int, lo: pd.Timestamp, hi: pd.Timestamp
    ) -> pd.DataFrame:
        terminal, mt5 = self.terminal, self.module
        spec = terminal.spec(symbol)
        clock = terminal.clock(symbol)
        # the package compares these (as epoch seconds) against server-clock epochs
        date_from = _utc_datetime(clock.to_server_seconds(lo))
        date_to = _utc_datetime(clock.to_server_seconds(hi) - 1)  # the range is inclusive
        rates = mt5.copy_rates_range(spec.name, tf_const, date_from, date_to)
        if rates is None:
            raise DataError(
                f"MetaTrader 5 copy_rates_range({spec.name!r}) failed: {error_text(mt5)}"
            )
        frame = rates_to_frame(
            np.asarray(rates),
            spec.point,
            digits=spec.digits,
            clock=clock,
            volume=self.volume,
            source=f"mt5:{spec.name}",
        )
        i, j = frame.index.searchsorted(lo), frame.index.searchsorted(hi)
        return frame.iloc[i:j]


def _utc_datetime(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
