"""Hand-computed scenarios for every fill rule of docs/conventions.md (EURUSD, $10 a pip a lot)."""

from __future__ import annotations

import pytest

from tradeforge.backtest import ExecutionModel, Sizing
from tradeforge.strategy.signals import BreakEven, Target, Trailing

from .helpers import bars, flat, run

P = 0.0001  # one pip


def one_trade(result):
    assert len(result.trades) == 1, result.trades
    return result.trades.iloc[0]


def test_market_entry_fills_next_open_and_long_pays_the_ask():
    frame = bars([*flat(1.1000), (1.1010, 1.1015, 1.1005, 1.1012), *flat(1.1012)], spread=2 * P)
    t = one_trade(run(frame, [0], 1, stop_distance=10 * P))
    assert t.entry_time == frame.index[1]
    assert t.entry_price == pytest.approx(1.1012)  # bid open 1.1010 + 2 pip spread
    assert t.signal_time == frame.index[0]
    # closed at the end: long exits at the bid close
    assert t.exit_reason == "end"
    assert t.exit_price == pytest.approx(1.1012)
    assert t.pnl == pytest.approx(0.0, abs=1e-6)


def test_gap_through_the_stop_fills_at_the_open():
    frame = bars([*flat(1.1000, 2), (1.0980, 1.0985, 1.0975, 1.0982), *flat(1.0982)])
    t = one_trade(run(frame, [0], 1, stop_distance=10 * P))  # entry 1.1000, stop 1.0990
    assert t.exit_reason == "stop"
    assert t.exit_price == pytest.approx(1.0980)
    assert t.pnl == pytest.approx(-200.0)
    assert t.r_multiple == pytest.approx(-2.0)
    assert t.exit_time == frame.index[2]


def test_stop_and_target_in_one_bar_stop_fills_first():
    frame = bars([*flat(1.1000, 2), (1.1000, 1.1030, 1.0980, 1.1000), *flat(1.1000)])
    t = one_trade(
        run(frame, [0], 1, stop_distance=10 * P, targets=[Target(1.0, 1.0)])
    )  # stop 1.0990, target 1.1010 both touched in bar 2
    assert t.exit_reason == "stop"
    assert t.exit_price == pytest.approx(1.0990)
    assert t.pnl == pytest.approx(-100.0)


def test_target_gapped_at_the_open_fills_at_the_open_before_the_stop():
    frame = bars([*flat(1.1000, 2), (1.1020, 1.1025, 1.0980, 1.1000), *flat(1.1000)])
    t = one_trade(run(frame, [0], 1, stop_distance=10 * P, targets=[Target(1.0, 1.0)]))
    assert t.exit_reason == "target"
    assert t.exit_price == pytest.approx(1.1020)  # better than the 1.1010 target
    assert t.pnl == pytest.approx(200.0)


def test_partial_target_then_break_even_stop():
    frame = bars(
        [
            *flat(1.1000, 2),  # signal bar 0, entry bar 1 at 1.1000 (stop 1.0990)
            (1.1000, 1.1012, 1.0995, 1.1008),  # T1 1.1010 hit: half closes; BE armed
            (1.1008, 1.1009, 1.0998, 1.1000),  # BE stop at 1.1000 live now: hit
            *flat(1.1000),
        ]
    )
    res = run(
        frame,
        [0],
        1,
        stop_distance=10 * P,
        targets=[Target(1.0, 0.5), Target(2.0, 0.5)],
        break_even=BreakEven(1.0, 0.0),
    )
    t = one_trade(res)
    legs = res.legs
    assert list(legs.reason) == ["target", "breakeven"]
    assert list(legs["size"]) == [0.5, 0.5]
    assert list(legs.price) == pytest.approx([1.1010, 1.1000])
    assert list(legs.pnl) == pytest.approx([50.0, 0.0])
    assert t.exit_reason == "breakeven"
    assert t.exit_price == pytest.approx(1.1005)  # size-weighted
    assert t.pnl == pytest.approx(50.0)
    assert t.r_multiple == pytest.approx(0.5)


