"""Numba kernels shared by the feature library.

All kernels take contiguous float64 1-D arrays plus int64/float64 scalars (few distinct
signatures keep the cold compile short) and return new arrays. Output at position ``i``
depends only on inputs at positions ``<= i``; windows that are not yet full are NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _filled(n, value):
    """A new float64 array of ``n`` times ``value``: what ``np.full`` gives, but a cold start
    then compiles this loop once instead of NumPy's ``full`` and ``zeros`` (~0.2 s)."""
    out = np.empty(n)
    for i in range(n):
        out[i] = value
    return out


@njit(cache=True, nogil=True)
def ema(x, alpha, period):
    """Exponential average seeded with the simple mean of the first ``period`` values.

    Leading NaNs are skipped (the seed window starts at the first finite value); a NaN after
    the seed gives NaN at that bar and leaves the state unchanged. ``alpha = 2 / (period+1)``
    is the classic EMA, ``alpha = 1 / period`` Wilder's smoothing (RMA).
    """
    n = x.shape[0]
    out = _filled(n, np.nan)
    start = 0
    while start < n and np.isnan(x[start]):
        start += 1
    if start + period > n:
        return out
    acc = 0.0
    for i in range(start, start + period):
        acc += x[i]
    prev = acc / period
    out[start + period - 1] = prev
    for i in range(start + period, n):
        v = x[i]
        if np.isnan(v):
            continue
        prev = prev + alpha * (v - prev)
        out[i] = prev
    return out


@njit(cache=True, nogil=True)
def rolling_mean(x, period):
    """Mean of the last ``period`` values; NaN while the window holds any NaN.

    A running sum drifts: over 700k bars its rounding error grows to ~1e-11, enough to flip
    ``close > sma`` at a tie and to make ``sma(1)`` differ from the close. So once every
    ``period`` bars the window is summed afresh (O(n) in all): the mean is then the exact
    left-to-right sum of its window plus at most ``period - 1`` running updates, over
    ``period`` — divided here, as each bar is written (a division pass over the output
    afterwards costs as much again as the loop)."""
    n = x.shape[0]
    out = np.empty(n)  # every bar written once below: no NaN pre-fill pass
    acc = 0.0
    nans = 0
    due = 2 * period - 1  # next fresh sum (the first window already is one)
    for i in range(n):
        v = x[i]
        if np.isnan(v):
            nans += 1
        else:
            acc += v
        if i >= period:
            w = x[i - period]
            if np.isnan(w):
                nans -= 1
            else:
                acc -= w
        if i >= period - 1 and nans == 0:
            if i == due:
                acc = 0.0
                for j in range(i - period + 1, i + 1):
                    acc += x[j]
            out[i] = acc / period
        else:
            out[i] = np.nan
        if i == due:
            due += period
    return out


@njit(cache=True, nogil=True)
def rolling_max(x, period):
    """Maximum of the last ``period`` values (monotonic deque, O(n)); inputs without NaN."""
    n = x.shape[0]
    out = _filled(n, np.nan)
    dq = np.empty(n, np.int64)
    head = 0
    tail = 0
    for i in range(n):
        while tail > head and x[dq[tail - 1]] <= x[i]:
            tail -= 1
        dq[tail] = i
        tail += 1
        if dq[head] <= i - period:
            head += 1
        if i >= period - 1:
            out[i] = x[dq[head]]
    return out


@njit(cache=True, nogil=True)
def rolling_std(x, period, ddof):
    """Standard deviation of the last ``period`` values (two-pass per window)."""
    n = x.shape[0]
    out = _filled(n, np.nan)
    for i in range(period - 1, n):
        m = 0.0
        for j in range(i - period + 1, i + 1):
            m += x[j]
        m /= period
        ss = 0.0
        for j in range(i - period + 1, i + 1):
            d = x[j] - m
            ss += d * d
        out[i] = np.sqrt(ss / (period - ddof))
    return out


@njit(cache=True, nogil=True)
def mean_abs_dev(x, period):
    """Mean absolute deviation from the window mean over the last ``period`` values."""
    n = x.shape[0]
    out = _filled(n, np.nan)
    for i in range(period - 1, n):
        m = 0.0
        for j in range(i - period + 1, i + 1):
            m += x[j]
        m /= period
        s = 0.0
        for j in range(i - period + 1, i + 1):
            s += abs(x[j] - m)
        out[i] = s / period
    return out


@njit(cache=True, nogil=True)
def wma(x, period):
    """Linearly weighted average, weights 1..period with the newest value weighted most."""
    n = x.shape[0]
    out = _filled(n, np.nan)
    denom = period * (period + 1) / 2.0
    for i in range(period - 1, n):
        acc = 0.0
        for j in range(period):
            acc += (j + 1) * x[i - period + 1 + j]
        out[i] = acc / denom
    return out


