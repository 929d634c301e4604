"""Exit and entry rules for one position on one price observation, as small Numba functions.

Shared by the backtest kernel and (by design) the dry-run/live engine, so both apply exactly
the same stop / target / break-even / trailing logic. A *price observation* is a bar
``(open, high, low, close)`` of **bid** prices plus the ``spread`` (ask = bid + spread); a tick
is the degenerate bar ``open = high = low = close = bid``.

A position is a float64 state vector of length `NF` (indices ``F_*`` below), created by
`open_position`. Per observation call, in this order:

1. `process_observation` — fills targets gapped at the open, then the stop (stop before
   target in the same bar; gaps fill at the open), then targets touched intrabar; writes the
   legs it closed into ``out`` (rows ``price, steps, reason``) and returns how many;
2. `update_after_observation` — arms break-even and tightens the trailing stop from this
   observation's prices; the new stop is only used by the *next* call of step 1.

Sizes are integer numbers of lot steps (stored as floats) so legs always sum to the size.
Reason codes index `tradeforge.trading.result.EXIT_REASONS`.
Functions taking the state array are compiled without Numba's reference counting
(``_nrt=False``): they never allocate or keep an array (see `tradeforge.backtest.kernel`).
Every function is a `tradeforge.trading.rulejit.rule`: compiled for compiled callers only, and
run as its Python source when Python calls it (the live engine, the paper broker) — except
the signal table's readers `sig_int` / `sig_float` (see the comment above them).

A level counts as touched when a price reaches it within `TOUCH_TOL` (relative): computed
levels such as ``1.1000 + 15 pips`` carry float noise (``1.1015000000000001``) and a bar whose
high is exactly ``1.1015`` must fill them. The tolerance is far below any tick size.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from tradeforge.strategy.signal_schema import MAX_TARGETS, ROW, PackedSignals
from tradeforge.trading.rulejit import rule

# exit reasons (indices into result.EXIT_REASONS)
R_STOP, R_TARGET, R_BREAKEVEN, R_TRAILING, R_TIME, R_SIGNAL, R_END = 0, 1, 2, 3, 4, 5, 6
# where the current stop came from
SRC_INITIAL, SRC_BREAKEVEN, SRC_TRAILING = 0, 1, 2

MAX_T = MAX_TARGETS
TOUCH_TOL = 1e-9  # relative tolerance of "price reaches level" (see the module docstring)
F_SIDE = 0  # +1 long, -1 short
F_ENTRY = 1  # fill price (ask for longs, bid for shorts)
F_STOP = 2  # current stop level (bid for longs, ask for shorts)
F_INIT_STOP = 3
F_RISK = 4  # |entry - initial stop| in price units
F_BE_TRIGGER = 5  # price that arms break-even (NaN: none)
F_BE_STOP = 6  # stop level after break-even
F_BE_DONE = 7
F_TRAIL_KIND = 8  # 0 none, 1 distance, 2 swing
F_TRAIL_DIST = 9
F_TRAIL_START = 10  # price that activates trailing (NaN: at once)
F_BEST = 11  # best price since entry (bid high for longs, ask low for shorts)
F_STOP_SRC = 12
F_NEXT_T = 13  # index of the next target
F_NT = 14  # number of targets
F_REMAINING = 15  # open size in lot steps
F_SIZE = 16  # initial size in lot steps
F_TARGET = 17  # MAX_T target prices
F_TSTEPS = F_TARGET + MAX_T  # MAX_T leg sizes in steps (-1: everything left)
NF = F_TSTEPS + MAX_T
# rows of the packed signal table `open_position` reads
_TARGET_KIND, _TARGET_VALUE, _TARGET_FRACTION = (
    ROW["target_kind"], ROW["target_value"], ROW["target_fraction"]
)  # fmt: skip
_RUNNER, _BE_TRIGGER_R, _BE_OFFSET = ROW["runner"], ROW["be_trigger_r"], ROW["be_offset"]
_TRAIL_KIND, _TRAIL_DISTANCE, _TRAIL_START_R = (
    ROW["trail_kind"], ROW["trail_distance"], ROW["trail_start_r"]
)  # fmt: skip


# The two readers of a packed signal table are not rules but `register_jitable` functions,
# compiled into each compiled caller and plain functions for Python ones: a rule would get a
# specialisation (a compile and a cache file) per row constant it is called with.
@register_jitable
def sig_int(sig: PackedSignals, row: int, j: int) -> int:
    """Signal ``j``'s value in row ``row`` of the int block of ``sig`` (see `signal_schema`)."""
    return sig.ints[sig.int_at[row, 0] + j * sig.int_at[row, 1]]


