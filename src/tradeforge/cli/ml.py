"""``tradeforge research features`` and ``tradeforge research ml train|evaluate|explain``.

Thin: load the cached bars, build the trade dataset of a strategy, call
`tradeforge.research.featureset` / `tradeforge.research.ml`, write files into ``--out`` and
print tables. The ML libraries load only inside the commands.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from tradeforge.cli.common import (
    HomeOption,
    InstrumentsOption,
    SlippageSeedOption,
    command_group,
    console,
    expand_user,
    home_dir,
    iso_time,
    load_frames,
    load_instruments,
    option,
    run_options,
    run_spec,
    symbol_names,
    with_options,
)
from tradeforge.cli.research import _frame_rows, _table

research_app = command_group("Feature sets and ML filters (research phases 2 and 3).")
ml_app = command_group("Train, evaluate and explain an ML filter on a strategy's signals.")

FeatureOpt = Annotated[
    list[str], typer.Option("--feature", "-f", help="Extra feature request (repeat).")
]
TargetOpt = Annotated[str, typer.Option(help="Label: 'win' (R > 0) or 'r>X'.")]
MLTargetOpt = Annotated[
    str, typer.Option(help="'win' (R > 0), 'r>X' (classifiers) or 'r' (a regressor of R).")
]
SeedOpt = Annotated[int, typer.Option(help="Seed of models, bootstrap, mutual information.")]
ModelOpt = Annotated[str, typer.Option("--model", help="rf | xgboost | lightgbm.")]
EmbargoOpt = Annotated[str, typer.Option(help="Gap after a trade's exit before the next window.")]

#: Data and strategy options of every command here (before / after its own options).
_HEAD = [
    option("strategy", Annotated[str, typer.Option(help="Registered strategy name.")], ...),
    option(
        "param",
        Annotated[list[str], typer.Option("--param", "-p", help="Strategy parameter name=value.")],
        [],
    ),  # fmt: skip
    option(
        "symbol",
        Annotated[
            list[str],
            typer.Option("--symbol", "-s", callback=symbol_names, help="Symbol (repeat)."),
        ],
        ["EURUSD"],
    ),  # fmt: skip
    option("timeframe", Annotated[str, typer.Option("--timeframe", "-t")], "H1"),
    option("start", Annotated[str | None, typer.Option(callback=iso_time)], None),
    option("end", Annotated[str | None, typer.Option(callback=iso_time)], None),
]
_TAIL = [
    *run_options(seed=SlippageSeedOption),
    option("home", HomeOption, None),
    option("instruments", InstrumentsOption, None),
]


def _spec_of(feature: list[str], featureset: Path | None, context: bool, timeframe: str) -> Any:
    from tradeforge.core.errors import ConfigError
    from tradeforge.research.featureset import FeatureSet, build_spec

    if featureset is not None:
        if feature:
            raise ConfigError("give --featureset or --feature, not both")
        return FeatureSet.load(featureset).spec
    return build_spec(feature, context=context, timeframe=timeframe)


def _dataset(kw: dict[str, Any], spec: Any) -> tuple[Any, dict, Any, Any]:
    """The strategy, its bars, the run spec and the trade dataset of ``kw``'s options."""
    from tradeforge.backtest.conversion import load_conversion
    from tradeforge.research.featureset import build_dataset
    from tradeforge.strategy import resolve_strategy

    load_instruments(kw["instruments"])
    strategy = resolve_strategy(kw["strategy"], kw["param"])
    rspec = run_spec(kw, strategy, symbols=tuple(kw["symbol"]), timeframe=kw["timeframe"],
                     start=kw["start"], end=kw["end"])  # fmt: skip
    home = home_dir(kw["home"])
    bars = load_frames(home, list(rspec.symbols), kw["timeframe"], kw["start"], kw["end"])
    rspec, _ = load_conversion(rspec, home)
    return strategy, bars, rspec, build_dataset(strategy, bars, spec, rspec)


