"""Execution model (spread, slippage, commission, swap) and position sizing for backtests.

Every cost defaults to zero and is written into ``run.json`` explicitly. The model reduces to
per-bar arrays (spread and slippage in price units) so the kernel sees only numpy arrays.

* spread: the data's ``spread`` column (``spread="data"``, zero when the column is absent) or
  a fixed value in pips;
* slippage (always adverse, applied to market-type fills: market and stop entries, stop,
  time and end exits; limit fills — targets and limit entries — get their price):
  ``fixed`` pips, ``atr`` fraction of ATR(``atr_period``) known at the previous bar's close,
  or ``random`` uniform in ``[0, value]`` pips, a pure function of ``(seed, symbol, bar open
  time)`` (`random_units`) — so a dry-run, a restarted dry-run and a backtest over any window
  of the same bars all draw the same slippage for the same bar;
* commission: money per lot per side;
* swap: money per lot per night (positive credits, negative costs), charged for each UTC
  date change while the position is open.

Commission and swap are money of the instrument's quote currency (like its prices); with an
account currency the kernel converts them with the rest (`tradeforge.trading.fx`).
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.features.library._common import f64, true_range
from tradeforge.features.library._kernels import ema

SLIPPAGE_MODELS = ("none", "fixed", "atr", "random")
SIZING_MODES = ("fixed", "risk")
POSITION_MODES = ("symbol", "tag")


@dataclass(frozen=True)
class ExecutionModel:
    spread: str | float = "data"  # "data" or fixed pips
    slippage: str = "none"  # none | fixed | atr | random
    slippage_value: float = 0.0  # pips (fixed/random) or ATR fraction (atr)
    atr_period: int = 14
    seed: int = 0
    commission: float = 0.0  # money per lot per side
    swap_long: float = 0.0  # money per lot per night
    swap_short: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.spread, str) and self.spread != "data":
            try:
                object.__setattr__(self, "spread", float(self.spread))
            except ValueError:
                raise ConfigError(
                    f"spread must be 'data' or a number of pips, got {self.spread!r}"
                ) from None
        if not isinstance(self.spread, str) and not self.spread >= 0:
            raise ConfigError(f"spread must be >= 0 pips, got {self.spread}")
        if self.slippage not in SLIPPAGE_MODELS:
            raise ConfigError(f"slippage model must be one of {', '.join(SLIPPAGE_MODELS)}")
        if not self.slippage_value >= 0:
            raise ConfigError("slippage value must be >= 0 (slippage is always adverse)")
        if self.atr_period < 1:
            raise ConfigError("atr_period must be >= 1")
        if not self.commission >= 0:
            raise ConfigError("commission must be >= 0 (money per lot per side)")

    @classmethod
    def parse_slippage(cls, text: str | None) -> dict[str, Any]:
        """``"0.5"`` / ``"fixed:0.5"`` pips, ``"atr:0.05"``, ``"random:1.0"`` → model kwargs."""
        if text is None or text == "":
            return {}
        kind, _, value = text.partition(":")
        if not value:
            kind, value = "fixed", kind
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(
                f"cannot parse slippage {text!r}; e.g. 0.5, atr:0.05, random:1"
            ) from None
        return {"slippage": kind, "slippage_value": number}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def spread_array(self, frame: Any, inst: Instrument) -> np.ndarray:
        n = len(frame)
        if self.spread == "data":
            if "spread" in frame.columns:
                return np.ascontiguousarray(frame["spread"].to_numpy(np.float64))
            return constant_array(n, 0.0)
        return constant_array(n, float(self.spread) * inst.pip_size)

    def slippage_array(self, frame: Any, inst: Instrument, symbol: str) -> np.ndarray:
        n = len(frame)
        if self.slippage == "none" or self.slippage_value == 0:
            return constant_array(n, 0.0)
        if self.slippage == "fixed":
            return constant_array(n, self.slippage_value * inst.pip_size)
        if self.slippage == "random":
            times = frame.index.as_unit("ns").asi8
            return random_units(self.seed, symbol, times) * self.slippage_value * inst.pip_size
        h = f64(frame["high"].to_numpy())
        lo = f64(frame["low"].to_numpy())
        atr = atr_with_warmup(h, lo, f64(frame["close"].to_numpy()), self.atr_period)
        prev = np.empty(n)  # the ATR known when the bar opens
        prev[0] = h[0] - lo[0] if n else 0.0
        prev[1:] = atr[:-1]
        return np.nan_to_num(prev, nan=0.0) * self.slippage_value

    def slippage_at(
        self, inst: Instrument, symbol: str, bar_time_ns: int, atr_prev: float | None = None
    ) -> float:
        """Slippage (price units) of the bar opened at ``bar_time_ns``: what `slippage_array`
        gives that bar. ``atr_prev`` is the ATR known at the previous bar's close (``atr``)."""
        if self.slippage == "none" or self.slippage_value == 0:
            return 0.0
        if self.slippage == "fixed":
            return self.slippage_value * inst.pip_size
        if self.slippage == "random":
            unit = random_units(self.seed, symbol, np.array([bar_time_ns], dtype=np.int64))[0]
            return float(unit) * self.slippage_value * inst.pip_size
        atr = 0.0 if atr_prev is None or not np.isfinite(atr_prev) else float(atr_prev)
        return atr * self.slippage_value


