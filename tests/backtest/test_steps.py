"""The state machine's shared decisions (`tradeforge.trading.steps`): hand-computed cases and
properties. The kernel and the live engine both call these, so a wrong rule here is wrong in
both; the parity tests (tests/live/test_consistency.py) check that they are called alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.core.instruments import get_instrument
from tradeforge.live.sizing import RiskSizer
from tradeforge.trading import Sizing, rules
from tradeforge.trading.steps import (
    ENTRY_LIMIT,
    ENTRY_MARKET,
    ENTRY_STOP,
    SIZE_CAPPED,
    SIZE_MARGIN,
    SIZE_REFUSED,
    SLOT_BUSY,
    SLOT_FREE,
    SLOT_REVERSAL,
    fill_view,
    initial_stop,
    leg_quote,
    open_quote,
    position_steps,
    slot_verdict,
    swap_quote,
)

EURUSD = get_instrument("EURUSD")


def test_instrument_step_facts() -> None:
    assert EURUSD.unit == 1000.0  # 0.01 lot * 100,000, exactly
    assert EURUSD.min_steps == 1 and EURUSD.max_steps == 10_000
    assert EURUSD.lot_steps(0.29) == 29  # 0.29 / 0.01 is 28.999999999999996 in floats


@pytest.mark.parametrize(
    ("occupied", "held", "leaving", "queued", "side", "verdict"),
    [
        (False, 0.0, False, False, 1, SLOT_FREE),
        (True, 0.0, False, False, 1, SLOT_BUSY),  # an order holds it
        (True, 1.0, True, False, 1, SLOT_BUSY),  # same side: no reversal
        (True, -1.0, False, False, 1, SLOT_BUSY),  # opposite but staying
        (True, -1.0, True, False, 1, SLOT_REVERSAL),
        (True, -1.0, True, True, 1, SLOT_BUSY),  # a reversal already waits
        (True, 1.0, True, False, -1, SLOT_REVERSAL),
    ],
)
def test_slot_verdict(occupied, held, leaving, queued, side, verdict) -> None:
    assert slot_verdict(occupied, held, leaving, queued, side) == verdict


def test_initial_stop() -> None:
    assert initial_stop(1.0, 1.1000, 0.0010, 1.05) == pytest.approx(1.0990)
    assert initial_stop(-1.0, 1.1000, 0.0010, 1.05) == pytest.approx(1.1010)
    assert initial_stop(1.0, 1.1000, math.nan, 1.05) == 1.05  # no distance: the price


def test_position_steps_by_hand() -> None:
    # 1% of 100,000 = 1,000 over 20 pips * 1000 per step (2 money per step) = 500 steps
    assert position_steps(False, 1.0, 100_000.0, 0.0020 * 1000, 1e4, 1e4, 1.0) == (500.0, 500.0, 0)
    # 30 pips: 333.33 -> 333 (floored, never rounded up)
    assert position_steps(False, 1.0, 100_000.0, 0.0030 * 1000, 1e4, 1e4, 1.0)[0] == 333.0
    steps, raw, flags = position_steps(False, 1.0, 100_000.0, 20.0, 20.0, 1e4, 1.0)
    assert (steps, raw, flags) == (20.0, 50.0, SIZE_CAPPED)
    steps, _, flags = position_steps(False, 1.0, 100_000.0, 20.0, 1e4, 7.0, 1.0)
    assert (steps, flags) == (7.0, SIZE_MARGIN)
    assert position_steps(True, 10.0, 5.0, 20.0, 1e4, 1e4, 1.0) == (10.0, 10.0, 0)
    # too small, and a blown account (fixed sizing would otherwise still trade)
    assert position_steps(False, 1.0, 1_000.0, 20.0, 1e4, 1e4, 1.0)[2] & SIZE_REFUSED
    assert position_steps(True, 10.0, 0.0, 20.0, 1e4, 1e4, 1.0)[:2] == (0.0, 10.0)
    assert position_steps(True, 10.0, -5.0, 20.0, 1e4, 1e4, 1.0)[2] == SIZE_REFUSED


def test_position_steps_scaled_by_the_signal() -> None:
    # 1% of 100,000 at 20 pips is 500 steps; a signal's size_scale 0.6 trades 300
    assert position_steps(False, 1.0, 100_000.0, 2.0, 1e4, 1e4, 1.0, 0.6) == (300.0, 300.0, 0)
    # 1,000 * 0.37 / 3 = 123.33 -> 123 (the scale comes before the rounding down)
    assert position_steps(False, 1.0, 100_000.0, 3.0, 1e4, 1e4, 1.0, 0.37)[0] == 123.0
    # fixed 10 steps * 0.55 = 5.5 -> 5; 0.05 of 10 steps is below the 1-step minimum
    assert position_steps(True, 10.0, 5.0, 20.0, 1e4, 1e4, 1.0, 0.55)[0] == 5.0
    assert position_steps(True, 10.0, 5.0, 20.0, 1e4, 1e4, 1.0, 0.05)[2] & SIZE_REFUSED
    # 0.3 of 10 steps is 3 in exact arithmetic (2.9999999999999996 in floats)
    assert position_steps(True, 10.0, 5.0, 20.0, 1e4, 1e4, 1.0, 0.3)[0] == 3.0
    sizer = RiskSizer(Sizing("risk", 1.0))
    half = sizer.size(EURUSD, 100_000.0, 0.0020, 1.1, scale=0.5)
    assert half.steps == 250 and "x size scale 0.5" in half.reason


@settings(deadline=None)  # the first call compiles
@given(
    balance=st.floats(-1e6, 1e8),
    risk=st.floats(0.1, 100),
    per_step=st.floats(1e-3, 1e4),
    cap=st.integers(1, 10_000),
    afford=st.integers(0, 10_000),
)
def test_position_steps_properties(balance, risk, per_step, cap, afford) -> None:
    steps, raw, flags = position_steps(False, risk, balance, per_step, cap, afford, 1.0)
    assert steps == int(steps) and 0 <= steps <= min(cap, afford)
    if steps > 0:  # never risks more than asked
        assert steps * per_step <= balance * risk / 100 * (1 + 1e-9) + 1e-6
        assert flags & SIZE_REFUSED == 0
    else:
        assert flags & SIZE_REFUSED
    if balance <= 0:
        assert steps == 0


def test_live_sizer_is_the_kernel_rule() -> None:
    """The live sizer's answer, with no margin limit, is `position_steps` with the kernel's
    parameters — the same steps the backtest kernel would trade."""
    sizer = RiskSizer(Sizing("risk", 1.5))
    for balance, dist in [(100_000.0, 0.0020), (12_345.67, 0.00137), (50.0, 0.0100)]:
        live = sizer.size(EURUSD, balance, dist, 1.1).steps
        kernel = position_steps(
            False, 1.5, balance, dist * EURUSD.unit, EURUSD.max_steps, EURUSD.max_steps, 1
        )[0]
        assert live == kernel
    assert RiskSizer(Sizing("fixed", 0.5)).size(EURUSD, -10.0, 0.002, 1.1).steps == 0


def test_leg_and_swap_money() -> None:
    # long 1.1000 -> 1.1020, 10 steps (0.1 lot): 0.0020 * 10 * 1000 = 20; commission 2 * 0.7 * 10
    gross, comm = leg_quote(1.0, 1.1000, 1.1020, 10.0, 1000.0, 0.7)
    assert gross == pytest.approx(20.0) and comm == pytest.approx(14.0)
    assert leg_quote(-1.0, 1.1000, 1.1020, 10.0, 1000.0, 0.0)[0] == pytest.approx(-20.0)
    # -5 per lot per night, 0.01 lots per step, 30 steps (0.3 lots), 3 nights: -4.5
    assert swap_quote(1.0, -5.0, 2.0, 0.01, 30.0, 3) == pytest.approx(-4.5)
    assert swap_quote(-1.0, -5.0, 2.0, 0.01, 30.0, 3) == pytest.approx(1.8)


@pytest.mark.parametrize(
    ("side", "kind", "view"),
    [
        (1.0, ENTRY_MARKET, (1.0998, 1.1010, 1.0990)),
        (1.0, ENTRY_STOP, (1.0998, 1.1010, 1.0990)),
        (1.0, ENTRY_LIMIT, (1.0998, 1.1005, 1.0990)),  # the high only as far as the close
        (-1.0, ENTRY_LIMIT, (1.1000, 1.1010, 1.1000)),  # the low only as far as the fill
    ],
)
def test_fill_view(side, kind, view) -> None:
    # fill at 1.1000 with a 2-pip spread inside the bar h=1.1010 l=1.0990 c=1.1005
    got = fill_view(side, kind, 1.1000, 0.0002, 1.1010, 1.0990, 1.1005)
    assert got == pytest.approx(view)


def test_open_quote_marks_at_the_exit_side() -> None:
    pf = np.zeros((1, rules.NF))
    pf[0, rules.F_SIDE], pf[0, rules.F_ENTRY], pf[0, rules.F_REMAINING] = -1.0, 1.1000, 10.0
    # a short is marked at the ask: bid 1.0990 + spread 0.0002 -> 8 pips on 0.1 lot = 8
    gross, comm = open_quote(pf, 0, 1.0990, 0.0002, 1000.0, 0.5)
    assert gross == pytest.approx(8.0) and comm == pytest.approx(5.0)
