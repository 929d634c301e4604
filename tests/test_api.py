"""The Python API (`tradeforge.api`): the same trades as `run_backtest`, stats that agree with
the tables, the command's report files, and clear errors for bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import tradeforge as tf
from tradeforge.analytics import write_report
from tradeforge.backtest import ExecutionModel, Sizing, run_backtest, write_result
from tradeforge.core.errors import ConfigError, DataValidationError
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.research import Objective, ParameterSpace, optimize
from tradeforge.strategy import create_strategy, get_strategy

CAPITAL = 50_000.0
SETTINGS = dict(commission=3.5, slippage="0.2", sizing="risk:1", capital=CAPITAL)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return generate_bars("EURUSD", "H1", "2023-01-01", "2024-01-01", seed=1)


@pytest.fixture(scope="module")
def run(bars) -> tf.BacktestRun:
    return tf.Backtest(bars, "sma_cross", symbol="EURUSD", fast=10, slow=30, **SETTINGS).run()


def test_results_equal_run_backtest(bars, run):
    expected = run_backtest(
        create_strategy("sma_cross", {"fast": 10, "slow": 30}),
        {"EURUSD": bars},
        execution=ExecutionModel(commission=3.5, slippage="fixed", slippage_value=0.2),
        sizing=Sizing("risk", 1.0),
        initial_capital=CAPITAL,
    )
    assert len(expected.trades) > 50
    pd.testing.assert_frame_equal(run.trades, expected.trades)
    pd.testing.assert_frame_equal(run.legs, expected.legs)
    pd.testing.assert_frame_equal(run.equity, expected.equity)
    assert run.counters == expected.counters


def test_stats_agree_with_the_tables(run):
    trades, stats = run.trades, run.stats
    pnl = trades["pnl"]
    n = len(trades)
    final = run.equity["equity"].iloc[-1]
    assert stats["trades"] == n
    assert stats["net_profit"] == pytest.approx(pnl.sum(), abs=1e-6)
    assert final == pytest.approx(CAPITAL + pnl.sum(), abs=1e-6)  # all closed at the end
    assert stats["final_equity"] == final
    assert stats["return_pct"] == pytest.approx(100 * (final - CAPITAL) / CAPITAL)
    assert stats["win_rate_pct"] == pytest.approx(100 * (pnl > 0).sum() / n)
    assert stats["expectancy"] == pytest.approx(pnl.mean())
    assert stats["expectancy_r"] == pytest.approx(trades["r_multiple"].mean())
    assert stats["profit_factor"] == pytest.approx(pnl[pnl > 0].sum() / -pnl[pnl < 0].sum())
    assert stats["commission"] == pytest.approx(trades["commission"].sum())
    dd = run.equity["equity"] / run.equity["equity"].cummax() - 1
    assert stats["max_drawdown_pct"] == pytest.approx(100 * dd.min())
    assert stats.name.startswith("sma_cross(fast=10, slow=30")


def test_strategy_as_name_class_or_instance(bars):
    sma = get_strategy("sma_cross")
    by_name = tf.Backtest(bars, "sma_cross", symbol="EURUSD", fast=5, slow=40)
    by_class = tf.Backtest({"eurusd": bars}, sma, params={"fast": 5, "slow": 40})
    by_instance = tf.Backtest(bars, sma(fast=5, slow=20), symbol="EURUSD", slow=40)
    for bt in (by_class, by_instance):
        assert bt.strategy.params == by_name.strategy.params
        assert list(bt.bars) == ["EURUSD"]
    assert by_instance.strategy.params.fast == 5


def test_friendly_settings_build_the_library_objects(bars):
    bt = tf.Backtest(bars, "sma_cross", symbol="EURUSD", spread=1.5, slippage="atr:0.05",
                     swap_long=-2, slippage_seed=3, sizing=0.1, timeframe="1h")  # fmt: skip
    assert bt.execution == ExecutionModel(
        spread=1.5, slippage="atr", slippage_value=0.05, swap_long=-2, seed=3
    )
    assert bt.sizing == Sizing("fixed", 0.1)
    assert bt.spec.timeframe == "H1"
    model, sizing = ExecutionModel(commission=7), Sizing("risk", 0.5)
    bt = tf.Backtest(bars, "sma_cross", symbol="EURUSD", execution=model, sizing=sizing)
    assert bt.execution is model and bt.sizing is sizing
    assert tf.Backtest(bars, "sma_cross", symbol="EURUSD", sizing="fixed:0.5").sizing == Sizing(
        "fixed", 0.5
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"strategy": "sma_crosss"}, ConfigError, "unknown strategy 'sma_crosss'; did you mean"),
        ({"fastt": 3}, ConfigError, "fastt: unknown parameter"),
        ({"position_mode": "bogus"}, ConfigError, "position mode must be one of symbol, tag"),
        ({"portfolio": "nope"}, ConfigError, "portfolio must be one of shared, sub-accounts"),
        ({"capital": -5}, ConfigError, "initial capital must be > 0, got -5"),
        ({"fast": 0}, ConfigError, "fast: Input should be greater than or equal to 1"),
        ({"sizing": "risk:x"}, ConfigError, "cannot parse sizing 'risk:x'"),
        ({"sizing": "percent:1"}, ConfigError, "sizing mode must be one of fixed, risk"),
        ({"sizing": True}, ConfigError, "sizing must be lots"),
        ({"slippage": "atr:x"}, ConfigError, "cannot parse slippage"),
        ({"commission": 1, "execution": ExecutionModel()}, ConfigError, r"\(commission\), not"),
        ({"timeframe": "X5"}, ConfigError, "cannot parse timeframe"),
        ({"account_currency": "dollars"}, ConfigError, "3-letter code such as USD"),
        ({"strategy": 42}, ConfigError, "strategy must be a registered name"),
        ({"symbol": None}, ConfigError, "give symbol="),
        ({"symbol": "EUR/USD"}, ConfigError, "invalid symbol 'EUR/USD'"),
    ],
)
def test_bad_input_is_a_clear_error(bars, kwargs, error, message):
    args = {"strategy": "sma_cross", "symbol": "EURUSD", **kwargs}
    with pytest.raises(error, match=message):
        tf.Backtest(bars, **args)


def test_bad_bars_are_a_clear_error(bars):
    with pytest.raises(DataValidationError, match=r"bars of EURUSD: missing columns \['open'\]"):
        tf.Backtest({"EURUSD": bars.drop(columns="open")}, "sma_cross")
    with pytest.raises(ConfigError, match="symbol= names a single DataFrame"):
        tf.Backtest({"EURUSD": bars}, "sma_cross", symbol="EURUSD")
    with pytest.raises(ConfigError, match="bars of EURUSD must be a DataFrame"):
        tf.Backtest({"EURUSD": [1, 2]}, "sma_cross")


def test_report_writes_what_the_command_writes(run, tmp_path):
    report = run.report(tmp_path / "api")
    assert report is run.report() and report.summary["trades"]["trades"] == len(run.trades)
    write_result(run.result, tmp_path / "lib")
    write_report(run.result, tmp_path / "lib", ohlc=run.bars, signals=run.result.signals)
    for name in ("trades.csv", "legs.csv", "equity.csv", "run.json", "report.json", "report.txt"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "lib" / name).read_bytes()
    charts = sorted(p.name for p in (tmp_path / "api" / "charts").iterdir())
    assert charts == sorted(p.name for p in (tmp_path / "lib" / "charts").iterdir())
    assert "equity.png" in charts and any(c.startswith("trade_best") for c in charts)
    doc = json.loads((tmp_path / "api" / "report.json").read_text())
    assert doc["summary"]["trades"]["trades"] == len(run.trades)


def test_plot_is_the_report_figure(run, tmp_path):
    from bokeh.models import LayoutDOM

    fig = run.plot()  # outside IPython: returned, not shown
    assert isinstance(fig, LayoutDOM)
    assert fig.select_one({"name": "price_EURUSD"}) is not None
    assert fig.select_one({"name": "trade_table"}) is not None
    assert isinstance(run.plot(tmp_path / "fig.html"), LayoutDOM)
    page = (tmp_path / "fig.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "price_EURUSD" in page


def test_repr_shows_the_key_stats(run):
    text = repr(run)
    assert text.startswith("<BacktestRun EURUSD · sma_cross(fast=10")
    assert f"{len(run.trades):,} trades" in text
    sharpe = next(line for line in text.splitlines() if "Sharpe" in line)
    assert sharpe.split() == ["Sharpe", f"{run.stats['sharpe']:.2f}"]
    assert "Expectancy (R)" in text and "Max drawdown %" in text


def test_notebook_html_shows_the_summary_and_figure(run):
    page = run._repr_html_()
    assert "<table>" in page and "Sharpe" in page and "Expectancy (R)" in page
    assert f"{len(run.trades):,} trades" in page
    # the figure on its own offline page, in an iframe: no script runs in the notebook's page
    assert "<script" not in page and "<iframe srcdoc=" in page and "price_EURUSD" in page


def test_optimize_is_the_research_search(bars):
    bt = tf.Backtest(bars, "sma_cross", symbol="EURUSD", fast=7, stop_pips=25, **SETTINGS)
    res = tf.optimize(bt, {"fast": [5, 10], "slow": "30:60:30"}, objective="sharpe")
    sma = get_strategy("sma_cross")
    space = ParameterSpace.from_specs(sma, ["fast=5,10", "slow=30:60:30"], {"stop_pips": 25})
    expected = optimize(
        sma, {"EURUSD": bars}, space, objective=Objective.build("sharpe"),
        execution=bt.execution, sizing=bt.sizing, initial_capital=CAPITAL,
    )  # fmt: skip
    assert res.space == space  # searched 'fast' is not held fixed
    pd.testing.assert_frame_equal(res.trials, expected.trials)
    assert res.best_params == expected.best_params
    best = tf.Backtest(bars, "sma_cross", symbol="EURUSD", stop_pips=25, **res.best_params,
                       **SETTINGS).run()  # fmt: skip
    assert best.stats["sharpe"] == pytest.approx(res.best["sharpe"])


def test_optimize_errors(bars):
    bt = tf.Backtest(bars, "sma_cross", symbol="EURUSD")
    with pytest.raises(ConfigError, match="unknown metric 'sharp'"):
        tf.optimize(bt, {"fast": [5, 10]}, objective="sharp")
    with pytest.raises(ConfigError, match="has no parameter 'fastt'"):
        tf.optimize(bt, {"fastt": [5, 10]})
    usd = tf.Backtest(bars, "sma_cross", symbol="EURUSD", account_currency="USD")
    with pytest.raises(ConfigError, match="drop account_currency"):
        tf.optimize(usd, {"fast": [5, 10]})