_CONSTANTS: dict[tuple[int, str], np.ndarray] = {}
_MAX_CONSTANTS = 8


def constant_array(n: int, value: float) -> np.ndarray:
    """A read-only float64 array of ``n`` times ``value``, shared between calls.

    A constant cost (no spread, fixed slippage, no conversion) makes the same per-bar array
    for every run on bars of that length; repeated backtests (research loops, the bench) reuse
    it instead of filling megabytes per call. Read-only, so no holder can change another's.
    """
    key = (int(n), float(value).hex())  # hex: -0.0 and 0.0 stay apart
    arr = _CONSTANTS.get(key)
    if arr is None:
        if len(_CONSTANTS) >= _MAX_CONSTANTS:
            _CONSTANTS.pop(next(iter(_CONSTANTS)))
        arr = np.full(int(n), float(value))
        arr.flags.writeable = False
        _CONSTANTS[key] = arr
    return arr


def random_units(seed: int, symbol: str, times_ns: np.ndarray) -> np.ndarray:
    """Uniform numbers in ``[0, 1)``, one per bar time: splitmix64 of the time mixed with
    ``(seed, crc32(symbol))``. A pure function of its inputs (no generator state), so any
    subset or order of bars, in any process, gets the same numbers."""
    key = (int(seed) & 0xFFFFFFFF) << 32 | zlib.crc32(symbol.upper().encode())
    z = np.asarray(times_ns, dtype=np.int64).view(np.uint64) ^ np.uint64(key)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def atr_with_warmup(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int
) -> np.ndarray:
    """The feature library's Wilder ATR (``atr(period)``), with its warm-up filled in.

    The library ATR is NaN before bar ``period - 1``; there this uses the running mean of the
    true range so far (bar ``i``: mean of the first ``i + 1`` true ranges), which is where
    the library's seed ends up at bar ``period - 1``.
    """
    tr = true_range(high, low, close)
    out = ema(tr, 1.0 / period, period)
    warm = min(period - 1, len(tr))
    out[:warm] = np.cumsum(tr[:warm]) / np.arange(1, warm + 1)
    return out


@dataclass(frozen=True)
class Sizing:
    """``fixed``: ``value`` lots per trade; ``risk``: risk ``value`` percent of the balance
    (realized equity, so it compounds) between the fill and the initial stop. Sizes are
    rounded down to the lot step; below the minimum lot the trade is skipped and counted."""

    mode: str = "fixed"
    value: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in SIZING_MODES:
            raise ConfigError(f"sizing mode must be one of {', '.join(SIZING_MODES)}")
        if not self.value > 0:
            raise ConfigError(f"sizing value must be > 0, got {self.value}")
        if self.mode == "risk" and self.value > 100:
            raise ConfigError("risk percent must be <= 100")

    @classmethod
    def parse(cls, text: str | None) -> Sizing:
        """``"1"`` / ``"fixed:0.5"`` lots or ``"risk:1"`` percent."""
        if not text:
            return cls()
        kind, _, value = text.partition(":")
        if not value:
            kind, value = "fixed", kind
        try:
            return cls(kind, float(value))
        except ValueError:
            raise ConfigError(
                f"cannot parse sizing {text!r}; e.g. 0.1, fixed:0.1, risk:1"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