@with_options(_HEAD, _TAIL)
def features_command(
    name: Annotated[str, typer.Option(help="Name of the feature set written.")],
    feature: FeatureOpt = [],  # noqa: B006
    context: Annotated[bool, typer.Option(help="Include the contextual feature set.")] = True,
    target: TargetOpt = "win",
    quantiles: Annotated[int, typer.Option(min=2)] = 5,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap samples.")] = 1000,
    seed: SeedOpt = 0,
    min_features: Annotated[int, typer.Option(min=1)] = 5,
    max_features: Annotated[int, typer.Option(min=1)] = 20,
    against: Annotated[
        Path | None, typer.Option(help="Earlier feature set to compare with.", callback=expand_user)
    ] = None,  # fmt: skip
    audit: Annotated[bool, typer.Option(help="Check the features for look-ahead.")] = True,
    out: Annotated[Path, typer.Option(callback=expand_user)] = Path("runs/features"),
    **kw: Any,
) -> None:
    """Analyse features at the signal bars of a strategy's trades and select a named set
    (writes <name>.json and features.json); exits 1 when --against differs."""
    from tradeforge.research.featureset import (
        FeatureSet,
        SelectionRules,
        analyze_dataset,
        audit_lookahead,
        compare_feature_sets,
        feature_frames,
        parse_target,
        select_features,
    )
    from tradeforge.research.featureset.analysis import summary_rows
    from tradeforge.research.io import write_json

    thr = parse_target(target)
    rules = SelectionRules(min_features=min_features, max_features=max_features)
    reference = FeatureSet.load(against) if against else None
    spec = _spec_of(feature, None, context, kw["timeframe"])
    strategy, bars, _, ds = _dataset(kw, spec)
    feats = feature_frames(bars, spec, kw["timeframe"])
    if audit:
        audit_lookahead(bars, spec, kw["timeframe"], features=feats)
    analysis = analyze_dataset(ds, feats, target=thr, q=quantiles, n_boot=bootstrap, seed=seed)
    source = {"strategy": strategy.describe(), "symbols": list(bars), "target": target,
              "timeframe": kw["timeframe"], "start": kw["start"], "end": kw["end"],
              "trades": len(ds)}  # fmt: skip
    fs = select_features(analysis, spec, name, rules, source)
    path = fs.save(out / f"{fs.name}.json")
    write_json(out / "features.json", {**analysis, "summary": summary_rows(analysis)})
    rows = [{**d, "kept": "yes" if d["kept"] else "no"} for d in fs.decisions]
    console.print(_table(f"feature set {fs.name}: {len(fs.kept)} kept of {len(rows)}", rows,
                         ["feature", "kept", "mutual_info", "rho", "sign_agreement", "reason"]))  # fmt: skip
    console.print(f"wrote {path} and features.json to {out}")
    if reference is not None:
        diff = compare_feature_sets(reference, fs)
        if not diff["same"] or diff["changed"]:
            console.print(f"[bold red]changed[/] against {against}: added {diff['added']}, "
                          f"removed {diff['removed']}, {len(diff['changed'])} new reasons")  # fmt: skip
            raise typer.Exit(1)
        console.print(f"[bold green]same[/] selection as {against}")


_ML_OWN = [
    option(
        "featureset",
        Annotated[
            Path | None,
            typer.Option(help="Feature set file (research features).", callback=expand_user),
        ],
        None,
    ),  # fmt: skip
    option("feature", FeatureOpt, []),
    option(
        "context", Annotated[bool, typer.Option(help="With --feature: add the context set.")], True
    ),  # fmt: skip
    option("model", ModelOpt, "lightgbm"),
    option("target", MLTargetOpt, "win"),
    option("seed", SeedOpt, 0),
    option("embargo", EmbargoOpt, "1D"),
]


def _scores_line(doc: dict[str, Any]) -> str:
    """The stitched OOS scores and each fold's threshold, on one line: ROC AUC, Brier score
    and base rate of a classifier; Spearman's rho and RMSE of a regressor of R."""
    scores = doc["scores"]

    def num(key: str) -> str:
        return f"{scores[key]:.4f}" if key in scores else "n/a"

    if doc["target"] == "r":
        head = f"Spearman's rho {num('spearman')}, RMSE {num('rmse_r')} R"
        unit = "predicted R"
    else:
        head = f"ROC AUC {num('roc_auc')}, Brier {num('brier')}, base rate {num('base_rate')}"
        unit = "probability"
    thresholds = ", ".join("keep all" if not math.isfinite(t) else f"{t:.4f}"
                           for t in doc["folds"].get("threshold", ()))  # fmt: skip
    return (f"OOS scores ({scores['oos_trades']} trades): {head}; threshold ({unit}) per "
            f"fold: {thresholds or 'none'}")  # fmt: skip


