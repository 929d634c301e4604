"""Bars from a MetaTrader 5 terminal through the ``MetaTrader5`` Python package.

The package talks to a locally running terminal and exists for Windows only, so it is imported
lazily, and any object with the same functions can be injected instead (``module=``; tests use
a stand-in, Linux users may pass an ``mt5linux`` client).

Time: MetaTrader stamps bars in the broker's *server* clock encoded as epoch seconds (often
UTC+2 in winter and UTC+3 in summer). ``server_tz_offset_hours`` is that fixed offset: bar times
are shifted back by it to UTC, and the requested UTC range is shifted forward by it. A fixed
offset cannot follow a server's daylight-saving switch; for such servers fetch one season at a
time or export files and import them with ``tz="EET"`` (see `tradeforge.data.sources.files`).

Spreads arrive in points and are converted to price units with the symbol's ``point``.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.data.validate import empty_ohlcv, validate_ohlcv

__all__ = ["MT5Source", "rates_to_frame", "timeframe_constant"]

_RATE_FIELDS = ("time", "open", "high", "low", "close", "tick_volume", "spread", "real_volume")


def load_mt5_module() -> Any:
    """Import the ``MetaTrader5`` package or explain why it is not available."""
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError as exc:
        raise DataError(
            "the MetaTrader5 package is not installed or cannot be imported "
            f"({exc}); it is published for Windows only and needs a running MetaTrader 5 "
            "terminal. On Windows: pip install MetaTrader5. Elsewhere pass a compatible "
            "module object, e.g. MT5Source(module=mt5linux.MetaTrader5(host, port))."
        ) from None


def timeframe_constant(module: Any, timeframe: Timeframe | str) -> int:
    """The package's ``TIMEFRAME_*`` constant for a tradeforge timeframe (M1 … W1)."""
    tf = Timeframe.parse(timeframe)
    value = getattr(module, f"TIMEFRAME_{tf.name}", None)
    if value is None:
        raise ConfigError(f"MetaTrader 5 has no {tf.name} timeframe")
    return int(value)


def _error_text(module: Any) -> str:
    try:
        code, text = module.last_error()
    except Exception:  # a broken stand-in must not hide the original failure
        return "last_error() unavailable"
    return f"last_error()=({code}, {text!r})"


def rates_to_frame(
    rates: np.ndarray,
    point: float,
    *,
    digits: int | None = None,
    offset_seconds: int = 0,
    volume: Literal["tick", "real"] = "tick",
    source: str = "mt5",
) -> pd.DataFrame:
    """A ``copy_rates_*`` structured array as a validated OHLCV frame.

    ``time`` (epoch seconds in server time) minus ``offset_seconds`` becomes the UTC index;
    ``spread`` (points) times ``point`` becomes price units, rounded to ``digits``.
    """
    names = rates.dtype.names or ()
    missing = [f for f in _RATE_FIELDS if f not in names]
    if missing:
        raise DataError(f"{source}: rates array lacks fields {missing} (got {list(names)})")
    if len(rates) == 0:
        return empty_ohlcv()
    seconds = rates["time"].astype("int64") - int(offset_seconds)
    index = pd.DatetimeIndex(seconds.astype("datetime64[s]"), name="time").tz_localize("UTC")
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
    (``{"EURUSD": "EURUSD.raw"}``). Each ``fetch`` calls ``initialize()`` and, once done,
    ``shutdown()``; with ``manage_connection=False`` it does neither, for callers (such as a
    live broker adapter) that own an open connection.
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
        server_tz_offset_hours: float = 0.0,
        symbols: Mapping[str, str] | None = None,
        volume: Literal["tick", "real"] = "tick",
        timeout_ms: int | None = None,
        manage_connection: bool = True,
    ) -> None:
        if volume not in ("tick", "real"):
            raise ConfigError(f"volume must be 'tick' or 'real', got {volume!r}")
        offset = float(server_tz_offset_hours)
        if not -14 <= offset <= 14 or (offset * 3600) % 60:
            raise ConfigError(
                f"server_tz_offset_hours must be whole minutes in [-14, 14], got {offset}"
            )
        self.login, self.password, self.server, self.path = login, password, server, path
        self.timeout_ms = timeout_ms
        self.offset_seconds = int(round(offset * 3600))
        self.symbols = {k.upper(): v for k, v in (symbols or {}).items()}
        self.volume = volume
        self.manage_connection = manage_connection
        self._module = module

    @property
    def module(self) -> Any:
        if self._module is None:
            self._module = load_mt5_module()
        return self._module

    def broker_symbol(self, symbol: str) -> str:
        return self.symbols.get(symbol.upper(), symbol.upper())

    def _initialize(self, mt5: Any) -> None:
        kwargs: dict[str, Any] = {}
        for key, value in (
            ("login", self.login),
            ("password", self.password),
            ("server", self.server),
            ("timeout", self.timeout_ms),
        ):
            if value is not None:
                kwargs[key] = value
        ok = mt5.initialize(self.path, **kwargs) if self.path else mt5.initialize(**kwargs)
        if not ok:
            raise DataError(
                f"MetaTrader 5 initialize() failed: {_error_text(mt5)}; is the terminal "
                "running and logged in, and are login/password/server right?"
            )

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
        mt5 = self.module
        tf_const = timeframe_constant(mt5, timeframe)
        if not self.manage_connection:
            return self._fetch(mt5, self.broker_symbol(symbol), tf_const, lo, hi)
        self._initialize(mt5)
        try:
            return self._fetch(mt5, self.broker_symbol(symbol), tf_const, lo, hi)
        finally:
            mt5.shutdown()

    def _fetch(
        self, mt5: Any, name: str, tf_const: int, lo: pd.Timestamp, hi: pd.Timestamp
    ) -> pd.DataFrame:
        info = mt5.symbol_info(name)
        if info is None:
            raise DataError(f"MetaTrader 5 does not know symbol {name!r}: {_error_text(mt5)}")
        if not info.visible and not mt5.symbol_select(name, True):
            raise DataError(f"cannot select {name!r} in Market Watch: {_error_text(mt5)}")
        shift = dt.timedelta(seconds=self.offset_seconds)
        # the package takes UTC datetimes; server-clock epochs are what it compares against
        date_from = lo.to_pydatetime() + shift
        date_to = hi.to_pydatetime() + shift - dt.timedelta(seconds=1)  # range is inclusive
        rates = mt5.copy_rates_range(name, tf_const, date_from, date_to)
        if rates is None:
            raise DataError(f"MetaTrader 5 copy_rates_range({name!r}) failed: {_error_text(mt5)}")
        frame = rates_to_frame(
            np.asarray(rates),
            float(info.point),
            digits=int(info.digits),
            offset_seconds=self.offset_seconds,
            volume=self.volume,
            source=f"mt5:{name}",
        )
        i, j = frame.index.searchsorted(lo), frame.index.searchsorted(hi)
        return frame.iloc[i:j]
