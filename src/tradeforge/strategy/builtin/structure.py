"""``structure``: the stress strategy of the reference benchmark (docs/conventions.md).

Reads `tradeforge.features.REFERENCE_FEATURES` (M5 ATR, swings and structure with k=3;
M30 structure, ATR and EMA(50)). A long signal on every bar where the M5 structure is
bullish (the latest break of structure was up), the M30 structure agrees and the close is
above the M30 EMA(50), with neither the M5 nor the M30 swing trend (HH/HL vs LH/LL labels)
bearish; shorts mirror it. That is deliberately a signal on a large share of
bars — the per-tag de-duplication of the engine turns ~300,000 signals into ~50,000 trades
on the reference data.

Exits: stop ``stop_atr`` × ATR(14) from the fill, ``target1_r`` closing
``target1_fraction``, ``target2_r`` closing the rest, break-even at ``breakeven_r``.
Tags ``long`` / ``short``; run it with ``position_mode="tag"``.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field

from tradeforge.core.instruments import Instrument
from tradeforge.features import REFERENCE_FEATURES
from tradeforge.strategy.base import Strategy, StrategyParams
from tradeforge.strategy.builtin._two_targets import check_target_order, two_target_signals
from tradeforge.strategy.registry import register_strategy
from tradeforge.strategy.signals import Signals


class StructureParams(StrategyParams):
    stop_atr: float = Field(1.2, gt=0, description="stop distance in M5 ATR(14)")
    target1_r: float = Field(1.0, gt=0)
    target1_fraction: float = Field(0.5, gt=0, lt=1)
    target2_r: float = Field(2.0, gt=0)
    breakeven_r: float = Field(1.0, gt=0)
    breakeven_pips: float = Field(0.0, ge=0)
    ema_filter: bool = Field(True, description="require the close beyond the M30 EMA(50)")
    swing_filter: bool = Field(
        True, description="require the M5 and M30 swing trends not against the trade"
    )


@register_strategy
class StructureStress(Strategy):
    name = "structure"
    Params = StructureParams
    params: StructureParams

    def check_params(self) -> None:
        check_target_order(self.name, self.params)

    def features(self) -> list[str]:
        return list(REFERENCE_FEATURES)

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        p = self.params
        inst = self.resolve_instrument(frame, instrument)
        close = self.column(frame, "close")
        atr = self.column(frame, "atr_14")
        trend = self.column(frame, "trend_3")
        trend_htf = self.column(frame, "trend_3@M30")
        ema_htf = self.column(frame, "ema_50@M30")
        ok = atr > 0  # NaN during warm-up compares False
        up = ok & (trend == 1) & (trend_htf == 1)
        down = ok & (trend == -1) & (trend_htf == -1)
        if p.ema_filter:
            up &= close > ema_htf
            down &= close < ema_htf
        if p.swing_filter:
            swing = self.column(frame, "swing_trend_3")
            swing_htf = self.column(frame, "swing_trend_3@M30")
            up &= (swing >= 0) & (swing_htf >= 0)
            down &= (swing <= 0) & (swing_htf <= 0)
        return two_target_signals(len(frame), up, down, atr, p, inst.pip_size)
