"""``tradeforge optimize``, ``tradeforge walkforward`` and ``tradeforge analyze …``.

Thin: parse options, call `tradeforge.research`, write JSON + PNG into ``--out``, print tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradeforge.cli.common import (
    CapitalOption,
    HomeOption,
    InstrumentsOption,
    SlippageSeedOption,
    command_group,
    console,
    expand_user,
    home_dir,
    iso_time,
    load_instruments,
    option,
    progress_bar,
    run_options,
    run_spec,
    symbol_names,
    with_options,
)

analyze_app = command_group(
    "Analyse a backtest run: regimes, features, R distribution, consistency."
)

# -- shared options ---------------------------------------------------------------------------------
StrategyOpt = Annotated[str | None, typer.Option("--strategy", help="Registered strategy name.")]
SymbolOpt = Annotated[
    list[str],
    typer.Option("--symbol", "-s", help="Symbol (repeat for several).", callback=symbol_names),
]
TimeframeOpt = Annotated[str, typer.Option("--timeframe", "-t", help="Bar timeframe.")]
StartOpt = Annotated[
    str | None, typer.Option(help="First bar (UTC), e.g. 2019-01-01.", callback=iso_time)
]
EndOpt = Annotated[str | None, typer.Option(help="End, exclusive (UTC).", callback=iso_time)]
SpaceOpt = Annotated[
    list[str],
    typer.Option("--space", help="Searched parameter: fast=5:30:5, slow=20,40,60, x=0.5:2[:log]."),
]
ParamOpt = Annotated[
    list[str], typer.Option("--param", "-p", help="Fixed strategy parameter name=value.")
]
ConfigOpt = Annotated[Path | None, typer.Option(help="YAML/TOML search config (see docs).")]
MethodOpt = Annotated[str | None, typer.Option(help="grid | random | optuna (default grid).")]
TrialsOpt = Annotated[int | None, typer.Option("--trials", min=1, help="Trials (random/optuna).")]
SeedOpt = Annotated[int | None, typer.Option(help="Seed of random/optuna search (default 0).")]
ObjectiveOpt = Annotated[
    str | None, typer.Option(help="Report metric to optimise (default expectancy_r).")
]
MinimizeOpt = Annotated[bool, typer.Option("--minimize", help="Smaller objective is better.")]
MinTradesOpt = Annotated[int | None, typer.Option(min=0, help="Reject trials with fewer trades.")]
ConstraintOpt = Annotated[
    list[str], typer.Option("--constraint", help="Extra constraint, e.g. profit_factor>=1.1.")
]
WorkersOpt = Annotated[int, typer.Option(help="Local worker processes (1 = in-process).", min=1)]
SchedulerOpt = Annotated[
    str | None, typer.Option(help="Dask scheduler address, e.g. tcp://scheduler-host:8786.")
]
BatchOpt = Annotated[int, typer.Option(min=1, help="Optuna trials asked per batch.")]
TopOpt = Annotated[int, typer.Option(min=1, help="Rows of the printed top-N table.")]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


_HEADERS = {
    "trial_id": "#",
    "win_rate_pct": "win%",
    "expectancy_r": "E[R]",
    "profit_factor": "PF",
    "max_drawdown_pct": "maxDD%",
    "objective": "obj",
    "trades_pct": "trades%",
    "bars_pct": "bars%",
    "net_profit": "net",
    "is_objective": "IS obj",
    "oos_objective": "OOS obj",
    "oos_trades": "OOS n",
    "oos_net_profit": "OOS net",
    "robustness": "robust",
    "expectancy_r_ci_low": "E[R] lo",
    "expectancy_r_ci_high": "E[R] hi",
    "share_of_net_pct": "share%",
    "expectancy_r_without": "E[R] w/o",
}
_LEFT = ("regime", "check", "label", "metric", "feature", "run")


def _table(title: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Table:
    table = Table(title=title)
    columns = columns or (list(rows[0]) if rows else [])
    for c in columns:
        justify = "left" if c in _LEFT else "right"
        table.add_column(_HEADERS.get(c, c), justify=justify, no_wrap=c in _LEFT)
    for row in rows:
        table.add_row(*(_fmt(row.get(c)) for c in columns))
    return table


def _frame_rows(frame: Any) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict(orient="records")]


def _search(kw: dict[str, Any]) -> Any:
    """The search settings of a command's options (`SearchSettings.resolve`)."""
    from tradeforge.research.config import SearchSettings

    return SearchSettings.resolve(
        kw["config"], strategy=kw["strategy"], params=kw["param"], space=kw["space"],
        method=kw["method"], trials=kw["trials"], seed=kw["seed"], objective=kw["objective"],
        minimize=kw["minimize"], min_trades=kw["min_trades"], constraints=kw["constraint"],
    )  # fmt: skip


