"""Phase 2 of the research road: a feature set you can defend, before any model.

Contextual features at each trade's signal bar (`spec.CONTEXT` plus any request the user
names), evidence per feature (`analysis`), and a reasoned selection stored as a named file
(`selection`). Everything here is plain statistics (scipy, scikit-learn's mutual
information), imported when an analysis runs.
"""

from tradeforge.research.featureset.analysis import analyze_dataset
from tradeforge.research.featureset.dataset import (
    LeakageError,
    TradeDataset,
    audit_lookahead,
    build_dataset,
    feature_frames,
    from_trades,
    parse_target,
)
from tradeforge.research.featureset.selection import (
    FeatureSet,
    SelectionRules,
    compare_feature_sets,
    select_features,
)
from tradeforge.research.featureset.spec import CONTEXT, FeatureSpec, build_spec

__all__ = [
    "CONTEXT",
    "FeatureSet",
    "FeatureSpec",
    "LeakageError",
    "SelectionRules",
    "TradeDataset",
    "analyze_dataset",
    "audit_lookahead",
    "build_dataset",
    "build_spec",
    "compare_feature_sets",
    "feature_frames",
    "from_trades",
    "parse_target",
    "select_features",
]
