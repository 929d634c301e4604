"""Does the filter earn its place? Walk-forward, out of sample, with against without.

For each purged fold (`cv.purged_folds`) a filter is fitted on the train trades and
calibrated and thresholded on the validation trades (`train.fit_filter`). The test folds are
then traded twice with the real backtest over the whole bar series: once with the wrapped
strategy's signals in the test windows only (*without*), once with those signals filtered by
each window's own model (*with*). Re-running the backtest, rather than deleting trades from a
list, lets a skipped signal free the position slot it would have held, exactly as the filter
behaves live. Out-of-sample probabilities of the dataset's test trades are stitched across
folds for the scores (ROC AUC, Brier; for predicted R, Spearman rho and RMSE).

The verdict is ``keep`` only when every test holds:

* the filter's OOS expectancy in R beats the unfiltered one with a seeded bootstrap interval
  of the difference (`scipy.stats.bootstrap`, two independent samples) entirely above 0;
* expectancy improves in at least ``min_fold_share`` of the folds that traded;
* the OOS maximum drawdown (in R) is not worse than without the filter;
* at least ``min_trades`` OOS trades remain.

Otherwise the verdict is ``discard`` and the report lists the tests that failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.instruments import Instrument
from tradeforge.research.featureset.dataset import TradeDataset
from tradeforge.research.ml.cv import PurgedFold
from tradeforge.research.ml.filter import keep_signals, model_inputs
from tradeforge.research.ml.models import score
from tradeforge.research.ml.train import FittedFilter
from tradeforge.strategy.base import Strategy
from tradeforge.strategy.signals import Signals


@dataclass(frozen=True)
class VerdictRules:
    min_fold_share: float = 0.6
    min_trades: int = 30
    n_boot: int = 2000
    level: float = 0.95
    seed: int = 0


class FoldFilter(Strategy):
    """The wrapped strategy's signals inside the test windows only, each window's signals
    filtered by its own model (``filters=None``: unfiltered). Used in-process by `verdict`."""

    name = "ml_fold_filter"

    def __init__(
        self,
        inner: Strategy,
        windows: Sequence[tuple[int, int]],
        columns: tuple[str, ...],
        requests: Sequence[str],
        filters: Sequence[FittedFilter] | None = None,
    ) -> None:
        super().__init__()
        self.inner, self.windows, self.filters = inner, list(windows), filters
        self.columns, self.requests = columns, list(requests)
        self.signal_lookback = inner.signal_lookback  # type: ignore[misc]

    def features(self) -> list[str]:
        return list(dict.fromkeys([*self.inner.features(), *self.requests]))

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        sig = self.inner.signals(frame, instrument)
        t = frame.index.as_unit("ns").asi8[sig.bar]
        keep = np.zeros(len(sig), dtype=bool)
        if self.filters is not None and len(sig):
            X = model_inputs(frame, sig, self.columns)  # noqa: N806
        for k, (start, end) in enumerate(self.windows):
            inside = (t >= start) & (t < end)
            if self.filters is None or not inside.any():
                keep |= inside
                continue
            fitted = self.filters[k]
            p = score(fitted.estimator, X[inside])
            keep[np.flatnonzero(inside)[p >= fitted.threshold]] = True
        return keep_signals(sig, keep)


def trade_stats(trades: pd.DataFrame) -> dict[str, Any]:
    """Count, win rate, expectancy R, profit factor, max drawdown in R, R quantiles."""
    r = pd.to_numeric(trades["r_multiple"], errors="coerce").to_numpy(np.float64)
    r = r[np.isfinite(r)]
    pnl = pd.to_numeric(trades["pnl"], errors="coerce").to_numpy(np.float64)
    if len(r) == 0:
        return {"trades": 0, "win_rate_pct": math.nan, "expectancy_r": math.nan,
                "profit_factor": math.nan, "max_drawdown_r": 0.0, "r_quantiles": {}}  # fmt: skip
    curve = np.concatenate([[0.0], np.cumsum(r)])
    loss = -pnl[pnl < 0].sum()
    return {
        "trades": int(len(r)),
        "win_rate_pct": 100.0 * float((r > 0).mean()),
        "expectancy_r": float(r.mean()),
        "profit_factor": float(pnl[pnl > 0].sum() / loss) if loss > 0 else math.inf,
        "max_drawdown_r": float(np.max(np.maximum.accumulate(curve) - curve)),
        "r_quantiles": {f"p{q}": float(v) for q, v in
                        zip((5, 25, 50, 75, 95), np.quantile(r, [.05, .25, .5, .75, .95]), strict=True)},
    }  # fmt: skip


def _fold_of(trades: pd.DataFrame, folds: Sequence[PurgedFold]) -> np.ndarray:
    t = pd.DatetimeIndex(trades["signal_time"]).as_unit("ns").asi8
    out = np.full(len(t), -1)
    for k, f in enumerate(folds):
        out[(t >= f.test[0]) & (t < f.test[1])] = k
    return out


def bootstrap_difference(
    with_r: np.ndarray, without_r: np.ndarray, rules: VerdictRules
) -> dict[str, float]:
    """Mean R with minus without: the difference, its interval and the bootstrap share of
    resamples at or below 0 (a one-sided p-value)."""
    from scipy import stats

    if len(with_r) < 2 or len(without_r) < 2:
        return {"difference": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "p_value": math.nan}  # fmt: skip
    res = stats.bootstrap((with_r, without_r), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                          n_resamples=rules.n_boot, confidence_level=rules.level,
                          method="percentile", vectorized=True,
                          rng=np.random.default_rng(rules.seed))  # fmt: skip
    dist = res.bootstrap_distribution
    return {"difference": float(with_r.mean() - without_r.mean()),
            "ci_low": float(res.confidence_interval.low),
            "ci_high": float(res.confidence_interval.high),
            "p_value": float(np.mean(dist <= 0))}  # fmt: skip


def _scores(y: np.ndarray, p: np.ndarray, regression: bool) -> dict[str, Any]:
    """How well the stitched OOS scores ``p`` rank the outcomes ``y``: ROC AUC, Brier score
    and base rate for probabilities; Spearman's rho and the RMSE in R for predicted R."""
    from scipy.stats import spearmanr
    from sklearn.metrics import brier_score_loss, roc_auc_score

    out: dict[str, Any] = {"oos_trades": int(len(y))}
    if regression:
        if len(y) > 1 and np.ptp(y) > 0 and np.ptp(p) > 0:
            out["spearman"] = float(spearmanr(p, y).statistic)
        if len(y):
            out["rmse_r"] = float(np.sqrt(np.mean((p - y) ** 2)))
    elif len(np.unique(y)) == 2:
        out.update(roc_auc=float(roc_auc_score(y, p)), brier=float(brier_score_loss(y, p)),
                   base_rate=float(np.mean(y)))  # fmt: skip
    return out