def test_break_even_never_applies_in_its_trigger_bar():
    frame = bars(
        [
            *flat(1.1000, 2),
            (1.1000, 1.1011, 1.0992, 1.1000),  # trigger (1R = 1.1010) and dip below BE
            (1.1004, 1.1005, 1.1001, 1.1001),  # now the BE stop (1.1002) is live
            *flat(1.1001),
        ]
    )
    res = run(
        frame, [0], 1, stop_distance=10 * P, break_even=BreakEven(1.0, 2 * P)
    )  # BE stop = entry + 2 pips
    t = one_trade(res)
    assert t.exit_time == frame.index[3]
    assert t.exit_reason == "breakeven"
    assert t.exit_price == pytest.approx(1.1002)
    assert t.pnl == pytest.approx(20.0)


def test_break_even_armed_on_the_entry_bar_applies_from_the_next_bar():
    frame = bars([*flat(1.1000), (1.1000, 1.1012, 1.0995, 1.1000), *flat(1.0999)])
    t = one_trade(run(frame, [0], 1, stop_distance=10 * P, break_even=BreakEven(1.0)))
    assert t.exit_time == frame.index[2]
    assert t.exit_price == pytest.approx(1.0999)  # opens below the BE stop: fills at the open
    assert t.exit_reason == "breakeven"


def test_distance_trailing_stop():
    frame = bars(
        [
            *flat(1.1000, 2),
            (1.1000, 1.1030, 1.0995, 1.1025),  # best 1.1030 -> stop 1.1020 from bar 3
            (1.1025, 1.1028, 1.1015, 1.1018),  # low 1.1015 <= 1.1020
            *flat(1.1018),
        ]
    )
    t = one_trade(run(frame, [0], 1, stop_distance=10 * P, trailing=Trailing("distance", 10 * P)))
    assert t.exit_reason == "trailing"
    assert t.exit_price == pytest.approx(1.1020)
    assert t.pnl == pytest.approx(200.0)


def test_swing_trailing_stop_follows_the_level_array():
    frame = bars(
        [
            *flat(1.1000, 2),
            (1.1000, 1.1020, 1.0998, 1.1015),
            (1.1015, 1.1016, 1.1004, 1.1010),
            *flat(1.1010),
        ]
    )
    levels = [float("nan"), float("nan"), 1.1005, 1.1005, 1.1005]
    t = one_trade(
        run(frame, [0], 1, stop_distance=10 * P, trailing=Trailing("swing"),
            trail_level_long=levels, trail_level_short=[float("nan")] * 5)
    )  # fmt: skip
    assert t.exit_reason == "trailing"
    assert t.exit_time == frame.index[3]
    assert t.exit_price == pytest.approx(1.1005)


def test_time_stop_closes_at_the_open_after_n_bars():
    frame = bars([*flat(1.1000, 3), (1.1003, 1.1004, 1.1001, 1.1002), *flat(1.1002)])
    t = one_trade(run(frame, [0], 1, stop_distance=10 * P, time_stop=2))
    assert t.exit_reason == "time"
    assert t.exit_time == frame.index[3]
    assert t.exit_price == pytest.approx(1.1003)
    assert t.bars_held == 2


def test_limit_entry_expires_unfilled():
    frame = bars([*flat(1.1000, 3), (1.0990, 1.0995, 1.0940, 1.0950), *flat(1.0950)])
    res = run(frame, [0], 1, entry="limit", entry_price=1.0950, expiry=2, stop_price=1.0900)
    assert len(res.trades) == 0
    assert res.counters["expired"] == 1
    assert res.counters["filled"] == 0


def test_limit_entry_fills_at_its_price_when_touched():
    frame = bars([*flat(1.1000, 2), (1.0990, 1.0995, 1.0940, 1.0950), *flat(1.0950)])
    t = one_trade(
        run(frame, [0], 1, entry="limit", entry_price=1.0950, expiry=2, stop_price=1.0900)
    )
    assert t.entry_time == frame.index[2]
    assert t.entry_price == pytest.approx(1.0950)


def test_dedup_per_tag_ignores_and_counts():
    frame = bars(flat(1.1000, 6))
    res = run(frame, [0, 1, 2], [1, 1, -1], tag=["a", "a", "b"], mode="tag", stop_distance=10 * P)
    assert res.counters["signals"] == 3
    assert res.counters["ignored_dedup"] == 1
    assert res.counters["filled"] == 2
    assert sorted(res.trades.tag.astype(str)) == ["a", "b"]
    # one position per symbol: the tag "b" signal is ignored as well
    res = run(frame, [0, 1, 2], [1, 1, -1], tag=["a", "a", "b"], stop_distance=10 * P)
    assert res.counters["ignored_dedup"] == 2
    assert res.counters["filled"] == 1