@register_jitable
def sig_float(sig: PackedSignals, row: int, j: int) -> float:
    """Signal ``j``'s value in row ``row`` of the float block of ``sig``."""
    return sig.floats[sig.float_at[row, 0] + j * sig.float_at[row, 1]]


@rule()
def entry_fill(
    side: int, entry_type: int, level: float, o: float, h: float, lo: float, sp: float, slip: float
) -> tuple[float, bool]:
    """Fill price of an entry order on one observation (NaN: not filled) and whether it filled
    at the open. Types: 0 market (fills at the open), 1 limit, 2 stop; ``level`` is an ask
    level for longs and a bid level for shorts. Slippage hits market and stop fills only."""
    if entry_type == 0:
        if side > 0:
            return o + sp + slip, True
        return o - slip, True
    tol = TOUCH_TOL * abs(level)
    if entry_type == 1:
        if side > 0:
            if o + sp <= level + tol:
                return o + sp, True
            if lo + sp <= level + tol:
                return level, False
        else:
            if o >= level - tol:
                return o, True
            if h >= level - tol:
                return level, False
        return np.nan, False
    if side > 0:
        if o + sp >= level - tol:
            return o + sp + slip, True
        if h + sp >= level - tol:
            return level + slip, False
    else:
        if o <= level + tol:
            return o - slip, True
        if lo <= level + tol:
            return level - slip, False
    return np.nan, False


@rule(_nrt=False)
def open_position(
    st: np.ndarray,
    s: int,
    side: int,
    entry: float,
    stop: float,
    size_steps: int,
    sig: PackedSignals,
    j: int,
) -> None:
    """Initialise row ``s`` of the state array ``st`` for a fill at ``entry`` with initial
    ``stop``, the exits as row ``j`` of the packed signal table ``sig`` declares them."""
    for q in range(NF):  # a loop, not a slice assignment: far less code to compile
        st[s, q] = np.nan
    risk = abs(entry - stop)
    st[s, F_SIDE] = side
    st[s, F_ENTRY] = entry
    st[s, F_STOP] = stop
    st[s, F_INIT_STOP] = stop
    st[s, F_RISK] = risk
    be_trigger_r = sig_float(sig, _BE_TRIGGER_R, j)
    if be_trigger_r == be_trigger_r:
        st[s, F_BE_TRIGGER] = entry + side * be_trigger_r * risk
        st[s, F_BE_STOP] = entry + side * sig_float(sig, _BE_OFFSET, j)
    st[s, F_BE_DONE] = 0.0
    st[s, F_TRAIL_KIND] = sig_int(sig, _TRAIL_KIND, j)
    st[s, F_TRAIL_DIST] = sig_float(sig, _TRAIL_DISTANCE, j)
    trail_start_r = sig_float(sig, _TRAIL_START_R, j)
    if trail_start_r == trail_start_r:
        st[s, F_TRAIL_START] = entry + side * trail_start_r * risk
    st[s, F_BEST] = entry
    st[s, F_STOP_SRC] = SRC_INITIAL
    st[s, F_REMAINING] = size_steps
    st[s, F_SIZE] = size_steps
    nt = 0
    last = -1
    for k in range(MAX_T):
        kind = sig_int(sig, _TARGET_KIND + k, j)
        if kind == 0:
            continue
        v = sig_float(sig, _TARGET_VALUE + k, j)
        if kind == 1:
            price = entry + side * v * risk
        elif kind == 2:
            price = v
        else:
            price = entry + side * v
        st[s, F_TARGET + nt] = price
        st[s, F_TSTEPS + nt] = math.floor(
            sig_float(sig, _TARGET_FRACTION + k, j) * size_steps + 1e-9
        )
        last = nt
        nt += 1
    if last >= 0 and sig_int(sig, _RUNNER, j) == 0:
        st[s, F_TSTEPS + last] = -1.0
    st[s, F_NT] = nt
    st[s, F_NEXT_T] = 0


@rule(_nrt=False, forceinline=True)
def stop_reason(st: np.ndarray, s: int) -> int:
    src = st[s, F_STOP_SRC]
    if src == SRC_BREAKEVEN:
        return R_BREAKEVEN
    if src == SRC_TRAILING:
        return R_TRAILING
    return R_STOP


