"""The single-symbol backtest loop (Numba, one compiled signature, numpy arrays only).

Per bar ``i``, in this order:

1. swap accrues on open positions when the UTC date changes;
2. time stops due on this bar close at its open;
3. pending entry orders fill (market orders of bar ``i-1`` at the open; limit/stop orders when
   touched) or expire; sizing and the initial stop are fixed at the fill;
4. open positions (including those just filled) run `rules.process_observation` and then
   `rules.update_after_observation` (break-even / trailing take effect from bar ``i+1``);
5. on the last bar every open position closes at the close (reason ``end``);
6. signals of bar ``i`` become pending orders unless their slot (tag or symbol) is busy;
7. equity is marked at the close.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tradeforge.backtest.rules import (
    F_ENTRY,
    F_REMAINING,
    F_SIDE,
    MAX_T,
    NF,
    R_END,
    R_TIME,
    entry_fill,
    mark_price,
    open_position,
    process_observation,
    update_after_observation,
)

# fparams layout
P_UNIT, P_STEP_LOTS, P_MIN_STEPS, P_MAX_STEPS, P_COMM_STEP = 0, 1, 2, 3, 4
P_SWAP_LONG, P_SWAP_SHORT, P_CAPITAL, P_SIZING_MODE, P_SIZING_VALUE = 5, 6, 7, 8, 9
N_PARAMS = 10
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
# leg int columns / float columns
LI_TRADE, LI_BAR, LI_STEPS, LI_REASON = range(4)
LF_PRICE, LF_PNL = range(2)

EMPTY, PENDING, OPEN = 0, 1, 2


@njit(cache=True)
def _close_leg(
    slot, bar, price, steps, reason, pf, slot_trade, swap_acc, fparams,
    trades_i, trades_f, legs_i, legs_f, n_legs,
):  # fmt: skip
    """Book one exit leg; returns the new leg count. The caller updates F_REMAINING."""
    t = slot_trade[slot]
    side = pf[slot, F_SIDE]
    gross = side * (price - pf[slot, F_ENTRY]) * steps * fparams[P_UNIT]
    comm = 2.0 * fparams[P_COMM_STEP] * steps
    pnl = gross - comm + swap_acc[slot]
    trades_f[t, TF_SWAP] += swap_acc[slot]
    swap_acc[slot] = 0.0
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
    return n_legs + 1


@njit(cache=True)
def _step_position(
    s, i, o, h, lo, c, sp, sl, lv_long, lv_short, pf, out, slot_trade, swap_acc, fparams,
    trades_i, trades_f, legs_i, legs_f, n_legs,
):  # fmt: skip
    """Exit rules then stop updates for slot ``s`` on bar ``i``; returns the new leg count."""
    k = process_observation(pf, s, o, h, lo, sp, sl, out)
    for q in range(k):
        n_legs = _close_leg(
            s, i, out[q, 0], out[q, 1], int(out[q, 2]), pf, slot_trade, swap_acc, fparams,
            trades_i, trades_f, legs_i, legs_f, n_legs,
        )  # fmt: skip
    if pf[s, F_REMAINING] > 0:
        update_after_observation(pf, s, h, lo, c, sp, lv_long, lv_short)
    return n_legs


@njit(cache=True)
def simulate(
    o, h, lo, c, spread, slip, day, level_long, level_short,
    sig_bar, sig_side, sig_tag, sig_etype, sig_eprice, sig_expiry, sig_stop_price,
    sig_stop_dist, sig_tkind, sig_tval, sig_tfrac, sig_runner, sig_be_r, sig_be_off,
    sig_trail_kind, sig_trail_dist, sig_trail_start, sig_time_stop,
    n_slots, per_tag, fparams,
):  # fmt: skip
    n = o.shape[0]
    ns = sig_bar.shape[0]
    trades_i = np.empty((ns, 6), dtype=np.int64)
    trades_f = np.empty((ns, 7))
    legs_i = np.empty((ns * (MAX_T + 1), 4), dtype=np.int64)
    legs_f = np.empty((ns * (MAX_T + 1), 2))
    equity = np.empty((n, 2))
    open_count = np.zeros(n, dtype=np.int64)
    counters = np.zeros(N_COUNTERS, dtype=np.int64)

    status = np.zeros(n_slots, dtype=np.int64)
    slot_sig = np.zeros(n_slots, dtype=np.int64)
    slot_expire = np.zeros(n_slots, dtype=np.int64)
    slot_trade = np.zeros(n_slots, dtype=np.int64)
    slot_time_exit = np.zeros(n_slots, dtype=np.int64)
    slot_done_bar = np.full(n_slots, -1, dtype=np.int64)  # bar already processed (intrabar fill)
    swap_acc = np.zeros(n_slots)
    pf = np.zeros((n_slots, NF))
    out = np.zeros((MAX_T + 1, 3))

    unit = fparams[P_UNIT]
    balance = fparams[P_CAPITAL]
    n_trades = 0
    n_legs = 0
    n_open = 0
    n_pending = 0
    ptr = 0

    for i in range(n):
        sp = spread[i]
        sl = slip[i]
        # 1. swap
        if n_open > 0 and i > 0 and day[i] != day[i - 1]:
            nights = day[i] - day[i - 1]
            for s in range(n_slots):
                if status[s] == OPEN:
                    rate = fparams[P_SWAP_LONG] if pf[s, F_SIDE] > 0 else fparams[P_SWAP_SHORT]
                    swap_acc[s] += rate * fparams[P_STEP_LOTS] * pf[s, F_REMAINING] * nights
        # 2. time stops at the open
        if n_open > 0:
            for s in range(n_slots):
                if status[s] == OPEN and slot_time_exit[s] == i:
                    price = o[i] - sl if pf[s, F_SIDE] > 0 else o[i] + sp + sl
                    n_legs = _close_leg(
                        s, i, price, pf[s, F_REMAINING], R_TIME, pf, slot_trade, swap_acc,
                        fparams, trades_i, trades_f, legs_i, legs_f, n_legs,
                    )  # fmt: skip
                    balance += legs_f[n_legs - 1, LF_PNL]
                    pf[s, F_REMAINING] = 0.0
                    status[s] = EMPTY
                    n_open -= 1
        # 3. pending orders fill or expire
        if n_pending > 0:
            for s in range(n_slots):
                if status[s] != PENDING:
                    continue
                if i > slot_expire[s]:
                    counters[C_EXPIRED] += 1
                    status[s] = EMPTY
                    n_pending -= 1
                    continue
                j = slot_sig[s]
                side = sig_side[j]
                price, at_open = entry_fill(
                    side, sig_etype[j], sig_eprice[j], o[i], h[i], lo[i], sp, sl
                )
                if price != price:
                    continue
                status[s] = EMPTY
                n_pending -= 1
                if sig_stop_dist[j] == sig_stop_dist[j]:
                    stop = price - side * sig_stop_dist[j]
                else:
                    stop = sig_stop_price[j]
                risk = side * (price - stop)
                if not risk > 0:
                    counters[C_REJECTED] += 1
                    continue
                if fparams[P_SIZING_MODE] == 0:
                    steps = fparams[P_SIZING_VALUE]
                else:
                    money = balance * fparams[P_SIZING_VALUE] / 100.0
                    steps = math.floor(money / (risk * unit) + 1e-9) if money > 0 else 0.0
                steps = min(steps, fparams[P_MAX_STEPS])
                if steps < fparams[P_MIN_STEPS] or steps <= 0:
                    counters[C_SKIPPED_SIZE] += 1
                    continue
                open_position(
                    pf, s, side, price, stop, int(steps), sig_tkind[j], sig_tval[j],
                    sig_tfrac[j], sig_runner[j], sig_be_r[j], sig_be_off[j],
                    sig_trail_kind[j], sig_trail_dist[j], sig_trail_start[j],
                )  # fmt: skip
                t = n_trades
                n_trades += 1
                trades_i[t, TI_SIGNAL] = j
                trades_i[t, TI_ENTRY_BAR] = i
                trades_i[t, TI_EXIT_BAR] = -1
                trades_i[t, TI_SIZE] = int(steps)
                trades_i[t, TI_REASON] = 0
                trades_i[t, TI_NLEGS] = 0
                trades_f[t, TF_EXIT_VALUE] = 0.0
                trades_f[t, TF_PNL] = 0.0
                trades_f[t, TF_COMMISSION] = 0.0
                trades_f[t, TF_SWAP] = 0.0
                trades_f[t, TF_ENTRY] = price
                trades_f[t, TF_INIT_STOP] = stop
                trades_f[t, TF_RISK] = risk * steps * unit
                counters[C_FILLED] += 1
                status[s] = OPEN
                n_open += 1
                slot_trade[s] = t
                swap_acc[s] = 0.0
                slot_time_exit[s] = i + sig_time_stop[j] if sig_time_stop[j] > 0 else -1
                if not at_open:
                    # filled inside the bar: the bar's open is not a price the position saw
                    eff_open = price - sp if side > 0 else price
                    before = n_legs
                    n_legs = _step_position(
                        s, i, eff_open, h[i], lo[i], c[i], sp, sl, level_long[i],
                        level_short[i], pf, out, slot_trade, swap_acc, fparams, trades_i,
                        trades_f, legs_i, legs_f, n_legs,
                    )  # fmt: skip
                    for q in range(before, n_legs):
                        balance += legs_f[q, LF_PNL]
                    slot_done_bar[s] = i
                    if pf[s, F_REMAINING] <= 0:
                        status[s] = EMPTY
                        n_open -= 1
        # 4. exits of open positions, then break-even / trailing for the next bar
        if n_open > 0:
            for s in range(n_slots):
                if status[s] != OPEN or slot_done_bar[s] == i:
                    continue
                before = n_legs
                n_legs = _step_position(
                    s, i, o[i], h[i], lo[i], c[i], sp, sl, level_long[i], level_short[i],
                    pf, out, slot_trade, swap_acc, fparams, trades_i, trades_f, legs_i,
                    legs_f, n_legs,
                )  # fmt: skip
                for q in range(before, n_legs):
                    balance += legs_f[q, LF_PNL]
                if pf[s, F_REMAINING] <= 0:
                    status[s] = EMPTY
                    n_open -= 1
        # 5. end of data
        if i == n - 1 and n_open > 0:
            for s in range(n_slots):
                if status[s] == OPEN:
                    price = mark_price(pf, s, c[i], sp)
                    n_legs = _close_leg(
                        s, i, price, pf[s, F_REMAINING], R_END, pf, slot_trade, swap_acc,
                        fparams, trades_i, trades_f, legs_i, legs_f, n_legs,
                    )  # fmt: skip
                    balance += legs_f[n_legs - 1, LF_PNL]
                    pf[s, F_REMAINING] = 0.0
                    status[s] = EMPTY
                    n_open -= 1
        # 6. signals of this bar become pending orders unless their slot is busy
        while ptr < ns and sig_bar[ptr] == i:
            j = ptr
            ptr += 1
            counters[C_SIGNALS] += 1
            s = sig_tag[j] if per_tag else 0
            if status[s] != EMPTY:
                counters[C_DEDUP] += 1
                continue
            status[s] = PENDING
            slot_sig[s] = j
            slot_expire[s] = i + 1 if sig_etype[j] == 0 else i + sig_expiry[j]
            n_pending += 1
        # 7. mark to market at the close
        eq = balance
        if n_open > 0:
            for s in range(n_slots):
                if status[s] == OPEN:
                    rem = pf[s, F_REMAINING]
                    side = pf[s, F_SIDE]
                    eq += side * (mark_price(pf, s, c[i], sp) - pf[s, F_ENTRY]) * rem * unit
                    eq += swap_acc[s] - fparams[P_COMM_STEP] * rem
        equity[i, 0] = eq
        equity[i, 1] = balance
        open_count[i] = n_open
    counters[C_UNFILLED] = n_pending
    return (
        trades_i[:n_trades],
        trades_f[:n_trades],
        legs_i[:n_legs],
        legs_f[:n_legs],
        equity,
        open_count,
        counters,
    )