#: Options of every search command, before and after the command's own options.
_SEARCH_HEAD = [
    option("strategy", StrategyOpt, None),
    option("symbol", SymbolOpt, ["EURUSD"]),
    option("timeframe", TimeframeOpt, "H1"),
    option("start", StartOpt, None),
    option("end", EndOpt, None),
    option("space", SpaceOpt, []),
    option("param", ParamOpt, []),
    option("config", ConfigOpt, None),
]
_SEARCH_TAIL = [
    option("method", MethodOpt, None),
    option("trials", TrialsOpt, None),
    option("seed", SeedOpt, None),
    option("objective", ObjectiveOpt, None),
    option("minimize", MinimizeOpt, False),
    option("min_trades", MinTradesOpt, None),
    option("constraint", ConstraintOpt, []),
    option("workers", WorkersOpt, 1),
    option("scheduler", SchedulerOpt, None),
    option("batch_size", BatchOpt, 16),
    *run_options(seed=SlippageSeedOption),
    option("home", HomeOption, None),
    option("instruments", InstrumentsOption, None),
]


def _run_search(
    kw: dict[str, Any], search: Any, label: str, fn: Callable[..., Any], *args: Any,
    total: int | None = None,
) -> Any:  # fmt: skip
    """Load the data, build the run spec and backend from ``kw`` and call
    ``fn(strategy, data, space, *args, <search settings>, spec=…, conversion=…)`` under a
    progress bar (``total`` items, or as ``fn`` reports); the backend is closed afterwards."""
    from tradeforge.backtest.conversion import load_conversion
    from tradeforge.cli.common import load_frames
    from tradeforge.research.backends import make_backend

    load_instruments(kw["instruments"])
    spec = run_spec(kw, search.strategy.name, symbols=kw["symbol"],
                    timeframe=kw["timeframe"], start=kw["start"], end=kw["end"])  # fmt: skip
    home = home_dir(kw["home"])
    if kw["scheduler"]:  # the cluster's workers read the bars from the store themselves
        from tradeforge.data.cache import StoreSlice

        data: Any = StoreSlice(str(home), str(spec.timeframe), kw["start"], kw["end"])
    else:
        data = load_frames(home, list(spec.symbols), str(spec.timeframe), kw["start"], kw["end"])
    spec, conversion = load_conversion(spec, home)
    backend = make_backend(kw["workers"], kw["scheduler"])
    try:
        with progress_bar(f"{label} ({backend.name})", total) as advance:
            shown = {"done": 0}

            def progress(done: int, of: int) -> None:
                advance(done - shown["done"], total=of if total is None else None)
                shown["done"] = done

            return fn(
                search.strategy,
                data,
                search.space,
                *args,
                method=search.method,
                n_trials=search.trials,
                seed=search.seed,
                objective=search.objective,
                backend=backend,
                batch_size=kw["batch_size"],
                progress=progress,
                spec=spec,
                conversion=conversion,
            )
    finally:
        backend.close()


def _print_top(result: Any, top: int) -> None:
    names = result.space.names
    cols = ["rank", "trial_id", *names, "objective", "trades", "win_rate_pct", "expectancy_r",
            "profit_factor", "sharpe", "max_drawdown_pct"]  # fmt: skip
    rows = _frame_rows(result.top(top))
    title = f"top {top} by {result.objective.metric} ({result.objective.direction})"
    console.print(_table(title, rows, list(dict.fromkeys(cols))))
    console.print(f"trial status: {result.status_counts()}")


