"""The models a filter can use, seeded and single-threaded by default so that the same data
and seed give the same model bytes and the same predictions.

* ``rf`` — scikit-learn's random forest: 100 trees, depth at most 8, at least 20 trades per
  leaf, ``sqrt`` of the inputs tried per split, each tree bootstrapping at most
  `RF_TREE_ROWS` trades (handles NaN inputs natively);
* ``xgboost`` — XGBoost's histogram trees (the ``xgboost-cpu`` wheel);
* ``lightgbm`` — LightGBM with ``deterministic`` and row-wise histograms.

Each kind is a classifier (P(label = 1), for ``win`` / ``r>X`` targets) or, with
``regression``, a regressor of the same family and settings (predicted R, for the ``r``
target); `score` reads either.

Shallow, regularised settings: a filter learns from hundreds or a few thousand trades, and a
deep model would memorise them. The libraries are imported only when a model is built
(``pip install "tradeforge[ml]"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradeforge.core.errors import ConfigError

MODEL_KINDS: tuple[str, ...] = ("rf", "xgboost", "lightgbm")
_PACKAGES = {"rf": "scikit-learn", "xgboost": "xgboost-cpu", "lightgbm": "lightgbm"}

#: Trades each random-forest tree draws (``max_samples``) at most. Smaller training sets keep
#: the full bootstrap (as many draws as trades). On larger ones more rows per tree only make
#: the trees more alike, which is what bagging works against, and the fit slower (sorting
#: the rows at every node is the forest's cost): 10,000 draws still fill each of the at most
#: 256 leaves with ~40 trades. On the bench's trades (45,000 to train, the next 7,877 held
#: out) ROC AUC is 0.635 either way, while the fit's CPU time falls from 4.8 s to 1.7 s.
RF_TREE_ROWS = 10_000


def check_kind(kind: str) -> str:
    if kind not in MODEL_KINDS:
        raise ConfigError(f"unknown model {kind!r}; choose from: {', '.join(MODEL_KINDS)}")
    return kind


def score(estimator: Any, X: Any) -> np.ndarray:  # noqa: N803
    """A filter's score per row: P(label = 1) of a classifier, the predicted R of a regressor."""
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)[:, 1]
    return np.asarray(estimator.predict(X), dtype=np.float64)


def make_model(
    kind: str,
    seed: int = 0,
    n_jobs: int = 1,
    *,
    regression: bool = False,
    train_rows: int | None = None,
) -> Any:
    """An unfitted classifier (or ``regression``: regressor) of ``kind`` (see the module
    docstring) for ``train_rows`` training rows (``None``: no cap on a forest's bootstrap)."""
    check_kind(kind)
    try:
        if kind == "rf":
            from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

            forest = RandomForestRegressor if regression else RandomForestClassifier
            draws = None if train_rows is None or train_rows <= RF_TREE_ROWS else RF_TREE_ROWS
            return forest(n_estimators=100, max_depth=8, min_samples_leaf=20,
                          max_features="sqrt", max_samples=draws, random_state=seed,
                          n_jobs=n_jobs)  # fmt: skip
        if kind == "xgboost":
            from xgboost import XGBClassifier, XGBRegressor

            extra = {} if regression else {"eval_metric": "logloss"}
            return (XGBRegressor if regression else XGBClassifier)(
                n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8,
                colsample_bytree=0.8, min_child_weight=5, tree_method="hist",
                random_state=seed, n_jobs=n_jobs, **extra,
            )  # fmt: skip
        from lightgbm import LGBMClassifier, LGBMRegressor

        return (LGBMRegressor if regression else LGBMClassifier)(
            n_estimators=150, num_leaves=7, learning_rate=0.05, min_child_samples=20,
            subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed,
            n_jobs=n_jobs, deterministic=True, force_row_wise=True, verbose=-1,
        )  # fmt: skip
    except ImportError:
        raise ConfigError(
            f'model {kind!r} needs {_PACKAGES[kind]}: pip install "tradeforge[ml]"'
        ) from None
