"""Walk-forward validation: optimise on each train window, evaluate out of sample.

Schemes: ``rolling`` (the train window slides by ``step``) and ``anchored`` (train always
starts at the first bar and grows by ``step``). Window lengths are bars (``"2000"``) or
calendar periods (``"6M"``, ``"90D"``, ``"2W"``, ``"1Y"``, ``"1Q"``, ``"12H"``). An optional
validation window between train and test picks, among the ``top_k`` train trials, the one
that does best on validation.

Outputs per fold: chosen parameters, in-sample (train) and out-of-sample (test) metrics, and
the robustness of the choice (see `tradeforge.research.optimize.robustness`). Across folds:

* **stitched OOS equity** — each test window's PnL (its equity minus the initial capital)
  chained end to end in money, starting from the initial capital;
* **walk-forward efficiency** (Pardo) — annualised OOS net profit over annualised IS net
  profit: per fold, and overall as (total OOS profit / OOS years) / mean IS profit rate;
* **objective ratio** — mean OOS objective / mean IS objective.

Features are computed once on the full series, so a test window's indicators are warmed up
by earlier bars (never later ones) exactly as they would be live.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.analytics.report import build_report
from tradeforge.backtest import BacktestResult
from tradeforge.backtest.io import run_config
from tradeforge.core.errors import ConfigError
from tradeforge.data.cache import StoreSlice
from tradeforge.research.backends import Backend, InProcessBackend, Progress
from tradeforge.research.evaluate import Window, flat_metrics
from tradeforge.research.objective import Objective
from tradeforge.research.optimize import (
    _evaluate_item,
    _py,
    prepare,
    robustness,
    search,
)
from tradeforge.research.space import ParameterSpace
from tradeforge.strategy.base import Strategy
from tradeforge.trading.result import EQUITY_COLUMNS

SCHEMES = ("rolling", "anchored")
_NS_PER_YEAR = 365.25 * 86_400 * 10**9
_PERIOD = re.compile(r"^\s*(\d+)\s*([HDWMQY])\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Length:
    """A window length: ``bars`` or a calendar ``offset``."""

    bars: int | None = None
    offset: pd.DateOffset | None = None
    text: str = ""

    @classmethod
    def parse(cls, text: str | int) -> Length:
        s = str(text).strip()
        if s.isdigit():
            if int(s) < 1:
                raise ConfigError(f"window length {text!r} must be >= 1 bar")
            return cls(bars=int(s), text=s)
        m = _PERIOD.match(s)
        if not m:
            raise ConfigError(
                f"window length {text!r}: use bars (2000) or a period (12H, 90D, 2W, 6M, 1Q, 1Y)"
            )
        n, unit = int(m.group(1)), m.group(2).upper()
        if n < 1:
            raise ConfigError(f"window length {text!r} must be positive")
        kwargs = {
            "H": {"hours": n},
            "D": {"days": n},
            "W": {"weeks": n},
            "M": {"months": n},
            "Q": {"months": 3 * n},
            "Y": {"years": n},
        }[unit]
        return cls(offset=pd.DateOffset(**kwargs), text=s.upper())

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class WalkForwardConfig:
    train: Length
    test: Length
    validation: Length | None = None
    step: Length | None = None  # default: the test length
    scheme: str = "rolling"
    top_k: int = 5

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ConfigError(f"scheme must be one of {', '.join(SCHEMES)}")
        lengths = [x for x in (self.train, self.test, self.validation, self.step) if x]
        if len({x.bars is None for x in lengths}) > 1:
            raise ConfigError("window lengths must all be bars or all be calendar periods")
        if self.top_k < 1:
            raise ConfigError("top_k must be >= 1")

    @classmethod
    def build(
        cls,
        train: str,
        test: str,
        *,
        validation: str | None = None,
        step: str | None = None,
        scheme: str = "rolling",
        top_k: int = 5,
    ) -> WalkForwardConfig:
        return cls(
            Length.parse(train),
            Length.parse(test),
            Length.parse(validation) if validation else None,
            Length.parse(step) if step else None,
            scheme,
            top_k,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "train": str(self.train),
            "validation": str(self.validation) if self.validation else None,
            "test": str(self.test),
            "step": str(self.step or self.test),
            "top_k": self.top_k,
        }


@dataclass(frozen=True)
class Fold:
    index: int
    train: Window
    validation: Window | None
    test: Window


def make_folds(times: pd.DatetimeIndex, config: WalkForwardConfig) -> list[Fold]:
    """Folds over bar open ``times`` (sorted); only folds whose test window is complete."""
    ns = pd.DatetimeIndex(times).as_unit("ns").asi8
    if len(ns) < 2:
        raise ConfigError("walk-forward needs at least two bars")
    end_ns = int(ns[-1]) + int(np.min(np.diff(ns)))  # close of the last bar
    step = config.step or config.test
    if config.test.bars is not None:
        folds = _bar_folds(ns, end_ns, config, step)
    else:
        folds = _calendar_folds(ns, end_ns, config, step)
    if not folds:
        raise ConfigError(
            f"no complete walk-forward fold fits {len(ns)} bars "
            f"(train {config.train}, validation {config.validation}, test {config.test})"
        )
    return folds


def _bar_folds(ns, end_ns, config, step) -> list[Fold]:
    n = len(ns)

    def at(i: int) -> int:
        return int(ns[i]) if i < n else end_ns

    train, test = config.train.bars, config.test.bars
    val = config.validation.bars if config.validation else 0
    folds = []
    k = 0
    while True:
        start = 0 if config.scheme == "anchored" else k * step.bars
        train_end = train + k * step.bars
        test_end = train_end + val + test
        if test_end > n:
            break
        folds.append(
            Fold(
                k,
                (at(start), at(train_end)),
                (at(train_end), at(train_end + val)) if val else None,
                (at(train_end + val), at(test_end)),
            )
        )
        k += 1
    return folds


def _calendar_folds(ns, end_ns, config, step) -> list[Fold]:
    t0 = pd.Timestamp(int(ns[0]), unit="ns", tz="UTC")

    def as_ns(t: pd.Timestamp) -> int:
        return int(t.as_unit("ns").value)

    folds = []
    k = 0
    while True:
        shift = t0 + step.offset * k if k else t0
        start = t0 if config.scheme == "anchored" else shift
        train_end = shift + config.train.offset
        val_end = train_end + config.validation.offset if config.validation else train_end
        test_end = val_end + config.test.offset
        if as_ns(test_end) > end_ns:
            break
        folds.append(
            Fold(
                k,
                (as_ns(start), as_ns(train_end)),
                (as_ns(train_end), as_ns(val_end)) if config.validation else None,
                (as_ns(val_end), as_ns(test_end)),
            )
        )
        k += 1
    return folds


@dataclass
class WalkForwardResult:
    folds: pd.DataFrame  # one row per fold
    trials: pd.DataFrame  # every train trial, with a ``fold`` column
    equity: pd.DataFrame  # stitched OOS equity: index time, columns equity, fold
    oos: BacktestResult | None  # every OOS trade and the stitched equity as one result
    summary: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "tradeforge.walkforward",
            "summary": self.summary,
            "folds": [{str(k): _py(v) for k, v in row.items()} for _, row in self.folds.iterrows()],
            "config": self.config,
        }


def _iso(ns: int | None) -> pd.Timestamp | None:
    return None if ns is None else pd.Timestamp(int(ns), unit="ns", tz="UTC")


def _years(window: Window) -> float:
    return (window[1] - window[0]) / _NS_PER_YEAR


def walk_forward(
    strategy: type[Strategy] | str,
    data: Mapping[str, pd.DataFrame] | StoreSlice,
    space: ParameterSpace,
    config: WalkForwardConfig,
    *,
    method: str = "grid",
    n_trials: int | None = None,
    seed: int = 0,
    objective: Objective | None = None,
    backend: Backend | None = None,
    batch_size: int = 16,
    progress: Progress | None = None,
    **run: Any,
) -> WalkForwardResult:
    """Run the walk-forward of ``config`` (see the module docstring); ``run`` holds the
    backtest settings, keywords of `tradeforge.research.optimize.prepare`."""
    objective = objective or Objective()
    backend = backend or InProcessBackend()
    evaluator, shared = prepare(strategy, data, space, **run)
    spec = shared.args[0]
    times = evaluator.frames[next(iter(evaluator.frames))].index
    for frame in list(evaluator.frames.values())[1:]:
        times = times.union(frame.index)
    folds = make_folds(times, config)
    rows: list[dict[str, Any]] = []
    trial_tables: list[pd.DataFrame] = []
    oos_results: list[tuple[int, BacktestResult]] = []
    for fold in folds:
        trials = search(
            backend,
            shared,
            space,
            objective,
            method=method,
            n_trials=n_trials,
            seed=seed + fold.index,
            window=fold.train,
            batch_size=batch_size,
        )
        trial_tables.append(trials.assign(fold=fold.index))
        row = _fold_row(fold, space)
        ok = trials[trials["status"] == "ok"].sort_values("rank", kind="stable")
        if ok.empty:
            row["status"] = "no qualifying trial"
            rows.append(row)
            if progress:
                progress(fold.index + 1, len(folds))
            continue
        chosen_row = ok.iloc[0]
        if fold.validation is not None:
            chosen_row, row["validation_objective"] = _validate(
                backend, shared, space, objective, ok.head(config.top_k), fold.validation
            )
        chosen = {n: _py(chosen_row[n]) for n in space.names}
        row.update(chosen)
        row["is_objective"] = float(chosen_row["objective"])
        row["is_net_profit"] = float(chosen_row["net_profit"])
        row["is_trades"] = int(chosen_row["trades"])
        rob = robustness(backend, shared, space, objective, trials, chosen, fold.train)
        row["robustness"] = rob["score"]
        result = evaluator.backtest(chosen, fold.test)
        metrics = flat_metrics(build_report(result))
        status, value, failed = objective.judge({"status": "ok", **metrics})
        row.update(
            oos_objective=value,
            oos_net_profit=metrics["net_profit"],
            oos_trades=int(metrics["trades"]),
            oos_return_pct=metrics["return_pct"],
            oos_max_drawdown_pct=metrics["max_drawdown_pct"],
            oos_status=status,
            status="ok",
        )
        is_rate = row["is_net_profit"] / _years(fold.train)
        oos_rate = row["oos_net_profit"] / _years(fold.test)
        row["wfe"] = oos_rate / is_rate if is_rate > 0 else math.nan
        oos_results.append((fold.index, result))
        rows.append(row)
        if progress:
            progress(fold.index + 1, len(folds))
    folds_frame = pd.DataFrame(rows)
    equity, oos = stitch(oos_results, spec.initial_capital)
    summary = _summary(folds_frame, folds, oos, objective)
    settings = {
        "walkforward": config.describe(),
        "method": method,
        "n_trials": n_trials,
        "seed": seed,
        "objective": objective.describe(),
        "space": space.describe(),
        **run_config(spec),
    }
    trials_all = pd.concat(trial_tables, ignore_index=True) if trial_tables else pd.DataFrame()
    return WalkForwardResult(folds_frame, trials_all, equity, oos, summary, settings)


def _fold_row(fold: Fold, space: ParameterSpace) -> dict[str, Any]:
    row: dict[str, Any] = {
        "fold": fold.index,
        "train_start": _iso(fold.train[0]),
        "train_end": _iso(fold.train[1]),
        "validation_start": _iso(fold.validation[0]) if fold.validation else None,
        "validation_end": _iso(fold.validation[1]) if fold.validation else None,
        "test_start": _iso(fold.test[0]),
        "test_end": _iso(fold.test[1]),
    }
    row.update(dict.fromkeys(space.names))
    row.update(
        status="",
        is_objective=math.nan,
        validation_objective=math.nan,
        oos_objective=math.nan,
        is_net_profit=math.nan,
        oos_net_profit=math.nan,
        is_trades=0,
        oos_trades=0,
        oos_return_pct=math.nan,
        oos_max_drawdown_pct=math.nan,
        oos_status="",
        wfe=math.nan,
        robustness=math.nan,
    )
    return row


def _validate(backend, shared, space, objective, candidates: pd.DataFrame, window: Window):
    """The candidate (train-ranked) with the best validation objective; ties keep train order."""
    params = [{n: _py(r[n]) for n in space.names} for _, r in candidates.iterrows()]
    outcomes = backend.map(_evaluate_item, shared, [(p, window) for p in params])
    best_i, best_v = 0, math.nan
    for i, outcome in enumerate(outcomes):
        status, value, _ = objective.judge(outcome)
        if status != "ok":
            continue
        if math.isnan(best_v) or objective.sign * (value - best_v) > 0:
            best_i, best_v = i, value
    return candidates.iloc[best_i], best_v


def stitch(
    results: list[tuple[int, BacktestResult]], initial_capital: float
) -> tuple[pd.DataFrame, BacktestResult | None]:
    """Chain OOS windows: each window's PnL added to where the previous one ended."""
    if not results:
        empty = pd.DataFrame({"equity": [], "fold": []}, index=pd.DatetimeIndex([], tz="UTC"))
        return empty, None
    parts, trades, legs = [], [], []
    offset = 0.0
    for fold, res in results:
        eq = res.equity
        pnl_equity = eq["equity"].to_numpy() - initial_capital + offset
        pnl_balance = eq["balance"].to_numpy() - initial_capital + offset
        parts.append(
            pd.DataFrame(
                {
                    "equity": initial_capital + pnl_equity,
                    "balance": initial_capital + pnl_balance,
                    "open_positions": eq["open_positions"].to_numpy(),
                    "fold": fold,
                },
                index=eq.index,
            )
        )
        offset = float(pnl_equity[-1]) if len(pnl_equity) else offset
        trades.append(res.trades.assign(fold=fold))
        legs.append(res.legs.assign(fold=fold))
    equity = pd.concat(parts)
    equity = equity[~equity.index.duplicated(keep="last")]
    all_trades = _concat_labels(trades).sort_values(["entry_time", "fold"], kind="stable")
    all_trades = all_trades.reset_index(drop=True)
    new_ids = pd.Series(
        np.arange(len(all_trades)), index=[all_trades["fold"], all_trades["trade_id"]]
    )
    all_legs = _concat_labels(legs)
    all_legs["trade_id"] = new_ids.reindex(
        pd.MultiIndex.from_arrays([all_legs["fold"], all_legs["trade_id"]])
    ).to_numpy()
    all_trades["trade_id"] = np.arange(len(all_trades))
    oos = BacktestResult(
        trades=all_trades.drop(columns="fold"),
        legs=all_legs.drop(columns="fold").sort_values(["time", "trade_id"], kind="stable"),
        equity=equity[list(EQUITY_COLUMNS)],
        initial_capital=initial_capital,
        config={"walkforward": "stitched out-of-sample windows"},
    )
    return equity[["equity", "fold"]], oos


