"""Feature engine: declared features, a dependency graph, informative timeframes, a cache.

Quick use::

    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.features import compute_features

    bars = generate_bars("EURUSD", "M5", "2024-01-01", "2024-02-01", seed=1)
    out = compute_features(bars, ["atr(14)", "ema(50)@M30", "structure(3)"], "M5")
    out["atr_14"], out["ema_50@M30"], out["bos_3"]

Requests are strings ``name[(args)][.output][@TF]`` or `FeatureRequest` objects. Output
columns are ``<output>_<params>`` (``atr_14``, ``bb_upper_20_2``), informative ones get
``@<TF>``. Warm-up values are NaN; no value ever uses a later bar (see tests/features).
`warmup_bars(requests, base_timeframe)` is the history the requests need (declared warm-ups).
"""

from tradeforge.data.checksum import frame_checksum
from tradeforge.features.cache import FeatureCache
from tradeforge.features.engine import FeatureEngine, compute_features, infer_timeframe
from tradeforge.features.errors import FeatureError
from tradeforge.features.graph import Plan
from tradeforge.features.history import warmup_bars
from tradeforge.features.informative import merge_index, merge_informative
from tradeforge.features.params import Param
from tradeforge.features.reference import (
    REFERENCE_BASE_TIMEFRAME,
    REFERENCE_FEATURES,
    reference_feature_requests,
)
from tradeforge.features.request import FeatureRequest, parse_request
from tradeforge.features.spec import (
    Feature,
    available_features,
    get_feature,
    register_feature,
    unregister_feature,
)
from tradeforge.features.warmup import Periods

__all__ = [
    "REFERENCE_BASE_TIMEFRAME",
    "REFERENCE_FEATURES",
    "Feature",
    "FeatureCache",
    "FeatureEngine",
    "FeatureError",
    "FeatureRequest",
    "Param",
    "Periods",
    "Plan",
    "available_features",
    "compute_features",
    "frame_checksum",
    "get_feature",
    "infer_timeframe",
    "merge_index",
    "merge_informative",
    "parse_request",
    "reference_feature_requests",
    "register_feature",
    "unregister_feature",
    "warmup_bars",
]

# Register the built-in library on import (after the public names above exist).
import tradeforge.features.library  # noqa: E402, F401, I001