# -- optimize ---------------------------------------------------------------------------------------
@with_options(_SEARCH_HEAD, _SEARCH_TAIL)
def optimize_command(
    top: TopOpt = 10,
    out: Annotated[Path, typer.Option(help="Output folder.", callback=expand_user)] = Path(
        "runs/optimize"
    ),
    **kw: Any,
) -> None:
    """Search a strategy's parameters (grid, random or Optuna) locally or on a Dask cluster;
    writes trials.parquet, optimize.json, optimize.html and charts."""
    from tradeforge.research.charts import optimize_charts
    from tradeforge.research.io import write_json
    from tradeforge.research.optimize import optimize
    from tradeforge.research.pages import optimize_page

    search = _search(kw)
    total = search.space.size if search.method == "grid" else search.trials
    result = _run_search(kw, search, "optimize", optimize, total=total)
    out.mkdir(parents=True, exist_ok=True)
    result.trials.to_parquet(out / "trials.parquet", index=False)
    write_json(out / "optimize.json", result.to_dict(top))
    charts = optimize_charts(result, out)
    optimize_page(result, out)
    _print_top(result, top)
    if result.robustness and result.robustness["score"] is not None:
        console.print(f"robustness of the best (neighbourhood): {result.robustness['score']:.3f}")
    console.print(
        f"wrote trials.parquet, optimize.json, optimize.html, {len(charts)} charts to {out}"
    )


# -- walkforward ------------------------------------------------------------------------------------
@with_options(_SEARCH_HEAD, _SEARCH_TAIL)
def walkforward_command(
    scheme: Annotated[str | None, typer.Option(help="rolling | anchored.")] = None,
    train: Annotated[str | None, typer.Option(help="Train length: bars (2000) or 6M, 90D…")] = None,
    test: Annotated[str | None, typer.Option(help="Test (OOS) length.")] = None,
    validation: Annotated[str | None, typer.Option(help="Optional validation length.")] = None,
    step: Annotated[str | None, typer.Option(help="Step between folds (default: test).")] = None,
    top_k: Annotated[int, typer.Option(help="Train candidates tried on validation.")] = 5,
    out: Annotated[Path, typer.Option(help="Output folder.", callback=expand_user)] = Path(
        "runs/walkforward"
    ),
    **kw: Any,
) -> None:
    """Walk-forward validation: optimise on each train window, evaluate out of sample."""
    from tradeforge.core.errors import ConfigError
    from tradeforge.research.charts import walkforward_charts
    from tradeforge.research.io import write_json
    from tradeforge.research.pages import walkforward_page
    from tradeforge.research.walkforward import WalkForwardConfig, walk_forward

    search = _search(kw)
    wf = search.walkforward
    train_len = train or wf.get("train")
    test_len = test or wf.get("test")
    if not train_len or not test_len:
        raise ConfigError("walkforward needs --train and --test (or walkforward: in the config)")
    config_wf = WalkForwardConfig.build(
        str(train_len),
        str(test_len),
        validation=validation or wf.get("validation"),
        step=step or wf.get("step"),
        scheme=scheme or wf.get("scheme", "rolling"),
        top_k=top_k,
    )
    result = _run_search(kw, search, "walk-forward", walk_forward, config_wf)
    out.mkdir(parents=True, exist_ok=True)
    result.trials.to_parquet(out / "trials.parquet", index=False)
    result.folds.to_parquet(out / "folds.parquet", index=False)
    write_json(out / "walkforward.json", result.to_dict())
    charts = walkforward_charts(result, out)
    walkforward_page(result, out)
    cols = ["fold", "test_start", *search.space.names, "is_objective", "oos_objective",
            "oos_trades", "oos_net_profit", "wfe", "robustness"]  # fmt: skip
    rows = _frame_rows(result.folds)
    for r in rows:
        r["test_start"] = str(r["test_start"])[:10]
    console.print(_table(f"walk-forward folds ({config_wf.scheme})", rows, cols))
    s = result.summary
    summary = [
        {"metric": k, "value": s.get(k)}
        for k in (
            "folds",
            "folds_evaluated",
            "wfe",
            "objective_ratio",
            "robustness_mean",
            "profitable_oos_folds_pct",
        )  # fmt: skip
    ]
    if s.get("oos"):
        summary += [{"metric": f"oos {k}", "value": s["oos"][k]}
                    for k in ("trades", "expectancy_r", "net_profit", "max_drawdown_pct")]  # fmt: skip
    console.print(_table("walk-forward summary", summary, ["metric", "value"]))
    console.print(
        f"wrote walkforward.json, walkforward.html, folds/trials parquet, {len(charts)} charts "
        f"to {out}"
    )


