"""Hand-built bars and a one-call backtest for scenario tests (EURUSD: 1 lot = $10 a pip)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeforge.backtest import ExecutionModel, Sizing, backtest_signals
from tradeforge.strategy.signals import make_signals


def bars(rows: list[tuple[float, float, float, float]], spread: float = 0.0) -> pd.DataFrame:
    """OHLC rows (bid) on H1 bars from 2024-01-01 00:00 UTC with a constant spread."""
    arr = np.array(rows, dtype=float)
    index = pd.date_range("2024-01-01", periods=len(rows), freq="1h", tz="UTC", name="time")
    return pd.DataFrame(
        {
            "open": arr[:, 0],
            "high": arr[:, 1],
            "low": arr[:, 2],
            "close": arr[:, 3],
            "volume": 1.0,
            "spread": spread,
        },
        index=index,
    )


def flat(price: float = 1.1000, n: int = 1) -> list[tuple[float, float, float, float]]:
    return [(price, price, price, price)] * n


def run(frame, bars_, side, *, mode="symbol", execution=None, sizing=None, capital=100_000.0,
        **signal_kwargs):  # fmt: skip
    """Backtest signals built with `make_signals(len(frame), bars_, side, **signal_kwargs)`."""
    sig = make_signals(len(frame), bars_, side, **signal_kwargs)
    return backtest_signals(
        frame,
        sig,
        "EURUSD",
        execution=execution or ExecutionModel(),
        sizing=sizing or Sizing("fixed", 1.0),
        position_mode=mode,
        initial_capital=capital,
    )
