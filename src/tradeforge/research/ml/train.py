"""Fit one filter: a model on the train rows, calibrated and thresholded on the validation
rows only.

* **Calibration** (classifiers) — the fitted model is frozen and a sigmoid (Platt) map from
  its scores to probabilities is fitted on validation trades
  (`sklearn.calibration.CalibratedClassifierCV` around `sklearn.frozen.FrozenEstimator`):
  the probabilities mean what they say on data the trees did not see. A regressor of R (the
  ``r`` target) predicts R in R units and is not calibrated.
* **Threshold** — among the validation scores' quantiles (probabilities, or predicted R),
  the one whose kept trades have the best mean R, provided it keeps at least ``min_keep`` of
  them and ``min_trades`` trades; if no threshold beats keeping everything, the threshold
  keeps every signal (0 for a probability, -inf for predicted R). The test fold is never
  looked at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeforge.core.errors import DataError
from tradeforge.research.featureset.dataset import TradeDataset
from tradeforge.research.ml.models import make_model, score

#: Candidate thresholds: these quantiles of the validation probabilities.
_LEVELS = np.linspace(0.0, 0.8, 17)


@dataclass(frozen=True)
class ThresholdRules:
    min_keep: float = 0.3  # share of validation trades the threshold must keep
    min_trades: int = 10


@dataclass(frozen=True)
class FittedFilter:
    estimator: Any  # calibrated classifier or regressor of R (`models.score` reads both)
    threshold: float
    validation: dict[str, float]


def choose_threshold(
    p: np.ndarray, r: np.ndarray, rules: ThresholdRules, keep_all: float = 0.0
) -> float:
    """The validation threshold of the module docstring (``keep_all`` when none beats
    keeping every trade)."""
    base = float(r.mean()) if len(r) else -math.inf
    best, best_score = keep_all, base
    need = max(rules.min_trades, int(math.ceil(rules.min_keep * len(r))))
    for t in np.unique(np.quantile(p, _LEVELS)) if len(p) else ():
        kept = p >= t
        if kept.sum() < need:
            continue
        score = float(r[kept].mean())
        if score > best_score + 1e-12:
            best, best_score = float(t), score
    return best


def fit_filter(
    dataset: TradeDataset,
    train_rows: np.ndarray,
    validation_rows: np.ndarray,
    *,
    kind: str,
    target: float | None,
    seed: int = 0,
    rules: ThresholdRules | None = None,
) -> FittedFilter:
    """Fit, calibrate and threshold one filter (see the module docstring); ``target`` None
    fits a regressor of R."""
    rules = rules or ThresholdRules()
    regression = target is None
    X, y = dataset.X, dataset.outcome(target)  # noqa: N806
    for name, rows in (("train", train_rows), ("validation", validation_rows)):
        _check_window(name, rows, y, target)
    model = make_model(kind, seed, regression=regression, train_rows=len(train_rows))
    model.fit(X.iloc[train_rows], y[train_rows])
    if regression:
        fitted = model
    else:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator

        fitted = CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid")
        fitted.fit(X.iloc[validation_rows], y[validation_rows])
    p = score(fitted, X.iloc[validation_rows])
    r = dataset.r[validation_rows]
    threshold = choose_threshold(p, r, rules, -math.inf if regression else 0.0)
    kept = p >= threshold
    return FittedFilter(fitted, threshold, {
        "trades": int(len(r)), "kept": int(kept.sum()),
        "expectancy_r": float(r.mean()), "expectancy_r_kept": float(r[kept].mean()),
    })  # fmt: skip


def _check_window(name: str, rows: np.ndarray, y: np.ndarray, target: float | None) -> None:
    """`DataError` when a window cannot fit its model: a regression needs two trades, a
    classifier both wins and losses."""
    if target is None:
        if len(rows) < 2:
            raise DataError(f"the {name} window has {len(rows)} trade(s): use longer windows")
        return
    classes = np.unique(y[rows])
    if len(classes) < 2:
        raise DataError(
            f"the {name} window has {len(rows)} trade(s) and only "
            f"{'no ' if not len(classes) else ''}{'wins' if classes.tolist() == [1] else 'losses'}"
            f" for target {target:g}: use longer windows"
        )
