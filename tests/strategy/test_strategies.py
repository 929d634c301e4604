"""Strategy base, registry, parameters and the built-in strategies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.strategy import (
    Strategy,
    StrategyParams,
    available_strategies,
    create_strategy,
    get_strategy,
    load_strategy_config,
    make_signals,
    parse_params,
    register_strategy,
    resolve_strategy,
)


@pytest.fixture(scope="module")
def h1():
    return generate_bars("EURUSD", "H1", "2023-01-01", "2023-04-01", seed=9)


def test_builtins_are_registered():
    assert {"sma_cross", "breakout", "structure"} <= set(available_strategies())
    with pytest.raises(ConfigError, match="did you mean sma_cross"):
        get_strategy("sma_cros")


def test_params_are_typed_validated_and_from_strings():
    s = create_strategy("sma_cross", parse_params(["fast=5", "slow=12", "stop_pips=7.5"]))
    assert (s.params.fast, s.params.slow, s.params.stop_pips) == (5, 12, 7.5)
    with pytest.raises(ConfigError, match="unknown parameter"):
        create_strategy("sma_cross", {"fats": 3})
    with pytest.raises(ConfigError, match="fast"):
        create_strategy("sma_cross", {"fast": "x"})
    with pytest.raises(ConfigError, match="must be below slow"):
        create_strategy("sma_cross", {"fast": 30, "slow": 10})
    with pytest.raises(ConfigError, match="name=value"):
        parse_params(["fast"])


def test_config_files(tmp_path):
    y = tmp_path / "s.yaml"
    y.write_text("strategy: sma_cross\nparams:\n  fast: 4\n  slow: 9\n")
    assert load_strategy_config(y) == ("sma_cross", {"fast": 4, "slow": 9})
    t = tmp_path / "p.toml"
    t.write_text("fast = 3\nslow = 8\n")
    assert load_strategy_config(t) == (None, {"fast": 3, "slow": 8})
    s = resolve_strategy("sma_cross", ["slow=20"], t)
    assert (s.params.fast, s.params.slow) == (3, 20)
    with pytest.raises(ConfigError, match="disagrees"):
        resolve_strategy("breakout", [], y)


def test_sma_cross_signals_on_crosses_only(h1):
    s = create_strategy("sma_cross", {"fast": 3, "slow": 8, "stop_pips": 10, "target_pips": 20})
    frame = s.compute_features(h1, "H1")
    sig = s.signals(frame, "EURUSD")
    fast, slow = frame["sma_3"].to_numpy(), frame["sma_8"].to_numpy()
    diff = np.sign(fast - slow)
    for b, side in zip(sig.bar, sig.side, strict=True):
        assert diff[b] == side and diff[b - 1] != side
    assert len(sig) > 20
    assert np.allclose(sig.stop_distance, 0.0010)
    assert np.allclose(sig.target_value[:, 0], 0.0020) and np.allclose(sig.target_fraction[:, 0], 1)


def test_breakout_and_structure_produce_valid_signals():
    m5 = generate_bars("EURUSD", "M5", "2023-01-02", "2023-01-20", seed=3)
    for name in ("breakout", "structure"):
        s = create_strategy(name)
        frame = s.compute_features(m5, "M5")
        sig = s.signals(frame, "EURUSD")
        assert len(sig) > 10, name
        assert set(sig.tags) == {"long", "short"}
        assert np.isfinite(sig.stop_distance).all() and (sig.stop_distance > 0).all()
        assert np.isfinite(sig.be_trigger_r).all()


def test_structure_uses_only_the_signal_bar():
    """Changing bars after t never changes signals up to t (no look-ahead)."""
    m5 = generate_bars("EURUSD", "M5", "2023-01-02", "2023-01-12", seed=4)
    s = create_strategy("structure")
    full = s.signals(s.compute_features(m5, "M5"), "EURUSD")
    cut = len(m5) - 300
    part = s.signals(s.compute_features(m5.iloc[:cut], "M5"), "EURUSD")
    keep = full.bar < cut
    assert np.array_equal(full.bar[keep], part.bar)
    assert np.array_equal(full.side[keep], part.side)


def test_custom_strategy_registration():
    class P(StrategyParams):
        every: int = 5

    @register_strategy
    class EveryN(Strategy):
        name = "test_every_n"
        Params = P

        def signals(self, frame: pd.DataFrame, instrument=None):
            bars = np.arange(0, len(frame), self.params.every)
            return make_signals(len(frame), bars, 1, stop_distance=0.001)

    assert get_strategy("test_every_n") is EveryN
    s = create_strategy("test_every_n", {"every": "3"})
    assert s.params.every == 3
    assert s.describe() == {"name": "test_every_n", "params": {"every": 3}}


def test_informative_timeframes_are_declared_from_feature_requests():
    from tradeforge.core.timeframes import Timeframe
    from tradeforge.strategy import create_strategy

    assert create_strategy("structure").informative_timeframes() == [Timeframe.parse("M30")]
    assert create_strategy("sma_cross").informative_timeframes() == []
