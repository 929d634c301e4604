"""Long/short entries with an ATR stop, two R targets and break-even (``breakout``, ``structure``).

Longs on the bars where ``up`` holds, shorts where ``down`` holds, tagged ``long`` / ``short``.
Stop ``stop_atr`` × the signal bar's ATR from the fill; ``target1_r`` closes
``target1_fraction`` and ``target2_r`` the rest (no second target when the first closes all);
once the trade is ``breakeven_r`` R in profit the stop moves to entry + ``breakeven_pips``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from tradeforge.core.errors import ConfigError
from tradeforge.strategy.signals import BreakEven, Signals, Target, make_signals


class TwoTargetParams(Protocol):
    """The exit parameters both strategies declare (with their own defaults and bounds)."""

    stop_atr: float
    target1_r: float
    target1_fraction: float
    target2_r: float
    breakeven_r: float
    breakeven_pips: float


def check_target_order(strategy: str, params: TwoTargetParams) -> None:
    """`ConfigError` unless the second target lies beyond the first."""
    if params.target2_r <= params.target1_r:
        raise ConfigError(f"{strategy}: target2_r must be beyond target1_r")


def two_target_signals(
    n_bars: int,
    up: np.ndarray,
    down: np.ndarray,
    atr: np.ndarray,
    params: TwoTargetParams,
    pip_size: float,
) -> Signals:
    """Signals for the boolean entry masks ``up`` / ``down`` (``up`` wins where both hold)."""
    p = params
    bars = np.flatnonzero(up | down)
    side = np.where(up[bars], 1, -1)
    targets = [Target(p.target1_r, p.target1_fraction, "r")]
    if p.target1_fraction < 1:
        targets.append(Target(p.target2_r, 1.0 - p.target1_fraction, "r"))
    return make_signals(
        n_bars,
        bars,
        side,
        tag=(side < 0).astype(np.int64),
        tag_names=("long", "short"),
        stop_distance=p.stop_atr * atr[bars],
        targets=targets,
        break_even=BreakEven(p.breakeven_r, p.breakeven_pips * pip_size),
    )
