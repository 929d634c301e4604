"""Parameter spaces: parsing, coercion, grids, seeded sampling, neighbours."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeforge.core.errors import ConfigError
from tradeforge.research.space import Dimension, ParameterSpace, parse_dimension
from tradeforge.strategy import get_strategy

SMA = get_strategy("sma_cross")


def test_cli_specs_give_typed_values_in_order():
    space = ParameterSpace.from_specs(SMA, ["fast=5:30:5", "slow=20,40,60", "stop_pips=10:20:2.5"])
    dims = {d.name: d for d in space.dimensions}
    assert dims["fast"].values() == [5, 10, 15, 20, 25, 30]
    assert all(isinstance(v, int) for v in dims["fast"].values())
    assert dims["slow"].values() == [20, 40, 60]
    assert dims["stop_pips"].values() == [10.0, 12.5, 15.0, 17.5, 20.0]
    assert space.size == 6 * 3 * 5
    grid = space.grid()
    assert len(grid) == 90
    assert grid[0] == {"fast": 5, "slow": 20, "stop_pips": 10.0}
    assert grid[1] == {"fast": 5, "slow": 20, "stop_pips": 12.5}  # last dimension fastest


def test_float_steps_have_no_binary_noise():
    assert parse_dimension("x", "0.1:0.5:0.1", float).values() == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_int_range_without_step_is_every_integer_and_float_range_is_continuous():
    assert parse_dimension("fast", "3:6", int).values() == [3, 4, 5, 6]
    dim = parse_dimension("stop_pips", "5:25", float)
    assert dim.continuous
    with pytest.raises(ConfigError, match="no grid"):
        dim.values()


def test_config_mapping_forms():
    space = ParameterSpace.from_specs(
        SMA,
        {"fast": {"low": 5, "high": 15, "step": 5}, "slow": [30, 50], "stop_pips": 25},
        fixed={"target_pips": "50"},
    )
    assert space.grid()[0] == {"fast": 5, "slow": 30, "stop_pips": 25.0}
    assert space.complete({"fast": 5}) == {"target_pips": 50.0, "fast": 5}


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["fats=1:3"], "no parameter 'fats'"),
        (["fast=a,b"], "cannot read 'a' as int"),
        (["fast=1.5:3"], "integer parameter"),
        (["fast=5:1"], "low <= high"),
        (["fast"], "name=spec"),
        ([], "empty"),
        (["stop_pips=0:1:log"], "log range"),
    ],
)
def test_bad_specs_name_the_problem(specs, message):
    with pytest.raises(ConfigError, match=message):
        ParameterSpace.from_specs(SMA, specs)


def test_fixed_and_searched_clash():
    with pytest.raises(ConfigError, match="both fixed and searched"):
        ParameterSpace.from_specs(SMA, ["fast=5,10"], fixed={"fast": 3})


def test_sampling_is_seeded_and_inside_the_space():
    space = ParameterSpace.from_specs(
        SMA, ["fast=5:30:5", "stop_pips=5:50", "target_pips=1:100:log"]
    )
    a, b = space.sample(50, seed=3), space.sample(50, seed=3)
    assert a == b
    assert a != space.sample(50, seed=4)
    for p in a:
        assert p["fast"] in range(5, 31, 5)
        assert 5 <= p["stop_pips"] <= 50
        assert 1 <= p["target_pips"] <= 100


def test_neighbours_are_one_step_away():
    space = ParameterSpace.from_specs(SMA, ["fast=5:30:5", "slow=20,40,60"])
    assert space.neighbours({"fast": 5, "slow": 40}) == [
        {"fast": 10, "slow": 40},
        {"fast": 5, "slow": 20},
        {"fast": 5, "slow": 60},
    ]


@given(
    low=st.integers(-50, 50),
    width=st.integers(0, 100),
    step=st.integers(1, 17),
)
def test_int_grid_covers_the_range_with_the_step(low, width, step):
    dim = Dimension("x", int, low=low, high=low + width, step=step)
    vals = dim.values()
    assert vals[0] == low
    assert vals[-1] <= low + width < vals[-1] + step
    assert all(b - a == step for a, b in zip(vals, vals[1:], strict=False))
