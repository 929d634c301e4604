"""Every ```python block of the README runs as written.

Blocks with side effects or results worth checking have their own test (found by a marker
in the block); every other block runs in `test_block_runs`, in a scratch directory and home,
with ``bars`` holding the M5 bars the README's data section makes (blocks read them).
"""

import re
from pathlib import Path

import pandas as pd
import pytest

from tradeforge.backtest import run_backtest
from tradeforge.data.sources.synthetic import generate_bars

README = Path(__file__).resolve().parents[1] / "README.md"


#: markers of the blocks that have a test of their own below
OWN_TESTS = (
    "class RsiFade",
    "atr_stretch",
    "ParameterSpace.from_specs(SMA",
    'ParquetStore("~/tf-home")',
    "import tradeforge as tf",
)


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _block(marker: str) -> str:
    found = [b for b in _blocks() if marker in b]
    assert len(found) == 1, f"README.md needs one python block containing {marker!r}"
    return found[0]


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A scratch working directory that is also $HOME (blocks may write files)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "code",
    [b for b in _blocks() if not any(m in b for m in OWN_TESTS)],
    ids=lambda code: code.strip().splitlines()[-1][:40],
)
def test_block_runs(code, scratch):
    bars = generate_bars("EURUSD", "M5", "2024-01-01", "2024-02-15", seed=42)
    exec(code, {"bars": bars})


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


def test_data_example_writes_under_the_home_directory(scratch):
    namespace: dict = {}
    exec(_block('ParquetStore("~/tf-home")'), namespace)
    assert len(namespace["m30"]) > 0
    assert (scratch / "tf-home" / "bars" / "EURUSD" / "M5" / "2024.parquet").exists()
    assert not (scratch / "~").exists()  # a literal '~' folder was the bug


def test_python_api_example(scratch):
    namespace: dict = {}
    exec(_block("import tradeforge as tf"), namespace)
    run, res = namespace["run"], namespace["res"]
    assert run.stats["trades"] == len(run.trades) > 0
    assert run.equity["equity"].iloc[-1] == pytest.approx(100_000 + run.trades["pnl"].sum())
    for name in ("trades.csv", "run.json", "report.html", "charts/equity.png"):
        assert (scratch / "runs" / "api" / name).is_file()
    assert (scratch / "figure.html").read_text().startswith("<!DOCTYPE html>")
    assert set(res.best_params) == {"fast", "slow"}
