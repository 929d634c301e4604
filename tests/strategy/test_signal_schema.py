"""The one `Signals` schema declaration: attributes, defaults, packing and live JSON rows."""

from __future__ import annotations

import numpy as np

from tradeforge.live.strategy_signals import signal_row
from tradeforge.strategy.signal_schema import BY_NAME, COLUMNS, FLOAT, column, pack_row
from tradeforge.strategy.signals import (
    BreakEven,
    Target,
    Trailing,
    make_signals,
    pack_signals,
)


def test_every_declared_column_is_an_attribute_with_its_default():
    sig = make_signals(8, [2, 5], 1, stop_distance=0.001)
    for c in COLUMNS:
        values = getattr(sig, c.name)
        assert values.dtype == c.dtype, c.name
        assert values.shape == ((2,) if c.width == 1 else (2, c.width)), c.name
        if c.default is not None and c.name not in ("tag", "stop_distance"):
            assert np.array_equal(values, np.full(values.shape, c.default), equal_nan=True), c.name


def test_pack_signals_shares_the_blocks_and_pads_missing_levels():
    sig = make_signals(8, [2, 5], [1, -1], stop_distance=0.001, time_stop=3)
    packed = pack_signals(sig)
    assert np.shares_memory(packed.ints, sig.ints) and np.shares_memory(packed.floats, sig.floats)
    assert column(packed.ints, packed.int_at, BY_NAME["time_stop"], 2).tolist() == [3, 3]
    assert packed.levels.shape == (2, 1) and np.isnan(packed.levels).all()
    swing = make_signals(8, [2], 1, stop_distance=0.001, trailing=Trailing("swing"),
                         trail_level_long=np.arange(8.0), trail_level_short=np.ones(8))  # fmt: skip
    assert pack_signals(swing).levels.tolist() == [list(np.arange(8.0)), [1.0] * 8]


def test_a_column_given_once_is_stored_once_and_bar_ends_with_minus_one():
    n = 1000
    sig = make_signals(2 * n, np.arange(n) * 2, np.where(np.arange(n) % 2, 1, -1),
                       stop_distance=0.001, targets=[Target(1.5, 1.0, "distance")],
                       size_scale=np.full(n, 0.5))  # fmt: skip
    per_row = {c.name for c in COLUMNS if sig.stored(c.name).shape[1] == n}
    assert per_row == {"bar", "side", "size_scale"}
    # the three per-row columns, bar's -1, and one value per row of each other column
    assert sig.ints.size == 2 * n + 1 + 13 - 2 and sig.floats.size == n + 16 - 1
    assert sig.ints[sig.int_at[0, 0] + n] == -1
    assert sig.stop_distance.tolist() == [0.001] * n and sig.target_kind.shape == (n, 4)
    taken = sig.take(sig.side > 0)
    assert taken.stored("stop_distance").shape == (1, 1) and len(taken) == n // 2
    assert taken.bar.tolist() == list(range(2, 2 * n, 4))


def test_live_json_row_packs_back_to_the_same_row():
    sig = make_signals(
        10, [1, 4], [1, -1], tag=["a", "b"], entry="limit", entry_price=[1.1, 1.2], expiry=2,
        stop_distance=0.002, targets=[Target(1.0, 0.5), Target([1.3, 1.1], 0.5, "price")],
        runner=True, break_even=BreakEven(1.0, 0.0001), trailing=Trailing("distance", 0.003),
        time_stop=5, exit_opposite=[True, False], size_scale=[0.25, 1.0],
    )  # fmt: skip
    for j in range(len(sig)):
        row = signal_row(sig, j)
        assert row["entry_type"] == "limit" and row["tag"] == ("a", "b")[j]
        assert row["target_names"] == ["r", "price", "none", "none"]
        packed = pack_row(row)
        # not in the JSON row: the bar; and it names the tag, whose code a one-row table lacks
        for c in COLUMNS:
            if c.name in ("bar", "tag"):
                continue
            block, at = (
                (packed.floats, packed.float_at)
                if c.block == FLOAT
                else (packed.ints, packed.int_at)
            )
            want = getattr(sig, c.name)[j]
            assert np.array_equal(column(block, at, c, 1)[0], want, equal_nan=True), c.name


def test_size_scale_must_be_a_share_of_the_configured_size():
    import pytest

    from tradeforge.strategy.signals import SignalError

    assert make_signals(8, [2], 1, stop_distance=0.001, size_scale=0.5).size_scale.tolist() == [0.5]
    for bad in (0.0, 1.5, np.nan, -0.2):
        with pytest.raises(SignalError, match=r"size_scale must be in \(0, 1\]"):
            make_signals(8, [2, 5], 1, stop_distance=0.001, size_scale=[1.0, bad])
