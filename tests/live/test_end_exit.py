"""The end of a replay (``close_at_end``) is a market close at the last bar's close: it pays
the bar's slippage exactly like the backtest's end of data."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.live.helpers import small_spec
from tradeforge.backtest.runner import run_backtest
from tradeforge.live.runner import run_dry, trades_frame
from tradeforge.strategy.registry import create_strategy

# stop and target far away: the first trade is still open when the replay ends
WIDE = {"fast": 5, "slow": 20, "stop_pips": 500, "target_pips": 500}
PIP = 0.0001


def test_replay_end_close_pays_slippage_and_equals_the_backtest(tmp_path):
    spec = small_spec(tmp_path, n_bars=300, seed=3, params=WIDE, start="2024-01-01",
                      window=120, slippage="fixed:0.7", sizing="fixed:1")  # fmt: skip
    run_dry(tmp_path / "dry", spec)
    live = trades_frame(tmp_path / "dry")
    bars = pd.read_parquet(spec.live.bars_file)
    bt = run_backtest(create_strategy("sma_cross", WIDE), bars, symbol="EURUSD",
                      timeframe="M5", execution=spec.execution,
                      sizing=spec.sizing, initial_capital=spec.initial_capital)  # fmt: skip
    assert len(live) == len(bt.trades) == 1
    t, b = live.iloc[0], bt.trades.iloc[0]
    assert t.exit_reason == b.exit_reason == "end"
    last = bars.iloc[-1]
    # long: bid close - 0.7 pip; short: ask close (close + spread) + 0.7 pip
    ask = last.close + last.spread
    expected = last.close - 0.7 * PIP if t.side == "long" else ask + 0.7 * PIP
    assert t.exit_price == pytest.approx(expected, abs=1e-12)
    assert b.exit_price == pytest.approx(expected, abs=1e-12)
    assert t.pnl == pytest.approx(b.pnl, abs=1e-9)
    assert t.r_multiple == pytest.approx(b.r_multiple, abs=1e-12)
