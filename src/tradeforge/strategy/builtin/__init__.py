"""Built-in strategies (registered on import)."""

from tradeforge.strategy.builtin.breakout import Breakout
from tradeforge.strategy.builtin.sma_cross import SmaCross
from tradeforge.strategy.builtin.structure import StructureStress

__all__ = ["Breakout", "SmaCross", "StructureStress"]
