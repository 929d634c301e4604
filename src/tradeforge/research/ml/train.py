"""Fit one filter: a classifier on the train rows, calibrated and thresholded on the
validation rows only.

* **Calibration** — the fitted model is frozen and a sigmoid (Platt) map from its scores to
  probabilities is fitted on validation trades (`sklearn.calibration.CalibratedClassifierCV`
  around `sklearn.frozen.FrozenEstimator`): the probabilities mean what they say on data the
  trees did not see.
* **Threshold** — among the validation probabilities' quantiles, the one whose kept trades
  have the best mean R, provided it keeps at least ``min_keep`` of them and ``min_trades``
  trades; if no threshold beats keeping everything, the threshold is 0 (the filter passes
  every signal). The test fold is never looked at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import DataError
from tradeforge.research.featureset.dataset import TradeDataset
from tradeforge.research.ml.models import make_model

#: Candidate thresholds: these quantiles of the validation probabilities.
_LEVELS = np.linspace(0.0, 0.8, 17)


@dataclass(frozen=True)
class ThresholdRules:
    min_keep: float = 0.3  # share of validation trades the threshold must keep
    min_trades: int = 10


@dataclass(frozen=True)
class FittedFilter:
    estimator: Any  # calibrated classifier: predict_proba(X)[:, 1]
    threshold: float
    validation: dict[str, float]


def predict(estimator: Any, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
    """P(label = 1) per row."""
    return estimator.predict_proba(X)[:, 1]


def choose_threshold(p: np.ndarray, r: np.ndarray, rules: ThresholdRules) -> float:
    """The validation threshold of the module docstring."""
    base = float(r.mean()) if len(r) else -math.inf
    best, best_score = 0.0, base
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
    target: float,
    seed: int = 0,
    rules: ThresholdRules | None = None,
) -> FittedFilter:
    """Fit, calibrate and threshold one filter (see the module docstring)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    rules = rules or ThresholdRules()
    X, y = dataset.X, dataset.labels(target)  # noqa: N806
    for name, rows in (("train", train_rows), ("validation", validation_rows)):
        classes = np.unique(y[rows])
        if len(classes) < 2:
            raise DataError(
                f"the {name} window has {len(rows)} trade(s) and only "
                f"{'no ' if not len(classes) else ''}{'wins' if classes.tolist() == [1] else 'losses'}"
                f" for target {target:g}: use longer windows"
            )
    model = make_model(kind, seed)
    model.fit(X.iloc[train_rows], y[train_rows])
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid")
    calibrated.fit(X.iloc[validation_rows], y[validation_rows])
    p = predict(calibrated, X.iloc[validation_rows])
    r = dataset.r[validation_rows]
    threshold = choose_threshold(p, r, rules)
    kept = p >= threshold
    return FittedFilter(calibrated, threshold, {
        "trades": int(len(r)), "kept": int(kept.sum()),
        "expectancy_r": float(r.mean()), "expectancy_r_kept": float(r[kept].mean()),
    })  # fmt: skip
