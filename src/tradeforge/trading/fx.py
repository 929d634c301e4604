"""Quote → account currency conversion for the backtest kernel.

Money in the kernel is computed in the instrument's quote currency and converted per bar:

* account currency ``None`` or equal to the quote currency: rate 1 (money in quote currency);
* account currency equal to the instrument's base currency (USDJPY with a USD account):
  quote money is divided by the instrument's own price — the kernel uses the fill price of
  each leg (realized PnL, commission), the entry fill price (initial risk, sizing) and the
  bar open for swap; the per-bar array carries ``1 / close`` for the mark-to-market;
* otherwise a conversion instrument ``{QUOTE}{ACCOUNT}`` (multiply) or ``{ACCOUNT}{QUOTE}``
  (divide), given as bars or a constant. From bars, the rate of a traded bar is the close of
  the last conversion bar *completed* by that bar's open (no look-ahead).

R multiples are not converted: a trade's R is its net PnL over its initial risk, both in the
quote currency, so it does not depend on the account currency or on the rates (a clean
stop-out is exactly -1R even when the rate moved between entry and exit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.trading.execution import constant_array

#: kernel ``fparams[P_FX_MODE]`` values
FX_RATE, FX_BASE = 0, 1

Conversion = Mapping[str, "pd.DataFrame | float"]


@dataclass(frozen=True)
class FxPlan:
    """How one instrument's quote money becomes account money (before any data is read)."""

    mode: int  # FX_RATE or FX_BASE
    symbol: str | None = None  # conversion instrument (FX_RATE with a rate other than 1)
    invert: bool = False  # True when ``symbol`` is ACCOUNT+QUOTE (divide by its price)


def parse_rates(items: list[str], what: str = "--fx-rate") -> dict[str, float]:
    """``["GBPUSD=1.27", …]`` → ``{"GBPUSD": 1.27}`` (constant conversion rates)."""
    rates: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = float("nan")
        if not sep or not name.strip() or not rate > 0 or rate == float("inf"):
            raise ConfigError(f"{what} must be SYMBOL=RATE with a rate > 0, got {item!r}")
        rates[name.strip().upper()] = rate
    return rates


def base_currency(inst: Instrument) -> str | None:
    """The base currency of ``inst`` (``USD`` for USDJPY), None when the symbol does not end
    with its quote currency (indices, custom names)."""
    sym, quote = inst.symbol.upper(), inst.quote_currency.upper()
    if len(sym) > len(quote) and sym.endswith(quote):
        return sym[: -len(quote)]
    return None


def _check_currency(code: str) -> str:
    code = str(code).strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ConfigError(f"account currency must be a 3-letter code such as USD, got {code!r}")
    return code


def normalize_currency(code: str | None) -> str | None:
    """Upper-case 3-letter code, or None."""
    return None if code is None else _check_currency(code)


def plan_conversion(
    inst: Instrument, account: str | None, available: Conversion | None = None
) -> FxPlan:
    """The conversion ``inst`` needs for ``account``; for a third currency, the conversion
    symbol found in ``available`` (else ``{QUOTE}{ACCOUNT}``, the one to ask for)."""
    quote = inst.quote_currency.upper()
    if account is None or _check_currency(account) == quote:
        return FxPlan(FX_RATE)
    account = _check_currency(account)
    if base_currency(inst) == account:
        return FxPlan(FX_BASE)
    direct, inverse = f"{quote}{account}", f"{account}{quote}"
    keys = {str(k).upper() for k in (available or {})}
    if direct not in keys and inverse in keys:
        return FxPlan(FX_RATE, inverse, True)
    return FxPlan(FX_RATE, direct, False)


def _lookup(conversion: Conversion | None, name: str):
    for key, value in (conversion or {}).items():
        if str(key).upper() == name:
            return value
    return None


def _bar_seconds(index: pd.DatetimeIndex, name: str) -> int:
    from tradeforge.features import infer_timeframe

    if len(index) < 2:
        raise ConfigError(f"conversion bars {name}: need at least 2 bars to know their timeframe")
    return infer_timeframe(index).seconds


def rates_from_bars(times_ns: np.ndarray, bars: pd.DataFrame, name: str) -> np.ndarray:
    """Per traded bar (open times ``times_ns``): close of the last ``bars`` bar completed by
    that open. Raises `ConfigError` for traded bars before the first completed bar."""
    if not isinstance(bars, pd.DataFrame) or "close" not in bars.columns:
        raise ConfigError(f"conversion {name}: expected a bars frame with a 'close' column")
    if not isinstance(bars.index, pd.DatetimeIndex) or not bars.index.is_monotonic_increasing:
        raise ConfigError(f"conversion bars {name}: index must be sorted bar open times")
    conv_ns = bars.index.as_unit("ns").asi8
    done_ns = conv_ns + _bar_seconds(bars.index, name) * 1_000_000_000
    pos = np.searchsorted(done_ns, times_ns, side="right") - 1
    if len(pos) and pos[0] < 0:
        first = pd.Timestamp(int(times_ns[0]), tz="UTC")
        raise ConfigError(
            f"conversion bars {name} start at {bars.index[0]}: no completed {name} bar before "
            f"the traded bar at {first}; load {name} from earlier"
        )
    close = np.ascontiguousarray(bars["close"].to_numpy(np.float64))
    return close[pos]


def conversion_rates(
    inst: Instrument,
    account: str | None,
    conversion: Conversion | None,
    times_ns: np.ndarray,
    close: np.ndarray,
) -> tuple[int, np.ndarray]:
    """``(mode, per-bar float64 array)`` for the kernel (see module docstring)."""
    n = len(times_ns)
    plan = plan_conversion(inst, account, conversion)
    if plan.mode == FX_BASE:
        with np.errstate(divide="ignore"):
            rates = 1.0 / np.asarray(close, dtype=np.float64)
        return FX_BASE, _checked(rates, inst.symbol)
    if plan.symbol is None:
        return FX_RATE, constant_array(n, 1.0)
    value = _lookup(conversion, plan.symbol)
    if value is None:
        quote, acct = inst.quote_currency.upper(), _check_currency(account or "")
        raise ConfigError(
            f"{inst.symbol} with a {acct} account needs the {plan.symbol} (or {acct}{quote}) "
            f"rate: give its bars or a constant (CLI: cache {plan.symbol} on this timeframe "
            f"or pass --fx-rate {plan.symbol}=RATE)"
        )
    if isinstance(value, pd.DataFrame):
        raw = rates_from_bars(times_ns, value, plan.symbol)
    else:
        try:
            raw = constant_array(n, float(value))
        except (TypeError, ValueError):
            raise ConfigError(
                f"conversion {plan.symbol}: expected bars or a number, got {value!r}"
            ) from None
    rates = _checked(raw, plan.symbol)
    if plan.invert:
        rates = 1.0 / rates
    return FX_RATE, np.ascontiguousarray(rates)


def _checked(rates: np.ndarray, name: str) -> np.ndarray:
    bad = ~(np.isfinite(rates) & (rates > 0))
    if bad.any():
        raise ConfigError(f"conversion rate from {name} must be finite and > 0 on every bar")
    return np.ascontiguousarray(rates, dtype=np.float64)
