"""Invariants on random bars and random signal tables (hypothesis drives the seeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.backtest import ExecutionModel, Sizing, backtest_signals
from tradeforge.strategy.signals import BreakEven, Signals, Target, Trailing, make_signals


def random_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    close = 1.1 + np.cumsum(rng.normal(0, 0.0008, n))
    gaps = rng.normal(0, 0.0004, n) * (rng.random(n) < 0.2)
    open_ = np.r_[close[0], close[:-1]] + gaps
    high = np.maximum(open_, close) + rng.uniform(0, 0.0008, n)
    low = np.minimum(open_, close) - rng.uniform(0, 0.0008, n)
    index = pd.date_range("2024-01-01", periods=n, freq="4h", tz="UTC", name="time")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": 1.0,
         "spread": rng.uniform(0, 0.0002, n)},
        index=index,
    )  # fmt: skip


def random_signals(rng: np.random.Generator, frame: pd.DataFrame) -> Signals:
    n = len(frame)
    parts = []
    for tag in ("a", "b"):
        k = int(rng.integers(1, max(2, n // 3)))
        bars_ = np.sort(rng.choice(n, size=k, replace=False))
        side = rng.choice([-1, 1], size=k)
        kind = rng.integers(0, 3)
        close = frame["close"].to_numpy()[bars_]
        entry = ("market", "limit", "stop")[kind]
        offset = rng.uniform(0.0001, 0.002, k)
        if entry == "limit":
            price = close - side * offset
        elif entry == "stop":
            price = close + side * offset
        else:
            price = None
        f1 = float(rng.uniform(0.1, 0.6))
        parts.append(
            make_signals(
                n,
                bars_,
                side,
                tag=tag,
                entry=entry,
                entry_price=price,
                expiry=int(rng.integers(1, 4)),
                stop_distance=rng.uniform(0.0005, 0.003, k),
                targets=[
                    Target(float(rng.uniform(0.5, 1.5)), f1),
                    Target(float(rng.uniform(1.6, 3.0)), float(rng.uniform(0, 1 - f1)) + 1e-6),
                ],
                runner=bool(rng.random() < 0.5),
                break_even=BreakEven(float(rng.uniform(0.3, 1.5)), 0.0001)
                if rng.random() < 0.7
                else None,
                trailing=Trailing("distance", float(rng.uniform(0.0005, 0.002)))
                if rng.random() < 0.4
                else None,
                time_stop=int(rng.integers(0, 6)),
                exit_opposite=rng.random(k) < 0.3,
            )  # fmt: skip
        )
    return Signals.concat(parts)


def run_random(seed: int, mode: str, sizing: Sizing):
    rng = np.random.default_rng(seed)
    frame = random_frame(rng, int(rng.integers(10, 80)))
    sig = random_signals(rng, frame)
    execution = ExecutionModel(
        slippage="random", slippage_value=0.3, seed=seed, commission=2.0, swap_long=-1.0,
        swap_short=0.5,
    )  # fmt: skip
    res = backtest_signals(frame, sig, "EURUSD", execution=execution, sizing=sizing,
                           position_mode=mode)  # fmt: skip
    return frame, sig, res


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(["symbol", "tag"]),
    sizing=st.sampled_from([Sizing("fixed", 0.37), Sizing("risk", 1.5)]),
)
def test_invariants(seed: int, mode: str, sizing: Sizing) -> None:
    frame, sig, res = run_random(seed, mode, sizing)
    trades, legs, eq = res.trades, res.legs, res.equity
    c = res.counters
    assert c["filled"] == len(trades)
    assert c["signals"] == len(sig)
    assert c["signals"] == (
        c["ignored_dedup"] + c["filled"] + c["expired"] + c["skipped_size"]
        + c["rejected_stop"] + c["unfilled_at_end"]
    )  # fmt: skip
    # legs of a trade sum to its size (in lot steps) and to its PnL
    steps = np.rint(legs.groupby("trade_id")["size"].sum() / 0.01).astype(int)
    assert (steps.to_numpy() == np.rint(trades.set_index("trade_id")["size"] / 0.01)).all()
    leg_pnl = legs.groupby("trade_id")["pnl"].sum()
    assert leg_pnl.to_numpy() == pytest.approx(trades.set_index("trade_id")["pnl"].to_numpy())
    # no entry before the bar after its signal; exits never before the entry
    assert (trades.entry_time > trades.signal_time).all()
    assert (trades.exit_time >= trades.entry_time).all()
    assert (legs.time.to_numpy() >= trades.set_index("trade_id").loc[legs.trade_id,
            "entry_time"].to_numpy()).all()  # fmt: skip
    # realized equity at flat points == start + PnL of the trades closed so far
    closed = trades.groupby("exit_time")["pnl"].sum().reindex(eq.index, fill_value=0).cumsum()
    flat_ = eq.open_positions.to_numpy() == 0
    expected = res.initial_capital + closed.to_numpy()
    assert eq.balance.to_numpy()[flat_] == pytest.approx(expected[flat_])
    assert eq.equity.to_numpy()[flat_] == pytest.approx(eq.balance.to_numpy()[flat_])
    assert eq.open_positions.iloc[-1] == 0
    # R multiple = pnl / initial risk
    assert trades.r_multiple.to_numpy() == pytest.approx((trades.pnl / trades.risk).to_numpy())


def test_same_input_same_output() -> None:
    a = run_random(11, "tag", Sizing("risk", 1.0))[2]
    b = run_random(11, "tag", Sizing("risk", 1.0))[2]
    pd.testing.assert_frame_equal(a.trades, b.trades)
    pd.testing.assert_frame_equal(a.equity, b.equity)
