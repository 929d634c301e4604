"""The execution guards of `tradeforge.live.guards`, case by case with hand-computed numbers:
trading hours, slipped fills, exposure, orders per minute and price deviation."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeforge.core.errors import ConfigError
from tradeforge.live.guards import (
    MINUTE_NS,
    Exposure,
    RiskLimits,
    check_entry,
    check_order,
    hours_table,
    parse_hours,
    slippage_pips,
    within_hours,
)
from tradeforge.live.model import Slip

PIP = 0.0001


def at(text: str) -> int:
    return pd.Timestamp(text, tz="UTC").value


def entry(limits: RiskLimits, now: int, symbol: str = "EURUSD", slips=()) -> dict:
    base = {"last_tick_time": now, "spread": 0.0001, "pip_size": PIP, "equity": 1e5,
            "day_start_balance": 1e5, "peak_equity": 1e5, "open_count": 0}  # fmt: skip
    verdicts = check_entry(limits, now=now, symbol=symbol, slips=slips, **base)
    return {v.guard: v for v in verdicts}


def order(limits: RiskLimits, **kw) -> dict:
    base = {"now": at("2024-01-02 10:00"), "symbol": "EURUSD", "side": 1, "lots": 0.3,
            "price": 1.1002, "quote": (1.1000, 1.1002), "pip_size": PIP,
            "exposure": Exposure(0.0, 0.0), "recent_orders": []}  # fmt: skip
    return {v.guard: v for v in check_order(limits, **{**base, **kw})}


def test_trading_hours_windows_and_overnight():
    assert parse_hours("07:00-16:00") == ((420, 960),)
    assert parse_hours("22:00-02:00, 12:30-24:00") == ((1320, 120), (750, 1440))
    day = parse_hours("07:00-16:00")
    assert not within_hours(day, at("2024-01-02 06:59"))
    assert within_hours(day, at("2024-01-02 07:00")) and within_hours(day, at("2024-01-02 15:59"))
    assert not within_hours(day, at("2024-01-02 16:00"))  # the end is not included
    night = parse_hours("22:00-02:00")
    assert within_hours(night, at("2024-01-02 23:00")) and within_hours(
        night, at("2024-01-03 01:59")
    )
    assert not within_hours(night, at("2024-01-03 02:00"))
    assert not within_hours(night, at("2024-01-02 21:59"))


@pytest.mark.parametrize(
    "text", ["7-16", "25:00-26:00", "10:00-10:00", "10:60-11:00", "", "07:00-16:00,x"]
)
def test_bad_trading_hours_are_refused(text):
    with pytest.raises(ConfigError, match="trading hours"):
        parse_hours(text)


@given(st.integers(0, 1439), st.integers(0, 1439), st.integers(0, 10 * 1440 - 1))
def test_a_window_and_its_complement_split_every_day(start, end, minute):
    if start == end:
        return
    now = minute * MINUTE_NS
    inside = within_hours([(start, end)], now)
    assert inside != within_hours([(end, start)], now)
    if start < end:
        assert inside == (start <= minute % 1440 < end)


def test_trading_hours_per_symbol_with_a_default():
    assert hours_table(["eurusd=07:00-16:00", "00:00-24:00"]) == {
        "EURUSD": "07:00-16:00",
        "*": "00:00-24:00",
    }
    with pytest.raises(ConfigError, match="no symbol before '='"):
        hours_table(["=07:00-08:00"])
    with pytest.raises(ConfigError, match="trading hours of EURUSD given twice"):
        hours_table(["EURUSD=07:00-08:00", "EURUSD=09:00-10:00"])
    limits = RiskLimits(trading_hours={"eurusd": "07:00-16:00", "*": "00:00-01:00"})
    assert limits.trading_hours == {"*": "00:00-01:00", "EURUSD": "07:00-16:00"}
    v = entry(limits, at("2024-01-02 16:30"))["trading_hours"]
    assert not v.ok and v.reason == "16:30 UTC vs EURUSD trading hours 07:00-16:00 UTC"
    assert entry(limits, at("2024-01-02 08:00"))["trading_hours"].ok
    assert not entry(limits, at("2024-01-02 08:00"), "GBPUSD")["trading_hours"].ok  # the default
    assert "trading_hours" not in entry(RiskLimits(), at("2024-01-02 03:00"))
    assert RiskLimits(trading_hours="07:00-16:00").trading_hours == {"*": "07:00-16:00"}
    with pytest.raises(ConfigError, match="trading_hours of GBPUSD: trading hours"):
        RiskLimits(trading_hours={"GBPUSD": "late"})


def test_a_slipped_fill_pauses_entries_for_the_pause():
    t0 = at("2024-01-02 10:00")
    limits = RiskLimits(max_slippage_pips=2.0, slippage_pause_minutes=60)
    slips = [Slip(t0, 3.0)]
    v = entry(limits, t0 + 59 * MINUTE_NS, slips=slips)["slippage"]
    assert not v.ok
    assert v.reason == ("an entry fill on EURUSD slipped 3.00 pips vs limit 2: entries paused "
                        "1 more min")  # fmt: skip
    assert "slippage" not in entry(limits, t0 + 60 * MINUTE_NS, slips=slips)  # the pause is over
    # a slip within this scope's limit (recorded for a stricter one) does not pause
    assert "slippage" not in entry(RiskLimits(max_slippage_pips=3.0), t0, slips=slips)
    assert slippage_pips(1, 1.1000, 1.1003, PIP) == pytest.approx(3.0)  # bought higher
    assert slippage_pips(-1, 1.1000, 1.0997, PIP) == pytest.approx(3.0)  # sold lower
    assert slippage_pips(1, 1.1000, 1.0999, PIP) == pytest.approx(-1.0)  # better: negative


def test_exposure_counts_the_new_order():
    limits = RiskLimits(max_symbol_lots=0.8, max_total_lots=1.0)
    v = order(limits, exposure=Exposure(0.5, 0.7))  # 0.5 + 0.3 = 0.8; 0.7 + 0.3 = 1.0
    assert v["symbol_exposure"].ok and v["total_exposure"].ok
    v = order(limits, exposure=Exposure(0.51, 0.71))
    assert not v["symbol_exposure"].ok and not v["total_exposure"].ok
    assert v["symbol_exposure"].reason == "EURUSD 0.51 + 0.3 lots vs limit 0.8"
    assert v["total_exposure"].reason == "all symbols 0.71 + 0.3 lots vs limit 1"


def test_orders_per_minute_count_the_last_sixty_seconds():
    now = at("2024-01-02 10:00")
    s = 1_000_000_000
    recent = [now - 61 * s, now - 60 * s, now - 59 * s, now - s]  # two within the minute
    v = order(RiskLimits(max_orders_per_minute=2), now=now, recent_orders=recent)
    assert not v["orders_per_minute"].ok
    assert v["orders_per_minute"].reason == "2 entry orders in the last minute vs limit 2"
    assert order(RiskLimits(max_orders_per_minute=3), now=now, recent_orders=recent)[
        "orders_per_minute"
    ].ok


def test_price_deviation_from_the_last_quote():
    limits = RiskLimits(max_deviation_pips=5)
    assert order(limits, price=1.1007)["price_deviation"].ok  # buy: 5 pips from the ask
    v = order(limits, price=1.10071)["price_deviation"]
    assert not v.ok
    assert v.reason == "order price 1.10071 is 5.10 pips from the last ask 1.1002 vs limit 5"
    assert order(limits, side=-1, price=1.0995)["price_deviation"].ok  # sell: from the bid
    assert not order(limits, side=-1, price=1.09949)["price_deviation"].ok
    assert "price_deviation" not in order(limits, quote=None)  # no quote yet: nothing to judge


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"max_orders_per_minute": 0}, "max_orders_per_minute must be a whole number >= 1"),
        ({"max_orders_per_minute": 1.5}, "max_orders_per_minute must be a whole number >= 1"),
        ({"max_symbol_lots": 0}, "max_symbol_lots must be > 0"),
        ({"max_slippage_pips": -1}, "max_slippage_pips must be > 0"),
        ({"trading_hours": {}}, "trading_hours must map SYMBOL"),
    ],
)
def test_bad_limits_are_refused(kw, message):
    with pytest.raises(ConfigError, match=message):
        RiskLimits(**kw)
