"""Risk-based position sizing for live orders: `tradeforge.trading.steps.position_steps`, the
backtest kernel's own rule, plus the broker's free margin.

``steps = floor(balance * risk% * scale / (stop_distance * unit) + 1e-9)`` lot steps
(``unit = lot_step * contract_size``, ``scale`` the signal's ``size_scale``), capped by the
instrument's ``max_lot`` and the configured ``max_lots``, reduced to what free margin allows,
and refused below ``min_lot`` or when the balance is gone. Fixed sizing trades ``value`` lots
times the scale, rounded down to the lot step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.trading.execution import Sizing
from tradeforge.trading.steps import SIZE_CAPPED, SIZE_MARGIN, SIZE_REFUSED, position_steps


@dataclass(frozen=True)
class SizeDecision:
    steps: int  # lot steps (0: do not trade)
    lots: float
    reason: str  # why this size (or why none)


@dataclass(frozen=True)
class RiskSizer:
    sizing: Sizing = Sizing("risk", 1.0)
    max_lots: float | None = None
    leverage: float = 100.0

    def __post_init__(self) -> None:
        if self.max_lots is not None and not self.max_lots > 0:
            raise ConfigError("max_lots must be > 0")
        if not self.leverage > 0:
            raise ConfigError("leverage must be > 0")

    def size(
        self,
        inst: Instrument,
        balance: float,
        stop_distance: float,
        price: float,
        free_margin: float | None = None,
        scale: float = 1.0,
    ) -> SizeDecision:
        """The size of an entry; ``scale`` is the signal's ``size_scale`` (share of the
        configured size, in (0, 1])."""
        if not stop_distance > 0:
            return SizeDecision(0, 0.0, f"stop distance {stop_distance} is not positive")
        fixed = self.sizing.mode == "fixed"
        if fixed:
            why = f"fixed {self.sizing.value} lots"
        else:
            money = balance * self.sizing.value / 100.0
            why = (
                f"risk {self.sizing.value}% of balance {balance:.2f} = {money:.2f} over stop "
                f"distance {stop_distance:.6g}"
            )
        if scale != 1.0:
            why += f" x size scale {scale:.4g}"
        max_steps = inst.max_steps
        if self.max_lots is not None:
            max_steps = min(max_steps, inst.lot_steps(self.max_lots))
        afford = float(max_steps)
        if free_margin is not None and price > 0:
            margin_per_step = inst.lot_step * inst.contract_size * price / self.leverage
            afford = float(math.floor(max(free_margin, 0.0) / margin_per_step + 1e-9))
        value = inst.lot_steps(self.sizing.value) if fixed else self.sizing.value
        steps, _, flags = position_steps(
            fixed, float(value), float(balance), stop_distance * inst.unit, float(max_steps),
            afford, float(inst.min_steps), float(scale),
        )  # fmt: skip
        if flags & SIZE_CAPPED:
            why += f"; capped at {max_steps * inst.lot_step:g} lots"
        if flags & SIZE_MARGIN:
            why += f"; reduced to free margin {free_margin:.2f}"
        if flags & SIZE_REFUSED:
            gone = " (the balance is gone)" if balance <= 0 else ""
            return SizeDecision(0, 0.0, why + f"; below the minimum lot {inst.min_lot}{gone}")
        return SizeDecision(int(steps), round(steps * inst.lot_step, 8), why)
