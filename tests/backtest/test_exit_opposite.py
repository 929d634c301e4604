"""Exit on opposite signal (``exit_opposite``): hand-computed scenarios in the audit's style.

Bid bars; ask = bid + spread. EURUSD 1 lot: 1 pip = $10. A signal on bar t with
``exit_opposite`` closes opposite positions at bar t+1's open (reason ``signal``) before the
entries at that open; opposite pending orders are cancelled (counted as expired).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.backtest.test_audit import CAPITAL, PIP, bt, flat, frame_of
from tradeforge.backtest import run_backtest
from tradeforge.strategy.registry import create_strategy
from tradeforge.strategy.signals import SignalError, Signals, make_signals


def _sig(n: int, rows: list[dict]) -> Signals:
    """One `make_signals` call per row dict (bar, side, + keywords), concatenated."""
    parts = []
    for row in rows:
        row = dict(row)
        bar, side = row.pop("bar"), row.pop("side")
        row.setdefault("stop_distance", 20 * PIP)
        parts.append(make_signals(n, [bar], side, **row))
    return Signals.concat(parts)


def test_reversal_in_symbol_mode_closes_the_long_and_opens_the_short_at_the_same_open():
    frame = frame_of(
        [
            *flat(1.1000),  # 0 long signal
            (1.1010, 1.1020, 1.1005, 1.1015),  # 1 long fills; short signal (exit_opposite)
            (1.1030, 1.1040, 1.1025, 1.1035),  # 2 open: long out, short in
            *flat(1.1030),  # 3 last bar: the short closes at the ask close + 0.5 pip slippage
        ],
        spread=2 * PIP,
    )
    sig = _sig(len(frame), [dict(bar=0, side=1), dict(bar=1, side=-1, exit_opposite=True)])
    res = bt(frame, sig, commission=3.5, slippage="fixed", slippage_value=0.5)
    long_, short = res.trades.iloc[0], res.trades.iloc[1]
    # long: ask open 1.1012 + 0.5 pip slippage = 1.10125; out at bid open 1.1030 - 0.5 pip
    assert long_.side == "long" and long_.entry_price == pytest.approx(1.10125)
    assert long_.exit_time == frame.index[2] and long_.exit_reason == "signal"
    assert long_.exit_price == pytest.approx(1.10295)
    assert long_.pnl == pytest.approx(17 * 10 - 7.0)  # 17 pips, commission 3.5 x 2 sides
    # short: in at the same open, bid 1.1030 - 0.5 pip; stop at ask 1.10495 (ask high 1.1042)
    assert short.side == "short" and short.entry_time == frame.index[2]
    assert short.entry_price == pytest.approx(1.10295)
    assert short.initial_stop == pytest.approx(1.10495)
    assert short.exit_reason == "end" and short.exit_price == pytest.approx(1.10325)
    assert short.pnl == pytest.approx(-3 * 10 - 7.0)
    assert res.counters["ignored_dedup"] == 0 and res.counters["filled"] == 2
    assert list(res.equity["open_positions"]) == [0, 1, 1, 0]
    # balance at bar 2's close holds the long's PnL; equity adds the short marked at ask 1.1037
    assert res.equity["balance"].iloc[2] == pytest.approx(CAPITAL + 163.0)
    assert res.equity["equity"].iloc[2] == pytest.approx(CAPITAL + 163.0 - 7.5 * 10 - 3.5)


def test_without_exit_opposite_the_opposite_signal_is_deduplicated():
    frame = frame_of([*flat(1.1000), *flat(1.1010), *flat(1.1030), *flat(1.1030)])
    sig = _sig(len(frame), [dict(bar=0, side=1), dict(bar=1, side=-1)])
    res = bt(frame, sig)
    assert len(res.trades) == 1 and res.trades.exit_reason.iloc[0] == "end"
    assert res.counters["ignored_dedup"] == 1


def test_tag_mode_closes_every_opposite_tag_and_leaves_same_side_positions_alone():
    frame = frame_of(
        [
            *flat(1.1000),  # 0 long "a", short "b"
            (1.1000, 1.1006, 1.0996, 1.1004),  # 1 both fill; short "c" (exit_opposite)
            (1.1010, 1.1012, 1.1008, 1.1010),  # 2 open: "a" out at bid 1.1010; "c" in at 1.1010
            *flat(1.1010),  # 3 end: "b" and "c" close at ask 1.1011
        ],
        spread=1 * PIP,
    )
    sig = _sig(
        len(frame),
        [
            dict(bar=0, side=1, tag="a"),
            dict(bar=0, side=-1, tag="b"),
            dict(bar=1, side=-1, tag="c", exit_opposite=True),
        ],
    )
    res = bt(frame, sig, mode="tag")
    t = res.trades.set_index("tag")
    assert t.loc["a", "exit_reason"] == "signal" and t.loc["a", "exit_time"] == frame.index[2]
    assert t.loc["a", "entry_price"] == pytest.approx(1.1001)
    assert t.loc["a", "pnl"] == pytest.approx(9 * 10)  # 1.1001 -> 1.1010
    assert t.loc["b", "exit_reason"] == "end"  # same side as the signal: untouched
    assert t.loc["b", "pnl"] == pytest.approx(-11 * 10)  # 1.1000 -> ask 1.1011
    assert t.loc["c", "entry_time"] == frame.index[2]
    assert t.loc["c", "entry_price"] == pytest.approx(1.1010)
    assert t.loc["c", "exit_reason"] == "end"


def test_tag_mode_reversal_within_one_tag():
    frame = frame_of([*flat(1.1000), *flat(1.1005), *flat(1.1010), *flat(1.1010)])
    sig = _sig(
        len(frame),
        [dict(bar=0, side=1, tag="x"), dict(bar=1, side=-1, tag="x", exit_opposite=True)],
    )
    res = bt(frame, sig, mode="tag")
    assert list(res.trades.side) == ["long", "short"]
    assert list(res.trades.exit_reason) == ["signal", "end"]
    assert res.trades.entry_time.iloc[1] == res.trades.exit_time.iloc[0] == frame.index[2]


def test_opposite_pending_limit_order_is_cancelled_and_counted_as_expired():
    frame = frame_of(
        [
            *flat(1.1000),  # 0 long limit at 1.0990, live on bars 1..5
            *flat(1.1000),  # 1 not touched; short signal (exit_opposite) cancels it
            *flat(1.1000),  # 2 short fills at 1.1000
            (1.1000, 1.1000, 1.0980, 1.0985),  # 3 would have filled the long limit
            *flat(1.0985, 2),
        ]
    )
    sig = _sig(
        len(frame),
        [
            dict(bar=0, side=1, entry="limit", entry_price=1.0990, expiry=5),
            dict(bar=1, side=-1, exit_opposite=True),
        ],
    )
    res = bt(frame, sig)
    assert len(res.trades) == 1
    t = res.trades.iloc[0]
    assert t.side == "short" and t.entry_time == frame.index[2]
    assert t.pnl == pytest.approx(15 * 10)
    assert res.counters["expired"] == 1 and res.counters["ignored_dedup"] == 0
    assert res.counters["filled"] == 1


def test_same_side_pending_order_is_kept_and_the_signal_deduplicated():
    frame = frame_of(
        [*flat(1.1000), *flat(1.1000), (1.1000, 1.1000, 1.0980, 1.0985), *flat(1.0985)]
    )
    sig = _sig(
        len(frame),
        [
            dict(bar=0, side=1, entry="limit", entry_price=1.0990, expiry=5),
            dict(bar=1, side=1, exit_opposite=True),
        ],
    )
    res = bt(frame, sig)
    assert len(res.trades) == 1 and res.trades.entry_price.iloc[0] == pytest.approx(1.0990)
    assert res.counters["ignored_dedup"] == 1 and res.counters["expired"] == 0


def test_stop_hit_during_the_signal_bar_closes_first_and_the_entry_is_normal():
    frame = frame_of(
        [
            *flat(1.1000),  # 0 long signal, stop 10 pips
            *flat(1.1000),  # 1 long fills at 1.1000, stop 1.0990
            (1.0995, 1.0996, 1.0985, 1.0988),  # 2 stop hit inside the bar; short signal
            (1.0980, 1.0982, 1.0978, 1.0980),  # 3 short fills at the open 1.0980
            *flat(1.0980),
        ]
    )
    sig = _sig(
        len(frame),
        [
            dict(bar=0, side=1, stop_distance=10 * PIP),
            dict(bar=2, side=-1, exit_opposite=True),
        ],
    )
    res = bt(frame, sig)
    long_, short = res.trades.iloc[0], res.trades.iloc[1]
    assert long_.exit_reason == "stop" and long_.exit_time == frame.index[2]
    assert long_.exit_price == pytest.approx(1.0990)
    assert short.entry_time == frame.index[3] and short.entry_price == pytest.approx(1.0980)


def test_signal_exit_at_the_next_open_comes_before_a_stop_gapped_at_that_open():
    frame = frame_of(
        [
            *flat(1.1000),  # 0 long signal, stop 10 pips
            *flat(1.1000),  # 1 long fills at 1.1000, stop 1.0990; short signal
            (1.0980, 1.0985, 1.0975, 1.0980),  # 2 open gaps through the stop: the signal exits
            *flat(1.0980),
        ]
    )
    sig = _sig(
        len(frame),
        [
            dict(bar=0, side=1, stop_distance=10 * PIP),
            dict(bar=1, side=-1, exit_opposite=True),
        ],
    )
    res = bt(frame, sig, slippage="fixed", slippage_value=1.0)
    long_ = res.trades.iloc[0]
    assert long_.exit_reason == "signal" and long_.exit_time == frame.index[2]
    assert long_.exit_price == pytest.approx(1.0979)  # bid open - 1 pip slippage
    assert long_.entry_price == pytest.approx(1.1001)
    assert res.trades.side.iloc[1] == "short"
    assert res.trades.entry_price.iloc[1] == pytest.approx(1.0979)


def test_time_stop_due_at_the_same_open_wins_the_reason():
    frame = frame_of([*flat(1.1000), *flat(1.1000), *flat(1.1010), *flat(1.1010)])
    sig = _sig(
        len(frame),
        [dict(bar=0, side=1, time_stop=1), dict(bar=1, side=-1, exit_opposite=True)],
    )
    res = bt(frame, sig)
    assert list(res.trades.exit_reason) == ["time", "end"]
    assert res.trades.entry_time.iloc[1] == frame.index[2]


def test_same_side_open_position_is_unaffected():
    frame = frame_of([*flat(1.1000), *flat(1.1000), *flat(1.1010), *flat(1.1020)])
    sig = _sig(len(frame), [dict(bar=0, side=1), dict(bar=1, side=1, exit_opposite=True)])
    res = bt(frame, sig)
    assert len(res.trades) == 1 and res.trades.exit_reason.iloc[0] == "end"
    assert res.counters["ignored_dedup"] == 1


def test_reversal_with_a_limit_entry_waits_for_its_level():
    frame = frame_of(
        [
            *flat(1.1000),  # 0 long
            *flat(1.1000),  # 1 long fills; short limit at 1.1010 (exit_opposite), expiry 3
            *flat(1.1000),  # 2 long closes at the open; limit not touched
            (1.1000, 1.1012, 1.0999, 1.1005),  # 3 short limit fills at 1.1010
            *flat(1.1005),
        ]
    )
    sig = _sig(
        len(frame),
        [
            dict(bar=0, side=1),
            dict(bar=1, side=-1, entry="limit", entry_price=1.1010, expiry=3, exit_opposite=True),
        ],
    )
    res = bt(frame, sig)
    assert list(res.trades.exit_reason) == ["signal", "end"]
    assert res.trades.exit_time.iloc[0] == frame.index[2]
    assert res.trades.entry_time.iloc[1] == frame.index[3]
    assert res.trades.entry_price.iloc[1] == pytest.approx(1.1010)


def test_later_opposite_signal_on_the_same_bar_cancels_a_queued_reversal():
    frame = frame_of([*flat(1.1000), *flat(1.1000), *flat(1.1010), *flat(1.1010)])
    sig = _sig(
        len(frame),
        [
            dict(bar=0, side=1),
            dict(bar=1, side=-1, exit_opposite=True),  # schedules the exit, queues a short
            dict(bar=1, side=1, exit_opposite=True),  # cancels the queued short; deduplicated
        ],
    )
    res = bt(frame, sig)
    assert list(res.trades.exit_reason) == ["signal"]
    assert res.counters["expired"] == 1 and res.counters["ignored_dedup"] == 1


def test_make_signals_validates_and_carries_exit_opposite():
    sig = make_signals(10, [2, 5], [1, -1], stop_distance=0.001, exit_opposite=[True, False])
    assert sig.exit_opposite.dtype == np.bool_
    assert sig.to_frame()["exit_opposite"].tolist() == [True, False]
    both = Signals.concat([sig, make_signals(10, [3], 1, stop_distance=0.001)])
    assert both.exit_opposite.tolist() == [True, False, False]
    assert make_signals(10, [1], 1, stop_distance=0.001).exit_opposite.tolist() == [False]
    with pytest.raises(SignalError, match="exit_opposite"):
        make_signals(10, [1], 1, stop_distance=0.001, exit_opposite="yes")
    with pytest.raises(SignalError, match="exit_opposite"):
        make_signals(10, [1, 2], 1, stop_distance=0.001, exit_opposite=[True])
    with pytest.raises(SignalError, match="exit_opposite"):
        make_signals(10, [1], 1, stop_distance=0.001, exit_opposite=2)


def _random_walk(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 1.1 + np.cumsum(rng.normal(0, 0.0004, n))
    rows = [(c, c + 0.0003, c - 0.0003, c) for c in close]
    return frame_of(rows, spread=0.5 * PIP, freq="5min")


def test_sma_cross_stop_and_reverse_is_always_reversing():
    frame = _random_walk(600, seed=4)
    params = {"fast": 5, "slow": 20, "stop_pips": 500, "target_pips": 500}
    plain = run_backtest(create_strategy("sma_cross", params), frame, symbol="EURUSD")
    sar = run_backtest(
        create_strategy("sma_cross", {**params, "exit_on_opposite": True}),
        frame,
        symbol="EURUSD",
    )
    assert (plain.trades.exit_reason != "signal").all()
    t = sar.trades
    assert len(t) > len(plain.trades) >= 1
    reasons = t.exit_reason.astype(str).tolist()
    assert set(reasons[:-1]) == {"signal"} and reasons[-1] == "end"
    # every signal exit is followed by the opposite trade entering at the same open
    for k in range(len(t) - 1):
        assert t.exit_time.iloc[k] == t.entry_time.iloc[k + 1]
        assert t.side.iloc[k] != t.side.iloc[k + 1]
    assert sar.counters["ignored_dedup"] == 0
