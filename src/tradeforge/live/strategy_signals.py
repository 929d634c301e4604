"""The strategy side of the engine: run a strategy on a window of bars, and turn one row of
its `Signals` into the plain JSON data a pending order remembers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.instruments import Instrument
from tradeforge.strategy.signals import ENTRY_TYPES, TARGET_KINDS, TRAIL_KINDS, Signals


def signal_row(sig: Signals, j: int) -> dict[str, Any]:
    """One `Signals` row as plain JSON data (what a pending order remembers)."""

    def f(a: np.ndarray) -> float | None:
        v = float(a[j])
        return v if math.isfinite(v) else None

    return {
        "side": int(sig.side[j]),
        "tag": str(sig.tags[sig.tag[j]]),
        "entry_type": ENTRY_TYPES[int(sig.entry_type[j])],
        "entry_price": f(sig.entry_price),
        "stop_price": f(sig.stop_price),
        "stop_distance": f(sig.stop_distance),
        "target_kind": [int(k) for k in sig.target_kind[j]],
        "target_value": [None if not math.isfinite(v) else float(v) for v in sig.target_value[j]],
        "target_fraction": [float(v) for v in sig.target_fraction[j]],
        "target_names": [TARGET_KINDS[int(k)] for k in sig.target_kind[j]],
        "runner": int(sig.runner[j]),
        "be_trigger_r": f(sig.be_trigger_r),
        "be_offset": f(sig.be_offset),
        "trail_kind": int(sig.trail_kind[j]),
        "trail_name": TRAIL_KINDS[int(sig.trail_kind[j])],
        "trail_distance": f(sig.trail_distance),
        "trail_start_r": f(sig.trail_start_r),
        "time_stop": int(sig.time_stop[j]),
        "expiry": int(sig.expiry[j]),
        "exit_opposite": bool(sig.exit_opposite[j]),
    }


def strategy_signals(
    strategy: Any, window: pd.DataFrame, timeframe: str, inst: Instrument
) -> Signals:
    """Run a `tradeforge.strategy.Strategy` (features, then signals) on a window of bars."""
    frame = window.copy()
    frame.attrs["symbol"] = inst.symbol
    if hasattr(strategy, "compute_features"):
        frame = strategy.compute_features(frame, timeframe)
    return strategy.signals(frame, inst)
