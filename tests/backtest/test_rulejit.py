"""The two forms of every trading rule agree bit for bit (`tradeforge.trading.rulejit`).

Compiled loops call the rules as Numba code, Python callers (the live engine, the paper
broker) run their Python source. Each driver below is one plain function run both ways: as
Python (its rule calls run the Python form) and compiled with `njit` (its rule calls are
compiled calls). Floats are compared by their bits, NaN included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from tradeforge.strategy.signal_schema import pack_row
from tradeforge.trading.rules import (
    F_REMAINING,
    MAX_T,
    NF,
    entry_fill,
    mark_price,
    market_exit_price,
    open_position,
    process_observation,
    update_after_observation,
)
from tradeforge.trading.steps import (
    fill_view,
    initial_stop,
    leg_quote,
    open_quote,
    position_steps,
    slot_verdict,
    swap_quote,
)


def _scalars(side, kind, level, o, h, lo, c, sp, slip, dist, balance, risk, nights):  # fmt: skip
    """Every scalar rule on one set of inputs; returns their results as one float vector."""
    r = np.empty(19)
    r[0], r[1] = entry_fill(side, kind, level, o, h, lo, sp, slip)
    r[2], r[3], r[4] = fill_view(float(side), kind, level, sp, h, lo, c)
    r[5] = initial_stop(float(side), o, dist, level)
    r[6] = initial_stop(float(side), o, np.nan, level)
    r[7], r[8], r[9] = position_steps(False, 1.5, balance, risk, 500.0, 300.0, 1.0)
    r[10], r[11], r[12] = position_steps(True, 7.0, balance, risk, 5.0, 300.0, 1.0)
    r[13], r[14] = leg_quote(float(side), o, c, 3.0, 1000.0, 0.035)
    r[15] = swap_quote(float(side), -6.5, 1.25, 0.01, 3.0, nights)
    r[16] = market_exit_price(float(side), c, sp, slip)
    r[17] = slot_verdict(True, float(-side), nights % 2 == 0, False, side)
    r[18] = slot_verdict(balance > 0, 0.0, False, False, side)
    return r


def _path(sig, side, entry, stop, steps, bars, sp, slip, levels, st_, out, legs):  # fmt: skip
    """A position from its fill through ``bars`` (open, high, low, close rows), recorded in
    ``legs``: its exit legs (price, steps, reason) and, after each bar it survives, its mark
    and open quote (mark, gross, commission); returns the rows written."""
    open_position(st_, 0, side, entry, stop, steps, sig, 0)
    n = 0
    for i in range(bars.shape[0]):
        k = process_observation(st_, 0, bars[i, 0], bars[i, 1], bars[i, 2], sp, slip, out)
        for q in range(k):
            legs[n, 0], legs[n, 1], legs[n, 2] = out[q, 0], out[q, 1], out[q, 2]
            n += 1
        if st_[0, F_REMAINING] <= 0:
            break
        update_after_observation(
            st_, 0, bars[i, 1], bars[i, 2], bars[i, 3], sp, levels[0, i], levels[1, i]
        )
        legs[n, 0] = mark_price(st_, 0, bars[i, 3], sp)
        legs[n, 1], legs[n, 2] = open_quote(st_, 0, bars[i, 3], sp, 1000.0, 0.035)
        n += 1
    return n


_scalars_jit = njit(cache=True)(_scalars)
_path_jit = njit(cache=True)(_path)

_price = st.floats(1.05, 1.15)
_small = st.floats(0.0, 0.002)


@settings(deadline=None, max_examples=100)  # the first call compiles
@given(
    side=st.sampled_from([1, -1]),
    kind=st.sampled_from([0, 1, 2]),
    prices=st.lists(_price, min_size=5, max_size=5),
    sp=_small,
    slip=_small,
    dist=st.one_of(st.just(np.nan), st.floats(0.0001, 0.01)),
    balance=st.floats(-1e4, 1e7),
    risk=st.floats(0.01, 1e4),
    nights=st.integers(0, 5),
)
def test_scalar_rules_agree(side, kind, prices, sp, slip, dist, balance, risk, nights) -> None:
    level, o, a, b, c = prices
    args = (side, kind, level, o, max(a, b, o, c), min(a, b, o, c), c, sp, slip, dist, balance, risk, nights)  # fmt: skip
    assert _scalars(*args).tobytes() == _scalars_jit(*args).tobytes()


_bar = st.tuples(_price, _price, _price, _price).map(
    lambda p: (p[0], max(p), min(p), p[3])  # open, high, low, close
)


@settings(deadline=None, max_examples=60)
@given(
    side=st.sampled_from([1, -1]),
    bars=st.lists(_bar, min_size=1, max_size=30),
    stop_dist=st.floats(0.0005, 0.01),
    steps=st.integers(1, 50),
    targets=st.lists(
        st.tuples(
            st.sampled_from(["r", "price", "distance"]), st.floats(0.3, 3.0), st.floats(0.1, 0.6)
        ),  # fmt: skip
        max_size=MAX_T,
    ),
    runner=st.integers(0, 1),
    be=st.one_of(st.none(), st.tuples(st.floats(0.2, 2.0), st.floats(0.0, 0.0005))),
    trail=st.sampled_from(["none", "distance", "swing"]),
    trail_start=st.one_of(st.none(), st.floats(0.0, 2.0)),
    sp=_small,
    slip=_small,
    swing=st.floats(-0.01, 0.01),
)
def test_position_paths_agree(
    side, bars, stop_dist, steps, targets, runner, be, trail, trail_start, sp, slip, swing
) -> None:
    entry = bars[0][0]
    stop = entry - side * stop_dist
    values = {
        # price targets beyond the entry, distances in price units
        "target_kind": [k for k, _, _ in targets],
        "target_value": [
            v if k == "r" else (entry + side * v / 100 if k == "price" else v / 100)
            for k, v, _ in targets
        ],
        "target_fraction": [f for _, _, f in targets],
        "runner": runner,
        "be_trigger_r": None if be is None else be[0],
        "be_offset": None if be is None else be[1],
        "trail_kind": trail,
        "trail_distance": stop_dist / 2,
        "trail_start_r": trail_start,
    }
    sig = pack_row(values)
    ohlc = np.array(bars, dtype=np.float64)
    levels = np.vstack([ohlc[:, 2] - swing, ohlc[:, 1] + swing])
    results = []
    for fn in (_path, _path_jit):
        st_ = np.zeros((1, NF))
        out = np.zeros((MAX_T + 1, 3))
        legs = np.zeros((len(bars) + MAX_T + 1, 3))
        n = fn(sig, side, entry, stop, steps, ohlc, sp, slip, levels, st_, out, legs)
        results.append((n, st_.tobytes(), legs.tobytes()))
    assert results[0] == results[1]