@njit(cache=True, nogil=True)
def linreg_slope(x, period):
    """Least-squares slope of the last ``period`` values against 0..period-1 (per bar)."""
    n = x.shape[0]
    out = _filled(n, np.nan)
    xm = (period - 1) / 2.0
    sxx = 0.0
    for j in range(period):
        sxx += (j - xm) * (j - xm)
    for i in range(period - 1, n):
        ym = 0.0
        for j in range(period):
            ym += x[i - period + 1 + j]
        ym /= period
        sxy = 0.0
        for j in range(period):
            sxy += (j - xm) * (x[i - period + 1 + j] - ym)
        out[i] = sxy / sxx
    return out


@njit(cache=True, nogil=True)
def percent_rank(x, window):
    """Fraction of the last ``window`` values (current included) that are <= the current one.

    NaN until the window holds ``window`` finite values.
    """
    n = x.shape[0]
    out = _filled(n, np.nan)
    valid = 0
    for i in range(n):
        if np.isnan(x[i]):
            valid = 0
            continue
        valid += 1
        if valid < window:
            continue
        cur = x[i]
        cnt = 0
        for j in range(i - window + 1, i + 1):
            if x[j] <= cur:
                cnt += 1
        out[i] = cnt / window
    return out


@njit(cache=True, nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _is_pivot(x, t, k, sign):
    """``sign * x[t]`` is strictly above the ``k`` values before it and not below the ``k``
    after it (``sign = -1.0`` mirrors it for lows; negation is exact). Called from compiled
    code only, so compiled without the wrappers a call from Python would need."""
    v = sign * x[t]
    for j in range(t - k, t):
        if sign * x[j] >= v:
            return False
    for j in range(t + 1, t + k + 1):  # noqa: SIM110 (no all() over a generator in njit)
        if sign * x[j] > v:
            return False
    return True


@njit(cache=True, nogil=True)
def swing_points(high, low, k):
    """Swing highs/lows confirmed ``k`` bars later, placed on the confirmation bar.

    Bar ``t`` is a swing high when its high is strictly above the ``k`` highs before it and
    not below the ``k`` highs after it (ties resolve to the earliest bar); the value
    ``high[t]`` appears at bar ``t + k``, when the pattern is complete. Lows mirror this.
    """
    n = high.shape[0]
    sh = _filled(n, np.nan)
    sl = _filled(n, np.nan)
    for t in range(k, n - k):
        if _is_pivot(high, t, k, 1.0):
            sh[t + k] = high[t]
        if _is_pivot(low, t, k, -1.0):
            sl[t + k] = low[t]
    return sh, sl


@njit(cache=True, nogil=True)
def market_structure(close, swing_high, swing_low):
    """Structure state from confirmed swing events (see ``structure`` feature docs).

    Returns last swing high/low levels, HH/LH and HL/LL labels, the swing trend, the break
    trend, BOS and CHoCH events.
    """
    n = close.shape[0]
    last_h = _filled(n, np.nan)
    last_l = _filled(n, np.nan)
    high_label = _filled(n, np.nan)
    low_label = _filled(n, np.nan)
    swing_trend = _filled(n, 0.0)
    trend = _filled(n, 0.0)
    bos = _filled(n, 0.0)
    choch = _filled(n, 0.0)
    lh = np.nan
    ll = np.nan
    h_lab = 0.0
    l_lab = 0.0
    h_live = False
    l_live = False
    state = 0.0
    for i in range(n):
        v = swing_high[i]
        if not np.isnan(v):
            if not np.isnan(lh):
                h_lab = 1.0 if v > lh else (-1.0 if v < lh else 0.0)
                high_label[i] = h_lab
            lh = v
            h_live = True
        v = swing_low[i]
        if not np.isnan(v):
            if not np.isnan(ll):
                l_lab = 1.0 if v > ll else (-1.0 if v < ll else 0.0)
                low_label[i] = l_lab
            ll = v
            l_live = True
        c = close[i]
        if h_live and c > lh:
            h_live = False
            if state < 0:
                choch[i] = 1.0
            else:
                bos[i] = 1.0
            state = 1.0
        if l_live and c < ll:
            l_live = False
            if state > 0:
                choch[i] = -1.0
            else:
                bos[i] = -1.0
            state = -1.0
        last_h[i] = lh
        last_l[i] = ll
        trend[i] = state
        if h_lab > 0 and l_lab > 0:
            swing_trend[i] = 1.0
        elif h_lab < 0 and l_lab < 0:
            swing_trend[i] = -1.0
    return last_h, last_l, high_label, low_label, swing_trend, trend, bos, choch


@njit(cache=True, nogil=True)
def running_range(high, low, group):
    """Running high/low of the latest group instance; ``group < 0`` bars carry the last value."""
    n = high.shape[0]
    hi_out = _filled(n, np.nan)
    lo_out = _filled(n, np.nan)
    cur = -1.0
    hi = np.nan
    lo = np.nan
    for i in range(n):
        g = group[i]
        if g >= 0:
            if g != cur:
                cur = g
                hi = high[i]
                lo = low[i]
            else:
                hi = max(hi, high[i])
                lo = min(lo, low[i])
        hi_out[i] = hi
        lo_out[i] = lo
    return hi_out, lo_out
