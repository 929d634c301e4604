"""Independent audit of the backtest engine: hand-computed scenarios for every fill rule.

Every expectation is worked out by hand in the comments (bid bars; ask = bid + spread).
Money: EURUSD 1 lot = 100,000 units (1 pip = $10), USDJPY 1 lot = 100,000 (1 pip = 1,000 JPY),
XAUUSD 1 lot = 100 oz ($1 move = $100). R = net PnL / (size * contract * |entry - stop|).
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from tradeforge.backtest import ExecutionModel, Sizing, backtest_signals, write_result
from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.strategy.signals import BreakEven, Signals, Target, Trailing, make_signals

PIP = 0.0001
CAPITAL = 100_000.0

Bar = tuple[float, float, float, float]


def frame_of(rows: list[Bar], spread: float | None = 0.0, freq: str = "1h") -> pd.DataFrame:
    """Bid OHLC rows on bars from 2024-01-01 00:00 UTC (no spread column when None)."""
    arr = np.array(rows, dtype=float)
    index = pd.date_range("2024-01-01", periods=len(rows), freq=freq, tz="UTC", name="time")
    data = {"open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2], "close": arr[:, 3]}
    data["volume"] = np.ones(len(rows))
    if spread is not None:
        data["spread"] = np.full(len(rows), spread)
    return pd.DataFrame(data, index=index)


def flat(price: float, n: int = 1) -> list[Bar]:
    return [(price, price, price, price)] * n


def bt(frame, sig: Signals, symbol="EURUSD", *, lots=1.0, sizing=None, mode="symbol",
       capital=CAPITAL, instrument=None, **execution):  # fmt: skip
    return backtest_signals(
        frame,
        sig,
        symbol,
        execution=ExecutionModel(**execution),
        sizing=sizing or Sizing("fixed", lots),
        position_mode=mode,
        initial_capital=capital,
        instrument=instrument,
    )


def only(result) -> pd.Series:
    assert len(result.trades) == 1, result.trades
    return result.trades.iloc[0]


def eq_at(result, i: int) -> float:
    return float(result.equity["equity"].iloc[i])


# --------------------------------------------------------------------------------------------
# market entries and the spread


def test_long_market_entry_pays_the_ask_and_target_fills_on_the_bid():
    frame = frame_of(
        [
            *flat(1.1000),  # 0 signal
            (1.1010, 1.1030, 1.1005, 1.1020),  # 1 entry at ask 1.1010 + 0.0002 = 1.1012
            (1.1020, 1.1040, 1.1015, 1.1035),  # 2 bid high 1.1040 >= target 1.1037
            *flat(1.1035),
        ],
        spread=2 * PIP,
    )
    sig = make_signals(len(frame), [0], 1, stop_distance=20 * PIP,
                       targets=[Target(25 * PIP, 1.0, kind="distance")])  # fmt: skip
    res = bt(frame, sig, commission=3.5)
    t = only(res)
    # stop 1.1012 - 0.0020 = 1.0992, target 1.1012 + 0.0025 = 1.1037
    assert t.entry_time == frame.index[1] and t.signal_time == frame.index[0]
    assert t.entry_price == pytest.approx(1.1012)
    assert t.initial_stop == pytest.approx(1.0992)
    assert t.exit_time == frame.index[2] and t.exit_reason == "target"
    assert t.exit_price == pytest.approx(1.1037)
    # gross 25 pips * $10 = 250; commission 3.5 * 1 lot * 2 sides = 7
    assert t.commission == pytest.approx(7.0)
    assert t.pnl == pytest.approx(243.0)
    assert t.risk == pytest.approx(200.0)
    assert t.r_multiple == pytest.approx(243.0 / 200.0)
    # bar 1 close: bid 1.1020 - entry 1.1012 = 8 pips = $80, less the entry-side commission
    assert eq_at(res, 1) == pytest.approx(CAPITAL + 80.0 - 3.5)
    assert res.equity["balance"].iloc[1] == pytest.approx(CAPITAL)
    assert eq_at(res, 2) == pytest.approx(CAPITAL + 243.0)
    assert list(res.equity["open_positions"]) == [0, 1, 0, 0]


def test_short_market_entry_fills_on_the_bid_and_pays_the_ask_on_exit():
    frame = frame_of(
        [
            *flat(1.1000),  # 0 signal
            (1.1000, 1.1010, 1.0990, 1.0995),  # 1 entry bid 1.1000; ask high 1.1012 < 1.1020
            (1.0995, 1.1000, 1.0985, 1.0990),  # 2 last bar: closes at ask 1.0990 + 0.0002
        ],
        spread=2 * PIP,
    )
    res = bt(frame, make_signals(len(frame), [0], -1, stop_distance=20 * PIP))
    t = only(res)
    assert t.side == "short"
    assert t.entry_price == pytest.approx(1.1000)
    assert t.initial_stop == pytest.approx(1.1020)  # an ask level
    assert t.exit_reason == "end"
    assert t.exit_price == pytest.approx(1.0992)
    assert t.pnl == pytest.approx(80.0)  # 8 pips
    assert t.r_multiple == pytest.approx(0.4)
    # bar 1 marked at the ask close 1.0997: 3 pips
    assert eq_at(res, 1) == pytest.approx(CAPITAL + 30.0)
    assert eq_at(res, 2) == pytest.approx(CAPITAL + 80.0)


# --------------------------------------------------------------------------------------------
# stops


def test_long_stop_is_hit_by_the_bid():
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1004, 1.0996, 1.1000),  # 1 entry ask 1.1002, stop 1.0992
            (1.1000, 1.1001, 1.0993, 1.0995),  # 2 bid low 1.0993 > 1.0992: no
            (1.0995, 1.0996, 1.0985, 1.0990),  # 3 bid low 1.0985: stopped at 1.0992
            *flat(1.0990),
        ],
        spread=2 * PIP,
    )
    t = only(bt(frame, make_signals(len(frame), [0], 1, stop_distance=10 * PIP)))
    assert t.exit_time == frame.index[3] and t.exit_reason == "stop"
    assert t.exit_price == pytest.approx(1.0992)
    assert t.pnl == pytest.approx(-100.0)
    assert t.r_multiple == pytest.approx(-1.0)


def test_short_stop_is_hit_by_the_ask():
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1003, 1.0995, 1.1000),  # 1 entry bid 1.1000, stop ask 1.1010
            (1.1000, 1.1007, 1.0998, 1.1005),  # 2 ask high 1.1009 < 1.1010: no
            (1.1005, 1.1009, 1.1000, 1.1004),  # 3 bid high 1.1009 < stop, ask 1.1011 >= it
            *flat(1.1004),
        ],
        spread=2 * PIP,
    )
    t = only(bt(frame, make_signals(len(frame), [0], -1, stop_distance=10 * PIP)))
    assert t.exit_time == frame.index[3] and t.exit_reason == "stop"
    assert t.exit_price == pytest.approx(1.1010)
    assert t.pnl == pytest.approx(-100.0)
    assert t.r_multiple == pytest.approx(-1.0)


def test_long_gap_through_the_stop_fills_at_the_open_with_slippage():
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1005, 1.0995, 1.1000),  # 1 entry 1.1000 + 1 pip slip = 1.1001
            (1.0970, 1.0975, 1.0960, 1.0965),  # 2 opens below the 1.0991 stop
            *flat(1.0965),
        ]
    )
    res = bt(frame, make_signals(len(frame), [0], 1, stop_distance=10 * PIP),
             slippage="fixed", slippage_value=1.0)  # fmt: skip
    t = only(res)
    assert t.entry_price == pytest.approx(1.1001)
    assert t.exit_price == pytest.approx(1.0969)  # open 1.0970 - 1 pip slippage
    assert t.pnl == pytest.approx(-320.0)
    assert t.r_multiple == pytest.approx(-3.2)


def test_short_gap_through_the_stop_fills_at_the_ask_open():
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1005, 1.0995, 1.1000),  # 1 entry bid 1.1000, stop ask 1.1010
            (1.1030, 1.1040, 1.1025, 1.1035),  # 2 ask open 1.1031 above the stop
            *flat(1.1035),
        ],
        spread=1 * PIP,
    )
    t = only(bt(frame, make_signals(len(frame), [0], -1, stop_distance=10 * PIP)))
    assert t.exit_price == pytest.approx(1.1031)
    assert t.pnl == pytest.approx(-310.0)
    assert t.r_multiple == pytest.approx(-3.1)


def test_short_gap_through_the_target_fills_at_the_open_before_the_stop():
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1004, 1.0995, 1.0998),  # 1 entry 1.1000; ask low 1.0996 > target 1.0990
            (1.0975, 1.1020, 1.0970, 1.1000),  # 2 ask open 1.0976 <= 1.0990; high breaks stop
            *flat(1.1000),
        ],
        spread=1 * PIP,
    )
    sig = make_signals(len(frame), [0], -1, stop_distance=10 * PIP, targets=[Target(1.0, 1.0)])
    t = only(bt(frame, sig))
    assert t.exit_reason == "target"
    assert t.exit_price == pytest.approx(1.0976)
    assert t.pnl == pytest.approx(240.0)
    assert t.r_multiple == pytest.approx(2.4)


def test_long_gap_through_the_target_fills_at_the_open():
    frame = frame_of([*flat(1.1000, 2), (1.1025, 1.1030, 1.0950, 1.1000), *flat(1.1000)])
    sig = make_signals(len(frame), [0], 1, stop_distance=10 * PIP, targets=[Target(1.0, 1.0)])
    t = only(bt(frame, sig))
    assert t.exit_reason == "target"
    assert t.exit_price == pytest.approx(1.1025)
    assert t.pnl == pytest.approx(250.0)


def test_stop_and_target_in_one_bar_the_stop_fills_first_for_the_whole_size():
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1004, 1.0995, 1.1000),  # 1 short entry 1.1000; stop 1.1010, T1 1.0990
            (1.1000, 1.1015, 1.0980, 1.1000),  # 2 ask 1.0981..1.1016 touches stop, T1 and T2
            *flat(1.1000),
        ],
        spread=1 * PIP,
    )
    sig = make_signals(len(frame), [0], -1, stop_distance=10 * PIP,
                       targets=[Target(1.0, 0.5), Target(1.5, 0.5)])  # fmt: skip
    res = bt(frame, sig)
    t = only(res)
    assert list(res.legs.reason) == ["stop"]
    assert list(res.legs["size"]) == [1.0]
    assert t.exit_price == pytest.approx(1.1010)
    assert t.pnl == pytest.approx(-100.0)


# --------------------------------------------------------------------------------------------
# partial targets, break-even, trailing, time stop


def partial_be_frame() -> pd.DataFrame:
    return frame_of(
        [
            *flat(1.1000),  # 0 signal
            (1.1000, 1.1025, 1.0995, 1.1015),  # 1 entry 1.1000; T1 1.1020; BE armed; low < BE
            (1.1015, 1.1045, 1.1010, 1.1030),  # 2 T2 1.1040; low 1.1010 > BE stop 1.1002
            (1.1030, 1.1032, 1.1000, 1.1005),  # 3 BE stop 1.1002 hit
            *flat(1.1005),
        ]
    )


def partial_be_signals(n: int) -> Signals:
    # stop 20 pips (1.0980); T1 1R 30%, T2 2R 30%, runner 40%; BE at 1R to entry + 2 pips
    return make_signals(n, [0], 1, stop_distance=20 * PIP, runner=True,
                        targets=[Target(1.0, 0.3), Target(2.0, 0.3)],
                        break_even=BreakEven(1.0, 2 * PIP))  # fmt: skip


def test_two_partial_targets_then_break_even_stop():
    frame = partial_be_frame()
    res = bt(frame, partial_be_signals(len(frame)), commission=2.0)
    t = only(res)
    legs = res.legs
    assert list(legs.reason) == ["target", "target", "breakeven"]
    assert list(legs.time) == list(frame.index[1:4])
    assert list(legs["size"]) == pytest.approx([0.3, 0.3, 0.4])
    assert list(legs.price) == pytest.approx([1.1020, 1.1040, 1.1002])
    # legs: 20 pips * 0.3 lot = 60, 40 pips * 0.3 = 120, 2 pips * 0.4 = 8;
    # commission 2 per lot per side: 1.2, 1.2, 1.6
    assert list(legs.pnl) == pytest.approx([58.8, 118.8, 6.4])
    assert legs["size"].sum() == pytest.approx(t["size"])
    assert t.exit_reason == "breakeven" and t.exit_time == frame.index[3]
    assert t.exit_price == pytest.approx(0.3 * 1.1020 + 0.3 * 1.1040 + 0.4 * 1.1002)  # 1.10188
    assert t.commission == pytest.approx(4.0)
    assert t.pnl == pytest.approx(184.0)
    assert t.r_multiple == pytest.approx(184.0 / 200.0)
    # equity at bar 1 close: balance +58.8; open 0.7 lot at 1.1015 = 15 pips * $7 = 105, less
    # entry commission on 0.7 lot (1.4)
    assert res.equity["balance"].iloc[1] == pytest.approx(CAPITAL + 58.8)
    assert eq_at(res, 1) == pytest.approx(CAPITAL + 58.8 + 105.0 - 1.4)


def test_trades_csv_exit_price_is_the_size_weighted_average_of_the_legs(tmp_path):
    frame = partial_be_frame()
    res = bt(frame, partial_be_signals(len(frame)))
    paths = write_result(res, tmp_path)
    with paths["trades"].open() as fh:
        (row,) = list(csv.DictReader(fh))
    with paths["legs"].open() as fh:
        legs = list(csv.DictReader(fh))
    assert row["exit_price"] != "" and float(row["exit_price"]) == pytest.approx(1.10188)
    weighted = sum(float(leg["price"]) * float(leg["size"]) for leg in legs) / float(row["size"])
    assert float(row["exit_price"]) == pytest.approx(weighted)
    assert row["entry_time"] == "2024-01-01T01:00:00Z"
    assert row["exit_time"] == "2024-01-01T03:00:00Z"
    assert row["side"] == "long" and row["exit_reason"] == "breakeven"
    assert float(row["pnl"]) == pytest.approx(188.0)


def test_last_target_closes_the_rest_without_runner():
    frame = frame_of([*flat(1.1000, 2), (1.1000, 1.1025, 1.0995, 1.1020), *flat(1.1020)])
    # 0.5 lot: T1 1R 30% = 0.15 lot (15 steps), T2 2R (30% given) closes the remaining 0.35
    sig = make_signals(len(frame), [0], 1, stop_distance=10 * PIP,
                       targets=[Target(1.0, 0.3), Target(2.0, 0.3)])  # fmt: skip
    res = bt(frame, sig, lots=0.5)
    assert list(res.legs["size"]) == pytest.approx([0.15, 0.35])
    # 10 pips on 0.15 lot = 15, 20 pips on 0.35 lot = 70
    assert only(res).pnl == pytest.approx(85.0)


def test_distance_trailing_stop_long():
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1010, 1.0995, 1.1008),  # 1 entry 1.1000 stop 1.0980; trail -> 1.0995
            (1.1008, 1.1030, 1.1000, 1.1025),  # 2 low 1.1000 > 1.0995; trail -> 1.1015
            (1.1025, 1.1028, 1.1012, 1.1020),  # 3 low 1.1012 <= 1.1015: out at 1.1015
            *flat(1.1020),
        ]
    )
    sig = make_signals(len(frame), [0], 1, stop_distance=20 * PIP,
                       trailing=Trailing("distance", 15 * PIP))  # fmt: skip
    t = only(bt(frame, sig))
    assert t.exit_reason == "trailing" and t.exit_time == frame.index[3]
    assert t.exit_price == pytest.approx(1.1015)
    assert t.pnl == pytest.approx(150.0)
    assert t.r_multiple == pytest.approx(0.75)


def test_distance_trailing_stop_short_tracks_the_ask():
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1005, 1.0985, 1.0990),  # 1 entry 1.1000, stop 1.1020; ask low 1.0986
            #                                    -> trail 1.0996
            (1.0990, 1.0994, 1.0970, 1.0975),  # 2 ask high 1.0995 < 1.0996; ask low 1.0971
            #                                    -> trail 1.0981
            (1.0975, 1.0981, 1.0972, 1.0978),  # 3 ask high 1.0982 >= 1.0981: out at 1.0981
            *flat(1.0978),
        ],
        spread=1 * PIP,
    )
    sig = make_signals(len(frame), [0], -1, stop_distance=20 * PIP,
                       trailing=Trailing("distance", 10 * PIP))  # fmt: skip
    t = only(bt(frame, sig))
    assert t.exit_reason == "trailing" and t.exit_time == frame.index[3]
    assert t.exit_price == pytest.approx(1.0981)
    assert t.pnl == pytest.approx(190.0)
    assert t.r_multiple == pytest.approx(0.95)


def test_time_stop_closes_at_the_open_with_slippage():
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1005, 1.0995, 1.1000),  # 1 entry 1.1000 + 1 pip spread + 0.5 slip
            (1.1000, 1.1006, 1.0996, 1.1003),
            (1.1003, 1.1008, 1.0998, 1.1008),  # 3 marked at bid 1.1008
            (1.1010, 1.1020, 1.1005, 1.1015),  # 4 = entry bar + 3: out at 1.1010 - 0.5 pip
            *flat(1.1015),
        ],
        spread=1 * PIP,
    )
    sig = make_signals(len(frame), [0], 1, stop_distance=50 * PIP, time_stop=3)
    res = bt(frame, sig, slippage="fixed", slippage_value=0.5)
    t = only(res)
    assert t.entry_price == pytest.approx(1.10015)
    assert t.exit_reason == "time" and t.exit_time == frame.index[4]
    assert t.bars_held == 3
    assert t.exit_price == pytest.approx(1.10095)
    assert t.pnl == pytest.approx(80.0)
    assert t.r_multiple == pytest.approx(80.0 / 500.0)
    assert eq_at(res, 3) == pytest.approx(CAPITAL + 65.0)  # (1.1008 - 1.10015) * 100,000


# --------------------------------------------------------------------------------------------
# limit and stop entries


def test_limit_entry_never_fills_on_the_signal_bar_and_fills_at_its_level_when_touched():
    frame = frame_of(
        [
            (1.1000, 1.1002, 1.0980, 1.1000),  # 0 signal bar dips below the level: no fill
            (1.1000, 1.1005, 1.0995, 1.1000),  # 1 ask low 1.0996 > 1.0990
            (1.0998, 1.1000, 1.0985, 1.0992),  # 2 ask low 1.0986: filled at 1.0990
            (1.0992, 1.1012, 1.0990, 1.1008),  # 3 target 1.1010 (bid) reached
            *flat(1.1008),
        ],
        spread=1 * PIP,
    )
    sig = make_signals(len(frame), [0], 1, entry="limit", entry_price=1.0990, expiry=3,
                       stop_price=1.0970, targets=[Target(1.1010, 1.0, kind="price")])  # fmt: skip
    res = bt(frame, sig)
    t = only(res)
    assert t.entry_time == frame.index[2]
    assert t.entry_price == pytest.approx(1.0990)
    assert t.exit_reason == "target" and t.exit_time == frame.index[3]
    assert t.pnl == pytest.approx(200.0)
    assert t.r_multiple == pytest.approx(1.0)
    assert res.counters["filled"] == 1 and res.counters["expired"] == 0


def test_limit_entry_gapped_through_fills_at_the_better_open():
    frame = frame_of(
        [*flat(1.1000, 2), (1.0980, 1.0990, 1.0975, 1.0985), *flat(1.0985)], spread=1 * PIP
    )
    sig = make_signals(len(frame), [0], 1, entry="limit", entry_price=1.0990, expiry=3,
                       stop_price=1.0970)  # fmt: skip
    t = only(bt(frame, sig))
    assert t.entry_time == frame.index[2]
    assert t.entry_price == pytest.approx(1.0981)  # ask open
    assert t.risk == pytest.approx(110.0)  # 11 pips


def test_limit_entry_expires_and_is_counted():
    frame = frame_of(flat(1.1000, 6))
    sig = make_signals(len(frame), [0], 1, entry="limit", entry_price=1.0900, expiry=2,
                       stop_price=1.0800)  # fmt: skip
    res = bt(frame, sig)
    assert len(res.trades) == 0
    assert res.counters["expired"] == 1
    assert res.counters["filled"] == 0
    assert res.counters["unfilled_at_end"] == 0


def test_expired_order_frees_its_slot_at_the_close_of_its_last_live_bar():
    # The limit of bar 0 lives on bars 1 and 2 only; a signal at the close of bar 2 is for
    # bar 3 onwards, where that order no longer exists: it must not be ignored as a duplicate.
    frame = frame_of(flat(1.1000, 5))
    sig = make_signals(len(frame), [0, 2], 1, entry=np.array([1, 0]),
                       entry_price=np.array([1.0900, np.nan]), expiry=np.array([2, 0]),
                       stop_distance=10 * PIP)  # fmt: skip
    res = bt(frame, sig)
    assert res.counters["expired"] == 1
    assert res.counters["ignored_dedup"] == 0
    t = only(res)
    assert t.entry_time == frame.index[3]


def test_short_stop_entry_fills_at_its_bid_level():
    frame = frame_of(
        [
            *flat(1.1000),  # 0 signal: sell stop at 1.0990 (bid), stop 1.1010 (ask)
            (1.1000, 1.1003, 1.0995, 1.0998),  # 1 low 1.0995 > 1.0990
            (1.0998, 1.1000, 1.0985, 1.0988),  # 2 filled at 1.0990; ask high 1.1001 < stop
            *flat(1.0988),  # 3 end at ask 1.0989
        ],
        spread=1 * PIP,
    )
    sig = make_signals(len(frame), [0], -1, entry="stop", entry_price=1.0990, expiry=2,
                       stop_price=1.1010)  # fmt: skip
    t = only(bt(frame, sig))
    assert t.entry_time == frame.index[2]
    assert t.entry_price == pytest.approx(1.0990)
    assert t.exit_reason == "end"
    assert t.exit_price == pytest.approx(1.0989)
    assert t.pnl == pytest.approx(10.0)
    assert t.r_multiple == pytest.approx(0.05)  # risk 20 pips = $200


def test_limit_fill_bar_takes_the_favourable_extreme_only_up_to_the_close():
    # Long limit at 1.0990 filled inside bar 1 on the way down. The bar's high (1.1015) may
    # have come before the fill, so only the close counts as a price after it.
    sig_kw = dict(entry="limit", entry_price=1.0990, expiry=2, stop_price=1.0970,
                  targets=[Target(1.1010, 1.0, kind="price")])  # fmt: skip
    frame = frame_of([*flat(1.1000), (1.1000, 1.1015, 1.0985, 1.0995), *flat(1.0995)])
    t = only(bt(frame, make_signals(len(frame), [0], 1, **sig_kw)))
    assert t.exit_reason == "end"  # target 1.1010 not booked in the fill bar
    assert t.pnl == pytest.approx(50.0)  # 1.0990 -> 1.0995
    # a close beyond the target proves the target traded after the fill
    frame = frame_of([*flat(1.1000), (1.1000, 1.1015, 1.0985, 1.1012), *flat(1.1012)])
    t = only(bt(frame, make_signals(len(frame), [0], 1, **sig_kw)))
    assert t.exit_reason == "target" and t.exit_time == frame.index[1]
    assert t.pnl == pytest.approx(200.0)


def test_stop_entry_fill_bar_target_counts():
    # Buy stop at 1.1010 filled inside bar 1 on the way up: the 1.1035 high came after it.
    frame = frame_of([*flat(1.1000), (1.1000, 1.1035, 1.0995, 1.1005), *flat(1.1005)])
    sig = make_signals(len(frame), [0], 1, entry="stop", entry_price=1.1010, expiry=2,
                       stop_price=1.0990, targets=[Target(1.1030, 1.0, kind="price")])  # fmt: skip
    t = only(bt(frame, sig))
    assert t.entry_price == pytest.approx(1.1010)
    assert t.exit_reason == "target" and t.exit_time == frame.index[1]
    assert t.pnl == pytest.approx(200.0)


def test_stop_entry_expires_after_its_bars():
    frame = frame_of([*flat(1.1000), (1.1000, 1.1003, 1.0995, 1.0998), *flat(1.0980, 3)])
    sig = make_signals(len(frame), [0], -1, entry="stop", entry_price=1.0990, expiry=1,
                       stop_price=1.1010)  # fmt: skip
    res = bt(frame, sig)  # live on bar 1 only; bar 2 would have filled it
    assert len(res.trades) == 0
    assert res.counters["expired"] == 1


# --------------------------------------------------------------------------------------------
# de-duplication


def dedup_signals(n: int) -> Signals:
    return make_signals(n, [0, 1, 2], 1, tag=np.array([0, 1, 0]), tag_names=("a", "b"),
                        stop_distance=50 * PIP)  # fmt: skip


def test_dedup_per_tag():
    frame = frame_of(flat(1.1000, 6))
    res = bt(frame, dedup_signals(len(frame)), mode="tag")
    # a fills on bar 1, b on bar 2, the second a (bar 2) is ignored: a is still open
    assert list(res.trades.tag) == ["a", "b"]
    assert list(res.trades.entry_time) == [frame.index[1], frame.index[2]]
    assert res.counters["signals"] == 3
    assert res.counters["ignored_dedup"] == 1
    assert res.counters["filled"] == 2
    assert list(res.equity["open_positions"]) == [0, 1, 2, 2, 2, 0]


def test_dedup_per_symbol():
    frame = frame_of(flat(1.1000, 6))
    res = bt(frame, dedup_signals(len(frame)), mode="symbol")
    assert list(res.trades.tag) == ["a"]
    assert res.counters["ignored_dedup"] == 2
    assert res.counters["filled"] == 1


# --------------------------------------------------------------------------------------------
# sizing and commission


def test_risk_sizing_rounds_down_to_the_lot_step_and_compounds():
    frame = frame_of(
        [
            *flat(1.1000),  # 0 signal 1: stop 15 pips
            (1.1000, 1.1001, 1.0995, 1.0998),  # 1 entry 1.1000, stop 1.0985
            (1.0998, 1.1001, 1.0980, 1.0985),  # 2 stopped; signal 2: stop 10 pips
            *flat(1.0985, 2),  # 3 entry 1.0985
        ]
    )
    sig = make_signals(len(frame), [0, 2], 1, stop_distance=np.array([15 * PIP, 10 * PIP]))
    res = bt(frame, sig, sizing=Sizing("risk", 1.0), capital=10_000.0)
    first, second = res.trades.itertuples()
    # $100 at risk / ($1.50 per 0.01 lot) = 66.7 steps -> 0.66 lot; loses 15 pips * $66 = $99
    assert first.size == pytest.approx(0.66)
    assert first.risk == pytest.approx(99.0)
    assert first.pnl == pytest.approx(-99.0)
    # balance 9,901: $99.01 / ($1 per 0.01 lot) = 99 steps -> 0.99 lot (not 1.00)
    assert second.size == pytest.approx(0.99)


def test_risk_sizing_below_the_min_lot_skips_the_trade():
    inst = Instrument(symbol="TESTFX", digits=5, pip_size=PIP, tick_size=0.00001,
                      contract_size=100_000, min_lot=0.1, lot_step=0.01,
                      quote_currency="USD")  # fmt: skip
    frame = frame_of(flat(1.1000, 4))
    sig = make_signals(len(frame), [0], 1, stop_distance=20 * PIP)
    # 1% of 1,000 = $10; $2 per 0.01 lot -> 5 steps = 0.05 lot < 0.1 min lot
    res = bt(frame, sig, "TESTFX", instrument=inst, sizing=Sizing("risk", 1.0), capital=1_000.0)
    assert len(res.trades) == 0
    assert res.counters["skipped_size"] == 1 and res.counters["filled"] == 0
    # 5% = $50 -> 25 steps = 0.25 lot
    res = bt(frame, sig, "TESTFX", instrument=inst, sizing=Sizing("risk", 5.0), capital=1_000.0)
    assert only(res)["size"] == pytest.approx(0.25)


def test_commission_is_charged_per_lot_per_side_on_every_leg():
    frame = frame_of([*flat(1.1000, 2), (1.1000, 1.1025, 1.0995, 1.1020), *flat(1.1020)])
    sig = make_signals(len(frame), [0], 1, stop_distance=10 * PIP,
                       targets=[Target(1.0, 0.5), Target(2.0, 0.5)])  # fmt: skip
    res = bt(frame, sig, lots=0.5, commission=4.0)
    # legs 0.25 lot each: 10 pips = 25 and 20 pips = 50, each less 4 * 0.25 * 2 = 2
    assert list(res.legs.pnl) == pytest.approx([23.0, 48.0])
    t = only(res)
    assert t.commission == pytest.approx(4.0)
    assert t.pnl == pytest.approx(71.0)
    assert t.r_multiple == pytest.approx(71.0 / 50.0)


def test_intrabar_fill_does_not_leak_into_the_sizing_of_an_open_fill():
    # Tag a: a limit filled inside bar 2 and stopped in that bar (after the open). Tag b: a
    # market order filling at bar 2's open. b's size must use the balance known at the open.
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1002, 1.0995, 1.1000),  # 1 a not touched (1.0995 > 1.0990)
            (1.1000, 1.1001, 1.0975, 1.0990),  # 2 b in at 1.1000; a in at 1.0990; both stopped
            *flat(1.0990),
        ]
    )
    sig = make_signals(len(frame), [0, 1], 1, tag=np.array([0, 1]), tag_names=("a", "b"),
                       entry=np.array([1, 0]), entry_price=np.array([1.0990, np.nan]),
                       expiry=np.array([3, 0]), stop_price=np.array([1.0980, np.nan]),
                       stop_distance=np.array([np.nan, 10 * PIP]))  # fmt: skip
    res = bt(frame, sig, mode="tag", sizing=Sizing("risk", 1.0))
    by_tag = res.trades.set_index(res.trades.tag.astype(str))
    # both risk 10 pips: $1,000 / $1 per step = 1,000 steps = 10 lots each
    assert by_tag.loc["a", "size"] == pytest.approx(10.0)
    assert by_tag.loc["b", "size"] == pytest.approx(10.0)
    assert res.trades.pnl.sum() == pytest.approx(-2_000.0)


# --------------------------------------------------------------------------------------------
# equity, end of data, last-bar signals


def test_equity_is_balance_plus_open_pnl_at_every_close():
    frame = frame_of(
        [
            *flat(1.1000),
            (1.1000, 1.1010, 1.0995, 1.1006),
            (1.1006, 1.1012, 1.1001, 1.1004),
            (1.1004, 1.1030, 1.1003, 1.1028),  # T1 1.1020 on 0.5 lot
            (1.1028, 1.1029, 1.1010, 1.1012),
        ],
        spread=1 * PIP,
    )
    sig = make_signals(len(frame), [0], 1, stop_distance=20 * PIP, runner=True,
                       targets=[Target(19 * PIP, 0.5, kind="distance")])  # fmt: skip
    res = bt(frame, sig)
    # entry at the ask 1.1001; T1 = 1.1020 closes 0.5 lot on bar 3 (19 pips * $5 = 95)
    # bar 1: 1 lot at 1.1006 -> +50; bar 2: at 1.1004 -> +30;
    # bar 3: 95 realized + 0.5 lot at 1.1028 (27 pips * $5 = 135);
    # bar 4 (last): the rest closes "end" at 1.1012 (11 pips * $5 = 55)
    assert list(res.equity["equity"]) == pytest.approx(
        [CAPITAL, CAPITAL + 50, CAPITAL + 30, CAPITAL + 230, CAPITAL + 150]
    )
    assert list(res.equity["balance"]) == pytest.approx(
        [CAPITAL, CAPITAL, CAPITAL, CAPITAL + 95, CAPITAL + 150]
    )
    assert list(res.equity["open_positions"]) == [0, 1, 1, 1, 0]
    t = only(res)
    assert t.exit_reason == "end"
    assert t.pnl == pytest.approx(150.0)


def test_signal_on_the_last_bar_never_fills():
    frame = frame_of(flat(1.1000, 3))
    res = bt(frame, make_signals(len(frame), [2], 1, stop_distance=10 * PIP))
    assert len(res.trades) == 0
    assert res.counters["signals"] == 1
    assert res.counters["filled"] == 0
    assert res.counters["unfilled_at_end"] == 1


def test_open_positions_close_at_the_end_with_reason_end():
    frame = frame_of([*flat(1.1000, 2), (1.1000, 1.1010, 1.0990, 1.1007)])
    t = only(bt(frame, make_signals(len(frame), [0], 1, stop_distance=20 * PIP)))
    assert t.exit_reason == "end" and t.exit_time == frame.index[2]
    assert t.exit_price == pytest.approx(1.1007)
    assert t.pnl == pytest.approx(70.0)


@pytest.mark.parametrize("side", [1, -1])
def test_end_of_data_exit_is_a_market_close_paying_slippage(side):
    frame = frame_of(
        [
            *flat(1.1000),  # 0 signal
            (1.1000, 1.1010, 1.0995, 1.1005),  # 1 entry at the open
            (1.1005, 1.1006, 1.0985, 1.0990),  # 2 last bar: everything closes at the close
        ],
        spread=1 * PIP,
    )
    sig = make_signals(len(frame), [0], side, stop_distance=50 * PIP)
    res = bt(frame, sig, slippage="fixed", slippage_value=0.5)
    t = only(res)
    assert t.exit_reason == "end" and t.exit_time == frame.index[2]
    if side > 0:
        # in at the ask 1.1000 + 1 pip + 0.5 slip = 1.10015; out at the bid close 1.0990 - 0.5
        # pip = 1.09895 (was 1.0990 without slippage): -12 pips = -$120 (was -$115)
        assert t.entry_price == pytest.approx(1.10015)
        assert t.exit_price == pytest.approx(1.09895)
        assert t.pnl == pytest.approx(-120.0)
    else:
        # in at the bid 1.1000 - 0.5 pip = 1.09995; out at the ask close 1.0990 + 1 pip + 0.5
        # pip = 1.09915 (was 1.0991): +8 pips = $80 (was $85)
        assert t.entry_price == pytest.approx(1.09995)
        assert t.exit_price == pytest.approx(1.09915)
        assert t.pnl == pytest.approx(80.0)
    assert res.legs["price"].iloc[-1] == pytest.approx(t.exit_price)
    assert eq_at(res, 2) == pytest.approx(CAPITAL + t.pnl)
    assert res.equity["balance"].iloc[2] == pytest.approx(CAPITAL + t.pnl)


def test_end_of_data_exit_draws_the_last_bars_random_slippage():
    from tradeforge.trading.execution import random_units

    frame = frame_of([*flat(1.1000, 2), (1.1000, 1.1010, 1.0990, 1.1007)])
    res = bt(frame, make_signals(len(frame), [0], 1, stop_distance=20 * PIP),
             slippage="random", slippage_value=2.0, seed=7)  # fmt: skip
    t = only(res)
    times = frame.index.as_unit("ns").asi8
    slip = random_units(7, "EURUSD", times) * 2.0 * PIP  # the model's slippage per bar
    assert slip[2] > 0
    assert t.entry_price == pytest.approx(1.1000 + slip[1])
    assert t.exit_price == pytest.approx(1.1007 - slip[2])
    assert t.pnl == pytest.approx((1.1007 - slip[2] - 1.1000 - slip[1]) * 100_000)


# --------------------------------------------------------------------------------------------
# exact touches: a level on the price grid reached exactly must count despite float noise


def test_target_exactly_touched_fills():
    # 1.1000 + 1R of 15 pips computes as 1.1015000000000001 in floating point
    frame = frame_of([*flat(1.1000, 2), (1.1000, 1.1015, 1.0990, 1.1010), *flat(1.1010)])
    sig = make_signals(len(frame), [0], 1, stop_distance=15 * PIP, targets=[Target(1.0, 1.0)])
    t = only(bt(frame, sig))
    assert t.exit_reason == "target"
    assert t.exit_price == pytest.approx(1.1015)


def test_stop_exactly_touched_fills():
    # 1.10001 - 15 pips computes as 1.0985099999999999, just under the 1.09851 low
    frame = frame_of([*flat(1.10001, 2), (1.10001, 1.1003, 1.09851, 1.0990), *flat(1.0990)])
    t = only(bt(frame, make_signals(len(frame), [0], 1, stop_distance=15 * PIP)))
    assert t.exit_reason == "stop"
    assert t.exit_time == frame.index[2]
    assert t.exit_price == pytest.approx(1.09851)


def test_break_even_trigger_exactly_touched_arms():
    # trigger at 1R = 1.1015000000000001; bar 2's high is exactly 1.1015; bar 3 dips to entry
    frame = frame_of(
        [
            *flat(1.1000, 2),
            (1.1000, 1.1015, 1.0995, 1.1010),
            (1.1010, 1.1012, 1.0995, 1.1000),
            *flat(1.1000),
        ]
    )
    sig = make_signals(len(frame), [0], 1, stop_distance=15 * PIP,
                       break_even=BreakEven(1.0, 0.0))  # fmt: skip
    t = only(bt(frame, sig))
    assert t.exit_reason == "breakeven" and t.exit_time == frame.index[3]
    assert t.pnl == pytest.approx(0.0, abs=1e-6)


# --------------------------------------------------------------------------------------------
# money conversion on other instruments


def test_usdjpy_pip_is_0_01_and_money_is_in_yen():
    inst = get_instrument("USDJPY")
    frame = frame_of(
        [
            *flat(150.000),
            (150.000, 150.100, 149.900, 150.050),  # 1 entry ask 150.020; stop 149.720
            (150.050, 150.700, 150.000, 150.600),  # 2 target 2R = 150.620 reached
            *flat(150.600),
        ],
        spread=None,  # spread from the execution model: 2 pips = 0.02
    )
    sig = make_signals(len(frame), [0], 1, stop_distance=30 * inst.pip_size,
                       targets=[Target(2.0, 1.0)])  # fmt: skip
    t = only(bt(frame, sig, "USDJPY", spread=2.0))
    assert t.entry_price == pytest.approx(150.020)
    assert t.initial_stop == pytest.approx(149.720)
    assert t.exit_price == pytest.approx(150.620)
    assert t.pnl == pytest.approx(60_000.0)  # 60 pips * 1,000 JPY
    assert t.risk == pytest.approx(30_000.0)
    assert t.r_multiple == pytest.approx(2.0)


def test_xauusd_contract_of_100_ounces():
    frame = frame_of(
        [
            *flat(2000.00),
            (2000.00, 2002.00, 1995.00, 1996.00),  # 1 short at 2000.00; ask high 2002.30 < 2005
            (1996.00, 1997.00, 1989.00, 1990.50),  # 2 ask low 1989.30 <= target 1990.00
            *flat(1990.50),
        ],
        spread=0.30,
    )
    sig = make_signals(len(frame), [0], -1, stop_distance=5.0,
                       targets=[Target(1990.0, 1.0, kind="price")])  # fmt: skip
    res = bt(frame, sig, "XAUUSD", lots=0.5, commission=5.0)
    t = only(res)
    # $10 * 100 oz * 0.5 lot = 500 gross; commission 5 * 0.5 * 2 = 5
    assert t.exit_price == pytest.approx(1990.0)
    assert t.pnl == pytest.approx(495.0)
    assert t.risk == pytest.approx(250.0)  # $5 * 50 oz
    assert t.r_multiple == pytest.approx(1.98)
    # bar 1 marked at the ask close 1996.30: 3.70 * 50 = 185 less entry commission 2.5
    assert eq_at(res, 1) == pytest.approx(CAPITAL + 185.0 - 2.5)


def test_no_entry_once_the_account_is_blown():
    """Capital 100 and 1 lot: a long from 1.1000 stopped at 1.0980 loses 20 pips x $10 = $200,
    balance -100. The next signal's market order finds the balance <= 0 and is skipped."""
    frame = frame_of(flat(1.1, 2) + [(1.1, 1.1, 1.097, 1.098)] + flat(1.098, 3))
    sig = make_signals(len(frame), [0, 3], [1, 1], tag="t", stop_distance=20 * PIP)
    res = bt(frame, sig, capital=100.0)
    t = only(res)
    assert t.pnl == pytest.approx(-200.0)
    assert res.counters["skipped_size"] == 1 and res.counters["filled"] == 1
    assert res.equity["balance"].iloc[-1] == pytest.approx(-100.0)
    funded = bt(frame, sig, capital=1_000.0)  # same signals, balance 800 > 0: both fill
    assert funded.counters["filled"] == 2 and funded.counters["skipped_size"] == 0
