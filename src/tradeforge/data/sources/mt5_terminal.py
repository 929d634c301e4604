"""One MetaTrader 5 terminal connection: the package, the login, the server clock, the symbols.

`MT5Terminal` is what the MT5 data source, `MT5Broker` and `MT5Feed` share, so bars, ticks
and orders go through one clock and one symbol mapping. It forwards every other attribute to
the ``MetaTrader5`` package (or an injected module-like object: a test stand-in, an
``mt5linux`` client), which is imported lazily because it exists for Windows only.

Symbols: brokers often decorate names (``EURUSD.r``, ``EURUSDm``, ``m.EURUSD``). A tradeforge
symbol maps to a broker name by, in order: an explicit entry of ``symbols``; the pattern
``symbol_pattern`` (``{symbol}.r``); the plain name when the terminal knows it; else the one
name among ``symbols_get()`` that is the symbol with a short prefix and/or suffix (several such
names are an error asking for an explicit one). Metadata comes from ``symbol_info``
(`SymbolSpec`).
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data.sources.mt5_clock import AUTO, ServerClock, detect_clock

__all__ = ["MT5Terminal", "SymbolSpec", "error_text", "load_mt5_module"]

_DECORATION = re.compile(r"^[A-Za-z0-9._#-]{0,4}$")


def load_mt5_module() -> Any:
    """Import the ``MetaTrader5`` package or explain why it is not available."""
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError as exc:
        raise ConfigError(
            "the MetaTrader5 package is not installed or cannot be imported "
            f"({exc}); it is published for Windows only and needs a running MetaTrader 5 "
            "terminal. On Windows: pip install MetaTrader5. Elsewhere pass a compatible "
            "module object, e.g. MT5Source(module=mt5linux.MetaTrader5(host, port))."
        ) from None


def error_text(module: Any) -> str:
    """``last_error()`` as text for a message (never raises)."""
    try:
        code, text = module.last_error()
    except Exception:  # a broken stand-in must not hide the original failure
        return "last_error() unavailable"
    return f"last_error()=({code}, {text!r})"


@dataclass(frozen=True)
class SymbolSpec:
    """What the broker says about a symbol (``symbol_info``); distances are in points."""

    name: str
    digits: int
    point: float
    contract_size: float
    volume_min: float
    volume_step: float
    volume_max: float
    filling_mode: int  # bitmask: 1 FOK, 2 IOC
    stops_level: int
    freeze_level: int
    expiration_mode: int  # bitmask: 1 GTC, 2 DAY, 4 SPECIFIED, 8 SPECIFIED_DAY

    @classmethod
    def from_info(cls, info: Any) -> SymbolSpec:
        def num(field: str, default: float = 0.0) -> float:
            return float(getattr(info, field, default) or default)

        return cls(
            name=str(info.name),
            digits=int(info.digits),
            point=float(info.point),
            contract_size=num("trade_contract_size", 1.0),
            volume_min=num("volume_min", 0.01),
            volume_step=num("volume_step", 0.01),
            volume_max=num("volume_max", 1e9),
            filling_mode=int(num("filling_mode")),
            stops_level=int(num("trade_stops_level")),
            freeze_level=int(num("trade_freeze_level")),
            expiration_mode=int(num("expiration_mode", 1)),
        )

    def on_step(self, lots: float) -> bool:
        steps = lots / self.volume_step
        return abs(steps - round(steps)) <= 1e-6

    def mismatches(self, instrument: Any) -> list[str]:
        """Where tradeforge's instrument would size or price orders the broker refuses."""
        out = []
        if abs(instrument.contract_size - self.contract_size) > 1e-9 * self.contract_size:
            out.append(
                f"contract size {instrument.contract_size:g} vs the broker's {self.contract_size:g}"
            )
        if not self.on_step(instrument.lot_step) or instrument.min_lot < self.volume_min - 1e-12:
            out.append(
                f"lots min/step {instrument.min_lot:g}/{instrument.lot_step:g} vs the broker's "
                f"{self.volume_min:g}/{self.volume_step:g}"
            )
        return out


