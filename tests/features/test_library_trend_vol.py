"""Trend and volatility features against hand-computed values."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tradeforge.features import compute_features
from tradeforge.features.library import _kernels as k

from .conftest import frame_from_close, hlc_frame, make_bars

nan = np.nan


def col(frame, request, name=None):
    out = compute_features(frame, [request], "M5", keep_input=False)
    return out[name or out.columns[0]].to_numpy()


def test_sma_ema_wma():
    f = frame_from_close([2, 4, 6, 8, 12])
    assert_allclose(col(f, "sma(3)"), [nan, nan, 4, 6, 26 / 3])
    # EMA(3): alpha 0.5, seed mean(2,4,6) = 4 -> 6 -> 9
    assert_allclose(col(f, "ema(3)"), [nan, nan, 4, 6, 9])
    assert_allclose(
        col(f, "wma(3)"), [nan, nan, (2 + 8 + 18) / 6, (4 + 12 + 24) / 6, (6 + 16 + 36) / 6]
    )


def test_ema_skips_leading_nan_and_wilder_alpha():
    x = np.array([nan, nan, 1.0, 2.0, 3.0, 5.0])
    assert_allclose(k.ema(x, 0.5, 2), [nan, nan, nan, 1.5, 2.25, 3.625])
    assert_allclose(k.ema(x, 1 / 3, 3), [nan, nan, nan, nan, 2.0, 2 + (5 - 2) / 3])
    assert np.isnan(k.ema(np.array([1.0, 2.0]), 0.5, 3)).all()


def test_hma():
    x = np.array([1.0, 2, 4, 8, 16, 32])
    w2 = {i: (x[i - 1] + 2 * x[i]) / 3 for i in range(1, 6)}
    w4 = {i: (x[i - 3] + 2 * x[i - 2] + 3 * x[i - 1] + 4 * x[i]) / 10 for i in range(3, 6)}
    raw = {i: 2 * w2[i] - w4[i] for i in range(3, 6)}
    expected = [nan, nan, nan, nan, (raw[3] + 2 * raw[4]) / 3, (raw[4] + 2 * raw[5]) / 3]
    assert_allclose(col(frame_from_close(x), "hma(4)"), expected)


def _ema_ref(values, period):
    out, prev = [], None
    for i, v in enumerate(values):
        if i < period - 1:
            out.append(nan)
            continue
        prev = np.mean(values[:period]) if prev is None else prev + 2 / (period + 1) * (v - prev)
        out.append(prev)
    return np.array(out)


def test_macd_matches_ema_composition():
    close = make_bars(60)["close"].to_numpy()
    out = compute_features(frame_from_close(close), ["macd(3,5,4)"], "M5", keep_input=False)
    line = _ema_ref(close, 3) - _ema_ref(close, 5)
    signal = np.r_[[nan] * 4, _ema_ref(line[4:], 4)]
    assert_allclose(out["macd_3_5_4"], line)
    assert_allclose(out["macd_signal_3_5_4"], signal)
    assert_allclose(out["macd_hist_3_5_4"], line - signal)
    assert np.isnan(out["macd_signal_3_5_4"].to_numpy()[:7]).all()


def test_adx_on_a_steady_uptrend():
    i = np.arange(40.0)
    f = hlc_frame(i + 1, i, i + 0.5)
    out = compute_features(f, ["adx(5)"], "M5", keep_input=False)
    # +DM = 1 and TR = 1.5 on every bar after the first: +DI = 66.67, -DI = 0, ADX = 100
    assert np.isnan(out["plus_di_5"].to_numpy()[:5]).all()
    assert_allclose(out["plus_di_5"].to_numpy()[5:], 100 / 1.5)
    assert_allclose(out["minus_di_5"].to_numpy()[5:], 0.0)
    assert np.isnan(out["adx_5"].to_numpy()[:9]).all()
    assert_allclose(out["adx_5"].to_numpy()[9:], 100.0)


def test_linreg_slope():
    assert_allclose(col(frame_from_close([1, 3, 2, 4]), "linreg_slope(3)"), [nan, nan, 0.5, 0.5])
    assert_allclose(col(frame_from_close(2 * np.arange(10) + 1), "linreg_slope(4)")[3:], 2.0)


def test_true_range_and_atr():
    f = hlc_frame([3, 4, 6, 5.8], [1, 2, 5, 5.0], [2, 3, 5.5, 5.4])
    assert_allclose(col(f, "true_range"), [2, 2, 3, 0.8])
    # ATR(2): seed mean(2, 2) = 2 at bar 1, then Wilder: 2.5, 1.65
    assert_allclose(col(f, "atr(2)"), [nan, 2, 2.5, 1.65])


def test_bollinger_and_keltner():
    f = frame_from_close([1, 2, 3, 4])
    out = compute_features(f, ["bollinger(3, 2)"], "M5", keep_input=False)
    sd = np.sqrt(2 / 3)
    assert_allclose(out["bb_mid_20_2".replace("20", "3")], [nan, nan, 2, 3])
    assert_allclose(out["bb_upper_3_2"], [nan, nan, 2 + 2 * sd, 3 + 2 * sd])
    assert_allclose(out["bb_lower_3_2"], [nan, nan, 2 - 2 * sd, 3 - 2 * sd])
    bars = make_bars(80)
    kc = compute_features(bars, ["keltner(10, 5, 1.5)", "ema(10)", "atr(5)"], "M5")
    assert_allclose(kc["kc_mid_10_5_1.5"], kc["ema_10"])
    assert_allclose(kc["kc_upper_10_5_1.5"], kc["ema_10"] + 1.5 * kc["atr_5"])
    assert_allclose(kc["kc_lower_10_5_1.5"], kc["ema_10"] - 1.5 * kc["atr_5"])


def test_realized_vol():
    f = frame_from_close(np.exp([0.0, 1.0, 3.0, 4.0, 4.0]))
    # log returns: -, 1, 2, 1, 0; sample std over 2
    assert_allclose(col(f, "realized_vol(2)"), [nan, nan, np.sqrt(0.5), np.sqrt(0.5), np.sqrt(0.5)])


def test_atr_percentile():
    assert_allclose(
        k.percent_rank(np.array([nan, 1, 3, 2, 2, 5]), 3), [nan, nan, nan, 2 / 3, 2 / 3, 1.0]
    )
    bars = make_bars(200)
    out = compute_features(bars, ["atr_percentile(5, 20)", "atr(5)"], "M5")
    assert_allclose(out["atr_pct_5_20"], k.percent_rank(out["atr_5"].to_numpy(), 20))
    assert np.isnan(out["atr_pct_5_20"].to_numpy()[:23]).all()
    assert not np.isnan(out["atr_pct_5_20"].to_numpy()[23:]).any()


@pytest.mark.parametrize("name", ["sma", "ema", "wma", "hma", "linreg_slope", "rsi", "zscore"])
def test_source_parameter(name):
    bars = make_bars(100)
    a = compute_features(bars, [f"{name}(10, source='high')"], "M5", keep_input=False)
    b = compute_features(bars.assign(close=bars["high"]), [f"{name}(10)"], "M5", keep_input=False)
    assert_allclose(a.iloc[:, 0], b.iloc[:, 0])
