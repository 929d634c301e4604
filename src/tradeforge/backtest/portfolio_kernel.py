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

The symbols' inputs are not copied into one stack: the loop gets each symbol's arrays where
they are (``addresses``: a row per symbol of the start addresses of its C-contiguous int64
and float64 arrays, ``sizes`` the lengths of its signal blocks; `address_table` builds and
checks them) and views them in place (`_viewer`). A stack cost a serial copy of every input
between the parallel jobs and the loop (~190 MB for 4 symbols of 736k bars, ~0.1 s) and as
much memory again. The caller keeps the arrays alive until the loop returns. The per-symbol
parameters, outputs and state are stacked along a first axis of length ``m`` (symbols).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array

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

#: the columns of ``addresses``: a symbol's per-bar arrays (its bars' length), then its
#: signal blocks (lengths in ``sizes``; ``levels`` is ``(2, sizes[k, S_LEVELS])``)
ADDRESSES = ("o", "h", "lo", "c", "spread", "slip", "day", "fx", "times", "ints", "floats",
             "levels")  # fmt: skip
_O, _H, _LO, _C, _SPREAD, _SLIP, _DAY, _FX, _TIMES, _INTS, _FLOATS, _LEVELS = range(12)
#: the ones holding a value per bar (the others: the signal blocks)
BAR_ADDRESSES = ADDRESSES[: _TIMES + 1]
_INT64 = frozenset(("day", "times", "ints"))
#: the columns of ``sizes``
S_INTS, S_FLOATS, S_LEVELS = range(3)


