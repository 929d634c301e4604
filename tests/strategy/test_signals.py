"""`Signals` construction and validation."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.strategy.signals import (
    BreakEven,
    SignalError,
    Signals,
    Target,
    Trailing,
    make_signals,
)


def test_columns_broadcast_and_tags_are_codes():
    sig = make_signals(10, [5, 1, 3], [1, -1, 1], tag=["x", "y", "x"], stop_distance=0.001,
                       targets=[Target(1.0, 0.5), Target(2.0, 0.5)])  # fmt: skip
    assert list(sig.bar) == [1, 3, 5]  # sorted
    assert list(sig.side) == [-1, 1, 1]
    assert sig.tags == ("x", "y")
    assert list(sig.tag_names) == ["y", "x", "x"]
    assert sig.target_fraction[:, :2].tolist() == [[0.5, 0.5]] * 3
    frame = sig.to_frame()
    assert list(frame.tag) == ["y", "x", "x"]


def test_mask_input_and_concat():
    mask = np.zeros(6, dtype=bool)
    mask[[2, 4]] = True
    a = make_signals(6, mask, 1, tag="long", stop_distance=0.001)
    b = make_signals(6, [3], -1, tag="short", stop_price=1.2, reference_price=1.1)
    both = Signals.concat([a, b])
    assert list(both.bar) == [2, 3, 4]
    assert list(both.tag_names) == ["long", "short", "long"]
    assert len(Signals.empty(6)) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stop_price": 1.2, "reference_price": 1.1}, "row 1 .*wrong side"),
        ({"stop_distance": 0.001, "targets": [Target(1, 0.6), Target(2, 0.5)]}, "sum to more"),
        ({}, "exactly one of stop_price or stop_distance"),
        ({"stop_distance": -1.0}, "stop_distance must be > 0"),
        ({"stop_distance": 0.001, "entry": "limit"}, "entry_price needed"),
        ({"stop_distance": 0.001, "break_even": BreakEven(0.0)}, "be_trigger_r"),
        ({"stop_distance": 0.001, "trailing": Trailing("swing")}, "trail_level_long"),
        ({"stop_distance": 0.001, "targets": [Target(1.0, 0.5, "pips")]}, "target kind"),
    ],
)
def test_validation_errors_name_the_problem(kwargs, message):
    side = [1, 1] if "reference_price" not in kwargs else [-1, 1]
    with pytest.raises(SignalError, match=message):
        make_signals(5, [0, 1], side, **kwargs)


def test_bar_outside_frame_and_bad_side():
    with pytest.raises(SignalError, match="outside the frame"):
        make_signals(3, [3], 1, stop_distance=0.001)
    with pytest.raises(SignalError, match="side"):
        make_signals(3, [1], 0, stop_distance=0.001)


@pytest.mark.parametrize(
    ("side", "stop", "target", "first_bad", "rule"),
    [
        ([1, -1, 1], [1.0, 1.3, 1.2], 1.5, 2, "stop is on the wrong side"),  # long stop above
        ([1, -1, 1], [1.0, 1.1, 1.0], 1.5, 1, "stop is on the wrong side"),  # short stop below
        ([1, -1, 1], [1.0, 1.3, 1.0], [1.5, 1.25, 1.1], 1, "price target is on the wrong"),
        ([1, 1, -1], [1.0, 1.0, 1.3], [1.5, 1.1, 1.0], 1, "price target is on the wrong"),
        ([-1, -1, -1], [1.3, 1.3, 1.3], [1.0, 1.0, 1.3], 2, "price target is on the wrong"),
    ],
)
def test_price_levels_on_the_wrong_side_name_the_first_bad_row(side, stop, target, first_bad, rule):
    """Reference price 1.2 on every row: a long's stop must be below it and its price target
    above, a short's the other way round; the error names the first row that breaks it."""
    with pytest.raises(SignalError, match=f"row {first_bad} .*{rule}"):
        make_signals(10, [1, 2, 3], side, stop_price=stop, reference_price=1.2,
                     targets=[Target(target, 1.0, "price")])  # fmt: skip


def test_price_levels_on_the_right_side_pass():
    sig = make_signals(10, [1, 2], [1, -1], stop_price=[1.1, 1.3], reference_price=1.2,
                       targets=[Target([1.4, 1.0], 1.0, "price")])  # fmt: skip
    assert len(sig) == 2
