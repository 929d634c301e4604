"""``sma_cross``: the plain example every user starts from.

Long when the fast SMA of the close crosses above the slow one (fast above slow on bar ``t``,
not above on bar ``t-1``), short on the cross below. Fixed stop and one target in pips; the
target closes the whole position; no break-even. With ``exit_on_opposite`` every cross also
closes the open position of the other side at the next open (exit reason ``signal``) and
enters the new side there — the classic stop-and-reverse, always in the market once started
(stop and target still apply).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.strategy.base import Strategy, StrategyParams
from tradeforge.strategy.registry import register_strategy
from tradeforge.strategy.signals import Signals, Target, make_signals


class SmaCrossParams(StrategyParams):
    fast: int = Field(10, ge=1, description="fast SMA period")
    slow: int = Field(30, ge=2, description="slow SMA period")
    stop_pips: float = Field(20.0, gt=0, description="stop distance from the fill, pips")
    target_pips: float = Field(40.0, gt=0, description="target distance from the fill, pips")
    exit_on_opposite: bool = Field(
        False, description="a cross closes the opposite position and reverses (stop-and-reverse)"
    )


@register_strategy
class SmaCross(Strategy):
    name = "sma_cross"
    Params = SmaCrossParams
    params: SmaCrossParams

    def check_params(self) -> None:
        if self.params.fast >= self.params.slow:
            raise ConfigError(
                f"sma_cross: fast ({self.params.fast}) must be below slow ({self.params.slow})"
            )

    def features(self) -> list[str]:
        return [f"sma({self.params.fast})", f"sma({self.params.slow})"]

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        inst = self.resolve_instrument(frame, instrument)
        fast = self.column(frame, f"sma_{self.params.fast}")
        slow = self.column(frame, f"sma_{self.params.slow}")
        # +1 fast above slow, -1 below, 0 equal (NaN compares False: 0 during warm-up); a
        # cross on bar t: the state is not 0 and differs from bar t-1's, whose slow SMA is known
        state = (fast > slow).view(np.int8) - (fast < slow).view(np.int8)
        now = state[1:]  # now[t - 1]: bar t's state
        crossed = np.flatnonzero((now != state[:-1]) & (now != 0) & np.isfinite(slow[:-1]))
        return make_signals(
            len(frame),
            crossed + 1,
            now[crossed],
            tag=self.name,
            stop_distance=self.params.stop_pips * inst.pip_size,
            targets=[Target(self.params.target_pips * inst.pip_size, 1.0, "distance")],
            exit_opposite=self.params.exit_on_opposite,
        )
