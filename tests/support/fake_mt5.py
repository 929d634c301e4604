"""A stand-in for the ``MetaTrader5`` package (Windows-only) for tests on any platform.

`FakeMT5` behaves like the module: the documented functions, ``TIMEFRAME_*`` / ``RES_*`` and
trading constants as attributes, numpy structured arrays with the package's dtypes, named
tuples for ``symbol_info`` / ``symbol_info_tick`` / ``account_info``, ``None`` plus
``last_error()`` on failure. All terminal state lives on the instance, so a test arranges it
(``add_symbol``, ``add_rates``, ``fail``) and then inspects it (``calls``, ``initialized``).

Extending it for the MT5 broker adapter: keep positions/orders/deals as lists on the
instance, implement ``order_send`` / ``positions_get`` / ``history_deals_get`` with the
``TradePosition`` / ``TradeDeal`` / ``OrderSendResult`` tuples of docs/protocols.md (MT5),
start each with ``self._enter("name")`` (records the call, honours injected failures, checks
initialisation) and report errors through ``self._error(code, text)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

RATES_DTYPE = np.dtype(
    [
        ("time", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("tick_volume", "<u8"),
        ("spread", "<i4"),
        ("real_volume", "<u8"),
    ]
)
TICKS_DTYPE = np.dtype(
    [
        ("time", "<i8"),
        ("bid", "<f8"),
        ("ask", "<f8"),
        ("last", "<f8"),
        ("volume", "<u8"),
        ("time_msc", "<i8"),
        ("flags", "<u4"),
        ("volume_real", "<f8"),
    ]
)


class SymbolInfo(NamedTuple):
    """The fields of the package's ``SymbolInfo`` that tradeforge reads (the real one has ~90)."""

    name: str
    visible: bool
    select: bool
    digits: int
    point: float
    spread: int
    trade_tick_size: float
    trade_tick_value: float
    trade_contract_size: float
    volume_min: float
    volume_max: float
    volume_step: float
    filling_mode: int
    currency_base: str
    currency_profit: str
    bid: float
    ask: float
    description: str = ""
    trade_stops_level: int = 0  # points
    trade_freeze_level: int = 0  # points
    expiration_mode: int = 15  # bitmask: 1 GTC, 2 DAY, 4 SPECIFIED, 8 SPECIFIED_DAY


class Tick(NamedTuple):
    time: int
    bid: float
    ask: float
    last: float
    volume: int
    time_msc: int
    flags: int
    volume_real: float


class TerminalInfo(NamedTuple):
    connected: bool  # to the trade server
    trade_allowed: bool
    name: str


class AccountInfo(NamedTuple):
    login: int
    trade_mode: int
    leverage: int
    limit_orders: int
    margin_so_mode: int
    trade_allowed: bool
    trade_expert: bool
    margin_mode: int
    currency_digits: int
    balance: float
    credit: float
    profit: float
    equity: float
    margin: float
    margin_free: float
    margin_level: float
    name: str
    server: str
    currency: str
    company: str


def make_rates(rows: Sequence[Sequence[Any]]) -> np.ndarray:
    """Rows of ``(time, open, high, low, close, tick_volume, spread, real_volume)`` as the
    package's structured array (``time`` in epoch seconds, ``spread`` in points)."""
    return np.array([tuple(r) for r in rows], dtype=RATES_DTYPE)