def test_short_pays_the_spread_on_exit():
    frame = bars([*flat(1.1000, 2), (1.1000, 1.1001, 1.0985, 1.0990), *flat(1.0990)], spread=2 * P)
    res = run(frame, [0], -1, stop_distance=10 * P, targets=[Target(1.0, 1.0)])
    t = one_trade(res)  # sells the bid 1.1000; target 1.0990 is an ask level
    assert t.entry_price == pytest.approx(1.1000)
    assert t.exit_reason == "target"  # ask low 1.0985 + 0.0002 = 1.0987 <= 1.0990
    assert t.exit_price == pytest.approx(1.0990)
    assert t.pnl == pytest.approx(100.0)
    # held to the end: buys back at the ask = bid close + spread
    t = one_trade(run(frame, [0], -1, stop_distance=50 * P))
    assert t.exit_reason == "end"
    assert t.exit_price == pytest.approx(1.0992)
    assert t.pnl == pytest.approx(80.0)


def test_short_stop_triggers_on_the_ask():
    frame = bars([*flat(1.1000, 2), (1.1000, 1.1009, 1.0995, 1.1000), *flat(1.1000)], spread=2 * P)
    t = one_trade(run(frame, [0], -1, stop_distance=10 * P))  # stop 1.1010 (ask)
    assert t.exit_reason == "stop"  # bid high 1.1009 + 2 pips = 1.1011 >= 1.1010
    assert t.exit_price == pytest.approx(1.1010)
    assert t.exit_time == frame.index[2]


def test_slippage_and_commission_are_adverse_and_booked():
    frame = bars([*flat(1.1000, 2), (1.0995, 1.0996, 1.0980, 1.0985), *flat(1.0985)])
    execution = ExecutionModel(slippage="fixed", slippage_value=1.0, commission=3.5)
    t = one_trade(run(frame, [0], 1, stop_distance=10 * P, execution=execution))
    assert t.entry_price == pytest.approx(1.1001)  # market buy one pip worse
    assert t.exit_price == pytest.approx(1.1001 - 0.0010 - 0.0001)  # stop, one pip worse
    assert t.commission == pytest.approx(7.0)
    assert t.pnl == pytest.approx(-110.0 - 7.0)


def test_risk_sizing_and_min_lot_skip():
    frame = bars(flat(1.1000, 4))
    t = one_trade(run(frame, [0], 1, stop_distance=10 * P, sizing=Sizing("risk", 1.0)))
    assert t["size"] == pytest.approx(10.0)  # $1,000 at risk / $100 per lot
    assert t.risk == pytest.approx(1000.0)
    res = run(frame, [0], 1, stop_distance=10 * P, sizing=Sizing("risk", 1.0), capital=50.0)
    assert len(res.trades) == 0
    assert res.counters["skipped_size"] == 1


def test_swap_is_charged_per_night_held():
    frame = bars(flat(1.1000, 30))  # hourly bars from 2024-01-01 00:00: one date change
    execution = ExecutionModel(swap_long=-2.0)
    t = one_trade(run(frame, [0], 1, stop_distance=10 * P, execution=execution))
    assert t.pnl == pytest.approx(-2.0)


def test_equity_is_marked_to_market_at_each_close():
    frame = bars([*flat(1.1000, 2), (1.1000, 1.1006, 1.0999, 1.1005), *flat(1.1005)])
    res = run(frame, [0], 1, stop_distance=10 * P)
    eq = res.equity
    assert list(eq.equity) == pytest.approx([100_000.0, 100_000.0, 100_050.0, 100_050.0])
    assert list(eq.open_positions) == [0, 1, 1, 0]
    assert list(eq.balance) == pytest.approx([100_000.0] * 3 + [100_050.0])


def test_gap_open_below_a_price_stop_rejects_the_entry():
    frame = bars([*flat(1.1000), (1.0890, 1.0895, 1.0880, 1.0890), *flat(1.0890)])
    res = run(frame, [0], 1, stop_price=1.0900, reference_price=1.1000)
    assert res.counters["rejected_stop"] == 1
    assert len(res.trades) == 0