class MT5Terminal:
    """A terminal connection shared by the MT5 source, broker and feed (see module doc).

    ``path`` (terminal64.exe), ``login``, ``password``, ``server`` and ``timeout_ms`` go to
    ``initialize()`` when given. ``server_time`` is a `ServerClock`, its text form, or
    ``"auto"``: detected at the first use of a symbol from its latest tick (`detect_clock`;
    refused when the market is closed). ``now`` (epoch ms) is injectable for tests.
    """

    def __init__(
        self,
        module: Any = None,
        *,
        path: str | None = None,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout_ms: int | None = None,
        server_time: ServerClock | str = AUTO,
        symbols: Mapping[str, str] | None = None,
        symbol_pattern: str | None = None,
        now: Callable[[], int] | None = None,
        reconnect_attempts: int = 5,
        reconnect_pause: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if symbol_pattern is not None and "{symbol}" not in symbol_pattern:
            raise ConfigError(
                f"broker symbol pattern must contain {{symbol}}, e.g. '{{symbol}}.r'; "
                f"got {symbol_pattern!r}"
            )
        self._module = module
        self.credentials: dict[str, Any] = {
            "path": path, "login": login, "password": password, "server": server,
            "timeout": timeout_ms,
        }  # fmt: skip
        self._clock: ServerClock | None = None
        if isinstance(server_time, ServerClock):
            self._clock = server_time
        elif str(server_time).strip().lower() != AUTO:
            self._clock = ServerClock.parse(str(server_time))
        self.symbols = {k.upper(): v for k, v in (symbols or {}).items()}
        self.symbol_pattern = symbol_pattern
        self._now = now or (lambda: int(time.time() * 1000))
        self._names: dict[str, str] = {}
        self.connected = False
        self.reconnect_attempts, self.reconnect_pause = reconnect_attempts, reconnect_pause
        self.sleep = sleep
        self.reconnects = 0  # how often the link was re-established (the feed reconciles)
        self._answered: float | None = None  # monotonic time the terminal last answered
        self.failure: str | None = None  # why the link is down (a reconnect that failed)
        self.server_connected: bool | None = None  # terminal_info().connected when probed

    @classmethod
    def of(cls, mt5: Any) -> MT5Terminal:
        """``mt5`` itself when it is a terminal, else a terminal over that module."""
        return mt5 if isinstance(mt5, MT5Terminal) else cls(mt5)

    @property
    def module(self) -> Any:
        if self._module is None:
            self._module = load_mt5_module()
        return self._module

    def __getattr__(self, name: str) -> Any:
        # the package's functions and constants (only reached for names not defined here)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.module, name)

    # ------------------------------------------------------------------ connection
    def connect(self, **overrides: Any) -> None:
        """``initialize()`` with the stored credentials (``overrides`` win where not None)."""
        given = {**self.credentials, **{k: v for k, v in overrides.items() if v is not None}}
        self.credentials = given
        kwargs = {k: v for k, v in given.items() if k != "path" and v is not None}
        mt5 = self.module
        path = given.get("path")
        ok = mt5.initialize(path, **kwargs) if path else mt5.initialize(**kwargs)
        if not ok:
            raise DataError(
                f"MetaTrader 5 initialize() failed: {error_text(mt5)}; is the terminal "
                "running and logged in, and are login/password/server right?"
            )
        self.connected = True

    def shutdown(self) -> None:
        self.module.shutdown()
        self.connected = False

    def disconnected(self) -> bool:
        """The last call failed because the terminal's IPC link is gone (codes -10000 …)."""
        try:
            code, _ = self.module.last_error()
        except Exception:
            return False
        return int(code) <= -10000

    def reconnect(self) -> None:
        """``shutdown`` and ``initialize`` again until it works (the pause doubling between
        tries); `DataError` after ``reconnect_attempts`` failures."""
        error: DataError | None = None
        attempts = max(1, self.reconnect_attempts)
        for i in range(attempts):
            if i:
                self.sleep(self.reconnect_pause * 2 ** (i - 1))
            try:
                self.module.shutdown()
                self.connect()
                self.reconnects += 1
                self.failure = None
                return
            except DataError as exc:
                error = exc
        self.failure = f"MetaTrader 5 reconnect failed after {attempts} tries: {error}"
        raise DataError(self.failure)

    def call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)`` of the package; when it fails because the link is
        gone, reconnect and call once more. The result may still be None (`error_text`)."""
        result = getattr(self.module, function)(*args, **kwargs)
        if result is None and self.connected and self.disconnected():
            self.reconnect()
            result = getattr(self.module, function)(*args, **kwargs)
        if result is not None or not self.disconnected():  # an answer, even a refusal
            self._answered = time.monotonic()
        return result

    def probe(self) -> None:
        """Ask whether the terminal is connected to the trade server (``terminal_info``;
        a package or stand-in without it is taken at its word)."""
        if getattr(self.module, "terminal_info", None) is None:
            return
        info = self.call("terminal_info")
        self.server_connected = None if info is None else bool(getattr(info, "connected", True))

    def link(self) -> dict[str, Any]:
        """The link's health as plain values (safe to read from another thread, it calls
        nothing): up or not, seconds since the terminal last answered a call (the package has
        no heartbeat: a session's feed polls it several times a second), reconnections made,
        and why it is down."""
        answered = self._answered
        silent = None if answered is None else round(time.monotonic() - answered, 3)
        failure = self.failure
        if failure is None and self.server_connected is False:
            failure = "the terminal is not connected to the trade server"
        return {
            "connected": self.connected and failure is None,
            "silent_seconds": silent,
            "reconnects": self.reconnects,
            "failure": failure,
        }

    def now_ms(self) -> int:
        """The local clock, epoch milliseconds (injectable: ``now``)."""
        return self._now()

    # ------------------------------------------------------------------ clock
    def clock(self, symbol: str) -> ServerClock:
        """The server clock, detecting it from ``symbol``'s latest tick when ``auto``."""
        if self._clock is None:
            name = self.broker_symbol(symbol)
            tick = self.module.symbol_info_tick(name)
            if tick is None:
                raise DataError(f"symbol_info_tick({name!r}) failed: {error_text(self.module)}")
            clock = detect_clock(int(tick.time_msc), self._now())
            if clock is None:
                raise ConfigError(
                    f"cannot detect the server time of {name}: its last tick is not recent "
                    "(market closed?); pass the server time, e.g. --server-time ny (UTC+2, "
                    "UTC+3 in New York summer) or --server-time +2"
                )
            self._clock = clock
        return self._clock

    # ------------------------------------------------------------------ symbols
    def broker_symbol(self, symbol: str) -> str:
        """The broker's name of a tradeforge symbol (see the module docstring)."""
        key = symbol.upper()
        if key not in self._names:
            self._names[key] = self._resolve(key)
        return self._names[key]

    def tradeforge_symbol(self, name: str) -> str:
        """The tradeforge symbol of a broker name (the name itself when never mapped)."""
        for key, value in self._names.items():
            if value == name:
                return key
        return name

    def _resolve(self, key: str) -> str:
        if key in self.symbols:
            return self.symbols[key]
        if self.symbol_pattern is not None:
            return self.symbol_pattern.replace("{symbol}", key)
        mt5 = self.module
        if mt5.symbol_info(key) is not None:
            return key
        why = error_text(mt5)
        listing = getattr(mt5, "symbols_get", None)
        every = listing() if listing is not None else None
        names = [str(s.name) for s in every or ()]
        found = sorted(n for n in names if _decorates(n, key))
        if len(found) == 1:
            return found[0]
        if found:
            raise ConfigError(
                f"several broker symbols match {key}: {', '.join(found)}; name one with "
                "--broker-symbol (e.g. --broker-symbol '{symbol}.r')"
            )
        raise DataError(
            f"MetaTrader 5 does not know symbol {key!r} nor a decorated name like {key}.r: {why}"
        )

    def spec(self, symbol: str) -> SymbolSpec:
        """``symbol_info`` of a tradeforge symbol (selected into Market Watch if hidden)."""
        name = self.broker_symbol(symbol)
        mt5 = self.module
        info = mt5.symbol_info(name)
        if info is None:
            raise DataError(f"MetaTrader 5 does not know symbol {name!r}: {error_text(mt5)}")
        if not info.visible and not mt5.symbol_select(name, True):
            raise DataError(f"cannot select {name!r} in Market Watch: {error_text(mt5)}")
        return SymbolSpec.from_info(info)


def _decorates(name: str, symbol: str) -> bool:
    """``name`` is ``symbol`` with at most a short prefix and suffix (``EURUSD.r``)."""
    at = name.upper().find(symbol)
    if at < 0:
        return False
    prefix, suffix = name[:at], name[at + len(symbol) :]
    return (
        bool(prefix or suffix)
        and bool(_DECORATION.match(prefix))
        and bool(_DECORATION.match(suffix))
    )
