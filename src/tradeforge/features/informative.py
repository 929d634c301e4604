"""Merging higher-timeframe (informative) values onto base bars without look-ahead.

A bar stamped ``t`` on timeframe ``tf`` closes at ``t + tf``. An informative bar with close
time ``C`` is visible on every base bar whose close time is ``>= C``: the M30 bar stamped
10:00 (close 10:30) shows on the M5 bar stamped 10:25 (close 10:30) and later, and the last
visible informative value is carried forward (shift-then-forward-fill on close times).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from tradeforge.core.timeframes import Timeframe
from tradeforge.features.errors import FeatureError

_NS_PER_S = 1_000_000_000


def open_times_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Bar open times as int64 nanoseconds since the epoch (any index unit)."""
    return np.ascontiguousarray(index.as_unit("ns").asi8, dtype=np.int64)


def check_index(frame: pd.DataFrame) -> None:
    """Refuse a frame whose index is not bar open times in UTC, sorted, without duplicates
    (what the merge's one pass over both time arrays requires)."""
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise FeatureError("frame index must be a tz-aware UTC DatetimeIndex of bar open times")
    if not (index.is_monotonic_increasing and index.is_unique):
        raise FeatureError("frame index must be sorted ascending without duplicates")


def merge_index(
    src_open_ns: np.ndarray,
    src_tf: Timeframe,
    dst_open_ns: np.ndarray,
    dst_tf: Timeframe,
) -> np.ndarray:
    """For each destination bar, the position of the last source bar closed by its close.

    Returns int64 positions into the source, ``-1`` where no source bar has closed yet; they
    never decrease, so the ``-1`` rows are a prefix (`take_merged` relies on it). Both inputs
    must be sorted ascending (`check_index`).
    """
    dst = np.ascontiguousarray(dst_open_ns, dtype=np.int64)
    out = np.empty(len(dst), dtype=np.int64)  # NumPy's allocation, as every column's
    src = np.ascontiguousarray(src_open_ns, dtype=np.int64)
    _last_closed(src, src_tf.seconds * _NS_PER_S, dst, dst_tf.seconds * _NS_PER_S, out)
    return out


@njit(cache=True, nogil=True)
def _last_closed(src_open, src_span, dst_open, dst_span, out):  # pragma: no cover - numba
    """`merge_index` as one pass over both sorted arrays (a binary search per destination
    bar cost ~10x as much on 736k bars)."""
    j = 0
    n_src = src_open.shape[0]
    for i in range(dst_open.shape[0]):
        close = dst_open[i] + dst_span
        while j < n_src and src_open[j] + src_span <= close:
            j += 1
        out[i] = j - 1


def take_merged(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``values[positions]`` with NaN (numbers) or None (labels) where ``positions < 0``;
    ``positions`` from `merge_index`, so those rows are a prefix: no mask, and float columns
    (one per informative output, on every bar) are gathered by a compiled loop, ~5x NumPy's
    fancy indexing."""
    head = int(np.searchsorted(positions, 0))  # rows before the first source bar closes
    if values.dtype == np.float64:
        out = np.empty(len(positions))
        _gather(np.ascontiguousarray(values), np.ascontiguousarray(positions, np.int64), head, out)
        return out
    if head == 0:
        return values.take(positions)
    if values.dtype.kind == "f":
        out = np.empty(len(positions), dtype=values.dtype)
        out[:head] = np.nan
    else:
        out = np.empty(len(positions), dtype=object)
        out[:head] = None
    if head < len(positions):
        out[head:] = values.take(positions[head:])
    return out


@njit(cache=True, nogil=True)
def _gather(values, positions, head, out):  # pragma: no cover - numba
    for i in range(head):
        out[i] = np.nan
    for i in range(head, positions.shape[0]):
        out[i] = values[positions[i]]


def merge_informative(
    base: pd.DataFrame,
    informative: pd.DataFrame,
    informative_timeframe: Timeframe | str,
    base_timeframe: Timeframe | str,
    suffix: str | None = None,
) -> pd.DataFrame:
    """Align every column of ``informative`` onto ``base``'s index (a new frame).

    Columns are renamed ``<column>@<TF>`` unless ``suffix`` is given (``""`` keeps names).
    """
    check_index(base)
    check_index(informative)
    info_tf = Timeframe.parse(informative_timeframe)
    base_tf = Timeframe.parse(base_timeframe)
    pos = merge_index(open_times_ns(informative.index), info_tf, open_times_ns(base.index), base_tf)
    tail = f"@{info_tf.name}" if suffix is None else suffix
    data = {f"{c}{tail}": take_merged(informative[c].to_numpy(), pos) for c in informative}
    return pd.DataFrame(data, index=base.index)
