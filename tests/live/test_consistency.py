"""Dry-run replay vs backtest on the same bars: same signals per bar, same trades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_bars
from tests.live.helpers import backtest_of, small_spec  # also registers "test_pending_cross"
from tradeforge.core.instruments import get_instrument
from tradeforge.live.engine import strategy_signals
from tradeforge.live.runner import run_dry, trades_frame
from tradeforge.strategy.registry import create_strategy


def _assert_trades_equal(live: pd.DataFrame, bt: pd.DataFrame) -> None:
    bt = bt.reset_index(drop=True)
    assert len(live) == len(bt) > 0
    for col in bt.columns:
        a, b = live[col], bt[col]
        if b.dtype.kind == "f":
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=1e-9)
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), col


SMA = {"fast": 5, "slow": 20, "stop_pips": 10, "target_pips": 15}
SAR = {"fast": 4, "slow": 12, "stop_pips": 30, "target_pips": 40, "exit_on_opposite": True}


@pytest.mark.parametrize(
    ("strategy", "params", "extra", "reasons"),
    [
        ("sma_cross", SMA, {}, set()),
        (
            "breakout",
            {"period": 12, "atr_period": 5, "stop_atr": 1.5, "target1_r": 0.8, "target2_r": 2.0},
            {"position_mode": "tag"},
            set(),
        ),
        # stop-and-reverse: signal exits at the next open, reversals, swap over midnight
        ("sma_cross", SAR, {"swap_long": -6.5, "swap_short": 2.25, "bars_seed": 5}, {"signal"}),
        ("sma_cross", SMA, {"slippage": "random:0.8", "slippage_seed": 9}, set()),
        ("sma_cross", SAR, {"slippage": "random:0.5", "position_mode": "tag"}, {"signal"}),
        # limit / stop entries with expiry, in both position modes, with slippage. With one
        # position per tag and risk sizing a resting order keeps the size it was placed with
        # while the backtest sizes at the fill (other tags' exits may change the balance in
        # between): fixed lots there.
        (
            "test_pending_cross",
            {"entry": "limit"},
            {"position_mode": "tag", "sizing": "fixed:0.5"},
            set(),
        ),
        ("test_pending_cross", {"entry": "limit", "exit_on_opposite": True}, {}, {"signal"}),
        ("test_pending_cross", {"entry": "stop"}, {"slippage": "random:0.7"}, set()),
        (
            "test_pending_cross",
            {"entry": "stop", "exit_on_opposite": True, "stop_pips": 30, "target_pips": 40},
            {"position_mode": "tag", "sizing": "fixed:1", "swap_short": -3.0, "bars_seed": 7},
            {"signal"},
        ),
    ],
)
def test_replay_trades_equal_backtest(tmp_path, strategy, params, extra, reasons):
    extra = dict(extra)
    spec = small_spec(
        tmp_path,
        n_bars=300,
        seed=extra.pop("bars_seed", 3),  # 5 and 7: a position is held over midnight (swap)
        strategy=strategy,
        params=params,
        start="2024-01-01",
        window=140,  # breakout(period=12, atr_period=5) needs 130 bars before a signal
        **extra,
    )
    run_dry(tmp_path / "dry", spec)
    bars = pd.read_parquet(spec.live.bars_file)
    bt = backtest_of(spec, bars)
    _assert_trades_equal(trades_frame(tmp_path / "dry"), bt.trades)
    assert reasons <= set(bt.trades.exit_reason.astype(str))
    if spec.execution.swap_long or spec.execution.swap_short:  # the case really charges swap
        t = bt.trades
        assert (t.entry_time.dt.date != t.exit_time.dt.date).any()


def test_replay_with_atr_slippage_equals_backtest_with_a_long_window(tmp_path):
    """ATR slippage uses the ATR over the engine's window: equal to the backtest's full-history
    ATR once the window is long against the ATR period (Wilder smoothing forgets its seed)."""
    spec = small_spec(
        tmp_path, n_bars=500, seed=4, params=SMA, start="2024-01-01", window=450,
        slippage="atr:0.1",
    )  # fmt: skip
    run_dry(tmp_path / "dry", spec)
    bars = pd.read_parquet(spec.live.bars_file)
    bt = backtest_of(spec, bars)
    _assert_trades_equal(trades_frame(tmp_path / "dry"), bt.trades)


def test_rolling_window_signals_equal_full_history_signals():
    bars = make_bars(300, seed=11)
    strat = create_strategy("sma_cross", {"fast": 4, "slow": 15, "stop_pips": 8, "target_pips": 9})
    inst = get_instrument("EURUSD")
    full = strategy_signals(strat, bars, "M5", inst)
    expected = {int(b): int(s) for b, s in zip(full.bar, full.side, strict=True) if b >= 40}
    got = {}
    for i in range(40, len(bars)):
        window = bars.iloc[i - 39 : i + 1]
        sig = strategy_signals(strat, window, "M5", inst)
        for b, s in zip(sig.bar, sig.side, strict=True):
            if b == len(window) - 1:
                got[i] = int(s)
    assert got == expected and len(got) > 5
