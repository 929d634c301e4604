"""Parameter search: grid, seeded random and Optuna TPE over a strategy's declared parameters.

Quick use::

    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.research import Objective, ParameterSpace, ProcessBackend, optimize
    from tradeforge.strategy import get_strategy

    bars = generate_bars("EURUSD", "H1", "2022-01-01", "2024-01-01", seed=3)
    SMA = get_strategy("sma_cross")
    space = ParameterSpace.from_specs(SMA, ["fast=5:30:5", "slow=20,40,60"])
    with ProcessBackend(2) as backend:
        res = optimize(SMA, {"EURUSD": bars}, space, backend=backend,
                       objective=Objective.build("expectancy_r", min_trades=30))
    res.top(10), res.best_params

Determinism: trials are numbered before they run and the table is sorted by trial id, so every
backend gives the same table. Optuna asks for trials in batches of ``batch_size`` (a setting
of the search, not of the backend) and is told the results in trial order.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.backtest.io import run_config
from tradeforge.core.errors import ConfigError
from tradeforge.data.cache import StoreSlice
from tradeforge.research.backends import Backend, InProcessBackend, Progress, Shared
from tradeforge.research.evaluate import METRICS, Evaluator, Window
from tradeforge.research.objective import Objective
from tradeforge.research.space import ParameterSpace, Params, param_key
from tradeforge.strategy import get_strategy
from tradeforge.strategy.base import Strategy
from tradeforge.trading.fx import Conversion
from tradeforge.trading.spec import RunSpec

METHODS = ("grid", "random", "optuna")
#: Grids up to this size have their feature union precomputed before any trial runs.
WARM_LIMIT = 20_000


def _build_evaluator(
    spec: RunSpec,
    strategy: type[Strategy],
    frames: Mapping[str, pd.DataFrame] | StoreSlice,
    features: Any,
    conversion: Conversion | None,
) -> Evaluator:
    if isinstance(frames, StoreSlice):  # a worker reads the bars from the shared store
        frames = {s: frames.load(s) for s in spec.symbols}
    return Evaluator(spec, frames, features, strategy=strategy, conversion=conversion)


def _evaluate_item(evaluator: Evaluator, item: tuple[Params, Window | None]) -> dict[str, Any]:
    params, window = item
    return evaluator.evaluate(params, window)


def prepare(
    strategy: type[Strategy] | str,
    data: Mapping[str, pd.DataFrame] | StoreSlice,
    space: ParameterSpace,
    spec: RunSpec | None = None,
    *,
    conversion: Conversion | None = None,
    **keywords: Any,
) -> tuple[Evaluator, Shared]:
    """A parent-side evaluator with the feature union of a discrete space precomputed, and
    the payload that gives every worker the same data and features.

    The trials' settings come from ``spec`` or, as a convenience, from ``keywords`` (those of
    `RunSpec.from_keywords`); ``spec.params`` become the space's fixed parameters;
    ``conversion`` holds the conversion bars (or, with keywords, rates) of an account
    currency.

    ``data`` may be a `StoreSlice` (``spec`` then names the symbols): the payload then carries
    that reference, not the bars or features, so on a cluster every worker reads the bars
    from the shared store path (and computes its features) instead of receiving them
    through the scheduler."""
    cls = get_strategy(strategy) if isinstance(strategy, str) else strategy
    source = data if isinstance(data, StoreSlice) else None
    if source is not None:
        if spec is None or not spec.symbols:
            raise ConfigError("bars from the store need a spec naming the symbols")
        data = {s: source.load(s) for s in spec.symbols}
    if spec is None:
        spec = RunSpec.from_keywords(None, data, conversion, **keywords)
    elif keywords:
        raise ConfigError(f"give the run settings in the spec or as keywords: {sorted(keywords)}")
    spec = replace(spec, strategy=cls.name, params={**spec.params, **dict(space.fixed)})
    evaluator = Evaluator(spec, data, strategy=cls, conversion=conversion)
    size = space.size
    if size is not None and size <= WARM_LIMIT:
        evaluator.warm(space.grid())
    if source is not None:
        payload: tuple[Any, ...] = (evaluator.spec, cls, source, None, conversion)
    else:
        payload = (evaluator.spec, cls, evaluator.frames, evaluator.feature_columns(), conversion)
    return evaluator, Shared(_build_evaluator, payload)


@dataclass
class OptimizeResult:
    """The trials table (one row per trial, sorted by ``trial_id``) and the search settings."""

    trials: pd.DataFrame
    space: ParameterSpace
    objective: Objective
    method: str
    seed: int
    config: dict[str, Any] = field(default_factory=dict)
    robustness: dict[str, Any] | None = None

    def ranked(self) -> pd.DataFrame:
        """``ok`` trials, best first (ties by trial id)."""
        ok = self.trials[self.trials["status"] == "ok"]
        return ok.sort_values(["rank"], kind="stable")

    def top(self, n: int = 10) -> pd.DataFrame:
        return self.ranked().head(n)

    @property
    def best(self) -> pd.Series | None:
        ranked = self.ranked()
        return None if ranked.empty else ranked.iloc[0]

    @property
    def best_params(self) -> Params | None:
        """Searched values of the best trial (None when no trial qualified)."""
        best = self.best
        if best is None:
            return None
        return {name: _py(best[name]) for name in self.space.names}

    def status_counts(self) -> dict[str, int]:
        counts = self.trials["status"].value_counts()
        return {str(k): int(v) for k, v in sorted(counts.items())}

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        best = self.best
        return {
            "kind": "tradeforge.optimize",
            "method": self.method,
            "seed": self.seed,
            "objective": self.objective.describe(),
            "space": self.space.describe(),
            "trials": len(self.trials),
            "status": self.status_counts(),
            "best": None if best is None else _row_dict(best),
            "best_params": self.best_params,
            "robustness": self.robustness,
            "top": [_row_dict(r) for _, r in self.top(top).iterrows()],
            "config": self.config,
        }


def _py(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _row_dict(row: pd.Series) -> dict[str, Any]:
    return {str(k): _py(v) for k, v in row.items()}


def trials_frame(
    space: ParameterSpace,
    objective: Objective,
    params: Sequence[Params],
    outcomes: Sequence[Mapping[str, Any]],
    first_id: int = 0,
) -> pd.DataFrame:
    """The trials table: id, parameters, status, objective, rank, failed constraints, metrics."""
    rows = []
    for i, (p, o) in enumerate(zip(params, outcomes, strict=True)):
        status, value, failed = objective.judge(o)
        row: dict[str, Any] = {"trial_id": first_id + i}
        row.update({name: p[name] for name in space.names})
        row.update(
            status=status,
            objective=value,
            failed=";".join(failed),
            error=str(o.get("error", "")),
        )
        row.update({m: float(o.get(m, math.nan)) for m in METRICS})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["rank"] = rank_trials(frame, objective)
    return frame


def rank_trials(frame: pd.DataFrame, objective: Objective) -> np.ndarray:
    """1 = best among ``ok`` trials (ties by trial id); 0 for the others."""
    ok = (frame["status"] == "ok").to_numpy()
    key = -objective.sign * frame["objective"].to_numpy(dtype=np.float64)
    order = np.lexsort((frame["trial_id"].to_numpy(), key))
    order = order[ok[order]]
    rank = np.zeros(len(frame), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def search(
    backend: Backend,
    shared: Shared,
    space: ParameterSpace,
    objective: Objective,
    *,
    method: str = "grid",
    n_trials: int | None = None,
    seed: int = 0,
    window: Window | None = None,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Run one search on ``backend``; returns the trials table (see `trials_frame`)."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}")
    if method == "grid":
        points = space.grid()
        if n_trials is not None and n_trials < len(points):
            raise ConfigError(
                f"the grid has {len(points)} points but --trials is {n_trials}; "
                "drop --trials or use --method random"
            )
        return _run_points(backend, shared, space, objective, points, window, progress)
    if n_trials is None or n_trials < 1:
        raise ConfigError(f"--method {method} needs --trials N (N >= 1)")
    if method == "random":
        points = space.sample(n_trials, seed)
        return _run_points(backend, shared, space, objective, points, window, progress)
    return _run_optuna(
        backend, shared, space, objective, n_trials, seed, window, batch_size, progress
    )


def _run_points(backend, shared, space, objective, points, window, progress) -> pd.DataFrame:
    unique: dict[tuple, Params] = {}
    for p in points:
        unique.setdefault(param_key(p), p)
    items = [(p, window) for p in unique.values()]
    outcomes = dict(zip(unique, backend.map(_evaluate_item, shared, items, progress), strict=True))
    return trials_frame(space, objective, points, [outcomes[param_key(p)] for p in points])


def _import_optuna():
    try:
        import optuna
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError(
            "--method optuna needs optuna: pip install 'tradeforge[research]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _constraint_values(trial: Any) -> Sequence[float]:
    return (float(trial.user_attrs.get("violations", 0.0)),)


def _run_optuna(
    backend, shared, space, objective, n_trials, seed, window, batch_size, progress
) -> pd.DataFrame:
    optuna = _import_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constraints_func is marked experimental
        sampler = optuna.samplers.TPESampler(
            seed=seed, constraints_func=_constraint_values, n_startup_trials=10
        )
        study = optuna.create_study(direction=objective.direction, sampler=sampler)
    batch_size = max(1, int(batch_size))
    points: list[Params] = []
    outcomes: list[dict[str, Any]] = []
    while len(points) < n_trials:
        k = min(batch_size, n_trials - len(points))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            asked = [study.ask() for _ in range(k)]
            batch = [{d.name: d.suggest(t) for d in space.dimensions} for t in asked]
        done = len(points)

        def report(n: int, _total: int, done: int = done) -> None:
            if progress:
                progress(done + n, n_trials)

        results = backend.map(_evaluate_item, shared, [(p, window) for p in batch], report)
        for trial, outcome in zip(asked, results, strict=True):
            status, value, failed = objective.judge(outcome)
            if status in ("invalid", "undefined") or math.isnan(value):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            trial.set_user_attr("violations", float(len(failed)))
            study.tell(trial, value)
        points.extend(batch)
        outcomes.extend(results)
    return trials_frame(space, objective, points, outcomes)


def robustness(
    backend: Backend,
    shared: Shared,
    space: ParameterSpace,
    objective: Objective,
    trials: pd.DataFrame,
    chosen: Params,
    window: Window | None = None,
) -> dict[str, Any]:
    """How much the objective degrades one step away from ``chosen``.

    Each neighbour's degradation is ``max(0, better-direction loss) / |chosen value|``
    (1 when the neighbour has no usable value); the score is ``max(0, 1 - mean degradation)``:
    1 is a plateau, 0 a spike that collapses next door. Neighbours missing from ``trials``
    are evaluated on ``backend``.
    """
    known = {param_key({n: _py(r[n]) for n in space.names}): r for _, r in trials.iterrows()}
    base = known.get(param_key(chosen))
    base_value = float(base["objective"]) if base is not None else math.nan
    neighbours = space.neighbours(chosen)
    missing = [p for p in neighbours if param_key(p) not in known]
    if missing:
        outs = backend.map(_evaluate_item, shared, [(p, window) for p in missing])
        extra = trials_frame(space, objective, missing, outs, first_id=-len(missing))
        for p, (_, r) in zip(missing, extra.iterrows(), strict=True):
            known[param_key(p)] = r
    rows = []
    degradation = []
    for p in neighbours:
        r = known[param_key(p)]
        value = float(r["objective"])
        usable = r["status"] in ("ok", "rejected") and math.isfinite(value)
        if usable and math.isfinite(base_value) and base_value != 0:
            loss = objective.sign * (base_value - value)
            degradation.append(max(0.0, loss) / abs(base_value))
        else:
            degradation.append(1.0)
        rows.append({**p, "objective": value, "status": str(r["status"])})
    score = None
    if neighbours and math.isfinite(base_value) and base_value != 0:
        score = max(0.0, 1.0 - float(np.mean(degradation)))
    return {
        "score": score,
        "chosen": dict(chosen),
        "chosen_objective": base_value,
        "neighbours": rows,
        "mean_neighbour_objective": (
            float(np.nanmean([r["objective"] for r in rows]))
            if rows and any(math.isfinite(r["objective"]) for r in rows)
            else None
        ),
    }


def optimize(
    strategy: type[Strategy] | str,
    data: Mapping[str, pd.DataFrame] | StoreSlice,
    space: ParameterSpace,
    *,
    method: str = "grid",
    n_trials: int | None = None,
    seed: int = 0,
    objective: Objective | None = None,
    backend: Backend | None = None,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
    **run: Any,
) -> OptimizeResult:
    """Search ``space`` for the parameters that best meet ``objective`` (see module doc).

    ``run``: the backtest settings of every trial, arguments of `prepare` (``spec`` and
    ``conversion``, or the keywords of `RunSpec.from_keywords`).
    """
    objective = objective or Objective()
    backend = backend or InProcessBackend()
    _, shared = prepare(strategy, data, space, **run)
    trials = search(
        backend,
        shared,
        space,
        objective,
        method=method,
        n_trials=n_trials,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
    )
    spec: RunSpec = shared.args[0]
    result = OptimizeResult(
        trials=trials,
        space=space,
        objective=objective,
        method=method,
        seed=seed,
        config={**run_config(spec), "batch_size": batch_size if method == "optuna" else None},
    )
    chosen = result.best_params
    if chosen is not None:
        result.robustness = robustness(backend, shared, space, objective, trials, chosen)
    return result
