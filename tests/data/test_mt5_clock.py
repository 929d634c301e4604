"""The MT5 server clock: rules across New York's DST switches, hand-computed, and detection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.core.errors import ConfigError
from tradeforge.data.sources.mt5_clock import ServerClock, detect_clock

H = 3600
SPRING = 1710028800  # 2024-03-10 00:00 UTC; New York springs forward at 07:00 UTC
FALL = 1730592000  # 2024-11-03 00:00 UTC; New York falls back at 06:00 UTC
NY = ServerClock.parse("ny")


def utc(seconds: list[int]) -> list[str]:
    return [str(t) for t in NY.to_utc(np.array(seconds)).tz_convert(None)]


def test_ny_close_rule_across_the_spring_switch() -> None:
    # server wall 07:00 and 08:00 are UTC+2; the server clock jumps 09:00 -> 10:00 at 07:00 UTC
    server = [SPRING + 7 * H, SPRING + 8 * H, SPRING + 10 * H, SPRING + 11 * H]
    assert utc(server) == [
        "2024-03-10 05:00:00", "2024-03-10 06:00:00", "2024-03-10 07:00:00", "2024-03-10 08:00:00",
    ]  # fmt: skip
    assert NY.to_server_seconds(pd.Timestamp("2024-03-10 05:00", tz="UTC")) == SPRING + 7 * H
    assert NY.to_server_seconds(pd.Timestamp("2024-03-10 09:00", tz="UTC")) == SPRING + 12 * H


def test_ny_close_rule_across_the_fall_switch() -> None:
    # UTC+3 until 06:00 UTC, then UTC+2: server 07:00 is 04:00 UTC, server 09:00 is 07:00 UTC
    assert utc([FALL + 7 * H, FALL + 9 * H]) == ["2024-11-03 04:00:00", "2024-11-03 07:00:00"]
    # the repeated server hour (08:xx happens twice) maps to its later occurrence
    assert utc([FALL + 8 * H + 1800]) == ["2024-11-03 06:30:00"]


def test_ny_rule_is_not_europe() -> None:
    # 2024-03-20: New York is already on summer time, Europe not yet
    t = pd.Timestamp("2024-03-20 12:00", tz="UTC")
    assert NY.to_server_seconds(t) - t.value // 10**9 == 3 * H
    athens = ServerClock.parse("Europe/Athens")
    assert athens.to_server_seconds(t) - t.value // 10**9 == 2 * H


@pytest.mark.parametrize(
    ("text", "offset"),
    [("utc", 0), ("+2", 2 * H), ("UTC+3", 3 * H), ("-5", -5 * H), ("+5:30", 5 * H + 1800)],
)
def test_fixed_offsets(text: str, offset: int) -> None:
    clock = ServerClock.parse(text)
    assert clock.to_utc(np.array([SPRING + offset]))[0] == pd.Timestamp(SPRING, unit="s", tz="UTC")


@pytest.mark.parametrize("bad", ["auto", "Mars/Olympus", "+30", "UTC+2:07x"])
def test_bad_server_times_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        ServerClock.parse(bad)


@settings(max_examples=200, deadline=None)
@given(st.integers(1_600_000_000, 1_900_000_000))
def test_server_time_round_trips_except_in_the_repeated_hour(t: int) -> None:
    server = NY.to_server_seconds(pd.Timestamp(t, unit="s", tz="UTC"))
    back = int(NY.to_utc(np.array([server]))[0].value // 10**9)
    assert back == t or back == t + H  # + 1 h only for the hour a fall-back repeats


def test_detection_from_the_last_tick() -> None:
    winter = pd.Timestamp("2024-01-15 10:00", tz="UTC").value // 10**6
    summer = pd.Timestamp("2024-07-15 10:00", tz="UTC").value // 10**6
    assert detect_clock(winter + 2 * H * 1000 - 3_000, winter) == NY  # 3 s old tick
    assert detect_clock(summer + 3 * H * 1000, summer) == NY
    assert detect_clock(summer + 2 * H * 1000, summer) == ServerClock.fixed(2 * H)
    assert detect_clock(winter, winter) == ServerClock.fixed(0)
    assert detect_clock(winter - 40 * H * 1000, winter) is None  # weekend: Friday's tick
    assert detect_clock(winter + 2 * H * 1000 - 600_000, winter) is None  # 10 min old
