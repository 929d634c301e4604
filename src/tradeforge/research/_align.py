"""Align trades with bars: the bar whose close produced each trade's signal."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError


def times_ns(values) -> np.ndarray:
    idx = pd.DatetimeIndex(values)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx.as_unit("ns").asi8


def signal_bar_positions(index: pd.DatetimeIndex, trades: pd.DataFrame) -> np.ndarray:
    """Position in ``index`` of the last bar at or before each trade's ``signal_time``
    (``entry_time`` minus one bar when there is no signal time); -1 before the first bar.

    That bar's features are what the strategy knew when it decided to trade."""
    bar_ns = index.as_unit("ns").asi8
    if "signal_time" in trades.columns and trades["signal_time"].notna().all():
        t = times_ns(trades["signal_time"])
        return np.searchsorted(bar_ns, t, side="right") - 1
    t = times_ns(trades["entry_time"])
    return np.searchsorted(bar_ns, t, side="left") - 1


def per_symbol_rows(
    bars: Mapping[str, pd.DataFrame], trades: pd.DataFrame
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{symbol: (trade row positions, signal bar positions)}`` for every traded symbol."""
    symbols = trades["symbol"].astype(str).to_numpy() if len(trades) else np.array([], dtype=str)
    frames = {str(k).upper(): v for k, v in bars.items()}
    out = {}
    for sym in sorted(set(symbols.tolist())):
        if sym.upper() not in frames:
            raise ConfigError(f"no bars for symbol {sym} (traded in the run)")
        rows = np.flatnonzero(symbols == sym)
        pos = signal_bar_positions(frames[sym.upper()].index, trades.iloc[rows])
        out[sym.upper()] = (rows, pos)
    return out
