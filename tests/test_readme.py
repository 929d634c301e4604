"""The README's strategy and feature examples run as written."""

import re
from pathlib import Path

import pandas as pd
import pytest

from tradeforge.backtest import run_backtest
from tradeforge.data.sources.synthetic import generate_bars

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return next(b for b in blocks if marker in b)


@pytest.fixture(scope="module")
def bars():
    return generate_bars("EURUSD", "M15", "2024-01-01", "2024-03-01", seed=1)


def test_strategy_example_backtests(bars):
    namespace: dict = {}
    exec(_block("class RsiFade"), namespace)
    from tradeforge.strategy import registry

    try:
        result = run_backtest(namespace["RsiFade"](), {"EURUSD": bars})
        assert result.counters["signals"] > 0 and len(result.trades) > 0
        assert set(result.trades["tag"].astype(str)) == {"fade"}
    finally:
        registry._REGISTRY.pop("rsi_fade", None)


def test_feature_example_computes(bars):
    namespace: dict = {"bars": bars}
    from tradeforge.features import compute_features, unregister_feature

    try:
        exec(_block("atr_stretch"), namespace)
        out = namespace["out"]
        atr = compute_features(bars, ["atr(20)"], "M15")["atr_20"]
        expected = (bars["close"] - bars["open"]) / atr
        pd.testing.assert_series_equal(out["atr_stretch_20"], expected, check_names=False)
        assert out["atr_stretch_20@M30"].notna().sum() > 0
    finally:
        unregister_feature("atr_stretch")


def test_research_example_runs():
    namespace: dict = {"bars": generate_bars("EURUSD", "H1", "2023-01-01", "2024-01-01", seed=3)}
    exec(_block("ParameterSpace.from_specs(SMA"), namespace)
    res = namespace["res"]
    assert len(res.trials) == 18  # 6 fast values x 3 slow values
    assert set(res.best_params) >= {"fast", "slow"}


def test_data_example_writes_under_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(_block('ParquetStore("~/tf-home")'), namespace)
    assert len(namespace["m30"]) > 0
    assert (tmp_path / "tf-home" / "bars" / "EURUSD" / "M5" / "2024.parquet").exists()
    assert not (tmp_path / "~").exists()  # a literal '~' folder was the bug
