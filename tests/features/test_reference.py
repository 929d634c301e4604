from tradeforge.features import (
    REFERENCE_BASE_TIMEFRAME,
    REFERENCE_FEATURES,
    compute_features,
    reference_feature_requests,
)

from .conftest import make_bars


def test_reference_set_resolves_with_stable_column_names():
    out = compute_features(
        make_bars(400), REFERENCE_FEATURES, REFERENCE_BASE_TIMEFRAME, keep_input=False
    )
    structure = [
        "last_swing_high",
        "last_swing_low",
        "swing_high_label",
        "swing_low_label",
        "swing_trend",
        "trend",
        "bos",
        "choch",
    ]
    assert list(out.columns) == [
        "atr_14",
        "swing_high_3",
        "swing_low_3",
        *(f"{c}_3" for c in structure),
        *(f"{c}_3@M30" for c in structure),
        "atr_14@M30",
        "ema_50@M30",
    ]
    assert [str(r) for r in reference_feature_requests()][0] == "atr(14)"
