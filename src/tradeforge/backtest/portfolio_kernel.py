"""The shared-cash portfolio loop (Numba): several symbols, one realised balance.

It walks the union of the symbols' bar times. At each time ``t``, for the symbols with a bar
at ``t`` (``due``), in symbol-name order:

1. every due symbol runs `kernel.bar_open` (swap, time stops and signal exits at the open);
2. every due symbol runs `kernel.bar_fill` (pending orders fill, sized on the shared
   balance, which now holds every exit made at or before this open);
3. every due symbol runs `kernel.bar_close` (exits inside the bar, then the bar's signals);
4. the account is marked: the balance plus every symbol's open PnL at its latest close
   (`kernel.mark`; a symbol without a bar at ``t`` is marked at its previous close).

The balance changes only when a leg is booked (steps 1 and 3) and is read only by fills
(step 2), so within a step the symbol order cannot change a result; it is fixed anyway
(names sorted by the caller). A symbol's bar at ``t`` only ever sees the balance from exits
at or before ``t`` — never a bar after ``t`` of another symbol.

Every per-symbol array is stacked along a first axis of length ``m`` (symbols) and padded
(`tradeforge.backtest.portfolio` builds them); ``symbol[k]`` views keep the C layout, so the
per-bar functions compile once for both loops.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tradeforge.backtest.kernel import (
    C_N_OPEN,
    C_N_PENDING,
    C_UNFILLED,
    bar_close,
    bar_fill,
    bar_open,
    mark,
)
from tradeforge.strategy.signal_schema import PackedSignals

# rows of the ``cursor`` scratch array: next bar, latest bar seen, due at this time
_POS, _CUR, _DUE = 0, 1, 2
END = 2**63 - 1  # time of a symbol past its last bar; as ``t_stop``: run to the end


def start_cursor(m: int) -> np.ndarray:
    """The ``cursor`` of a loop that has not started: every symbol before its first bar."""
    cursor = np.zeros((3, m), dtype=np.int64)
    cursor[_CUR] = -1
    return cursor


@njit(cache=True, error_model="numpy", _nrt=False, nogil=True)
def simulate_portfolio(
    times, n_bars, o, h, lo, c, spread, slip, day, fx, ints, floats, int_at, float_at, levels,
    per_tag, fparams,
    t_stop, trades_i, trades_f, legs_i, legs_f, counters, work_i, work_f, pf, out, acct,
    cursor, eq_times, equity,
):  # fmt: skip
    """Run the loop (see the module docstring) over the bar times before ``t_stop``, from
    where ``cursor`` stands (`start_cursor`; ``acct[0]`` holds the balance); returns the
    number of equity rows written to ``eq_times`` / ``equity`` (equity, balance, open
    positions). Every piece of the loop's state is in the arrays, so calls over consecutive
    time windows give what one call over their union gives (`tradeforge.backtest.stream`)."""
    m = times.shape[0]
    u = 0
    while True:
        t = END
        for k in range(m):
            p = cursor[_POS, k]
            if p < n_bars[k] and times[k, p] < t:
                t = times[k, p]
        if t == END or t >= t_stop:
            break
        for k in range(m):
            p = cursor[_POS, k]
            cursor[_DUE, k] = 1 if p < n_bars[k] and times[k, p] == t else 0
        for k in range(m):
            if cursor[_DUE, k]:
                bar_open(
                    cursor[_POS, k], o[k], day[k], spread[k], slip[k], fx[k], fparams[k],
                    trades_i[k], trades_f[k], legs_i[k], legs_f[k], counters[k], work_i[k],
                    work_f[k], pf[k], out, acct,
                )  # fmt: skip
        for k in range(m):
            if cursor[_DUE, k]:
                bar_fill(
                    cursor[_POS, k], o[k], h[k], lo[k], c[k], spread[k], slip[k], fx[k],
                    PackedSignals(ints[k], floats[k], int_at[k], float_at[k], levels[k]),
                    fparams[k], trades_i[k], trades_f[k], counters[k], work_i[k], work_f[k],
                    pf[k], acct,
                )  # fmt: skip
        for k in range(m):
            if cursor[_DUE, k]:
                bar_close(
                    cursor[_POS, k], n_bars[k] - 1, o[k], h[k], lo[k], c[k], spread[k],
                    slip[k], fx[k],
                    PackedSignals(ints[k], floats[k], int_at[k], float_at[k], levels[k]),
                    per_tag, fparams[k], trades_i[k], trades_f[k], legs_i[k], legs_f[k],
                    counters[k], work_i[k], work_f[k], pf[k], out, acct,
                )  # fmt: skip
        eq = acct[0]
        n_open = 0
        for k in range(m):
            if cursor[_DUE, k]:
                cursor[_CUR, k] = cursor[_POS, k]
                cursor[_POS, k] += 1
            i = cursor[_CUR, k]
            if i >= 0:
                eq = mark(
                    eq, i, c[k], spread[k], fx[k], fparams[k], counters[k], work_i[k],
                    work_f[k], pf[k],
                )  # fmt: skip
                n_open += counters[k, C_N_OPEN]
        eq_times[u] = t
        equity[u, 0] = eq
        equity[u, 1] = acct[0]
        equity[u, 2] = n_open
        u += 1
    for k in range(m):
        counters[k, C_UNFILLED] = counters[k, C_N_PENDING]
    return u