def _epoch(value: dt.datetime | int | float) -> int:
    """The package accepts datetimes (naive = UTC, as the docs recommend) or epoch seconds."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(value.timestamp())
    return int(value)


class FakeMT5:
    """A module-like object standing in for ``import MetaTrader5 as mt5``."""

    __version__ = "5.0.5735"

    # timeframes
    TIMEFRAME_M1 = 1
    TIMEFRAME_M2 = 2
    TIMEFRAME_M3 = 3
    TIMEFRAME_M4 = 4
    TIMEFRAME_M5 = 5
    TIMEFRAME_M6 = 6
    TIMEFRAME_M10 = 10
    TIMEFRAME_M12 = 12
    TIMEFRAME_M15 = 15
    TIMEFRAME_M20 = 20
    TIMEFRAME_M30 = 30
    TIMEFRAME_H1 = 1 | 0x4000
    TIMEFRAME_H2 = 2 | 0x4000
    TIMEFRAME_H3 = 3 | 0x4000
    TIMEFRAME_H4 = 4 | 0x4000
    TIMEFRAME_H6 = 6 | 0x4000
    TIMEFRAME_H8 = 8 | 0x4000
    TIMEFRAME_H12 = 12 | 0x4000
    TIMEFRAME_D1 = 24 | 0x4000
    TIMEFRAME_W1 = 1 | 0x8000
    TIMEFRAME_MN1 = 1 | 0xC000

    # last_error() codes
    RES_S_OK = 1
    RES_E_FAIL = -1
    RES_E_INVALID_PARAMS = -2
    RES_E_NO_MEMORY = -3
    RES_E_NOT_FOUND = -4
    RES_E_INVALID_VERSION = -5
    RES_E_AUTH_FAILED = -6
    RES_E_UNSUPPORTED = -7
    RES_E_AUTO_TRADING_DISABLED = -8
    RES_E_INTERNAL_FAIL = -10000
    RES_E_INTERNAL_FAIL_SEND = -10001
    RES_E_INTERNAL_FAIL_RECEIVE = -10002
    RES_E_INTERNAL_FAIL_INIT = -10003
    RES_E_INTERNAL_FAIL_CONNECT = -10004
    RES_E_INTERNAL_FAIL_TIMEOUT = -10005

    # trading (for the broker adapter; see docs/protocols.md §Trading)
    TRADE_ACTION_DEAL = 1
    TRADE_ACTION_PENDING = 5
    TRADE_ACTION_SLTP = 6
    TRADE_ACTION_MODIFY = 7
    TRADE_ACTION_REMOVE = 8
    TRADE_ACTION_CLOSE_BY = 10
    ORDER_TYPE_BUY = 0
    ORDER_TYPE_SELL = 1
    ORDER_TYPE_BUY_LIMIT = 2
    ORDER_TYPE_SELL_LIMIT = 3
    ORDER_TYPE_BUY_STOP = 4
    ORDER_TYPE_SELL_STOP = 5
    ORDER_FILLING_FOK = 0
    ORDER_FILLING_IOC = 1
    ORDER_FILLING_RETURN = 2
    ORDER_FILLING_BOC = 3
    ORDER_TIME_GTC = 0
    ORDER_TIME_DAY = 1
    ORDER_TIME_SPECIFIED = 2
    ORDER_TIME_SPECIFIED_DAY = 3
    COPY_TICKS_ALL = -1
    COPY_TICKS_INFO = 1
    COPY_TICKS_TRADE = 2
    POSITION_TYPE_BUY = 0
    POSITION_TYPE_SELL = 1
    DEAL_ENTRY_IN = 0
    DEAL_ENTRY_OUT = 1
    TRADE_RETCODE_DONE = 10009
    TRADE_RETCODE_REJECT = 10006
    TRADE_RETCODE_MARKET_CLOSED = 10018

    def __init__(self, *, login: int = 12345678, server: str = "Fake-Demo") -> None:
        self.initialized = False
        self.init_kwargs: dict[str, Any] | None = None
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.symbols: dict[str, SymbolInfo] = {}
        self.rates: dict[tuple[str, int], np.ndarray] = {}
        self.ticks: dict[str, Tick] = {}
        self.tick_history: dict[str, np.ndarray] = {}
        self.account = AccountInfo(
            login=login, trade_mode=0, leverage=100, limit_orders=200, margin_so_mode=0,
            trade_allowed=True, trade_expert=True, margin_mode=2, currency_digits=2,
            balance=10_000.0, credit=0.0, profit=0.0, equity=10_000.0, margin=0.0,
            margin_free=10_000.0, margin_level=0.0, name="Fake Trader", server=server,
            currency="USD", company="Fake Broker Ltd",
        )  # fmt: skip
        self.server_connected = True  # the terminal's link to the trade server
        self.failures: dict[str, tuple[int, str]] = {}
        self._last_error: tuple[int, str] = (self.RES_S_OK, "Success")

    # ------------------------------------------------------------------ arranging state

    def add_symbol(
        self,
        name: str,
        *,
        digits: int = 5,
        visible: bool = True,
        contract_size: float = 100_000.0,
        bid: float = 1.1,
        spread: int = 10,
        filling_mode: int = 1,
        volume_min: float = 0.01,
        volume_step: float = 0.01,
        volume_max: float = 100.0,
        stops_level: int = 0,
        freeze_level: int = 0,
        expiration_mode: int = 15,
    ) -> SymbolInfo:
        point = 10.0**-digits
        info = SymbolInfo(
            name=name, visible=visible, select=visible, digits=digits, point=point,
            spread=spread, trade_tick_size=point, trade_tick_value=1.0,
            trade_contract_size=contract_size, volume_min=volume_min, volume_max=volume_max,
            volume_step=volume_step, filling_mode=filling_mode, currency_base=name[:3],
            currency_profit=name[3:6], bid=bid, ask=round(bid + spread * point, digits),
            trade_stops_level=stops_level, trade_freeze_level=freeze_level,
            expiration_mode=expiration_mode,
        )  # fmt: skip
        self.symbols[name] = info
        return info

    def add_rates(self, symbol: str, timeframe: int, rates: np.ndarray) -> None:
        if rates.dtype != RATES_DTYPE:
            raise TypeError(f"rates must have dtype {RATES_DTYPE}")
        self.rates[(symbol, timeframe)] = np.sort(rates, order="time")

    def add_ticks(self, symbol: str, rows: Sequence[tuple[int, float, float]]) -> None:
        """Ticks ``(time_msc, bid, ask)`` (server clock) for ``copy_ticks_from``; the last one
        becomes the current quote."""
        arr = np.array(
            [(ms // 1000, b, a, 0.0, 0, ms, 6, 0.0) for ms, b, a in rows], dtype=TICKS_DTYPE
        )
        old = self.tick_history.get(symbol, np.empty(0, dtype=TICKS_DTYPE))
        self.tick_history[symbol] = np.sort(np.concatenate([old, arr]), order="time_msc")
        ms, b, a = rows[-1]
        self.ticks[symbol] = Tick(ms // 1000, b, a, 0.0, 0, ms, 6, 0.0)

    def disconnect(self) -> None:
        """The terminal loses its IPC link: every call fails until ``initialize`` again."""
        self.initialized = False

    def fail(self, function: str, code: int = RES_E_FAIL, text: str = "Generic fail") -> None:
        """Make every later call of ``function`` fail with ``(code, text)``."""
        self.failures[function] = (code, text)

    # ------------------------------------------------------------------ plumbing

    def _error(self, code: int, text: str) -> None:
        self._last_error = (code, text)

    def _enter(self, name: str, *args: Any, needs_init: bool = True) -> bool:
        """Record a call; False (and last_error set) when it must fail."""
        self.calls.append((name, args))
        if name in self.failures:
            self._error(*self.failures[name])
            return False
        if needs_init and not self.initialized:
            self._error(self.RES_E_INTERNAL_FAIL_INIT, "IPC initialize failed, no connection")
            return False
        self._error(self.RES_S_OK, "Success")
        return True

    # ------------------------------------------------------------------ the package's API

    def initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int | None = None,
        portable: bool = False,
    ) -> bool:
        if not self._enter("initialize", path, needs_init=False):
            return False
        if login is not None and login != self.account.login:
            self._error(self.RES_E_AUTH_FAILED, "Authorization failed")
            return False
        self.init_kwargs = {
            "path": path, "login": login, "password": password, "server": server,
            "timeout": timeout, "portable": portable,
        }  # fmt: skip
        self.initialized = True
        return True

    def shutdown(self) -> None:
        self.calls.append(("shutdown", ()))
        self.initialized = False

    def last_error(self) -> tuple[int, str]:
        return self._last_error

    def version(self) -> tuple[int, int, str] | None:
        if not self._enter("version"):
            return None
        return (500, 4000, "01 Jan 2026")

    def terminal_info(self) -> TerminalInfo | None:
        if not self._enter("terminal_info"):
            return None
        return TerminalInfo(self.server_connected, True, "Fake Terminal")

    def account_info(self) -> AccountInfo | None:
        return self.account if self._enter("account_info") else None

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        if not self._enter("symbol_info", symbol):
            return None
        info = self.symbols.get(symbol)
        if info is None:
            self._error(self.RES_E_NOT_FOUND, f"Terminal: Symbol {symbol} not found")
        return info

    def symbols_get(self, group: str | None = None) -> tuple[SymbolInfo, ...] | None:
        if not self._enter("symbols_get", group):
            return None
        return tuple(self.symbols.values())

    def symbol_select(self, symbol: str, enable: bool = True) -> bool:
        if not self._enter("symbol_select", symbol, enable):
            return False
        info = self.symbols.get(symbol)
        if info is None:
            self._error(self.RES_E_NOT_FOUND, f"Terminal: Symbol {symbol} not found")
            return False
        self.symbols[symbol] = info._replace(visible=enable, select=enable)
        return True

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        if not self._enter("symbol_info_tick", symbol):
            return None
        tick = self.ticks.get(symbol)
        if tick is None:
            info = self.symbols.get(symbol)
            if info is None:
                self._error(self.RES_E_NOT_FOUND, f"Terminal: Symbol {symbol} not found")
                return None
            tick = Tick(0, info.bid, info.ask, 0.0, 0, 0, 6, 0.0)
        return tick

    def _series(self, symbol: str, timeframe: int) -> np.ndarray | None:
        if symbol not in self.symbols:
            self._error(self.RES_E_NOT_FOUND, f"Terminal: Symbol {symbol} not found")
            return None
        if not self.symbols[symbol].visible:
            self._error(self.RES_E_NOT_FOUND, f"Terminal: Symbol {symbol} not selected")
            return None
        if timeframe not in {v for k, v in vars(FakeMT5).items() if k.startswith("TIMEFRAME_")}:
            self._error(self.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
            return None
        return self.rates.get((symbol, timeframe), np.empty(0, dtype=RATES_DTYPE))

    def copy_rates_range(
        self, symbol: str, timeframe: int, date_from: Any, date_to: Any
    ) -> np.ndarray | None:
        """Bars with open time in ``[date_from, date_to]`` (both inclusive, as documented)."""
        if not self._enter("copy_rates_range", symbol, timeframe, date_from, date_to):
            return None
        series = self._series(symbol, timeframe)
        if series is None:
            return None
        lo, hi = _epoch(date_from), _epoch(date_to)
        return series[(series["time"] >= lo) & (series["time"] <= hi)].copy()

    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int
    ) -> np.ndarray | None:
        """``count`` bars ending ``start_pos`` bars before the newest one, oldest first."""
        if not self._enter("copy_rates_from_pos", symbol, timeframe, start_pos, count):
            return None
        series = self._series(symbol, timeframe)
        if series is None:
            return None
        if start_pos < 0 or count < 0:
            self._error(self.RES_E_INVALID_PARAMS, "Terminal: Invalid params")
            return None
        stop = len(series) - start_pos
        return series[max(0, stop - count) : max(0, stop)].copy()

    def copy_ticks_from(
        self, symbol: str, date_from: Any, count: int, flags: int
    ) -> np.ndarray | None:
        """Up to ``count`` ticks at or after ``date_from`` (epoch seconds, server clock)."""
        if not self._enter("copy_ticks_from", symbol, date_from, count, flags):
            return None
        if symbol not in self.symbols:
            self._error(self.RES_E_NOT_FOUND, f"Terminal: Symbol {symbol} not found")
            return None
        ticks = self.tick_history.get(symbol, np.empty(0, dtype=TICKS_DTYPE))
        return ticks[ticks["time"] >= _epoch(date_from)][:count].copy()