def verdict(
    strategy: Strategy,
    bars: Mapping[str, pd.DataFrame],
    dataset: TradeDataset,
    folds: Sequence[PurgedFold],
    filters: Sequence[FittedFilter],
    run_spec: Any = None,
    *,
    target: float | None = 0.0,
    timeframe: str | None = None,
    rules: VerdictRules | None = None,
) -> dict[str, Any]:
    """OOS with against without the filter (see the module docstring); ``target`` is the R
    threshold the filters' labels used (None: the filters predict R)."""
    from tradeforge.backtest import run_backtest

    rules = rules or VerdictRules()
    windows = [f.test for f in folds]
    spec = dataset.spec
    kwargs = {} if run_spec is not None else {"timeframe": timeframe}
    if run_spec is not None:  # the settings stay; the strategy is the fold filter
        run_spec = replace(run_spec, strategy=None, params={})
    runs = {}
    for label, fs in (("without", None), ("with", filters)):
        strat = FoldFilter(strategy, windows, spec.columns, spec.requests, fs)
        runs[label] = run_backtest(strat, dict(bars), run_spec, **kwargs).trades
    fold_rows = []
    for k, f in enumerate(folds):
        row: dict[str, Any] = {"fold": k, "test_start": pd.Timestamp(f.test[0], tz="UTC"),
                               "train_trades": len(f.train_rows),
                               "validation_trades": len(f.validation_rows),
                               "purged": f.purged, "threshold": filters[k].threshold}  # fmt: skip
        for label, trades in runs.items():
            s = trade_stats(trades[_fold_of(trades, folds) == k])
            row[f"{label}_trades"] = s["trades"]
            row[f"{label}_expectancy_r"] = s["expectancy_r"]
        fold_rows.append(row)
    table = pd.DataFrame(fold_rows)
    overall = {label: trade_stats(trades) for label, trades in runs.items()}
    r_with = pd.to_numeric(runs["with"]["r_multiple"]).to_numpy(np.float64)
    r_without = pd.to_numeric(runs["without"]["r_multiple"]).to_numpy(np.float64)
    boot = bootstrap_difference(r_with, r_without, rules)
    traded = table[(table["with_trades"] > 0) & (table["without_trades"] > 0)]
    improved = traded["with_expectancy_r"] > traded["without_expectancy_r"]
    fold_share = float(improved.mean()) if len(traded) else 0.0
    checks = [
        {"check": "expectancy improves (bootstrap CI of the difference > 0)",
         "passed": bool(boot["ci_low"] > 0), "value": boot["ci_low"]},
        {"check": f"improves in >= {rules.min_fold_share:.0%} of folds",
         "passed": fold_share >= rules.min_fold_share, "value": fold_share},
        {"check": "max drawdown (R) not worse",
         "passed": overall["with"]["max_drawdown_r"] <= overall["without"]["max_drawdown_r"],
         "value": overall["with"]["max_drawdown_r"] - overall["without"]["max_drawdown_r"]},
        {"check": f">= {rules.min_trades} OOS trades with the filter",
         "passed": overall["with"]["trades"] >= rules.min_trades,
         "value": overall["with"]["trades"]},
    ]  # fmt: skip
    test_rows = np.concatenate([f.test_rows for f in folds]) if folds else np.array([], int)
    p = np.concatenate([score(filters[k].estimator, dataset.X.iloc[f.test_rows])
                        for k, f in enumerate(folds)]) if folds else np.array([])  # fmt: skip
    scores = _scores(dataset.outcome(target)[test_rows], p, target is None)
    keep = all(c["passed"] for c in checks)
    return {
        "kind": "tradeforge.ml.verdict",
        "verdict": "keep" if keep else "discard",
        "failed": [c["check"] for c in checks if not c["passed"]],
        "checks": checks,
        "oos": overall,
        "bootstrap": {**boot, "samples": rules.n_boot, "level": rules.level, "seed": rules.seed},
        "fold_share_improved": fold_share,
        "folds": table,
        "scores": scores,
        "stitched": pd.DataFrame({"row": test_rows, "probability": p}),
    }