def _concat_labels(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames whose label columns may be categoricals with different categories."""
    fixed = []
    for f in frames:
        f = f.copy()
        for col in f.columns:
            if isinstance(f[col].dtype, pd.CategoricalDtype):
                f[col] = f[col].astype(str)
        fixed.append(f)
    return pd.concat(fixed, ignore_index=True)


def _summary(
    frame: pd.DataFrame, folds: list[Fold], oos: BacktestResult | None, objective: Objective
) -> dict[str, Any]:
    ok = frame[frame["status"] == "ok"] if not frame.empty else frame
    done = [f for f in folds if f.index in set(ok["fold"])] if not ok.empty else []
    out: dict[str, Any] = {
        "folds": len(folds),
        "folds_evaluated": len(ok),
        "objective": objective.metric,
        "wfe": None,
        "objective_ratio": None,
        "robustness_mean": None,
        "profitable_oos_folds_pct": None,
        "oos": None,
    }
    if ok.empty:
        return out
    is_rates = np.array(
        [r / _years(f.train) for r, f in zip(ok["is_net_profit"], done, strict=True)]
    )
    oos_years = sum(_years(f.test) for f in done)
    mean_is = float(np.mean(is_rates))
    if mean_is > 0 and oos_years > 0:
        out["wfe"] = float(ok["oos_net_profit"].sum()) / oos_years / mean_is
    mean_is_obj = float(np.nanmean(ok["is_objective"]))
    oos_obj = ok["oos_objective"].to_numpy(dtype=np.float64)
    if mean_is_obj != 0 and np.isfinite(oos_obj).any():
        out["objective_ratio"] = float(np.nanmean(oos_obj)) / mean_is_obj
    rob = ok["robustness"].to_numpy(dtype=np.float64)
    if np.isfinite(rob).any():
        out["robustness_mean"] = float(np.nanmean(rob))
    out["profitable_oos_folds_pct"] = 100.0 * float((ok["oos_net_profit"] > 0).mean())
    if oos is not None:
        out["oos"] = flat_metrics(build_report(oos))
    return out