# -- analyze ----------------------------------------------------------------------------------------
RunOpt = Annotated[
    Path,
    typer.Option(
        "--run", help="Run folder written by `tradeforge backtest`.", callback=expand_user
    ),
]
AnalyzeOut = Annotated[
    Path | None,
    typer.Option(help="Output folder (default: <run>/analysis).", callback=expand_user),
]


#: Options of the analyze commands that need the run's bars, after their own options.
_BARS_TAIL = [
    option(
        "symbol", Annotated[list[str], typer.Option("--symbol", "-s", callback=symbol_names)], []
    ),  # fmt: skip
    option("timeframe", Annotated[str | None, typer.Option("--timeframe", "-t")], None),
    option("start", StartOpt, None),
    option("end", EndOpt, None),
    option("out", AnalyzeOut, None),
    option("home", HomeOption, None),
]


def _run_bars(run: Path, kw: dict[str, Any]) -> tuple[Any, dict, str, Path]:
    """The backtest result in ``run``, its bars (``_BARS_TAIL`` options override what the run
    recorded), their timeframe and the output folder."""
    from tradeforge.cli.common import load_frames
    from tradeforge.core.errors import ConfigError
    from tradeforge.research.io import load_result, run_data_spec

    result = load_result(run)
    spec = run_data_spec(result)
    syms = kw["symbol"] or spec["symbols"]
    tf = kw["timeframe"] or spec["timeframe"]
    if not syms or not tf:
        raise ConfigError("cannot tell the run's symbols/timeframe; pass --symbol and --timeframe")
    start, end = kw["start"] or spec["start"], kw["end"] or spec["end"]
    frames = load_frames(home_dir(kw["home"]), syms, tf, start, end)
    return result, frames, tf, kw["out"] or run / "analysis"


@with_options([], _BARS_TAIL)
def regimes_command(
    run: RunOpt,
    by: Annotated[
        list[str],
        typer.Option(
            "--by",
            help="trend[:structure], volatility, session, weekday, feature:<request>[:q] (repeat).",
        ),  # fmt: skip
    ] = ["trend", "volatility", "session", "weekday"],  # noqa: B006
    buckets: Annotated[int, typer.Option(min=2, help="Volatility buckets.")] = 3,
    **kw: Any,
) -> None:
    """Metrics and equity per market regime (trend, volatility, session, weekday, feature)."""
    from tradeforge.research.charts import regime_charts
    from tradeforge.research.io import write_json
    from tradeforge.research.regimes import analyze_regimes

    result, frames, tf, out = _run_bars(run, kw)
    analysis = analyze_regimes(result, frames, list(by), timeframe=tf, buckets=buckets)
    doc = {"kind": "tradeforge.analyze.regimes", "run": str(run),
           "regimes": {k: v["table"] for k, v in analysis.items()}}  # fmt: skip
    write_json(out / "regimes.json", doc)
    charts = regime_charts(analysis, out)
    cols = ["regime", "trades", "trades_pct", "bars_pct", "win_rate_pct", "expectancy_r",
            "profit_factor", "net_profit"]  # fmt: skip
    for seg, item in analysis.items():
        console.print(_table(f"regimes: {seg}", _frame_rows(item["table"]), cols))
    console.print(f"wrote regimes.json and {len(charts)} charts to {out}")


