"""``breakout``: Donchian channel breakout with an ATR stop, two partial targets, break-even.

Long when the close breaks above the previous bar's ``period``-bar highest high, short below
the lowest low. Stop ``stop_atr`` × ATR(``atr_period``) of the signal bar from the fill;
``target1_r`` closes ``target1_fraction``, ``target2_r`` the rest; once the trade is
``breakeven_r`` R in profit the stop moves to entry + ``breakeven_pips`` (from the next bar).
Tags ``long`` / ``short`` (one position per tag with ``position_mode="tag"``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from tradeforge.core.instruments import Instrument
from tradeforge.strategy.base import Strategy, StrategyParams
from tradeforge.strategy.builtin._two_targets import check_target_order, two_target_signals
from tradeforge.strategy.registry import register_strategy
from tradeforge.strategy.signals import Signals


class BreakoutParams(StrategyParams):
    period: int = Field(20, ge=2, description="Donchian channel length, bars")
    atr_period: int = Field(14, ge=1)
    stop_atr: float = Field(2.0, gt=0, description="stop distance in ATRs")
    target1_r: float = Field(1.0, gt=0)
    target1_fraction: float = Field(0.5, gt=0, le=1)
    target2_r: float = Field(2.5, gt=0)
    breakeven_r: float = Field(1.0, gt=0)
    breakeven_pips: float = Field(0.0, ge=0)


@register_strategy
class Breakout(Strategy):
    name = "breakout"
    Params = BreakoutParams
    params: BreakoutParams

    def check_params(self) -> None:
        check_target_order(self.name, self.params)

    def features(self) -> list[str]:
        return [f"donchian({self.params.period})", f"atr({self.params.atr_period})"]

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        p = self.params
        inst = self.resolve_instrument(frame, instrument)
        close = self.column(frame, "close")
        upper = self.column(frame, f"donchian_upper_{p.period}")
        lower = self.column(frame, f"donchian_lower_{p.period}")
        atr = self.column(frame, f"atr_{p.atr_period}")
        prev_upper = np.r_[np.nan, upper[:-1]]
        prev_lower = np.r_[np.nan, lower[:-1]]
        ok = np.isfinite(atr) & (atr > 0)
        up = ok & (close > prev_upper)
        down = ok & (close < prev_lower)
        return two_target_signals(len(frame), up, down, atr, p, inst.pip_size)