def address_table(symbols: Sequence[Mapping[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """``(addresses, sizes)`` of the symbols' arrays (each a mapping of the `ADDRESSES`
    names), checked: a C-contiguous array of the dtype the loop reads it as, the per-bar ones
    all of one length. The arrays must outlive the loop's call."""
    addresses = np.zeros((len(symbols), len(ADDRESSES)), dtype=np.int64)
    sizes = np.zeros((len(symbols), 3), dtype=np.int64)
    for k, arrays in enumerate(symbols):
        n = len(arrays["o"])
        for col, name in enumerate(ADDRESSES):
            a = arrays[name]
            dtype = np.int64 if name in _INT64 else np.float64
            if a.dtype != dtype or not a.flags.c_contiguous:
                raise TypeError(f"{name}: expected a C-contiguous {np.dtype(dtype)} array")
            if name in BAR_ADDRESSES and a.shape != (n,):
                raise ValueError(f"{name}: {a.shape} values for {n} bars")
            addresses[k, col] = a.ctypes.data
        levels = arrays["levels"]
        if levels.ndim != 2 or levels.shape[0] != 2:
            raise ValueError(f"levels: expected 2 rows, got the shape {levels.shape}")
        sizes[k] = len(arrays["ints"]), len(arrays["floats"]), levels.shape[1]
    return addresses, sizes


def _viewer(dtype: types.Type, ndim: int):
    """An intrinsic ``view(address, shape)``: the C-contiguous ``dtype`` array of ``shape``
    (a tuple of ``ndim`` ints) at ``address``, owning nothing (no reference counting: the
    loop runs without it, and the memory is the caller's)."""
    array_type = types.Array(dtype, ndim, "C")

    @intrinsic
    def view(typingctx, address, shape):
        def codegen(context, builder, signature, args):
            address, shape = args
            array = context.make_array(array_type)(context, builder)
            itemsize = context.get_constant(types.intp, context.get_abi_sizeof(
                context.get_data_type(dtype)))  # fmt: skip
            dims = cgutils.unpack_tuple(builder, shape, ndim)
            strides, step = [], itemsize
            for d in reversed(dims):
                strides.insert(0, step)
                step = builder.mul(step, d)
            populate_array(
                array, data=builder.inttoptr(address, array.data.type), shape=dims,
                strides=strides, itemsize=itemsize, meminfo=None,
            )  # fmt: skip
            return array._getvalue()

        return array_type(types.int64, types.UniTuple(types.int64, ndim)), codegen

    return view


_f64 = _viewer(types.float64, 1)
_i64 = _viewer(types.int64, 1)
_f64_2d = _viewer(types.float64, 2)


# rows of the ``cursor`` scratch array: next bar, latest bar seen, the time of the next bar
_POS, _CUR, _DUE = 0, 1, 2
END = 2**63 - 1  # time of a symbol past its last bar; as ``t_stop``: run to the end


def start_cursor(m: int) -> np.ndarray:
    """The ``cursor`` of a loop that has not started: every symbol before its first bar."""
    cursor = np.zeros((3, m), dtype=np.int64)
    cursor[_CUR] = -1
    return cursor


@njit(cache=True, error_model="numpy", _nrt=False, nogil=True)
def simulate_portfolio(
    n_bars, addresses, sizes, int_at, float_at, per_tag, fparams,
    t_stop, trades_i, trades_f, legs_i, legs_f, counters, work_i, work_f, pf, out, acct,
    cursor, eq_times, equity,
):  # fmt: skip
    """Run the loop (see the module docstring) over the bar times before ``t_stop``, from
    where ``cursor`` stands (`start_cursor`; ``acct[0]`` holds the balance); returns the
    number of equity rows written to ``eq_times`` / ``equity`` (equity, balance, open
    positions). Every piece of the loop's state is in the arrays, so calls over consecutive
    time windows give what one call over their union gives (`tradeforge.backtest.stream`)."""
    m = n_bars.shape[0]
    u = 0
    while True:
        t = END
        for k in range(m):
            p = cursor[_POS, k]
            if p < n_bars[k]:
                tk = _i64(addresses[k, _TIMES], (n_bars[k],))[p]
                cursor[_DUE, k] = tk
                if tk < t:
                    t = tk
            else:
                cursor[_DUE, k] = END
        if t == END or t >= t_stop:
            break
        for k in range(m):
            if cursor[_DUE, k] == t:
                n, a = (n_bars[k],), addresses[k]
                bar_open(
                    cursor[_POS, k], _f64(a[_O], n), _i64(a[_DAY], n), _f64(a[_SPREAD], n),
                    _f64(a[_SLIP], n), _f64(a[_FX], n), fparams[k], trades_i[k], trades_f[k],
                    legs_i[k], legs_f[k], counters[k], work_i[k], work_f[k], pf[k], out, acct,
                )  # fmt: skip
        for k in range(m):
            if cursor[_DUE, k] == t:
                n, a = (n_bars[k],), addresses[k]
                bar_fill(
                    cursor[_POS, k], _f64(a[_O], n), _f64(a[_H], n), _f64(a[_LO], n),
                    _f64(a[_C], n), _f64(a[_SPREAD], n), _f64(a[_SLIP], n), _f64(a[_FX], n),
                    _signals(a, sizes[k], int_at[k], float_at[k]), fparams[k], trades_i[k],
                    trades_f[k], counters[k], work_i[k], work_f[k], pf[k], acct,
                )  # fmt: skip
        for k in range(m):
            if cursor[_DUE, k] == t:
                n, a = (n_bars[k],), addresses[k]
                bar_close(
                    cursor[_POS, k], n_bars[k] - 1, _f64(a[_O], n), _f64(a[_H], n),
                    _f64(a[_LO], n), _f64(a[_C], n), _f64(a[_SPREAD], n), _f64(a[_SLIP], n),
                    _f64(a[_FX], n), _signals(a, sizes[k], int_at[k], float_at[k]), per_tag,
                    fparams[k], trades_i[k], trades_f[k], legs_i[k], legs_f[k], counters[k],
                    work_i[k], work_f[k], pf[k], out, acct,
                )  # fmt: skip
        eq = acct[0]
        n_open = 0
        for k in range(m):
            if cursor[_DUE, k] == t:
                cursor[_CUR, k] = cursor[_POS, k]
                cursor[_POS, k] += 1
            i = cursor[_CUR, k]
            if i >= 0:
                n, a = (n_bars[k],), addresses[k]
                eq = mark(
                    eq, i, _f64(a[_C], n), _f64(a[_SPREAD], n), _f64(a[_FX], n), fparams[k],
                    counters[k], work_i[k], work_f[k], pf[k],
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


@njit(cache=True, error_model="numpy", _nrt=False, forceinline=True, no_cpython_wrapper=True)
def _signals(a, size, int_at, float_at):
    """The `PackedSignals` of the symbol whose ``addresses`` row is ``a``."""
    return PackedSignals(
        _i64(a[_INTS], (size[S_INTS],)), _f64(a[_FLOATS], (size[S_FLOATS],)), int_at, float_at,
        _f64_2d(a[_LEVELS], (2, size[S_LEVELS])),
    )  # fmt: skip
