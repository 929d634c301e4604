"""The order / position state machine's decisions, one Numba function each.

`tradeforge.trading.rules` manages one open position on one price observation; this module
holds the rest of the machine: whether a signal may take its slot, where an entry's stop
starts, how many lot steps it trades, what a leg books, what swap accrues, how a position
filled inside a bar sees that bar, and what an open position is worth. The backtest kernel
(`tradeforge.backtest.kernel`) calls them from its bar loop on its state arrays; the
dry-run/live engine (`tradeforge.live`) calls the same functions on its typed state for every
bar and quote, and the paper broker for its deals — so each rule is written once and the two
engines cannot drift apart. What differs between them is only where a fill comes from (the
kernel's `rules.entry_fill` on the bar, or the broker) and when an order is sized (at the
fill in the kernel, at placement live: a broker needs the size with the order).

Money is in the instrument's quote currency here; callers convert it to account money.
The functions return scalars or tuples of scalars and never allocate (the kernel is compiled
without Numba's reference counting, see `tradeforge.backtest.kernel`). Like the rules, each is
a `tradeforge.trading.rulejit.rule`: the live engine's Python calls run its Python source.
"""

from __future__ import annotations

import math

import numpy as np

from tradeforge.trading.rulejit import rule
from tradeforge.trading.rules import F_ENTRY, F_REMAINING, F_SIDE, mark_price

# `slot_verdict`: may a new entry order take its slot?
SLOT_BUSY, SLOT_FREE, SLOT_REVERSAL = 0, 1, 2
# `position_steps` flags: why the size is what it is
SIZE_CAPPED, SIZE_MARGIN, SIZE_REFUSED = 1, 2, 4
# entry order types, as `tradeforge.strategy.signals.ENTRY_TYPES` indexes them
ENTRY_MARKET, ENTRY_LIMIT, ENTRY_STOP = 0, 1, 2

__all__ = [
    "ENTRY_LIMIT",
    "ENTRY_MARKET",
    "ENTRY_STOP",
    "SIZE_CAPPED",
    "SIZE_MARGIN",
    "SIZE_REFUSED",
    "SLOT_BUSY",
    "SLOT_FREE",
    "SLOT_REVERSAL",
    "fill_view",
    "initial_stop",
    "leg_quote",
    "open_quote",
    "position_steps",
    "slot_verdict",
    "swap_quote",
]


@rule()
def slot_verdict(occupied: bool, held_side: float, leaving: bool, queued: bool, side: int) -> int:
    """May an entry order of ``side`` take its slot (its tag, or the symbol, by position
    mode)? Free when nothing holds it. Held by exactly one position (``held_side`` its side;
    0 when an order or several things hold it) of the opposite side that closes at the next
    open (``leaving``, an opposite signal) and that no reversal already waits on (``queued``),
    it is a reversal: the order waits for that exit and takes the slot it frees. Otherwise
    the slot is busy and the signal is ignored (counted as a duplicate)."""
    if not occupied:
        return SLOT_FREE
    if held_side != 0 and held_side != side and leaving and not queued:
        return SLOT_REVERSAL
    return SLOT_BUSY


@rule()
def initial_stop(side: float, fill: float, stop_distance: float, stop_price: float) -> float:
    """The stop an entry starts with: ``stop_distance`` from its fill when the signal gives
    one (not NaN), else the signal's absolute ``stop_price``."""
    if stop_distance == stop_distance:
        return fill - side * stop_distance
    return stop_price


@rule()
def position_steps(
    fixed: bool,
    value: float,
    balance: float,
    risk_per_step: float,
    max_steps: float,
    afford_steps: float,
    min_steps: float,
    scale: float = 1.0,
) -> tuple[float, float, int]:
    """Lot steps of a new position: ``value`` steps when ``fixed``, else ``value`` percent of
    ``balance`` over the money one step loses at the stop (``risk_per_step``, in the balance's
    currency); times the signal's ``scale`` (its ``size_scale``, in (0, 1]) and rounded down;
    capped at ``max_steps``, then at what free margin affords (``afford_steps``; the backtest
    has no margin and passes ``max_steps``). Refused (0) below ``min_steps`` and whenever the
    balance is at or below zero (a blown account trades no more). Returns ``(steps, uncapped
    steps, flags)``, flags from ``SIZE_*``."""
    if fixed:
        steps = math.floor(value * scale + 1e-9)
    else:
        money = balance * value * scale / 100.0
        steps = math.floor(money / risk_per_step + 1e-9) if money > 0 else 0.0
    raw = steps
    flags = 0
    if steps > max_steps:
        steps = max_steps
        flags |= SIZE_CAPPED
    if steps > afford_steps:
        steps = afford_steps
        flags |= SIZE_MARGIN
    if steps < min_steps or steps <= 0 or balance <= 0.0:
        return 0.0, raw, flags | SIZE_REFUSED
    return steps, raw, flags


@rule()
def leg_quote(
    side: float, entry: float, price: float, steps: float, unit: float, comm_step: float
) -> tuple[float, float]:
    """Gross P&L of an exit leg of ``steps`` lot steps at ``price`` and its round-turn
    commission (both sides are booked with the exit leg), in quote currency."""
    return side * (price - entry) * steps * unit, 2.0 * comm_step * steps


@rule()
def swap_quote(
    side: float, swap_long: float, swap_short: float, step_lots: float, steps: float, nights: int
) -> float:
    """Swap (per lot per night, by side) accrued by ``steps`` lot steps over ``nights``
    changes of the UTC date, in quote currency."""
    rate = swap_long if side > 0 else swap_short
    return rate * step_lots * steps * nights


@rule()
def fill_view(
    side: float, entry_type: int, fill: float, sp: float, h: float, lo: float, c: float
) -> tuple[float, float, float]:
    """The ``(open, high, low)`` of its fill bar that a position filled *inside* the bar
    sees: it starts at the fill (as a bid: ``fill - spread`` for longs); a limit entry fills
    on the way against the trade, so the bar's favourable extreme may have come before the
    fill and is only taken as far as the close; a stop entry fills on the way to it."""
    o = fill - sp if side > 0 else fill
    if entry_type == ENTRY_LIMIT:
        if side > 0:
            h = max(o, c)
        else:
            lo = min(o, c)
    return o, h, lo


@rule(_nrt=False, forceinline=True)
def open_quote(
    st: np.ndarray, s: int, close: float, sp: float, unit: float, comm_step: float
) -> tuple[float, float]:
    """Open P&L of the position in row ``s`` of ``st`` marked at bid ``close`` and the
    exit-side commission still to pay on it, in quote currency."""
    rem = st[s, F_REMAINING]
    gross = st[s, F_SIDE] * (mark_price(st, s, close, sp) - st[s, F_ENTRY]) * rem * unit
    return gross, comm_step * rem
