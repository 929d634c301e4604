"""Risk guards on new entries, and the kill switch.

Guards only ever *block new entries*; exits keep being managed. Each check returns a verdict
with a reason, and the engine logs every verdict that blocks (a ``guard`` decision, which
the notifier sends) and the kill switch. Dry-run and live apply them alike, at two moments:

* when an entry signal is judged (`check_entry`): daily loss, drawdown, open positions,
  stale data, spread, trading hours and a recent slipped fill;
* when the sized order is about to be sent (`check_order`, also for entries queued behind
  exits): exposure in lots per symbol and in total, entry orders per minute, and the order's
  price against the last quote.

An entry fill that slips more than ``max_slippage_pips`` (adversely, against the price the
order was sized at: `slippage_pips`) is logged as a warning and pauses new entries on its
symbol for ``slippage_pause_minutes``. Times are the engine's event times (UTC), so a replay
decides as the live session did.

The kill switch is a file ``KILL`` in the state directory (``tradeforge kill`` creates it): the
engine closes every position, cancels pending orders and stops.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.paths import user_path
from tradeforge.live.lock import LOCK_FILE
from tradeforge.live.persist import state_io
from tradeforge.live.state import StateRepository

KILL_FILE = "KILL"
NS = 1_000_000_000
MINUTE_NS = 60 * NS
DAY_MINUTES = 1440
ANY_SYMBOL = "*"
_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def parse_hours(text: str) -> tuple[tuple[int, int], ...]:
    """``HH:MM-HH:MM[,HH:MM-HH:MM…]`` (UTC; the start included, the end not; a window whose
    end is before its start runs over midnight; ``24:00`` ends the day) as minute pairs."""
    out = []
    for part in str(text).split(","):
        m = _WINDOW.match(part.strip())
        if m is None:
            raise ConfigError(f"trading hours must be HH:MM-HH:MM[,HH:MM-HH:MM…], got {text!r}")
        h1, m1, h2, m2 = (int(x) for x in m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or start >= DAY_MINUTES or end > DAY_MINUTES or start == end:
            raise ConfigError(f"trading hours {part.strip()!r}: not a window of the day")
        out.append((start, end))
    return tuple(out)


def hours_table(texts: Iterable[str]) -> dict[str, str]:
    """``[SYMBOL=]HH:MM-HH:MM[,…]`` texts (the command line's) as a `RiskLimits.trading_hours`
    mapping; without a symbol the hours are every symbol's (``*``)."""
    out: dict[str, str] = {}
    for text in texts:
        symbol, sep, hours = str(text).rpartition("=")
        if sep and not symbol.strip():
            raise ConfigError(f"trading hours {text!r}: no symbol before '='")
        key = symbol.strip().upper() if sep else ANY_SYMBOL
        if key in out:
            raise ConfigError(f"trading hours of {key} given twice; join the windows with ','")
        parse_hours(hours)
        out[key] = hours.strip()
    return out


def within_hours(windows: Iterable[tuple[int, int]], now: int) -> bool:
    """Is the UTC time ``now`` (ns) inside one of the minute ``windows``?"""
    minute = (now // MINUTE_NS) % DAY_MINUTES
    return any(
        (start <= minute < end) if start < end else (minute >= start or minute < end)
        for start, end in windows
    )


@dataclass(frozen=True)
class RiskLimits:
    max_daily_loss_pct: float | None = None  # of the day's starting balance (UTC days)
    max_drawdown_pct: float | None = None  # from the equity peak
    max_positions: int | None = None  # open positions + pending entries
    stale_seconds: float | None = None  # no tick for this long: no new entries
    max_spread_pips: float | None = None
    max_symbol_lots: float | None = None  # lots open and pending on the order's symbol, with it
    max_total_lots: float | None = None  # the same over every symbol
    max_orders_per_minute: int | None = None  # entry orders sent in the last 60 s
    max_deviation_pips: float | None = None  # the order's price from the last quote
    max_slippage_pips: float | None = None  # an entry fill slipping more pauses entries
    slippage_pause_minutes: float = 60.0  # ... on its symbol, for this long
    trading_hours: Mapping[str, str] | None = field(default=None, hash=False)  # SYMBOL|* -> UTC

    def __post_init__(self) -> None:
        for name in ("max_daily_loss_pct", "max_drawdown_pct", "stale_seconds", "max_spread_pips",
                     "max_symbol_lots", "max_total_lots", "max_deviation_pips",
                     "max_slippage_pips", "slippage_pause_minutes"):  # fmt: skip
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ConfigError(f"{name} must be > 0, got {v}")
        for name in ("max_positions", "max_orders_per_minute"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or v != int(v) or v < 1):
                raise ConfigError(f"{name} must be a whole number >= 1, got {v}")
        if self.trading_hours is not None:
            if isinstance(self.trading_hours, str):  # one symbol's (an instance's own)
                object.__setattr__(self, "trading_hours", {ANY_SYMBOL: self.trading_hours})
            if not isinstance(self.trading_hours, Mapping) or not self.trading_hours:
                raise ConfigError("trading_hours must map SYMBOL (or *) to HH:MM-HH:MM windows")
            hours = {str(k).strip().upper(): str(v) for k, v in self.trading_hours.items()}
            for symbol, text in hours.items():
                try:
                    parse_hours(text)
                except ConfigError as exc:
                    raise ConfigError(f"trading_hours of {symbol}: {exc}") from None
            object.__setattr__(self, "trading_hours", dict(sorted(hours.items())))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def hours_of(self, symbol: str) -> str | None:
        """``symbol``'s trading hours (else those of ``*``); None: any time."""
        hours = self.trading_hours or {}
        return hours.get(symbol.upper(), hours.get(ANY_SYMBOL))


@dataclass(frozen=True)
class Verdict:
    guard: str
    ok: bool
    reason: str


@dataclass(frozen=True)
class Exposure:
    """Lots open and pending (entry orders) in a guard's scope: on the order's symbol and on
    every symbol, before the order."""

    symbol_lots: float
    total_lots: float


def check_entry(
    limits: RiskLimits,
    *,
    now: int,
    last_tick_time: int | None,
    spread: float | None,
    pip_size: float,
    equity: float,
    day_start_balance: float,
    peak_equity: float,
    open_count: int,
    symbol: str = "",
    slips: Iterable[Any] = (),
) -> list[Verdict]:
    """Every guard's verdict on opening one more position on ``symbol`` now; ``slips``: the
    scope's entry fills on that symbol that slipped past a limit (`tradeforge.live.model.Slip`)."""
    out: list[Verdict] = []
    if limits.max_daily_loss_pct is not None:
        loss = day_start_balance - equity
        cap = day_start_balance * limits.max_daily_loss_pct / 100.0
        out.append(Verdict("daily_loss", loss < cap, f"today's loss {loss:.2f} vs limit {cap:.2f}"))
    if limits.max_drawdown_pct is not None and peak_equity > 0:
        dd = (peak_equity - equity) / peak_equity * 100.0
        out.append(
            Verdict(
                "drawdown",
                dd < limits.max_drawdown_pct,
                f"drawdown {dd:.2f}% vs limit {limits.max_drawdown_pct}%",
            )
        )
    if limits.max_positions is not None:
        out.append(
            Verdict(
                "max_positions",
                open_count < limits.max_positions,
                f"{open_count} open/pending vs limit {limits.max_positions}",
            )
        )
    if limits.stale_seconds is not None:
        if last_tick_time is None:
            out.append(Verdict("stale_data", False, "no tick received yet"))
        else:
            age = (now - last_tick_time) / NS
            out.append(
                Verdict(
                    "stale_data",
                    age <= limits.stale_seconds,
                    f"last tick {age:.0f}s old vs limit {limits.stale_seconds:g}s",
                )
            )
    if limits.max_spread_pips is not None and spread is not None:
        pips = spread / pip_size
        out.append(
            Verdict(
                "spread",
                pips <= limits.max_spread_pips + 1e-9,
                f"spread {pips:.2f} pips vs limit {limits.max_spread_pips:g}",
            )
        )
    hours = limits.hours_of(symbol)
    if hours is not None:
        minute = (now // MINUTE_NS) % DAY_MINUTES
        out.append(
            Verdict(
                "trading_hours",
                within_hours(parse_hours(hours), now),
                f"{minute // 60:02d}:{minute % 60:02d} UTC vs {symbol.upper()} trading hours "
                f"{hours} UTC",
            )
        )
    if limits.max_slippage_pips is not None:
        since = now - limits.slippage_pause_minutes * MINUTE_NS
        bad = [s for s in slips if s.time > since and s.pips > limits.max_slippage_pips + 1e-9]
        if bad:
            last = max(bad, key=lambda s: s.time)
            until = (last.time + limits.slippage_pause_minutes * MINUTE_NS - now) / MINUTE_NS
            out.append(
                Verdict(
                    "slippage",
                    False,
                    f"an entry fill on {symbol.upper()} slipped {last.pips:.2f} pips vs limit "
                    f"{limits.max_slippage_pips:g}: entries paused {until:.0f} more min",
                )
            )
    return out


def check_order(
    limits: RiskLimits,
    *,
    now: int,
    symbol: str,
    side: int,
    lots: float,
    price: float,
    quote: tuple[float, float] | None,
    pip_size: float,
    exposure: Exposure,
    recent_orders: Iterable[int],
) -> list[Verdict]:
    """Every guard's verdict on sending an entry order of ``lots`` on ``symbol`` now at
    ``price`` (the reference a market order was sized at, a limit/stop order's level);
    ``quote``: the last (bid, ask), None before the first; ``recent_orders``: send times of
    the scope's entry orders (those of the last minute count)."""
    out: list[Verdict] = []
    for kind, scope, held, limit in (
        ("symbol_exposure", symbol.upper(), exposure.symbol_lots, limits.max_symbol_lots),
        ("total_exposure", "all symbols", exposure.total_lots, limits.max_total_lots),
    ):
        if limit is not None:
            out.append(
                Verdict(
                    kind,
                    held + lots <= limit + 1e-9,
                    f"{scope} {held:g} + {lots:g} lots vs limit {limit:g}",
                )
            )
    if limits.max_orders_per_minute is not None:
        sent = sum(1 for t in recent_orders if t > now - MINUTE_NS)
        out.append(
            Verdict(
                "orders_per_minute",
                sent < limits.max_orders_per_minute,
                f"{sent} entry orders in the last minute vs limit {limits.max_orders_per_minute}",
            )
        )
    if limits.max_deviation_pips is not None and quote is not None:
        market = quote[1] if side > 0 else quote[0]
        pips = abs(price - market) / pip_size
        out.append(
            Verdict(
                "price_deviation",
                pips <= limits.max_deviation_pips + 1e-9,
                f"order price {price:.6g} is {pips:.2f} pips from the last "
                f"{'ask' if side > 0 else 'bid'} {market:.6g} vs limit "
                f"{limits.max_deviation_pips:g}",
            )
        )
    return out


def slippage_pips(side: int, ref: float, fill: float, pip_size: float) -> float:
    """How many pips a fill at ``fill`` is worse than ``ref`` for a ``side`` entry
    (negative: better)."""
    return side * (fill - ref) / pip_size


def kill_requested(state_dir: Path) -> bool:
    return (Path(state_dir) / KILL_FILE).exists()


def request_kill(state_dir: str | Path, reason: str = "operator") -> Path:
    """Create the kill file (what ``tradeforge kill`` does) in a directory that holds a
    session; `StateError` for any other path (a typo must not look like a kill that worked)."""
    state_dir = user_path(state_dir)
    if not (StateRepository(state_dir).exists() or (state_dir / LOCK_FILE).exists()):
        raise StateError(f"{state_dir} holds no dry-run/live session; nothing to kill")
    path = state_dir / KILL_FILE
    with state_io(path, "write"):
        path.write_text(reason + "\n", encoding="utf-8")
    return path