@with_options([], _BARS_TAIL)
def features_command(
    run: RunOpt,
    feature: Annotated[
        list[str], typer.Option("--feature", "-f", help="Feature request, e.g. 'rsi(14)' (repeat).")
    ],
    quantiles: Annotated[int, typer.Option(min=2, help="Quantile buckets.")] = 5,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap samples.")] = 1000,
    level: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    split: Annotated[
        str | None, typer.Option(help="Drift split time (default: median).", callback=iso_time)
    ] = None,
    **kw: Any,
) -> None:
    """Expectancy per feature quantile (bootstrap CIs), per year, drift and correlation."""
    from tradeforge.research.charts import feature_charts
    from tradeforge.research.feature_stats import analyze_features
    from tradeforge.research.io import write_json

    result, frames, tf, out = _run_bars(run, kw)
    doc = analyze_features(result.trades, frames, list(feature), timeframe=tf, q=quantiles,
                           n_boot=bootstrap, level=level, seed=seed, split=split)  # fmt: skip
    write_json(out / "features.json", doc)
    charts = feature_charts(doc, out)
    cols = ["bucket", "low", "high", "trades", "win_rate_pct", "expectancy_r",
            "expectancy_r_ci_low", "expectancy_r_ci_high"]  # fmt: skip
    drift_rows = []
    for name, item in doc["features"].items():
        console.print(
            _table(f"{name}: expectancy per quantile", _frame_rows(item["quantiles"]), cols)
        )
        drift_rows.append({"feature": name, **item["drift"]})
    console.print(_table("drift (first vs second period)", drift_rows,
                         ["feature", "psi", "ks_statistic", "ks_pvalue", "flag"]))  # fmt: skip
    for pair in doc["redundant"]:
        console.print(f"[yellow]redundant:[/] {pair['a']} ~ {pair['b']} (rho {pair['rho']:.2f})")
    console.print(f"wrote features.json and {len(charts)} charts to {out}")


def r_command(
    run: RunOpt,
    sims: Annotated[int, typer.Option(min=1, help="Monte Carlo simulations.")] = 1000,
    seed: Annotated[int, typer.Option(help="Monte Carlo seed.")] = 0,
    alpha: Annotated[float, typer.Option(help="Tail share for VaR/CVaR.")] = 0.05,
    out: AnalyzeOut = None,
) -> None:
    """R distribution, top-trade contribution and Monte Carlo of trade order."""
    from tradeforge.research.charts import r_charts
    from tradeforge.research.io import load_result, write_json
    from tradeforge.research.rdist import analyze_r

    result = load_result(run)
    doc = analyze_r(result.trades, result.initial_capital, alpha=alpha, sims=sims, seed=seed)
    out = out or run / "analysis"
    write_json(out / "r.json", doc)
    charts = r_charts(doc, out)
    d = doc["distribution"]
    rows = [{"metric": k, "value": d.get(k)} for k in
            ("trades", "mean", "median", "std", "skew", "excess_kurtosis", "positive_pct", "var",
             "cvar", "tail_ratio")]  # fmt: skip
    console.print(_table("R distribution", rows, ["metric", "value"]))
    console.print(_table("contribution of the best trades", doc["contribution"]["rows"],
                         ["label", "k", "top_profit", "share_of_net_pct", "net_without",
                          "expectancy_r_without"]))  # fmt: skip
    mc_rows = []
    for mode, mc in doc["monte_carlo"].items():
        if "final_equity" not in mc:
            continue
        for key in ("final_equity", "max_drawdown_pct"):
            mc_rows.append({"run": f"{mode} {key}", **{f"p{p}": v for p, v in mc[key].items()},
                            "actual": mc["actual"][key]})  # fmt: skip
    if mc_rows:
        console.print(_table(f"Monte Carlo ({sims} runs, seed {seed})", mc_rows))
    console.print(f"wrote r.json and {len(charts)} charts to {out}")


