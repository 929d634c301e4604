"""Dry-run ``exit_mode="tick"`` against ``"bar"`` and the backtest (issue 11).

The replay synthesises four ticks per bar (O-L-H-C for an up bar, O-H-L-C for a down bar).
Between two ticks the price path is continuous, so a stop or target crossed between them fills
at its level, as inside a backtest bar (only a bar's first tick is a gap). What remains is
information a bar does not hold: when one bar touches both the stop and the next target, the
backtest (and bar mode) assumes the stop came first; tick mode follows the synthesised path,
which reaches the target first for a long in a down bar and a short in an up bar
(docs/conventions.md, "Tick exit mode"). The hand-computed cases pin both, and the parity test
requires every other trade to equal the backtest's to the cent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

from tests.conftest import make_bars
from tests.live.helpers import backtest_of
from tradeforge.core.instruments import Instrument
from tradeforge.live.runner import run_dry, trades_frame
from tradeforge.strategy.base import Strategy, StrategyParams
from tradeforge.strategy.registry import register_strategy
from tradeforge.strategy.signals import Signals, Target, make_signals
from tradeforge.trading.execution import ExecutionModel, Sizing
from tradeforge.trading.spec import LiveSettings, RunSpec

CENT = 0.005


class OneShotParams(StrategyParams):
    at: str = "2024-01-01 00:10"
    side: int = 1
    stop_pips: float = Field(10.0, gt=0)
    target_pips: float = Field(15.0, gt=0)
    target2_pips: float = Field(0.0, ge=0)  # > 0: the first target closes half, this the rest


@register_strategy
class OneShot(Strategy):
    """Test strategy: one market entry on the bar opened at ``at``; one target for all, or two
    for half each."""

    name = "test_one_shot"
    Params = OneShotParams
    params: OneShotParams

    def features(self) -> list[str]:
        return []

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        p = self.params
        inst = self.resolve_instrument(frame, instrument)
        bars = np.flatnonzero(frame.index == pd.Timestamp(p.at, tz="UTC"))
        targets = [Target(p.target_pips * inst.pip_size, 1.0, "distance")]
        if p.target2_pips:
            targets = [
                Target(p.target_pips * inst.pip_size, 0.5, "distance"),
                Target(p.target2_pips * inst.pip_size, 0.5, "distance"),
            ]
        return make_signals(
            len(frame),
            bars,
            np.full(len(bars), p.side),
            stop_distance=p.stop_pips * inst.pip_size,
            targets=targets,
        )


def _spec(
    bars_file: Path,
    mode: str,
    strategy: str,
    params: dict,
    *,
    execution: ExecutionModel,
    sizing: str,
    window: int,
    position_mode: str = "symbol",
    start: str = "2024-01-01",
) -> RunSpec:
    return RunSpec(
        strategy=strategy,
        symbols=("EURUSD",),
        timeframe="M5",
        start=start,
        end="2025-01-01",
        params=params,
        execution=execution,
        sizing=Sizing.parse(sizing),
        position_mode=position_mode,
        live=LiveSettings(
            bars_file=str(bars_file), window=window, close_at_end=True, exit_mode=mode
        ),
    )


def _three_ways(tmp_path: Path, bars: pd.DataFrame, strategy: str, params: dict, **kw):
    """Trades (and legs) of the backtest, the bar-mode and the tick-mode dry-run."""
    bars_file = tmp_path / "bars.parquet"
    bars.to_parquet(bars_file)
    out = {}
    for mode in ("bar", "tick"):
        spec = _spec(bars_file, mode, strategy, params, **kw)
        run_dry(tmp_path / mode, spec)
        out[mode] = trades_frame(tmp_path / mode)
    bt = backtest_of(spec, bars)
    return bt, out["bar"], out["tick"]


# ------------------------------------------------------------- one bar, worked out by hand
T0 = "2024-01-01"
QUIET = (1.10000, 1.10020, 1.09980, 1.10000)
# the bar after the signal, where the position is filled at the open (1.10000 bid, no spread)
DOWN_LONG = (1.10000, 1.10200, 1.09850, 1.09900)  # O-H-L-C: target 1.10152, then stop 1.09902
UP_LONG = (1.10000, 1.10200, 1.09850, 1.10100)  # O-L-H-C: stop 1.09902 first
UP_SHORT = (1.10000, 1.10150, 1.09800, 1.10100)  # O-L-H-C: target 1.09848, then stop 1.10098


def _one_bar(test_bar: tuple[float, ...]) -> pd.DataFrame:
    rows = [QUIET] * 3 + [test_bar] + [QUIET] * 3
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"])
    frame["volume"] = 1.0
    frame["spread"] = 0.0
    frame.index = pd.date_range(T0, periods=len(rows), freq="5min", tz="UTC", name="time")
    return frame


@pytest.mark.parametrize(
    ("side", "test_bar", "bar_mode", "tick_mode"),
    [
        # long, 1 lot, filled at 1.10000 + 0.2 pip slippage = 1.10002; stop 1.09902, target
        # 1.10152. Bar mode: the stop first, 1.09902 - 0.00002 = 1.09900 -> -102.00 USD.
        # Tick mode walks O 1.10000 -> H 1.10200: the target at its level -> +150.00 USD.
        (1, DOWN_LONG, ("stop", 1.09900, -102.00), ("target", 1.10152, 150.00)),
        # the same levels in an up bar: O -> L 1.09850 crosses the stop first in both modes, and
        # it fills at its level (minus slippage), not at the tick's low 1.09850.
        (1, UP_LONG, ("stop", 1.09900, -102.00), ("stop", 1.09900, -102.00)),
        # short, sold at 1.10000 - 0.00002 = 1.09998; stop 1.10098, target 1.09848 (ask levels,
        # spread 0). Bar mode: stop at 1.10098 + 0.00002 = 1.10100 -> -102.00 USD; tick mode
        # reaches L 1.09800 first: target 1.09848 -> +150.00 USD.
        (-1, UP_SHORT, ("stop", 1.10100, -102.00), ("target", 1.09848, 150.00)),
    ],
)
def test_one_bar_touching_stop_and_target(tmp_path, side, test_bar, bar_mode, tick_mode):
    params = {"at": "2024-01-01 00:10", "side": side, "stop_pips": 10.0, "target_pips": 15.0}
    execution = ExecutionModel(slippage="fixed", slippage_value=0.2)
    bt, bar, tick = _three_ways(
        tmp_path, _one_bar(test_bar), "test_one_shot", params,
        execution=execution, sizing="fixed:1", window=3,
    )  # fmt: skip
    for trades, (reason, price, pnl) in ((bt.trades, bar_mode), (bar, bar_mode), (tick, tick_mode)):
        assert len(trades) == 1
        t = trades.iloc[0]
        assert t.entry_price == pytest.approx(1.10000 + side * 0.00002, abs=1e-9)
        assert t.entry_time == pd.Timestamp("2024-01-01 00:15", tz="UTC")
        assert t.exit_time == t.entry_time  # closed inside the bar of the fill
        assert (str(t.exit_reason), t["size"]) == (reason, 1.0)
        assert t.exit_price == pytest.approx(price, abs=1e-9)
        assert t.pnl == pytest.approx(pnl, abs=CENT)


@pytest.mark.parametrize("mode", ["bar", "tick"])
def test_one_bar_closing_two_legs(tmp_path, mode):
    """Both targets in one bar: two legs from one observation, booked in order, one trade
    (bar mode used to finish the trade on the first leg and fail on the second)."""
    params = {"at": "2024-01-01 00:10", "stop_pips": 10.0, "target_pips": 10.0,
              "target2_pips": 15.0}  # fmt: skip
    execution = ExecutionModel(slippage="fixed", slippage_value=0.2)
    bt, bar, tick = _three_ways(
        tmp_path, _one_bar((1.10000, 1.10200, 1.09990, 1.10100)), "test_one_shot", params,
        execution=execution, sizing="fixed:1", window=3,
    )  # fmt: skip
    # 1.10002 in; 0.5 lot at 1.10102 (+50.00) and 0.5 lot at 1.10152 (+75.00)
    assert bt.legs.price.tolist() == pytest.approx([1.10102, 1.10152], abs=1e-9)
    trades = bar if mode == "bar" else tick
    assert len(trades) == 1 and str(trades.exit_reason[0]) == "target"
    assert trades.exit_price[0] == pytest.approx(1.10127, abs=1e-9)
    assert trades.pnl[0] == pytest.approx(125.00, abs=CENT)
    assert not _differs(trades.iloc[0], bt.trades.iloc[0])


# ------------------------------------------------------------------- parity on many bars
BREAKOUT = {"period": 12, "atr_period": 5, "stop_atr": 0.7, "target1_r": 0.5, "target2_r": 2.0}


def path_reaches_target_first(trade, legs: pd.DataFrame, bars: pd.DataFrame, slip: float):
    """True when the backtest closed ``trade`` by its stop on a bar that also touched its next
    target and whose synthesised tick path (O-L-H-C up, O-H-L-C down) reaches that target
    before the stop — the one documented way tick mode differs (neither level gapped at the
    open, where both modes fill the same)."""
    own = legs[legs.trade_id == trade.trade_id]
    last = own.iloc[-1]
    if str(last.reason) not in ("stop", "breakeven", "trailing"):
        return False
    done = int((own.reason.astype(str) == "target").sum())
    targets = (BREAKOUT["target1_r"], BREAKOUT["target2_r"])
    if done >= len(targets):
        return False
    side = 1 if str(trade.side) == "long" else -1
    risk = abs(trade.entry_price - trade.initial_stop)
    tp = trade.entry_price + side * targets[done] * risk
    b = bars.loc[last.time]
    o, h, lo, c, sp = b.open, b.high, b.low, b.close, b.spread
    tol = 1e-9 * abs(tp)
    if side > 0:
        level = last.price + slip
        return c < o and o < tp - tol and h >= tp - tol and o > level
    level = last.price - slip
    return c >= o and o + sp > tp + tol and lo + sp <= tp + tol and o + sp < level


def _differs(a: pd.Series, b: pd.Series) -> bool:
    for col, x in a.items():
        y = b[col]
        if isinstance(x, float):
            if not np.isclose(x, y, rtol=0, atol=1e-9 if col != "pnl" else CENT):
                return True
        elif str(x) != str(y):
            return True
    return False


def test_tick_mode_equals_backtest_but_for_documented_intrabar_order(tmp_path):
    """Bar mode equals the backtest to the cent; tick mode too, except the trades whose stop
    bar touched the next target first along the synthesised path — identified from the bars
    and counted, so any other (undocumented) divergence fails. Fixed lots keep one trade's
    different P&L out of the next trades' sizes."""
    bars = make_bars(1200, seed=5)
    slip = 0.2 * 0.0001
    execution = ExecutionModel(commission=3.0, slippage="fixed", slippage_value=0.2)
    bt, bar, tick = _three_ways(
        tmp_path, bars, "breakout", BREAKOUT,
        execution=execution, sizing="fixed:1", window=140, position_mode="tag",
    )  # fmt: skip
    expected = bt.trades.reset_index(drop=True)
    cols = list(expected.columns)
    assert len(expected) > 20
    assert len(bar) == len(tick) == len(expected)
    assert not any(_differs(bar.iloc[k][cols], expected.iloc[k]) for k in range(len(expected)))

    documented = {
        int(t.trade_id)
        for t in expected.itertuples()
        if path_reaches_target_first(t, bt.legs, bars, slip)
    }
    differing = {
        int(expected.trade_id[k])
        for k in range(len(expected))
        if _differs(tick.iloc[k][cols], expected.iloc[k])
    }
    assert differing == documented
    assert len(documented) >= 1  # the case really occurs in this data
    for tid in documented:  # the backtest's order is the pessimistic one
        k = int(np.flatnonzero(expected.trade_id == tid)[0])
        assert tick.pnl[k] > expected.pnl[k]
        assert tick.entry_time[k] == expected.entry_time[k]
        assert tick.exit_time[k] == expected.exit_time[k]
