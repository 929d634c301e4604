"""`SearchSettings.resolve`: the config file's search settings overridden by the caller's."""

from __future__ import annotations

import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.research import SearchSettings


def test_options_override_the_config_file(tmp_path) -> None:
    cfg = tmp_path / "search.yaml"
    cfg.write_text(
        "strategy: sma_cross\nparams: {stop_pips: 20, fast: 7}\nspace: {slow: [30, 60]}\n"
        "method: random\ntrials: 5\nseed: 3\n"
        "objective: {metric: sharpe, direction: minimize, min_trades: 4}\n"
        "walkforward: {train: 6M, test: 2M}\n"
    )
    s = SearchSettings.resolve(cfg, space=["fast=5:10:5"], seed=9, constraints=["trades>=2"])
    assert s.strategy.name == "sma_cross"
    assert s.space.names == ["slow", "fast"]  # fast is searched now, no longer fixed
    assert dict(s.space.fixed) == {"stop_pips": 20}
    assert (s.method, s.trials, s.seed) == ("random", 5, 9)
    assert s.walkforward == {"train": "6M", "test": "2M"}
    assert s.objective.min_trades == 4 and len(s.objective.constraints) == 1


def test_refusals(tmp_path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('strategy = "breakout"\n')
    with pytest.raises(ConfigError, match="disagrees"):
        SearchSettings.resolve(cfg, strategy="sma_cross")
    with pytest.raises(ConfigError, match="no strategy given"):
        SearchSettings.resolve(None)
    with pytest.raises(ConfigError, match="must look like name=spec"):
        SearchSettings.resolve(None, strategy="sma_cross", space=["fast"])