@rule(_nrt=False, forceinline=True)
def process_observation(
    st: np.ndarray, s: int, o: float, h: float, lo: float, sp: float, slip: float, out: np.ndarray
) -> int:
    """Apply targets and stop to one observation; returns the number of legs written to
    ``out`` (shape ``(MAX_T + 1, 3)``: price, steps, reason). Updates ``st[s]`` in place."""
    side = st[s, F_SIDE]
    rem = st[s, F_REMAINING]
    nt = int(st[s, F_NT])
    k = int(st[s, F_NEXT_T])
    n = 0
    # 1. targets the open gapped through fill at the open (the open is known to come first)
    while rem > 0 and k < nt:
        tp = st[s, F_TARGET + k]
        tol = TOUCH_TOL * abs(tp)
        if side > 0:
            if o < tp - tol:
                break
            price = o
        else:
            if o + sp > tp + tol:
                break
            price = o + sp
        steps = st[s, F_TSTEPS + k]  # -1: everything left
        if steps < 0 or steps > rem:
            steps = rem
        if steps > 0:
            out[n, 0] = price
            out[n, 1] = steps
            out[n, 2] = R_TARGET
            n += 1
            rem -= steps
        k += 1
    # 2. the stop, before any target touched inside the bar
    if rem > 0:
        level = st[s, F_STOP]
        tol = TOUCH_TOL * abs(level)
        fill = np.nan
        if side > 0:
            if o <= level + tol:
                fill = o - slip
            elif lo <= level + tol:
                fill = level - slip
        else:
            if o + sp >= level - tol:
                fill = o + sp + slip
            elif h + sp >= level - tol:
                fill = level + slip
        if fill == fill:
            out[n, 0] = fill
            out[n, 1] = rem
            out[n, 2] = stop_reason(st, s)
            n += 1
            rem = 0.0
    # 3. targets touched inside the bar
    while rem > 0 and k < nt:
        tp = st[s, F_TARGET + k]
        tol = TOUCH_TOL * abs(tp)
        if side > 0:
            if h < tp - tol:
                break
        elif lo + sp > tp + tol:
            break
        steps = st[s, F_TSTEPS + k]
        if steps < 0 or steps > rem:
            steps = rem
        if steps > 0:
            out[n, 0] = tp
            out[n, 1] = steps
            out[n, 2] = R_TARGET
            n += 1
            rem -= steps
        k += 1
    st[s, F_NEXT_T] = k
    st[s, F_REMAINING] = rem
    return n


@rule(_nrt=False, forceinline=True)
def update_after_observation(
    st: np.ndarray,
    s: int,
    h: float,
    lo: float,
    c: float,
    sp: float,
    level_long: float,
    level_short: float,
) -> None:
    """Arm break-even and tighten the trailing stop from this observation (used from the next
    one on). ``level_long``/``level_short`` are the swing levels for swing trailing (NaN: none).
    A position with neither (or break-even already armed and no trailing) has nothing to do:
    the best price since entry (`F_BEST`) only serves these two."""
    if st[s, F_REMAINING] <= 0:
        return
    kind = st[s, F_TRAIL_KIND]
    bt = st[s, F_BE_TRIGGER]
    if kind == 0 and (bt != bt or st[s, F_BE_DONE] != 0):
        return
    side = st[s, F_SIDE]
    best = max(st[s, F_BEST], h) if side > 0 else min(st[s, F_BEST], lo + sp)
    st[s, F_BEST] = best
    stop = st[s, F_STOP]
    if bt == bt and st[s, F_BE_DONE] == 0 and side * (best - bt) >= -TOUCH_TOL * abs(bt):
        st[s, F_BE_DONE] = 1.0
        new = st[s, F_BE_STOP]
        if side * (new - stop) > 0:
            stop = new
            st[s, F_STOP_SRC] = SRC_BREAKEVEN
    if kind != 0:
        ts = st[s, F_TRAIL_START]
        if ts != ts or side * (best - ts) >= -TOUCH_TOL * abs(ts):
            cand = np.nan
            if kind == 1:
                cand = best - side * st[s, F_TRAIL_DIST]
            elif side > 0:
                if level_long < c:
                    cand = level_long
            elif level_short > c + sp:
                cand = level_short
            if cand == cand and side * (cand - stop) > 0:
                stop = cand
                st[s, F_STOP_SRC] = SRC_TRAILING
    st[s, F_STOP] = stop


@rule()
def market_exit_price(side: float, bid: float, sp: float, slip: float) -> float:
    """Fill of a market close when the bid is ``bid`` (time, signal and end-of-data exits):
    longs sell at the bid less slippage, shorts buy at the ask (bid + spread) plus slippage."""
    return bid - slip if side > 0 else bid + sp + slip


@rule(_nrt=False, forceinline=True)
def mark_price(st: np.ndarray, s: int, c: float, sp: float) -> float:
    """Price at which the position would close now (bid for longs, ask for shorts)."""
    return c if st[s, F_SIDE] > 0 else c + sp
