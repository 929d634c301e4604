"""Phase 3 of the research road: machine learning as a filter on a strategy's signals, never
as the signal.

A model learns, from the trades a strategy took, which contexts (the feature set of
`tradeforge.research.featureset`) precede wins; `ml_filter(strategy, model)` is then a
strategy that drops the signals the model scores below its threshold. `evaluate_filter`
judges a filter with purged, embargoed walk-forward folds and says ``keep`` or ``discard``;
`train_model` fits the one to deploy, saved as a hashed artifact (`ModelArtifact`);
`explain` reports what the model reads. scikit-learn, XGBoost and LightGBM are imported only
when a model is built or loaded (``pip install "tradeforge[ml]"``).
"""

from tradeforge.research.ml.artifact import ModelArtifact
from tradeforge.research.ml.cv import PurgedFold, check_fold, purged_folds
from tradeforge.research.ml.filter import MLFilter, ml_filter
from tradeforge.research.ml.models import MODEL_KINDS, make_model
from tradeforge.research.ml.train import ThresholdRules, fit_filter
from tradeforge.research.ml.verdict import VerdictRules, verdict
from tradeforge.research.ml.workflow import evaluate_filter, train_model

__all__ = [
    "MODEL_KINDS",
    "MLFilter",
    "ModelArtifact",
    "PurgedFold",
    "ThresholdRules",
    "VerdictRules",
    "check_fold",
    "evaluate_filter",
    "fit_filter",
    "make_model",
    "ml_filter",
    "purged_folds",
    "train_model",
    "verdict",
]
