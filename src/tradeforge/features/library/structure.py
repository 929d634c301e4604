"""Market structure: swing highs/lows with a confirmation lag, HH/HL/LH/LL labels, trend
state, break of structure (BOS) and change of character (CHoCH), last swing levels.

Swing at bar ``t`` (high strictly above the ``k`` bars before, not below the ``k`` after) is
known only once bar ``t + k`` has closed, so every output uses it from bar ``t + k`` on.

Structure (computed from confirmed swings, one pass):

- ``last_swing_high/low``: level of the latest confirmed swing (NaN before the first).
- ``swing_high_label``: on bars confirming a swing high, +1 higher high (HH), -1 lower high
  (LH), 0 equal; NaN elsewhere and for the first swing. ``swing_low_label`` likewise with +1
  higher low (HL), -1 lower low (LL).
- ``swing_trend``: +1 when the latest labels are HH and HL, -1 for LH and LL, else 0.
- A *break* happens when a close goes beyond the latest swing high (bullish) or low
  (bearish); each swing level can be broken once. ``trend`` is the direction of the latest
  break (0 before the first). A break in the direction of the trend (or the first one) is a
  ``bos`` event (+1/-1), a break against it a ``choch`` event (+1/-1) that flips the trend.
  Events are 0 on other bars.
"""

from __future__ import annotations

import numpy as np

from tradeforge.features.library import _kernels as kern
from tradeforge.features.library import _warmups as w
from tradeforge.features.library._common import f64
from tradeforge.features.params import Param
from tradeforge.features.spec import register_feature


def _k() -> Param:
    return Param("k", int, 3, ge=1, doc="bars on each side of a swing (confirmation lag)")


@register_feature(
    "swings",
    params=[_k()],
    inputs=("high", "low"),
    outputs=("swing_high", "swing_low"),
    warmup=lambda p: 2 * p["k"],  # a pivot reads k bars each side, shown k bars later
)
def swings(high: np.ndarray, low: np.ndarray, *, k: int):
    """Swing high/low price on the bar that confirms it (``k`` bars after), NaN elsewhere."""
    return kern.swing_points(f64(high), f64(low), k)


@register_feature(
    "structure",
    params=[_k()],
    inputs=lambda p: ("close", f"swings({p['k']}).swing_high", f"swings({p['k']}).swing_low"),
    outputs=(
        "last_swing_high",
        "last_swing_low",
        "swing_high_label",
        "swing_low_label",
        "swing_trend",
        "trend",
        "bos",
        "choch",
    ),
    warmup=lambda p: w.structure(p["k"]),
)
def structure(close: np.ndarray, swing_high: np.ndarray, swing_low: np.ndarray, *, k: int):
    """Structure state and events from confirmed swings (see module doc)."""
    return kern.market_structure(f64(close), f64(swing_high), f64(swing_low))
