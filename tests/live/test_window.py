"""The dry-run/live window comes from the strategy's warm-up (`RunSpec.resolve_window`)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tradeforge.backtest import run_backtest
from tradeforge.cli import app
from tradeforge.core.errors import ConfigError
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.live.runner import run_dry, trades_frame
from tradeforge.strategy import create_strategy
from tradeforge.trading.spec import DEFAULT_WINDOW, WINDOW_MARGIN, LiveSettings, RunSpec

SLOW = {"slow": 400}


@pytest.fixture(scope="module")
def bars_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bars") / "eurusd_h1.parquet"
    generate_bars("EURUSD", "H1", "2023-01-01", "2023-05-01", seed=3).to_parquet(path)
    return path


def _spec(bars_file, window: int | None) -> RunSpec:
    live = LiveSettings(window=window, bars_file=str(bars_file))
    return RunSpec.for_strategy(
        create_strategy("sma_cross", SLOW), symbols=["EURUSD"], timeframe="H1",
        start="2023-01-01", end="2023-05-01", live=live,
    )  # fmt: skip


def test_default_window_covers_the_warm_up_and_gives_the_backtests_trades(tmp_path, bars_file):
    import pandas as pd

    spec = _spec(bars_file, None)
    strategy = spec.create_strategy()
    warmup = strategy.warmup_bars("H1")
    assert warmup == 400
    assert spec.resolve_window(strategy) == max(DEFAULT_WINDOW, warmup + 1 + WINDOW_MARGIN)
    run_dry(tmp_path / "dry", spec)
    bt = run_backtest(strategy, {"EURUSD": pd.read_parquet(bars_file)}, spec)
    dry = trades_frame(tmp_path / "dry")
    assert len(bt.trades) > 0
    assert dry["entry_time"].tolist() == bt.trades["entry_time"].tolist()
    assert dry["pnl"].round(6).tolist() == bt.trades["pnl"].round(6).tolist()


def test_a_window_shorter_than_the_warm_up_is_refused(tmp_path, bars_file):
    spec = _spec(bars_file, 300)
    with pytest.raises(ConfigError, match=r"window 300 is shorter than sma_cross\(slow=400\)"):
        run_dry(tmp_path / "dry", spec)
    assert not (tmp_path / "dry" / "dryrun.json").exists()
    result = CliRunner().invoke(
        app, ["dry-run", "--state", str(tmp_path / "cli"), "--strategy", "sma_cross",
              "-p", "slow=400", "-s", "EURUSD", "-t", "H1", "--replay", "2023-01-01:2023-05-01",
              "--bars", str(bars_file), "--window", "300"],
    )  # fmt: skip
    assert isinstance(result.exception, ConfigError)
    assert "warm-up of 400 bars; use --window 401 or more" in str(result.exception)
    assert not (tmp_path / "cli" / "dryrun.json").exists()
