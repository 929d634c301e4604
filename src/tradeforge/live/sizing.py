"""Risk-based position sizing, the same arithmetic as the backtest kernel.

``steps = floor(balance * risk% / (risk_per_unit * unit) + 1e-9)`` lot steps, where
``unit = lot_step * contract_size`` and ``risk_per_unit`` is the entry-to-stop distance; then
capped by the instrument's ``max_lot`` and the configured ``max_lots``, reduced to what free
margin allows, and refused below ``min_lot``. Fixed sizing trades ``value`` lots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.trading.execution import Sizing


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
    ) -> SizeDecision:
        unit = float(f"{inst.lot_step * inst.contract_size:.12g}")
        if not stop_distance > 0:
            return SizeDecision(0, 0.0, f"stop distance {stop_distance} is not positive")
        if self.sizing.mode == "fixed":
            steps = math.floor(self.sizing.value / inst.lot_step + 1e-9)
            why = f"fixed {self.sizing.value} lots"
        else:
            money = balance * self.sizing.value / 100.0
            steps = math.floor(money / (stop_distance * unit) + 1e-9) if money > 0 else 0
            why = (
                f"risk {self.sizing.value}% of balance {balance:.2f} = {money:.2f} over stop "
                f"distance {stop_distance:.6g}"
            )
        max_steps = math.floor(inst.max_lot / inst.lot_step + 1e-9)
        if self.max_lots is not None:
            max_steps = min(max_steps, math.floor(self.max_lots / inst.lot_step + 1e-9))
        if steps > max_steps:
            steps, why = max_steps, why + f"; capped at {max_steps * inst.lot_step:g} lots"
        if free_margin is not None and price > 0:
            margin_per_step = inst.lot_step * inst.contract_size * price / self.leverage
            afford = math.floor(max(free_margin, 0.0) / margin_per_step + 1e-9)
            if steps > afford:
                steps, why = afford, why + f"; reduced to free margin {free_margin:.2f}"
        min_steps = math.ceil(inst.min_lot / inst.lot_step - 1e-9)
        if steps < min_steps or steps <= 0:
            return SizeDecision(0, 0.0, why + f"; below the minimum lot {inst.min_lot}")
        return SizeDecision(int(steps), round(steps * inst.lot_step, 8), why)
