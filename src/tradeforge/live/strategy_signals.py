"""The strategy side of the engine: run a strategy on a window of bars, and turn one row of
its `Signals` into the plain JSON data a pending order remembers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.instruments import Instrument
from tradeforge.strategy.signal_schema import (
    COLUMNS,
    ENTRY_TYPES,
    TARGET_KINDS,
    TRAIL_KINDS,
    Column,
)
from tradeforge.strategy.signals import Signals


def signal_row(sig: Signals, j: int) -> dict[str, Any]:
    """One `Signals` row as plain JSON data (what a pending order remembers): every column of
    the schema but ``bar``, NaN as None; the tag and the entry type by name, and the names of
    the target and trailing kinds beside their codes."""
    row: dict[str, Any] = {}
    for c in COLUMNS[1:]:
        values = getattr(sig, c.name)[j]
        row[c.name] = [_json(c, v) for v in values] if c.width > 1 else _json(c, values)
    row["tag"] = str(sig.tags[row["tag"]])
    row["entry_type"] = ENTRY_TYPES[row["entry_type"]]
    row["target_names"] = [TARGET_KINDS[k] for k in row["target_kind"]]
    row["trail_name"] = TRAIL_KINDS[row["trail_kind"]]
    return row


def _json(column: Column, value: Any) -> Any:
    if column.dtype is np.float64:
        v = float(value)
        return v if math.isfinite(v) else None
    return bool(value) if column.dtype is np.bool_ else int(value)


def strategy_signals(
    strategy: Any, window: pd.DataFrame, timeframe: str, inst: Instrument
) -> Signals:
    """Run a `tradeforge.strategy.Strategy` (features, then signals) on a window of bars."""
    frame = window.copy()
    frame.attrs["symbol"] = inst.symbol
    if hasattr(strategy, "compute_features"):
        frame = strategy.compute_features(frame, timeframe)
    return strategy.signals(frame, inst)