def consistency_command(
    expected: Annotated[Path, typer.Option(help="Expected trades: run folder, .csv or .parquet.")],
    actual: Annotated[Path, typer.Option(help="Actual (dry-run/live) trades.")],
    tolerance: Annotated[str, typer.Option(help="Entry-time tolerance, e.g. 5min.")] = "0s",
    min_match_rate: Annotated[float, typer.Option(help="Min matched % of expected.")] = 95.0,
    max_extra: Annotated[float, typer.Option(help="Max extra trades, % of expected.")] = 5.0,
    max_slippage_pips: Annotated[float, typer.Option(help="Max mean entry slippage.")] = 1.0,
    max_expectancy_r_delta: Annotated[float, typer.Option(help="Max |ΔE[R]|.")] = 0.1,
    max_win_rate_delta: Annotated[float, typer.Option(help="Max |Δwin rate| points.")] = 5.0,
    max_drawdown_delta: Annotated[float, typer.Option(help="Max |Δmax DD %| points.")] = 5.0,
    capital: CapitalOption = 100_000.0,
    out: Annotated[Path, typer.Option(help="Output folder.", callback=expand_user)] = Path(
        "runs/consistency"
    ),
) -> None:
    """Compare two trade sets (backtest vs dry-run/live): matches, slippage, metric deltas."""
    import pandas as pd

    from tradeforge.core.errors import ConfigError
    from tradeforge.research.charts import consistency_charts
    from tradeforge.research.consistency import Thresholds, compare_trades
    from tradeforge.research.io import load_trades, write_json
    from tradeforge.research.pages import consistency_page

    try:
        pd.Timedelta(tolerance)
    except ValueError:
        raise ConfigError(f"cannot read tolerance {tolerance!r}; e.g. 30s, 5min, 1h") from None
    exp, act = load_trades(expected), load_trades(actual)
    th = Thresholds(min_match_rate, max_extra, None, max_slippage_pips, max_expectancy_r_delta,
                    max_win_rate_delta, max_drawdown_delta)  # fmt: skip
    doc = compare_trades(exp, act, tolerance=tolerance, thresholds=th, initial_capital=capital)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "consistency.json", doc)
    doc["matched"].to_csv(out / "matched.csv", index=False)
    doc["missing"].to_csv(out / "missing.csv", index=False)
    doc["extra"].to_csv(out / "extra.csv", index=False)
    charts = consistency_charts(doc, exp, act, out)
    consistency_page(doc, exp, act, out)
    s = doc["summary"]
    console.print(_table("matching", [{"metric": k, "value": v} for k, v in s.items()],
                         ["metric", "value"]))  # fmt: skip
    rows = [{"metric": k, **v} for k, v in doc["metrics"].items()]
    console.print(_table("metric deltas (actual - expected)", rows,
                         ["metric", "expected", "actual", "delta"]))  # fmt: skip
    console.print(_table("checks", doc["checks"], ["check", "value", "limit", "kind", "passed"]))
    verdict = "[bold green]PASS[/]" if doc["passed"] else "[bold red]FAIL[/]"
    console.print(f"{verdict} — wrote consistency.json, consistency.html, "
                  f"matched/missing/extra.csv, {len(charts)} charts to {out}")  # fmt: skip
    if not doc["passed"]:
        raise typer.Exit(1)


analyze_app.command("regimes")(regimes_command)
analyze_app.command("features")(features_command)
analyze_app.command("r")(r_command)
analyze_app.command("consistency")(consistency_command)


def register(app: typer.Typer) -> None:
    """Add ``optimize``, ``walkforward`` and the ``analyze`` and ``research`` (feature sets,
    ML filters: `tradeforge.cli.ml`) groups to the root app."""
    from tradeforge.cli import ml

    app.command("optimize")(optimize_command)
    app.command("walkforward")(walkforward_command)
    app.add_typer(analyze_app, name="analyze")
    ml.register(ml.research_app)
    app.add_typer(ml.research_app, name="research")
