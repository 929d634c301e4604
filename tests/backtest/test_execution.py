"""ATR slippage: the feature library's Wilder ATR, running mean of the true range in warm-up."""

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.instruments import get_instrument
from tradeforge.trading.execution import ExecutionModel, atr_with_warmup

HIGH = np.array([1.10, 1.12, 1.11, 1.15, 1.13])
LOW = np.array([1.00, 1.05, 1.06, 1.08, 1.09])
CLOSE = np.array([1.05, 1.10, 1.07, 1.14, 1.10])
# true ranges: 0.10; max(0.07, |1.12-1.05|, |1.05-1.05|) = 0.07; max(0.05, 0.01, 0.04) = 0.05;
# max(0.07, 0.08, 0.01) = 0.08; max(0.04, 0.01, 0.05) = 0.05
TR = [0.10, 0.07, 0.05, 0.08, 0.05]


def test_atr_warm_up_is_running_mean_then_wilder():
    atr = atr_with_warmup(HIGH, LOW, CLOSE, 3)
    seed = (TR[0] + TR[1] + TR[2]) / 3  # the library ATR's first value, at bar period - 1
    third = seed + (TR[3] - seed) / 3
    expected = [TR[0], (TR[0] + TR[1]) / 2, seed, third, third + (TR[4] - third) / 3]
    np.testing.assert_allclose(atr, expected, rtol=1e-12)


def test_atr_shorter_than_period_is_all_running_mean():
    atr = atr_with_warmup(HIGH[:2], LOW[:2], CLOSE[:2], 14)
    np.testing.assert_allclose(atr, [TR[0], (TR[0] + TR[1]) / 2], rtol=1e-12)
    assert atr_with_warmup(HIGH[:0], LOW[:0], CLOSE[:0], 14).shape == (0,)


def test_atr_slippage_uses_the_atr_known_at_the_open():
    index = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC", name="time")
    frame = pd.DataFrame({"open": CLOSE, "high": HIGH, "low": LOW, "close": CLOSE}, index=index)
    model = ExecutionModel(slippage="atr", slippage_value=0.5, atr_period=3)
    slip = model.slippage_array(frame, get_instrument("EURUSD"), "EURUSD")
    atr = atr_with_warmup(HIGH, LOW, CLOSE, 3)
    assert slip[0] == pytest.approx(0.5 * (HIGH[0] - LOW[0]))
    np.testing.assert_allclose(slip[1:], 0.5 * atr[:-1], rtol=1e-12)