@with_options(_HEAD + _ML_OWN, _TAIL)
def evaluate_command(
    train: Annotated[str, typer.Option(help="Train length: bars or 6M, 90D…")] = "1Y",
    validation: Annotated[str, typer.Option(help="Calibration + threshold length.")] = "3M",
    test: Annotated[str, typer.Option(help="Test (OOS) length.")] = "3M",
    scheme: Annotated[str, typer.Option(help="rolling | anchored.")] = "rolling",
    out: Annotated[Path, typer.Option(callback=expand_user)] = Path("runs/ml-evaluate"),
    **kw: Any,
) -> None:
    """Purged walk-forward evaluation of a filter: OOS with vs without, and the verdict
    (keep or discard)."""
    from tradeforge.research.featureset import parse_target
    from tradeforge.research.io import write_json
    from tradeforge.research.ml import evaluate_filter
    from tradeforge.research.ml.models import check_kind
    from tradeforge.research.walkforward import WalkForwardConfig

    check_kind(kw["model"])  # cheap checks before any data is read
    thr = parse_target(kw["target"], regression=True)
    cfg = WalkForwardConfig.build(train, test, validation=validation, scheme=scheme)
    spec = _spec_of(kw["feature"], kw["featureset"], kw["context"], kw["timeframe"])
    strategy, bars, rspec, ds = _dataset(kw, spec)
    doc = evaluate_filter(strategy, bars, ds, cfg, rspec, kind=kw["model"], target=thr,
                          seed=kw["seed"], embargo=kw["embargo"])  # fmt: skip
    write_json(out / "verdict.json", doc)
    rows = _frame_rows(doc["folds"])
    for r in rows:
        r["test_start"] = str(r["test_start"])[:10]
    console.print(_table("folds (OOS)", rows))
    summary = [{"metric": k, "without": doc["oos"]["without"][k], "with": doc["oos"]["with"][k]}
               for k in ("trades", "win_rate_pct", "expectancy_r", "profit_factor",
                         "max_drawdown_r")]  # fmt: skip
    console.print(_table("out of sample, stitched", summary, ["metric", "without", "with"]))
    console.print(_table("checks", doc["checks"], ["check", "value", "passed"]))
    console.print(_scores_line(doc))
    colour = "green" if doc["verdict"] == "keep" else "red"
    console.print(
        f"verdict: [bold {colour}]{doc['verdict']}[/] the filter — wrote {out / 'verdict.json'}"
    )


@with_options(_HEAD + _ML_OWN, _TAIL)
def train_command(
    validation: Annotated[str, typer.Option(help="Last stretch used for calibration.")] = "3M",
    out: Annotated[Path, typer.Option(help="Model folder.", callback=expand_user)] = Path(
        "runs/model"
    ),
    **kw: Any,
) -> None:
    """Train the deployable filter on the data range and save it (model.pkl + model.json)."""
    from tradeforge.research.featureset import parse_target
    from tradeforge.research.ml import train_model
    from tradeforge.research.ml.models import check_kind
    from tradeforge.research.walkforward import Length

    check_kind(kw["model"])  # cheap checks before any data is read
    thr = parse_target(kw["target"], regression=True)
    Length.parse(validation)
    spec = _spec_of(kw["feature"], kw["featureset"], kw["context"], kw["timeframe"])
    strategy, bars, _, ds = _dataset(kw, spec)
    art = train_model(strategy, bars, ds, validation=validation, kind=kw["model"], target=thr,
                      seed=kw["seed"], embargo=kw["embargo"]).save(out)  # fmt: skip
    v = art.meta["validation"]
    console.print(f"model {kw['model']} sha256 {art.sha256}")
    on = "predicted R " if art.regression else ""
    console.print(f"threshold {on}{art.threshold:.4f}: keeps {v['kept']} of {v['trades']} "
                  f"validation trades (E[R] {v['expectancy_r']:.3f} -> "
                  f"{v['expectancy_r_kept']:.3f})")  # fmt: skip
    console.print(f"wrote {out}; use it with --strategy ml_filter --param model={out} "
                  f"--param sha256={art.sha256}")  # fmt: skip


@with_options([], _HEAD[2:] + _TAIL)
def explain_command(
    model: Annotated[Path, typer.Option("--model", help="Model folder.", callback=expand_user)],
    seed: SeedOpt = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default <model>/explain).", callback=expand_user),
    ] = None,  # fmt: skip
    **kw: Any,
) -> None:
    """Permutation importance, SHAP values and partial dependence of a model on the trades of
    its strategy in the date range; writes PNGs and explain.html."""
    from tradeforge.research.ml import ModelArtifact
    from tradeforge.research.ml.explain import explain

    art = ModelArtifact.load(model)
    base = art.meta.get("strategy") or {}
    kw = {**kw, "strategy": base.get("name"),
          "param": [f"{k}={v}" for k, v in (base.get("params") or {}).items()]}  # fmt: skip
    _, _, _, ds = _dataset(kw, art.spec)
    out = out or model / "explain"
    doc = explain(art, ds, out, seed=seed)
    console.print(
        _table(f"what the model reads ({len(ds)} trades)", _frame_rows(doc["importance"]))
    )
    console.print(f"SHAP: {doc['shap']}; wrote explain.html and charts to {out}")


def register(research: typer.Typer) -> None:
    """Add ``features`` and the ``ml`` group to ``research``."""
    research.command("features")(features_command)
    ml_app.command("train")(train_command)
    ml_app.command("evaluate")(evaluate_command)
    ml_app.command("explain")(explain_command)
    research.add_typer(ml_app, name="ml")
