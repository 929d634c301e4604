"""`RunSpec`: one validated, JSON round-tripping run specification for every entry point."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_bars
from tradeforge.backtest import ExecutionModel, Sizing, run_backtest
from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.instruments import get_instrument
from tradeforge.strategy import create_strategy
from tradeforge.trading.spec import LiveSettings, RunSpec


def _spec(**values) -> RunSpec:
    return RunSpec.for_strategy(
        create_strategy("sma_cross", {"fast": 5, "slow": 20}),
        symbols=["gbpusd", "EURGBP"],
        timeframe="h1",
        start="2024-01-01",
        end="2024-03-01",
        execution=ExecutionModel(commission=3.5, slippage="random", slippage_value=0.4, seed=7),
        sizing=Sizing("risk", 1.0),
        position_mode="tag",
        initial_capital=50_000,
        account_currency="usd",
        conversion={"GBPUSD": "bars"},
        instruments={"EURGBP": get_instrument("EURGBP")},
        **values,
    )


def test_round_trips_through_json():
    spec = _spec(live=LiveSettings(window=400, limits={"max_positions": 2}, bars_file="b.pq"))
    assert spec.symbols == ("EURGBP", "GBPUSD") and spec.timeframe == "H1"
    assert spec.account_currency == "USD" and spec.initial_capital == 50_000.0
    data = json.loads(json.dumps(spec.to_dict()))
    assert RunSpec.from_dict(data) == spec
    assert RunSpec.from_dict(_spec().to_dict()).live is None


def test_run_json_config_is_the_spec():
    bars = make_bars(300)
    strategy = create_strategy("sma_cross", {"fast": 5, "slow": 20})
    spec = RunSpec.for_strategy(strategy, symbols=["EURUSD"], timeframe="M5")
    result = run_backtest(strategy, {"EURUSD": bars}, spec)
    assert RunSpec.from_dict(result.config) == RunSpec.from_dict(
        {**spec.to_dict(), "instruments": {"EURUSD": get_instrument("EURUSD").to_dict()}}
    )
    by_keywords = run_backtest(strategy, {"EURUSD": bars}, timeframe="M5")
    assert by_keywords.config == result.config
    with pytest.raises(ConfigError, match="not both"):
        run_backtest(strategy, {"EURUSD": bars}, spec, timeframe="M5")
    with pytest.raises(ConfigError, match="not the spec's"):
        run_backtest(create_strategy("sma_cross"), {"EURUSD": bars}, spec)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"initial_capital": 0}, "initial capital must be > 0"),
        ({"position_mode": "account"}, "position mode must be one of"),
        ({"start": "01.02.2024"}, "invalid start"),
        ({"start": "2024-03-01", "end": "2024-01-01"}, "must be before end"),
        ({"symbols": ["../x"]}, "invalid symbol"),
        ({"account_currency": "DOLLAR"}, "3-letter"),
        ({"conversion": {"GBPUSD": 0.0}, "account_currency": "USD"}, "> 0"),
        ({"conversion": {"GBPUSD": 1.2}}, "need an account currency"),
    ],
)
def test_validation_in_one_place(values, message):
    with pytest.raises(ConfigError, match=message):
        RunSpec("sma_cross", **values)


def test_live_settings_are_validated_too():
    with pytest.raises(ConfigError, match="window must be >= 2"):
        LiveSettings(window=1)
    with pytest.raises(ConfigError, match="exit mode"):
        LiveSettings(exit_mode="never")


def test_reads_a_dryrun_json_of_the_former_flat_layout():
    flat = {
        "strategy": "sma_cross", "symbol": "EURUSD", "timeframe": "M5",
        "start": "2024-01-01", "end": "2024-02-01", "params": {"fast": 3, "slow": 12},
        "bars_file": "bars.parquet", "home": None, "window": 36, "sizing": "risk:1",
        "spread": "data", "slippage": "random:0.5", "commission": 3.0, "swap_long": 0.0,
        "swap_short": 0.0, "slippage_seed": 4, "capital": 100000.0, "leverage": 100.0,
        "position_mode": "symbol", "exit_mode": "bar", "close_at_end": True, "max_lots": None,
        "limits": {}, "pace": 0.0,
    }  # fmt: skip
    spec = RunSpec.from_dict(flat)
    assert spec.symbol == "EURUSD" and spec.params == {"fast": 3, "slow": 12}
    assert spec.execution == ExecutionModel(
        slippage="random", slippage_value=0.5, seed=4, commission=3.0
    )
    assert spec.sizing == Sizing("risk", 1.0)
    assert spec.live == LiveSettings(window=36, close_at_end=True, bars_file="bars.parquet")
    with pytest.raises(StateError, match="malformed"):
        RunSpec.from_dict({"symbol": "EURUSD"})
