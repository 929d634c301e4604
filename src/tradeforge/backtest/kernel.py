"""The single-symbol backtest loop (Numba, one compiled signature, numpy arrays only).

Per bar ``i``, in this order:

1. swap accrues on open positions when the UTC date changes;
2. time stops and signal exits (``exit_opposite`` signals of bar ``i-1``) due on this bar
   close at its open; a reversal entry queued behind a signal exit becomes a pending order;
3. pending entry orders fill (market orders of bar ``i-1`` at the open; limit/stop orders when
   touched) or, after their last live bar, expire; sizing and the initial stop are fixed at
   the fill, from the balance known at the open; nothing fills while that balance is at or
   below zero — the account is blown (counted as ``skipped_size``);
4. open positions (including those just filled) run `rules.process_observation` and then
   `rules.update_after_observation` (break-even / trailing take effect from bar ``i+1``); on
   the last bar whatever is still open closes at market at the close, slippage included
   (reason ``end``);
5. signals of bar ``i``, in row order: an ``exit_opposite`` signal schedules the exit of
   every open opposite position at bar ``i+1``'s open and cancels opposite pending orders
   (counted as expired); then the signal becomes a pending order unless its slot (tag or
   symbol) is busy — a slot held by an opposite position leaving at ``i+1``'s open queues the
   order behind that exit instead (a reversal);
6. equity is marked at the close.

A position filled *inside* bar ``i`` sees that bar from its fill on: the open is the fill
price, and for limit entries (filled on the way against the trade) the favourable extreme is
only taken as far as the close, since the bar's high (long) / low (short) may have come before
the fill; stop entries fill on the way to that extreme, so it is known to come after the fill.

The work of one bar for one symbol is three functions — `bar_open` (steps 1-2), `bar_fill`
(step 3), `bar_close` (steps 4-5) — plus `mark` (step 6); `simulate` calls them bar by bar
and the shared-cash portfolio loop (`tradeforge.backtest.portfolio_kernel`) calls the same
functions for every symbol on the union of bar times, so every rule exists once. A symbol's
loop state lives in its arrays (``counters[C_N_TRADES:]``: trade and leg counts, open
positions, pending orders, next signal row, first bar an exit at the open is due) and the
realised balance in ``acct[0]``, which the portfolio shares between symbols.

The loops and the per-bar functions (and the rules they call) are compiled with
``_nrt=False``: they never allocate, return or keep an array, and with Numba's reference
counting on, every call increfs and decrefs each of its ~17 array arguments (34 atomic
runtime calls, ~100 ns) — which made the per-bar calls cost more than the rules themselves.
The four per-bar functions are inlined into the loops, which saves passing ~17 array structs
per call on every bar, and so are the rules an open position runs on every bar
(`process_observation`, `update_after_observation`, the mark). The inlining is LLVM's
(``forceinline=True``: the function is compiled once and LLVM inlines its optimised code),
not Numba's ``inline="always"``, which re-types the callee inside every caller and copies its
IR once per block with all its variables: ~0.5 s of the cold compile for these four.
The per-bar functions hold only what runs on most bars (the checks, managing an open
position, the mark); the rarer events — a date change (`_accrue_swap`), an exit at the open
(`_exit_at_open`), a fill (`_fill`), a signal (`_take_signal`), booking exit legs (`_book`) —
are functions of their own, called when the event happens, which keeps the inlined loop
small.

Compile time matters (the cold benchmark budget): the kernel allocates nothing (the caller
passes every array, see `allocate`) and passes no literal-typed arguments to compiled
callees (Numba would compile extra literal specialisations). Its callees — the per-bar and
event functions and the rules and steps (`tradeforge.trading.rulejit`) — are compiled
without the CPython and C-callable wrappers that only a call from Python needs: ~0.7 s of
the cold compile.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tradeforge.strategy.signal_schema import ROW
from tradeforge.trading.rules import (
    F_ENTRY,
    F_REMAINING,
    F_SIDE,
    MAX_T,
    NF,
    R_END,
    R_SIGNAL,
    R_TIME,
    entry_fill,
    market_exit_price,
    open_position,
    process_observation,
    sig_float,
    sig_int,
    update_after_observation,
)
from tradeforge.trading.steps import (
    SLOT_BUSY,
    SLOT_REVERSAL,
    fill_view,
    initial_stop,
    leg_quote,
    open_quote,
    position_steps,
    slot_verdict,
    swap_quote,
)

# fparams layout
P_UNIT, P_STEP_LOTS, P_MIN_STEPS, P_MAX_STEPS, P_COMM_STEP = 0, 1, 2, 3, 4
P_SWAP_LONG, P_SWAP_SHORT, P_CAPITAL, P_SIZING_MODE, P_SIZING_VALUE = 5, 6, 7, 8, 9
P_FX_MODE = 10  # 0: money * fx[i]; 1: money / instrument price (account = base currency)
N_PARAMS = 11
# counters layout
C_SIGNALS, C_DEDUP, C_FILLED, C_EXPIRED, C_SKIPPED_SIZE, C_REJECTED, C_UNFILLED = range(7)
N_COUNTERS = 7
COUNTER_NAMES = (
    "signals",
    "ignored_dedup",
    "filled",
    "expired",
    "skipped_size",
    "rejected_stop",
    "unfilled_at_end",
)
# trade int columns / float columns
TI_SIGNAL, TI_ENTRY_BAR, TI_EXIT_BAR, TI_SIZE, TI_REASON, TI_NLEGS = range(6)
TF_ENTRY, TF_EXIT_VALUE, TF_INIT_STOP, TF_RISK, TF_PNL, TF_COMMISSION, TF_SWAP = range(7)
TF_PNL_Q, TF_RISK_Q = 7, 8  # net PnL and initial risk in quote currency: R = TF_PNL_Q / TF_RISK_Q
N_TF = 9
# leg int columns / float columns
LI_TRADE, LI_BAR, LI_STEPS, LI_REASON = range(4)
LF_PRICE, LF_PNL = range(2)

# the loop state of one symbol kept after the counters above: trade / leg counts, open
# positions, pending orders, next signal row, and the first bar whose open may close a
# position (a time stop or a signal exit: no open position has one due before it)
C_N_TRADES, C_N_LEGS, C_N_OPEN, C_N_PENDING, C_PTR = range(N_COUNTERS, N_COUNTERS + 5)
C_EXIT_DUE = N_COUNTERS + 5
N_STATE = N_COUNTERS + 6
_NEVER = 2**62  # C_EXIT_DUE with no exit at an open due
# per-slot int state / float state
W_STATUS, W_SIG, W_EXPIRE, W_TRADE, W_TIME_EXIT, W_FILL_BAR, W_SIG_EXIT, W_QUEUED = range(8)
N_WORK_I = 8
# W_SIG_EXIT: bar whose open closes the position (exit on opposite signal), -1 none;
# W_QUEUED: 1 when an entry order (W_SIG, W_EXPIRE) waits for that exit to free the slot
WF_SWAP, WF_OPEN, WF_HIGH, WF_LOW = range(4)  # accrued swap; prices seen on an intrabar fill
WF_SWAP_Q = 4  # accrued swap in quote currency
N_WORK_F = 5

EMPTY, PENDING, OPEN = 0, 1, 2
# rows of the packed signal table (`tradeforge.strategy.signal_schema`) the loop reads
_BAR, _SIDE, _TAG, _ENTRY_TYPE, _EXPIRY, _TIME_STOP, _EXIT_OPPOSITE = (
    ROW[k] for k in ("bar", "side", "tag", "entry_type", "expiry", "time_stop", "exit_opposite")
)
_ENTRY_PRICE, _STOP_PRICE, _STOP_DISTANCE, _SIZE_SCALE = (
    ROW[k] for k in ("entry_price", "stop_price", "stop_distance", "size_scale")
)


_HUGE_PAGE = 2 << 20


def _fresh(n: int) -> np.ndarray:
    """``n`` uninitialised float64 starting on a 2 MiB boundary when they span huge pages.

    Fresh memory costs a page fault per page first touched, which on a VM costs more than
    the writes; NumPy asks for huge pages on large arrays, but only the 2 MiB-aligned part
    of an allocation gets them and the rest faults 4 KiB at a time — most of an output whose
    first rows only are written (trades, legs) when it starts unaligned."""
    if n * 8 < 2 * _HUGE_PAGE:
        return np.empty(n)
    raw = np.empty(n * 8 + _HUGE_PAGE, dtype=np.uint8)
    skip = -raw.ctypes.data % _HUGE_PAGE
    return raw[skip : skip + n * 8].view(np.float64)


def allocate(n_bars: int, n_signals: int, n_slots: int) -> dict[str, np.ndarray]:
    """Every array `simulate` writes to (outputs and scratch), keyed by argument name.

    The outputs are views of two blocks (see `_fresh`): the per-bar curve, and the trade and
    leg tables (their first rows only are written: as many as the run had)."""
    work_i = np.zeros((n_slots, N_WORK_I), dtype=np.int64)
    work_i[:, W_FILL_BAR] = -1
    work_i[:, W_SIG_EXIT] = -1
    curve = _fresh(3 * n_bars).reshape(3, n_bars)
    n_legs = n_signals * (MAX_T + 1)
    ends = np.cumsum((n_signals * 6, n_signals * N_TF, n_legs * 4, n_legs * 2))
    ti, tf, li, lf = np.split(_fresh(int(ends[-1])), ends[:-1])
    return {
        "trades_i": ti.view(np.int64).reshape(n_signals, 6),
        "trades_f": tf.reshape(n_signals, N_TF),
        "legs_i": li.view(np.int64).reshape(n_legs, 4),
        "legs_f": lf.reshape(n_legs, 2),
        "equity": curve[:2],  # equity, balance: contiguous rows for the frame
        "open_positions": curve[2].view(np.int64),
        "counters": np.zeros(N_STATE, dtype=np.int64),
        "work_i": work_i,
        "work_f": np.zeros((n_slots, N_WORK_F)),
        "pf": np.zeros((n_slots, NF)),
        "out": np.zeros((MAX_T + 1, 3)),
        "acct": np.zeros(1),  # the realised balance
    }


# compiled callees of the loops (see the module docstring): no wrappers for Python callers
_HELPER = {"cache": True, "error_model": "numpy", "_nrt": False}
_HELPER.update(no_cpython_wrapper=True, no_cfunc_wrapper=True)
_PER_BAR = {**_HELPER, "forceinline": True}  # LLVM inlines them into the loops


@njit(**_HELPER)
def _book(
    s, bar, k, out, pf, work_i, work_f, fparams, fx, trades_i, trades_f, legs_i, legs_f,
    counters, acct,
):  # fmt: skip
    """Book the ``k`` exit legs in ``out`` (price, steps, reason) for slot ``s``: legs and
    trade totals, realised PnL to ``acct[0]``, and the slot freed once ``pf[s, F_REMAINING]``
    (the caller's job) is zero. Accrued swap (already account money) goes to the first leg.
    Quote money becomes account money at ``fx[bar]`` or, in base mode, at the leg's own
    price; the quote-currency PnL (for R) is kept alongside."""
    t = work_i[s, W_TRADE]
    side = pf[s, F_SIDE]
    entry = pf[s, F_ENTRY]
    unit = fparams[P_UNIT]
    base_mode = fparams[P_FX_MODE] != 0
    n_legs = counters[C_N_LEGS]
    for q in range(k):
        price = out[q, 0]
        steps = out[q, 1]
        reason = int(out[q, 2])
        rate = 1.0 / price if base_mode else fx[bar]
        gross_q, comm_q = leg_quote(side, entry, price, steps, unit, fparams[P_COMM_STEP])
        comm = comm_q * rate
        swap = work_f[s, WF_SWAP]
        work_f[s, WF_SWAP] = 0.0
        pnl = gross_q * rate - comm + swap
        trades_f[t, TF_PNL_Q] += gross_q - comm_q + work_f[s, WF_SWAP_Q]
        work_f[s, WF_SWAP_Q] = 0.0
        trades_f[t, TF_SWAP] += swap
        trades_f[t, TF_PNL] += pnl
        trades_f[t, TF_COMMISSION] += comm
        trades_f[t, TF_EXIT_VALUE] += price * steps
        trades_i[t, TI_EXIT_BAR] = bar
        trades_i[t, TI_REASON] = reason
        trades_i[t, TI_NLEGS] += 1
        legs_i[n_legs, LI_TRADE] = t
        legs_i[n_legs, LI_BAR] = bar
        legs_i[n_legs, LI_STEPS] = int(steps)
        legs_i[n_legs, LI_REASON] = reason
        legs_f[n_legs, LF_PRICE] = price
        legs_f[n_legs, LF_PNL] = pnl
        acct[0] += pnl
        n_legs += 1
    counters[C_N_LEGS] = n_legs
    if pf[s, F_REMAINING] <= 0:
        work_i[s, W_STATUS] = EMPTY
        counters[C_N_OPEN] -= 1


@njit(**_HELPER)
def _accrue_swap(i, o, day, fx, fparams, work_i, work_f, pf):
    """Step 1 on a bar that changes the UTC date: swap accrues on every open position."""
    nights = day[i] - day[i - 1]
    conv = 1.0 / o[i] if fparams[P_FX_MODE] != 0 else fx[i]
    for s in range(work_i.shape[0]):
        if work_i[s, W_STATUS] == OPEN:
            swap_q = swap_quote(
                pf[s, F_SIDE], fparams[P_SWAP_LONG], fparams[P_SWAP_SHORT],
                fparams[P_STEP_LOTS], pf[s, F_REMAINING], nights,
            )  # fmt: skip
            work_f[s, WF_SWAP_Q] += swap_q
            work_f[s, WF_SWAP] += swap_q * conv


@njit(**_HELPER)
def _exit_at_open(
    s, i, o, spread, slip, fx, fparams, trades_i, trades_f, legs_i, legs_f, counters,
    work_i, work_f, pf, out, acct,
):  # fmt: skip
    """Step 2 for slot ``s``: its time stop or signal exit closes it at bar ``i``'s open;
    a reversal order queued behind the exit becomes pending."""
    out[0, 0] = market_exit_price(pf[s, F_SIDE], o[i], spread[i], slip[i])
    out[0, 1] = pf[s, F_REMAINING]
    out[0, 2] = R_TIME if work_i[s, W_TIME_EXIT] == i else R_SIGNAL
    pf[s, F_REMAINING] = 0.0
    one = s - s + 1  # not a literal: literal arguments would make _book compile twice
    _book(
        s, i, one, out, pf, work_i, work_f, fparams, fx, trades_i, trades_f, legs_i, legs_f,
        counters, acct,
    )  # fmt: skip
    if work_i[s, W_QUEUED] != 0:
        work_i[s, W_QUEUED] = 0
        work_i[s, W_STATUS] = PENDING
        counters[C_N_PENDING] += 1


@njit(**_HELPER)
def _fill(
    s, i, j, price, at_open, h, lo, c, spread, fx, sig, fparams, trades_i, trades_f, counters,
    work_i, work_f, pf, acct,
):  # fmt: skip
    """Step 3 for slot ``s`` whose order (signal row ``j``) filled at ``price``: the stop,
    the size from the realised balance ``acct[0]`` (nothing fills at or below 0), and the
    new position — or the order is rejected (stop on the wrong side) or skipped (size)."""
    work_i[s, W_STATUS] = EMPTY
    counters[C_N_PENDING] -= 1
    side = sig_int(sig, _SIDE, j)
    stop = initial_stop(
        side, price, sig_float(sig, _STOP_DISTANCE, j), sig_float(sig, _STOP_PRICE, j)
    )
    risk = side * (price - stop)
    if not risk > 0:
        counters[C_REJECTED] += 1
        return
    unit = fparams[P_UNIT]
    conv = 1.0 / price if fparams[P_FX_MODE] != 0 else fx[i]
    max_steps = fparams[P_MAX_STEPS]
    steps, _, _ = position_steps(
        fparams[P_SIZING_MODE] == 0, fparams[P_SIZING_VALUE], acct[0], risk * unit * conv,
        max_steps, max_steps, fparams[P_MIN_STEPS], sig_float(sig, _SIZE_SCALE, j),
    )  # fmt: skip
    if steps <= 0:
        counters[C_SKIPPED_SIZE] += 1  # too small, or the account is blown
        return
    open_position(pf, s, side, price, stop, int(steps), sig, j)
    t = counters[C_N_TRADES]
    counters[C_N_TRADES] += 1
    trades_i[t, TI_SIGNAL] = j
    trades_i[t, TI_ENTRY_BAR] = i
    trades_i[t, TI_EXIT_BAR] = -1
    trades_i[t, TI_SIZE] = int(steps)
    trades_i[t, TI_REASON] = 0
    trades_i[t, TI_NLEGS] = 0
    trades_f[t, TF_ENTRY] = price
    trades_f[t, TF_EXIT_VALUE] = 0.0
    trades_f[t, TF_INIT_STOP] = stop
    trades_f[t, TF_RISK_Q] = risk * steps * unit
    trades_f[t, TF_RISK] = trades_f[t, TF_RISK_Q] * conv
    trades_f[t, TF_PNL_Q] = 0.0
    trades_f[t, TF_PNL] = 0.0
    trades_f[t, TF_COMMISSION] = 0.0
    trades_f[t, TF_SWAP] = 0.0
    counters[C_FILLED] += 1
    work_i[s, W_STATUS] = OPEN
    counters[C_N_OPEN] += 1
    work_i[s, W_TRADE] = t
    work_f[s, WF_SWAP] = 0.0
    work_f[s, WF_SWAP_Q] = 0.0
    time_stop = sig_int(sig, _TIME_STOP, j)
    work_i[s, W_TIME_EXIT] = i + time_stop if time_stop > 0 else -1
    if time_stop > 0 and i + time_stop < counters[C_EXIT_DUE]:  # no min(): less to compile
        counters[C_EXIT_DUE] = i + time_stop
    work_i[s, W_SIG_EXIT] = -1
    if not at_open:  # filled inside the bar: step 4 sees the bar from the fill on
        work_i[s, W_FILL_BAR] = i
        work_f[s, WF_OPEN], work_f[s, WF_HIGH], work_f[s, WF_LOW] = fill_view(
            side, sig_int(sig, _ENTRY_TYPE, j), price, spread[i], h[i], lo[i], c[i]
        )


@njit(**_HELPER)
def _take_signal(j, i, per_tag, sig, counters, work_i, pf):
    """Step 5 for signal row ``j`` of bar ``i`` (``sig``: the packed table)."""
    counters[C_SIGNALS] += 1
    side = sig_int(sig, _SIDE, j)
    n_slots = work_i.shape[0]
    if sig_int(sig, _EXIT_OPPOSITE, j) != 0:
        for s in range(n_slots):
            status = work_i[s, W_STATUS]
            if status == OPEN:
                if pf[s, F_SIDE] != side:
                    work_i[s, W_SIG_EXIT] = i + 1
                    if i + 1 < counters[C_EXIT_DUE]:
                        counters[C_EXIT_DUE] = i + 1
                elif work_i[s, W_QUEUED] != 0:  # an opposite reversal order
                    work_i[s, W_QUEUED] = 0
                    counters[C_EXPIRED] += 1
            elif status == PENDING and sig_int(sig, _SIDE, work_i[s, W_SIG]) != side:
                work_i[s, W_STATUS] = EMPTY
                counters[C_N_PENDING] -= 1
                counters[C_EXPIRED] += 1
    s = sig_int(sig, _TAG, j) if per_tag else 0
    status = work_i[s, W_STATUS]
    verdict = slot_verdict(
        status != EMPTY, pf[s, F_SIDE] if status == OPEN else 0.0,
        work_i[s, W_SIG_EXIT] == i + 1, work_i[s, W_QUEUED] != 0, side,
    )  # fmt: skip
    if verdict == SLOT_BUSY:
        counters[C_DEDUP] += 1
        return
    if verdict == SLOT_REVERSAL:
        work_i[s, W_QUEUED] = 1  # pending once the exit frees the slot
    else:
        work_i[s, W_STATUS] = PENDING
        counters[C_N_PENDING] += 1
    work_i[s, W_SIG] = j
    work_i[s, W_EXPIRE] = (
        i + 1 if sig_int(sig, _ENTRY_TYPE, j) == 0 else i + sig_int(sig, _EXPIRY, j)
    )


@njit(**_PER_BAR)
def bar_open(
    i, o, day, spread, slip, fx, fparams, trades_i, trades_f, legs_i, legs_f, counters,
    work_i, work_f, pf, out, acct,
):  # fmt: skip
    """Steps 1-2 of bar ``i`` for one symbol: swap, then time stops and signal exits at the
    open (a queued reversal order becomes pending). Realised PnL goes to ``acct[0]``."""
    if counters[C_N_OPEN] == 0:
        return
    if i > 0 and day[i] != day[i - 1]:
        _accrue_swap(i, o, day, fx, fparams, work_i, work_f, pf)
    if i < counters[C_EXIT_DUE]:  # no time stop or signal exit due yet
        return
    due = _NEVER  # the next bar one of the positions still open has due
    for s in range(work_i.shape[0]):
        if work_i[s, W_STATUS] != OPEN:
            continue
        time_exit, sig_exit = work_i[s, W_TIME_EXIT], work_i[s, W_SIG_EXIT]
        if time_exit == i or sig_exit == i:
            _exit_at_open(
                s, i, o, spread, slip, fx, fparams, trades_i, trades_f, legs_i, legs_f,
                counters, work_i, work_f, pf, out, acct,
            )  # fmt: skip
        else:
            if i < time_exit < due:
                due = time_exit
            if i < sig_exit < due:
                due = sig_exit
    counters[C_EXIT_DUE] = due  # later exit bars only lower it (`_fill`, `_take_signal`)


@njit(**_PER_BAR)
def bar_fill(
    i, o, h, lo, c, spread, slip, fx, sig, fparams, trades_i, trades_f, counters, work_i,
    work_f, pf, acct,
):  # fmt: skip
    """Step 3 of bar ``i`` for one symbol: pending orders fill, or expire after their last
    live bar. Sizing reads the realised balance ``acct[0]`` (nothing fills at or below 0)."""
    if counters[C_N_PENDING] == 0:
        return
    for s in range(work_i.shape[0]):
        if work_i[s, W_STATUS] != PENDING:
            continue
        j = work_i[s, W_SIG]
        price, at_open = entry_fill(
            sig_int(sig, _SIDE, j), sig_int(sig, _ENTRY_TYPE, j),
            sig_float(sig, _ENTRY_PRICE, j), o[i], h[i], lo[i], spread[i], slip[i],
        )  # fmt: skip
        if price == price:
            _fill(
                s, i, j, price, at_open, h, lo, c, spread, fx, sig, fparams, trades_i,
                trades_f, counters, work_i, work_f, pf, acct,
            )  # fmt: skip
        elif i >= work_i[s, W_EXPIRE]:
            counters[C_EXPIRED] += 1
            work_i[s, W_STATUS] = EMPTY
            counters[C_N_PENDING] -= 1


@njit(**_PER_BAR)
def bar_close(
    i, last, o, h, lo, c, spread, slip, fx, sig, per_tag, fparams, trades_i, trades_f,
    legs_i, legs_f, counters, work_i, work_f, pf, out, acct,
):  # fmt: skip
    """Steps 4-5 of bar ``i`` for one symbol whose last bar is ``last``: exits of open
    positions (realised PnL to ``acct[0]``), break-even / trailing, then the bar's signals."""
    # 4. exits of open positions, then break-even / trailing for the next bar
    if counters[C_N_OPEN] > 0:
        levels = sig.levels
        last_level = levels.shape[1] - 1
        sp = spread[i]
        sl = slip[i]
        for s in range(work_i.shape[0]):
            if work_i[s, W_STATUS] != OPEN:
                continue
            if work_i[s, W_FILL_BAR] == i:
                oi, hi, li = work_f[s, WF_OPEN], work_f[s, WF_HIGH], work_f[s, WF_LOW]
            else:
                oi, hi, li = o[i], h[i], lo[i]
            k = process_observation(pf, s, oi, hi, li, sp, sl, out)
            rem = pf[s, F_REMAINING]
            if rem > 0:
                if i == last:  # end of data: a market close at the close
                    out[k, 0] = market_exit_price(pf[s, F_SIDE], c[i], sp, sl)
                    out[k, 1] = rem
                    out[k, 2] = R_END
                    k += 1
                    pf[s, F_REMAINING] = 0.0
                else:
                    lv = i if i < last_level else last_level
                    update_after_observation(pf, s, hi, li, c[i], sp, levels[0, lv], levels[1, lv])
            if k > 0:
                _book(
                    s, i, k, out, pf, work_i, work_f, fparams, fx, trades_i, trades_f,
                    legs_i, legs_f, counters, acct,
                )  # fmt: skip
    # 5. signals of this bar become pending orders unless their slot is busy
    ptr = counters[C_PTR]
    while sig_int(sig, _BAR, ptr) == i:  # the bar row ends with -1
        _take_signal(ptr, i, per_tag, sig, counters, work_i, pf)
        ptr += 1
    counters[C_PTR] = ptr


@njit(**_PER_BAR)
def mark(eq, i, c, spread, fx, fparams, counters, work_i, work_f, pf):
    """Step 6: ``eq`` plus the open PnL of one symbol's positions marked at bar ``i``'s
    close (the exit-side commission is not yet paid)."""
    if counters[C_N_OPEN] > 0:
        unit = fparams[P_UNIT]
        sp = spread[i]
        fxi = fx[i]
        for s in range(work_i.shape[0]):
            if work_i[s, W_STATUS] == OPEN:
                gross, comm = open_quote(pf, s, c[i], sp, unit, fparams[P_COMM_STEP])
                eq += gross * fxi
                eq += work_f[s, WF_SWAP] - comm * fxi
    return eq


@njit(cache=True, error_model="numpy", _nrt=False, nogil=True)
def simulate(
    o, h, lo, c, spread, slip, day, fx, sig, per_tag, fparams,
    trades_i, trades_f, legs_i, legs_f, equity, open_positions, counters, work_i, work_f, pf,
    out, acct,
):  # fmt: skip
    """Run the loop; results land in the arrays from `allocate` (counts in ``counters``).
    ``sig`` is the `PackedSignals` form of the signal table.

    Money is account money: quote-currency amounts times ``fx[i]`` (the quote -> account
    rate known at bar ``i``), or with ``fparams[P_FX_MODE] == 1`` divided by the instrument's
    price (fill price for legs and risk, the open for swap; ``fx[i]`` is then ``1 / close``
    for the mark-to-market)."""
    n = o.shape[0]
    acct[0] = fparams[P_CAPITAL]
    for i in range(n):
        bar_open(
            i, o, day, spread, slip, fx, fparams, trades_i, trades_f, legs_i, legs_f, counters,
            work_i, work_f, pf, out, acct,
        )  # fmt: skip
        bar_fill(
            i, o, h, lo, c, spread, slip, fx, sig, fparams, trades_i, trades_f, counters, work_i,
            work_f, pf, acct,
        )  # fmt: skip
        bar_close(
            i, n - 1, o, h, lo, c, spread, slip, fx, sig, per_tag, fparams, trades_i, trades_f,
            legs_i, legs_f, counters, work_i, work_f, pf, out, acct,
        )  # fmt: skip
        equity[0, i] = mark(acct[0], i, c, spread, fx, fparams, counters, work_i, work_f, pf)
        equity[1, i] = acct[0]
        open_positions[i] = counters[C_N_OPEN]
    counters[C_UNFILLED] = counters[C_N_PENDING]
