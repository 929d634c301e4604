"""Instrument specifications and the registry that resolves symbols to them.

Built-in specs live in ``instruments.toml`` beside this module; users add or override entries
from a TOML or YAML file (same keys). An unknown symbol is an error listing close matches.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tradeforge.core.config import read_config_file
from tradeforge.core.errors import ConfigError, UnknownSymbolError
from tradeforge.core.names import check_name, validate_symbol
from tradeforge.core.paths import user_path

_BUILTIN_FILE = Path(__file__).with_name("instruments.toml")


@dataclass(frozen=True)
class Instrument:
    """Static contract facts about a tradable symbol. Prices are in ``quote_currency``."""

    symbol: str
    digits: int
    pip_size: float
    tick_size: float
    contract_size: float
    min_lot: float
    lot_step: float
    quote_currency: str
    point: float = field(default=0.0)  # Dukascopy price scale; defaults to tick_size
    asset_class: str = "fx"
    dukascopy_symbol: str = ""
    max_lot: float = 100.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol", validate_symbol(self.symbol))
        if self.dukascopy_symbol:  # names the raw-download folder
            check_name(self.dukascopy_symbol, "Dukascopy symbol", "USA500IDXUSD")
        for name in ("pip_size", "tick_size", "contract_size", "min_lot", "lot_step", "max_lot"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"instrument {self.symbol}: {name} must be > 0, got {value!r}")
        if self.digits < 0:
            raise ConfigError(f"instrument {self.symbol}: digits must be >= 0")
        if not self.point:
            object.__setattr__(self, "point", self.tick_size)
        if not self.dukascopy_symbol:
            object.__setattr__(self, "dukascopy_symbol", self.symbol)

    @property
    def unit(self) -> float:
        """Quote-currency money per price unit per lot step (``lot_step * contract_size``,
        to 12 significant digits so that ``0.01 * 100000`` is exactly 1000)."""
        return float(f"{self.lot_step * self.contract_size:.12g}")

    def lot_steps(self, lots: float) -> int:
        """``lots`` as a whole number of lot steps, rounded down."""
        return math.floor(lots / self.lot_step + 1e-9)

    @property
    def min_steps(self) -> int:
        return math.ceil(self.min_lot / self.lot_step - 1e-9)

    @property
    def max_steps(self) -> int:
        return self.lot_steps(self.max_lot)

    def round_price(self, price: float) -> float:
        return round(round(price / self.tick_size) * self.tick_size, self.digits)

    def round_lots(self, lots: float) -> float:
        """Round a size down to the lot step; 0.0 when below the minimum lot."""
        size = round(self.lot_steps(lots) * self.lot_step, 8)
        if size < self.min_lot - 1e-12:
            return 0.0
        return min(size, self.max_lot)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(symbol: str, spec: Mapping[str, Any], origin: str) -> Instrument:
    known = set(Instrument.__dataclass_fields__) - {"symbol"}
    unknown = set(spec) - known
    if unknown:
        raise ConfigError(f"{origin}: instrument {symbol} has unknown keys {sorted(unknown)}")
    try:
        name = validate_symbol(symbol)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    try:
        return Instrument(symbol=name, **dict(spec))
    except TypeError as exc:
        raise ConfigError(f"{origin}: instrument {symbol} is incomplete: {exc}") from exc


class InstrumentRegistry:
    """Symbol → `Instrument`, built-ins first, then user files in order (later wins)."""

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._items: dict[str, Instrument] = {i.symbol: i for i in instruments}

    @classmethod
    def builtin(cls) -> InstrumentRegistry:
        return cls(_builtin_instruments())

    def load_file(self, path: str | Path) -> InstrumentRegistry:
        """Add or override instruments from a TOML/YAML file; a partial override of a known
        symbol keeps its other fields."""
        path = user_path(path)
        for symbol, spec in read_config_file(path, "instrument file").items():
            if not isinstance(spec, Mapping):
                raise ConfigError(f"{path}: entry {symbol} must be a table of fields")
            base = self._items.get(str(symbol).upper())
            merged = {**(base.to_dict() if base else {}), **spec}
            merged.pop("symbol", None)
            instrument = _build(symbol, merged, str(path))
            self._items[instrument.symbol] = instrument
        return self

    def add(self, instrument: Instrument) -> None:
        self._items[instrument.symbol] = instrument

    def get(self, symbol: str) -> Instrument:
        key = symbol.upper().replace("/", "").replace("_", "")
        try:
            return self._items[key]
        except KeyError:
            close = difflib.get_close_matches(key, self._items, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownSymbolError(f"unknown symbol {symbol!r}{hint}") from None

    def __contains__(self, symbol: str) -> bool:
        return symbol.upper() in self._items

    def symbols(self) -> list[str]:
        return sorted(self._items)


@lru_cache(maxsize=1)
def _builtin_instruments() -> tuple[Instrument, ...]:
    data = read_config_file(_BUILTIN_FILE, "instrument file")
    return tuple(_build(sym, spec, "built-in instruments") for sym, spec in data.items())


_default_registry: InstrumentRegistry | None = None


def default_registry() -> InstrumentRegistry:
    """The process-wide registry (built-ins plus whatever `set_default_registry` installed)."""
    global _default_registry
    if _default_registry is None:
        _default_registry = InstrumentRegistry.builtin()
    return _default_registry


def set_default_registry(registry: InstrumentRegistry) -> None:
    global _default_registry
    _default_registry = registry


def get_instrument(symbol: str) -> Instrument:
    """Look a symbol up in the default registry; raises `UnknownSymbolError` with suggestions."""
    return default_registry().get(symbol)
