"""The per-call shortcuts of a backtest give exactly what the long way gives.

`make_signals` checks constant columns once, `prepare_symbol` shares constant and per-index
arrays between runs, and `combine_runs` skips the legs sort when they are already in order;
each must be invisible in the results and in the error messages.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.backtest import engine
from tradeforge.backtest.runner import _legs_in_order
from tradeforge.core.instruments import get_instrument
from tradeforge.strategy.signals import (
    SignalError,
    Target,
    make_signals,
    validate_signals,
)
from tradeforge.trading.execution import ExecutionModel, constant_array
from tradeforge.trading.spec import RunSpec


def _frame(n: int = 50) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC", name="time")
    close = 1.1 + 0.001 * np.sin(np.arange(n))
    return pd.DataFrame(
        {"open": close, "high": close + 0.0005, "low": close - 0.0005, "close": close},
        index=index,
    )


def test_constant_array_is_shared_and_read_only():
    a = constant_array(10, 0.0)
    assert a is constant_array(10, 0.0)
    assert not a.flags.writeable
    assert a.tolist() == [0.0] * 10
    negative = constant_array(10, -0.0)
    assert negative is not a and np.signbit(negative).all()  # -0.0 is not 0.0's array
    assert constant_array(11, 0.0).shape == (11,)
    with pytest.raises(ValueError):
        a[0] = 1.0


def test_prepared_arrays_are_read_only_and_match_the_frame():
    frame = _frame()
    sig = make_signals(len(frame), [3], [1], stop_distance=0.001)
    inst = get_instrument("EURUSD")
    spec = RunSpec(execution=ExecutionModel(spread=1.0, slippage="random", slippage_value=0.5))
    x = engine.prepare_symbol(frame, sig, inst, spec, symbol="EURUSD")
    arrays = (x.o, x.h, x.lo, x.c, x.spread, x.slip, x.day, x.fx)
    assert not any(a.flags.writeable for a in arrays)  # one kernel specialisation
    np.testing.assert_array_equal(x.c, frame["close"].to_numpy())
    np.testing.assert_array_equal(x.spread, np.full(len(frame), inst.pip_size))
    days = frame.index.as_unit("ns").asi8 // (86_400 * 10**9)
    np.testing.assert_array_equal(x.day, days)
    np.testing.assert_array_equal(x.fx, np.ones(len(frame)))
    # a frame sharing the index data (features recomputed) reuses the day numbers
    again = frame.assign(extra=1.0)
    y = engine.prepare_symbol(again, sig, inst, spec, symbol="EURUSD")
    assert y.day is x.day
    # a slice is other data: computed afresh
    part = frame.iloc[10:]
    z = engine.prepare_symbol(part, make_signals(len(part), [3], [1], stop_distance=0.001), inst, spec)  # fmt: skip
    np.testing.assert_array_equal(z.day, days[10:])


def _legs(times: list[int], ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trade_id": np.array(ids, dtype=np.int64),
            "time": pd.to_datetime(np.array(times, dtype=np.int64), unit="h", utc=True),
            "pnl": np.arange(len(ids), dtype=np.float64),
        }
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=12))
def test_legs_in_order_is_the_stable_sort(rows):
    legs = _legs([t for t, _ in rows], [i for _, i in rows])
    expected = legs.sort_values(["time", "trade_id"], kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(_legs_in_order(legs), expected)


def test_legs_in_order_keeps_sorted_legs_as_they_are():
    legs = _legs([0, 1, 1, 2], [0, 0, 1, 1])
    assert _legs_in_order(legs) is legs
    shuffled = _legs([1, 0], [0, 1])
    assert _legs_in_order(shuffled)["time"].is_monotonic_increasing


# make_signals reads scalar-filled columns as one row; the message must name the same row
# as the full check of the same table (`validate_signals`, which knows nothing constant).
BAD_TABLES = [
    dict(stop_distance=-1.0),
    dict(stop_distance=0.001, stop_price=1.0),
    dict(stop_distance=0.001, entry="limit", entry_price=1.1, expiry=0),
    dict(stop_distance=0.001, time_stop=-1),
    dict(stop_distance=0.001, targets=[Target(1.0, 0.6), Target(2.0, 0.6)]),
    dict(stop_distance=0.001, targets=[Target(np.array([1.0, 1.0, -1.0, 1.0]), 1.0)]),
    dict(stop_distance=np.array([0.001, 0.001, -0.5, 0.001])),
    dict(stop_price=1.2, reference_price=np.array([1.0, 1.3, 1.0, 1.0])),
    dict(stop_price=1.2, reference_price=1.3),
    dict(stop_distance=0.001, targets=[Target(1.15, 1.0, "price")], reference_price=1.2),
]


@pytest.mark.parametrize("kwargs", BAD_TABLES)
def test_constant_column_checks_name_the_same_row(kwargs):
    bars, sides = np.array([1, 3, 5, 7]), np.array([1, -1, 1, 1])
    with pytest.raises(SignalError) as fast:
        make_signals(10, bars, sides, **kwargs)
    # the same table built with every column given per row: no column is constant
    per_row = {k: np.full(4, v) if isinstance(v, (int, float)) else v for k, v in kwargs.items()}
    with pytest.raises(SignalError) as full:
        make_signals(10, bars, sides, **per_row)
    assert str(fast.value) == str(full.value)


def test_valid_table_passes_both_checks():
    sig = make_signals(
        10, [1, 3], [1, -1], stop_distance=0.001, targets=[Target(0.002, 1.0, "distance")]
    )
    validate_signals(sig)
    assert len(sig) == 2
