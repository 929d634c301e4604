"""The reference feature set of the stress strategy (shared by strategies and the bench)."""

from __future__ import annotations

from tradeforge.features.request import FeatureRequest, parse_request

#: M5 base: ATR, swings and structure; M30 informatives: structure, ATR, EMA.
REFERENCE_FEATURES: tuple[str, ...] = (
    "atr(14)",
    "swings(3)",
    "structure(3)",
    "structure(3)@M30",
    "atr(14)@M30",
    "ema(50)@M30",
)
REFERENCE_BASE_TIMEFRAME = "M5"


def reference_feature_requests() -> list[FeatureRequest]:
    """`REFERENCE_FEATURES` as request objects."""
    return [parse_request(r) for r in REFERENCE_FEATURES]
