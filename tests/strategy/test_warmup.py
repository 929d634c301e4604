"""A strategy's warm-up: its features' declared warm-ups plus its signal look-back."""

from __future__ import annotations

import pytest

from tradeforge.features import FeatureError, register_feature, unregister_feature, warmup_bars
from tradeforge.strategy import Strategy, get_strategy


def test_sma_cross_slow_400_needs_more_than_the_default_window():
    strategy = get_strategy("sma_cross")(fast=10, slow=400)
    assert strategy.warmup_bars("H1") == 399 + 1  # the slow SMA, then the cross reads t-1
    assert strategy.warmup_bars("H1") + 1 > 300


@pytest.mark.parametrize("name", ["sma_cross", "breakout", "structure"])
def test_builtin_warmups_come_from_their_features(name):
    strategy = get_strategy(name)()
    expected = warmup_bars(strategy.features(), "M5") + strategy.signal_lookback
    assert strategy.warmup_bars("M5") == expected > 0


def test_a_strategy_with_an_undeclared_feature_is_refused():
    @register_feature("t_undeclared", inputs=("close",), outputs=("t_undeclared",))
    def t_undeclared(close):
        return close

    class Plain(Strategy):
        name = "t_plain"

        def features(self) -> list[str]:
            return ["t_undeclared"]

    try:
        with pytest.raises(FeatureError, match="declares no warm-up"):
            Plain().warmup_bars("M5")
    finally:
        unregister_feature("t_undeclared")
