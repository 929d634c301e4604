"""Compare with TA-Lib (optional dependency) on generated data.

Seeding conventions differ for some recursive indicators (TA-Lib skips bar 0's true range,
starts MACD's fast EMA later, seeds ADX with sums), so those are compared after a warm-up
long enough for the seed to decay below the tolerance.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tradeforge.features import compute_features

from .conftest import make_bars

talib = pytest.importorskip("talib")

BARS = make_bars(3000, seed=11)
H, L, C = (BARS[c].to_numpy() for c in ("high", "low", "close"))


def ours(*requests):
    return compute_features(BARS, list(requests), "M5", keep_input=False)


@pytest.mark.parametrize(
    ("request_text", "column", "theirs"),
    [
        ("sma(20)", "sma_20", lambda: talib.SMA(C, 20)),
        ("ema(20)", "ema_20", lambda: talib.EMA(C, 20)),
        ("wma(20)", "wma_20", lambda: talib.WMA(C, 20)),
        ("rsi(14)", "rsi_14", lambda: talib.RSI(C, 14)),
        ("linreg_slope(14)", "linreg_slope_14", lambda: talib.LINEARREG_SLOPE(C, 14)),
        ("true_range", "true_range", lambda: talib.TRANGE(H, L, C)),
        ("cci(20)", "cci_20", lambda: talib.CCI(H, L, C, 20)),
        ("bollinger(20, 2).bb_upper", "bb_upper_20_2", lambda: talib.BBANDS(C, 20, 2.0, 2.0)[0]),
        ("donchian(20).donchian_upper", "donchian_upper_20", lambda: talib.MAX(H, 20)),
    ],
)
def test_exact_matches(request_text, column, theirs):
    a, b = ours(request_text)[column].to_numpy(), theirs()
    start = 1 if column == "true_range" else 0  # TA-Lib leaves bar 0 undefined
    atol = 1e-9 * np.nanmax(np.abs(b))  # rounding of rolling sums near zero
    assert_allclose(a[start:], b[start:], rtol=1e-9, atol=atol, equal_nan=True)


@pytest.mark.parametrize(
    ("request_text", "column", "theirs"),
    [
        ("atr(14)", "atr_14", lambda: talib.ATR(H, L, C, 14)),
        ("macd(12,26,9).macd", "macd_12_26_9", lambda: talib.MACD(C, 12, 26, 9)[0]),
        ("macd(12,26,9).macd_signal", "macd_signal_12_26_9", lambda: talib.MACD(C, 12, 26, 9)[1]),
        ("adx(14).plus_di", "plus_di_14", lambda: talib.PLUS_DI(H, L, C, 14)),
        ("adx(14).minus_di", "minus_di_14", lambda: talib.MINUS_DI(H, L, C, 14)),
        ("adx(14).adx", "adx_14", lambda: talib.ADX(H, L, C, 14)),
        ("stochastic(14, 3).stoch_k", "stoch_k_14_3", lambda: talib.STOCHF(H, L, C, 14, 3, 0)[0]),
        ("stochastic(14, 3).stoch_d", "stoch_d_14_3", lambda: talib.STOCHF(H, L, C, 14, 3, 0)[1]),
    ],
)
def test_matches_after_warm_up(request_text, column, theirs):
    a, b = ours(request_text)[column].to_numpy(), theirs()
    assert_allclose(a[500:], b[500:], rtol=1e-7, atol=1e-10)
