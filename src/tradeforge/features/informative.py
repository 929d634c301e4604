"""Merging higher-timeframe (informative) values onto base bars without look-ahead.

A bar stamped ``t`` on timeframe ``tf`` closes at ``t + tf``. An informative bar with close
time ``C`` is visible on every base bar whose close time is ``>= C``: the M30 bar stamped
10:00 (close 10:30) shows on the M5 bar stamped 10:25 (close 10:30) and later, and the last
visible informative value is carried forward (shift-then-forward-fill on close times).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeforge.core.timeframes import Timeframe

_NS_PER_S = 1_000_000_000


def open_times_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Bar open times as int64 nanoseconds since the epoch (any index unit)."""
    return np.ascontiguousarray(index.as_unit("ns").asi8, dtype=np.int64)


def merge_index(
    src_open_ns: np.ndarray,
    src_tf: Timeframe,
    dst_open_ns: np.ndarray,
    dst_tf: Timeframe,
) -> np.ndarray:
    """For each destination bar, the position of the last source bar closed by its close.

    Returns int64 positions into the source, ``-1`` where no source bar has closed yet.
    Both inputs must be sorted ascending.
    """
    src_close = src_open_ns + src_tf.seconds * _NS_PER_S
    dst_close = dst_open_ns + dst_tf.seconds * _NS_PER_S
    return np.searchsorted(src_close, dst_close, side="right").astype(np.int64) - 1


def take_merged(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``values[positions]`` with NaN (numbers) or None (labels) where ``positions < 0``."""
    missing = positions < 0
    if len(values) == 0:
        fill = np.nan if values.dtype.kind == "f" else None
        return np.full(len(positions), fill, dtype=np.float64 if fill is not None else object)
    out = values[np.where(missing, 0, positions)]
    if not missing.any():
        return out
    if out.dtype.kind == "f":
        out[missing] = np.nan
    else:
        out = out.astype(object)
        out[missing] = None
    return out


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
    info_tf = Timeframe.parse(informative_timeframe)
    base_tf = Timeframe.parse(base_timeframe)
    pos = merge_index(open_times_ns(informative.index), info_tf, open_times_ns(base.index), base_tf)
    tail = f"@{info_tf.name}" if suffix is None else suffix
    data = {f"{c}{tail}": take_merged(informative[c].to_numpy(), pos) for c in informative}
    return pd.DataFrame(data, index=base.index)
