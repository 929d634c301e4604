"""Parameter search: features once per spec, honest objectives, determinism, backends."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradeforge.analytics.report import build_report
from tradeforge.backtest import run_backtest
from tradeforge.core.errors import ConfigError
from tradeforge.research.backends import DaskBackend, InProcessBackend, ProcessBackend, chunked
from tradeforge.research.evaluate import Evaluator
from tradeforge.research.objective import Constraint, Objective
from tradeforge.research.optimize import optimize, prepare
from tradeforge.research.space import ParameterSpace
from tradeforge.strategy import get_strategy
from tradeforge.trading.spec import RunSpec

SMA = get_strategy("sma_cross")


def _space():
    return ParameterSpace.from_specs(SMA, ["fast=5:20:5", "slow=20,40"])


def test_grid_objective_matches_a_plain_backtest(h1_bars):
    res = optimize(SMA, {"EURUSD": h1_bars}, _space(), objective=Objective("expectancy_r"))
    trials = res.trials
    assert list(trials["trial_id"]) == list(range(8))
    # fast=20, slow=20 is refused by the strategy (fast must be below slow)
    bad = trials[(trials["fast"] == 20) & (trials["slow"] == 20)]
    assert bad["status"].tolist() == ["invalid"]
    assert "fast (20) must be below slow (20)" in bad["error"].iloc[0]
    for _, row in trials[trials["status"] == "ok"].iterrows():
        direct = run_backtest(
            SMA(fast=int(row["fast"]), slow=int(row["slow"])), {"EURUSD": h1_bars}
        )
        summary = build_report(direct).summary
        assert row["trades"] == summary["trades"]["trades"]
        assert row["objective"] == pytest.approx(summary["trades"]["expectancy_r"], rel=1e-12)
        assert row["sharpe"] == pytest.approx(summary["returns"]["sharpe"], rel=1e-12)
    ok = trials[trials["status"] == "ok"]
    best = ok.loc[ok["objective"].idxmax()]
    assert res.best_params == {"fast": int(best["fast"]), "slow": int(best["slow"])}
    assert sorted(res.ranked()["rank"]) == list(range(1, len(ok) + 1))
    assert res.robustness is not None and 0.0 <= (res.robustness["score"] or 0.0) <= 1.0


def test_features_are_computed_once_per_distinct_spec(h1_bars):
    space = ParameterSpace.from_specs(SMA, ["fast=5:20:5", "slow=30,40,60"])
    evaluator, _ = prepare(SMA, {"EURUSD": h1_bars}, space)
    # one engine call for the whole union: sma 5,10,15,20,30,40,60
    assert evaluator.feature_computations == 1
    assert sorted(evaluator.feature_columns()["EURUSD"]) == sorted(
        f"sma_{n}" for n in (5, 10, 15, 20, 30, 40, 60)
    )
    for p in space.grid():
        evaluator.evaluate(p)
    assert evaluator.feature_computations == 1


def test_lazy_features_are_cached_by_spec(h1_bars):
    ev = Evaluator(RunSpec(SMA.name), {"EURUSD": h1_bars})
    ev.evaluate({"fast": 5, "slow": 30})
    ev.evaluate({"fast": 5, "slow": 30})
    ev.evaluate({"fast": 10, "slow": 30})  # only sma(10) is new
    assert ev.feature_computations == 2
    assert sorted(ev.feature_columns()["EURUSD"]) == ["sma_10", "sma_30", "sma_5"]


def test_constraints_reject_and_direction_ranks(h1_bars):
    obj = Objective.build("max_drawdown_pct", min_trades=10_000)
    res = optimize(SMA, {"EURUSD": h1_bars}, _space(), objective=obj)
    assert set(res.trials["status"]) == {"rejected", "invalid"}
    assert res.best is None and res.best_params is None
    obj = Objective.build("trades", minimize=True, constraints=["win_rate_pct>=0"])
    res = optimize(SMA, {"EURUSD": h1_bars}, _space(), objective=obj)
    ok = res.trials[res.trials["status"] == "ok"]
    assert res.best["trades"] == ok["trades"].min()


def test_objective_rejects_unknown_metrics():
    with pytest.raises(ConfigError, match="unknown metric 'sharp'"):
        Objective("sharp")
    with pytest.raises(ConfigError, match="metric>=number"):
        Constraint.parse("sharpe = 1")
    c = Constraint.parse("profit_factor>=1.1")
    assert c.holds({"profit_factor": 1.2}) and not c.holds({"profit_factor": math.nan})


def test_random_search_is_seeded(h1_bars):
    space = ParameterSpace.from_specs(SMA, ["fast=3:15", "stop_pips=10:40"], {"slow": 30})
    a = optimize(SMA, {"EURUSD": h1_bars}, space, method="random", n_trials=6, seed=11)
    b = optimize(SMA, {"EURUSD": h1_bars}, space, method="random", n_trials=6, seed=11)
    pd.testing.assert_frame_equal(a.trials, b.trials)
    assert len(a.trials) == 6
    with pytest.raises(ConfigError, match="needs --trials"):
        optimize(SMA, {"EURUSD": h1_bars}, space, method="random")


def test_grid_refuses_a_smaller_trial_budget(h1_bars):
    with pytest.raises(ConfigError, match="grid has 8 points"):
        optimize(SMA, {"EURUSD": h1_bars}, _space(), n_trials=3)


def test_optuna_is_seeded_and_backend_independent(h1_bars):
    pytest.importorskip("optuna")
    space = ParameterSpace.from_specs(SMA, ["fast=3:15", "slow=20:60:10"])
    kw = dict(method="optuna", n_trials=14, seed=5, batch_size=4)
    a = optimize(SMA, {"EURUSD": h1_bars}, space, **kw)
    with ProcessBackend(2) as backend:
        b = optimize(SMA, {"EURUSD": h1_bars}, space, backend=backend, **kw)
    pd.testing.assert_frame_equal(a.trials, b.trials)
    assert len(a.trials) == 14
    c = optimize(SMA, {"EURUSD": h1_bars}, space, **{**kw, "seed": 6})
    assert not a.trials[["fast", "slow"]].equals(c.trials[["fast", "slow"]])


def test_process_backend_matches_in_process(two_symbols):
    space = ParameterSpace.from_specs(SMA, ["fast=5:15:5", "slow=30,40"])
    a = optimize(SMA, two_symbols, space, backend=InProcessBackend())
    with ProcessBackend(2) as backend:
        b = optimize(SMA, two_symbols, space, backend=backend)
    pd.testing.assert_frame_equal(a.trials, b.trials)
    assert a.robustness == b.robustness


def test_dask_local_cluster_matches_in_process(h1_bars):
    """Thread workers over TCP: the payload and results are serialised as on a real cluster
    (``processes=True`` works too but costs ~10 s of worker start-up)."""
    distributed = pytest.importorskip("distributed")
    space = ParameterSpace.from_specs(SMA, ["fast=5:15:5", "slow=30,40"])
    a = optimize(SMA, {"EURUSD": h1_bars}, space)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
        DaskBackend(client=client) as backend,
    ):
        assert backend.workers == 2
        b = optimize(SMA, {"EURUSD": h1_bars}, space, backend=backend)
        c = optimize(SMA, {"EURUSD": h1_bars}, space, method="random", n_trials=5, seed=1,
                     backend=backend)  # fmt: skip
    pd.testing.assert_frame_equal(a.trials, b.trials)
    d = optimize(SMA, {"EURUSD": h1_bars}, space, method="random", n_trials=5, seed=1)
    pd.testing.assert_frame_equal(c.trials, d.trials)


def test_dask_backend_reports_an_unreachable_scheduler():
    pytest.importorskip("distributed")
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        DaskBackend("tcp://127.0.0.1:9", timeout=0.5)


def test_chunked_keeps_order_and_balance():
    items = list(range(10))
    parts = chunked(items, 4)
    assert [x for p in parts for x in p] == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 2
    assert chunked([], 3) == []
    assert chunked([1], 8) == [[1]]


def test_results_table_has_every_metric(h1_bars):
    from tradeforge.research.evaluate import METRICS

    res = optimize(SMA, {"EURUSD": h1_bars}, _space())
    for m in METRICS:
        assert m in res.trials.columns
    assert np.isfinite(res.trials.loc[res.trials["status"] == "ok", "expectancy_r"]).all()


def test_fast_summary_equals_the_report_summary(h1_bars):
    from tradeforge.research.evaluate import summary_of

    result = run_backtest(SMA(fast=7, slow=33), {"EURUSD": h1_bars})
    assert summary_of(result) == build_report(result).summary


def test_run_settings_reach_the_trials_and_the_config(h1_bars):
    from tradeforge.backtest import Sizing
    from tradeforge.research.evaluate import flat_metrics

    space = ParameterSpace.from_specs(SMA, ["fast=5", "slow=20"])
    run = {"sizing": Sizing("fixed", 0.5), "initial_capital": 50_000, "position_mode": "tag",
           "timeframe": "H1"}  # fmt: skip
    res = optimize(SMA, {"EURUSD": h1_bars}, space, objective=Objective("net_profit"), **run)
    plain = run_backtest(SMA(fast=5, slow=20), {"EURUSD": h1_bars}, **run)
    expected = flat_metrics(build_report(plain))["net_profit"]
    assert res.trials["objective"].iloc[0] == pytest.approx(expected, rel=1e-12)
    cfg = res.config
    assert (cfg["initial_capital"], cfg["position_mode"], cfg["timeframe"]) == (
        50_000.0,
        "tag",
        "H1",
    )
    assert cfg["sizing"] == {"mode": "fixed", "value": 0.5}
    with pytest.raises(TypeError, match="initial_captial"):
        optimize(SMA, {"EURUSD": h1_bars}, space, initial_captial=1.0)


def test_trials_honour_swap_seed_and_account_currency(h1_bars):
    """The trials run the spec's whole settings: swap, random-slippage seed and account
    currency (USDJPY in a USD account) — what the search CLI could not pass before."""
    from tradeforge.backtest import ExecutionModel, Sizing
    from tradeforge.research.evaluate import flat_metrics

    bars = h1_bars * 1.0
    bars[["open", "high", "low", "close"]] *= 100  # USDJPY-like prices
    execution = ExecutionModel(slippage="random", slippage_value=0.5, seed=11, swap_long=-900.0)
    spec = RunSpec(None, symbols=["USDJPY"], timeframe="H1", execution=execution,
                   sizing=Sizing("risk", 1.0), account_currency="USD")  # fmt: skip
    space = ParameterSpace.from_specs(SMA, ["fast=5", "slow=20"])
    res = optimize(SMA, {"USDJPY": bars}, space, objective=Objective("net_profit"), spec=spec)
    plain = run_backtest(SMA(fast=5, slow=20), {"USDJPY": bars}, spec)
    assert res.trials["objective"].iloc[0] == pytest.approx(
        flat_metrics(build_report(plain))["net_profit"], rel=1e-12
    )
    other = run_backtest(SMA(fast=5, slow=20), {"USDJPY": bars}, timeframe="H1")
    assert plain.trades["pnl"].sum() != pytest.approx(other.trades["pnl"].sum())
    assert res.config["account_currency"] == "USD"
    assert res.config["execution"]["seed"] == 11
