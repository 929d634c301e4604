import numpy as np
import pandas as pd
import pytest

from tradeforge.core.errors import ConfigError
from tradeforge.features import (
    FeatureEngine,
    FeatureError,
    FeatureRequest,
    Param,
    available_features,
    compute_features,
    infer_timeframe,
    register_feature,
    unregister_feature,
)


@pytest.fixture
def counted():
    """Register throw-away features that count their calls; unregister afterwards."""
    calls: dict[str, int] = {}

    def counter(name):
        calls[name] = calls.get(name, 0) + 1

    @register_feature(
        "t_base", params=[Param("n", int, 2, ge=1)], inputs=("close",), outputs=("t_base",)
    )
    def t_base(close, *, n):
        counter(f"t_base({n})")
        return close * n

    @register_feature(
        "t_user",
        params=[Param("n", int, 2)],
        inputs=lambda p: (f"t_base({p['n']})",),
        outputs=("t_user",),
    )
    def t_user(x, *, n):
        counter("t_user")
        return x + 1

    @register_feature("t_a", inputs=("t_b()",), outputs=("t_a",))
    def t_a(x):
        return x

    @register_feature("t_b", inputs=("t_a()",), outputs=("t_b",))
    def t_b(x):
        return x

    @register_feature("t_needs_foo", inputs=("foo",), outputs=("t_needs_foo",))
    def t_needs_foo(x):
        return x

    @register_feature("t_bad_len", inputs=("close",), outputs=("t_bad_len",))
    def t_bad_len(x):
        return x[:-1]

    yield calls
    for name in ("t_base", "t_user", "t_a", "t_b", "t_needs_foo", "t_bad_len"):
        unregister_feature(name)


def test_input_frame_not_mutated(bars):
    before = bars.copy(deep=True)
    out = compute_features(bars, ["atr(14)", "structure(3)", "ema(50)@M30", "sessions"], "M5")
    pd.testing.assert_frame_equal(bars, before)
    assert out is not bars
    out.iloc[0, 0] = -1.0  # the result owns its data
    pd.testing.assert_frame_equal(bars, before)


def test_result_columns_and_keep_input(bars):
    out = compute_features(bars, ["atr(14)", "ema(50)@M30", "bollinger(20, 2).bb_upper"], "M5")
    assert list(out.columns) == [*bars.columns, "atr_14", "ema_50@M30", "bb_upper_20_2"]
    only = compute_features(bars, ["atr(14)"], "M5", keep_input=False)
    assert list(only.columns) == ["atr_14"]
    assert only.index.equals(bars.index)


def test_naming_of_non_default_and_string_params(bars):
    out = compute_features(
        bars, ["ema(10, source='high')", "sma(5, source='rsi(14)')"], "M5", keep_input=False
    )
    assert list(out.columns) == ["ema_10_high", "sma_5_rsi_14"]


def test_identical_requests_computed_once(bars, counted):
    reqs = ["t_base(3)", FeatureRequest("t_base", {"n": 3}), "t_base(n=3)", "t_user(3)", "t_base"]
    out = FeatureEngine().compute(bars, reqs, "M5", keep_input=False)
    assert counted == {"t_base(3)": 1, "t_user": 1, "t_base(2)": 1}
    assert list(out.columns) == ["t_base_3", "t_user_3", "t_base_2"]
    np.testing.assert_array_equal(out["t_user_3"], bars["close"] * 3 + 1)


def test_errors_name_the_graph_path(bars, counted):
    engine = FeatureEngine()
    with pytest.raises(
        FeatureError, match=r"^macd\(12,26,9\) -> ema\(12\) -> missing column 'close'$"
    ):
        engine.compute(bars.drop(columns="close"), ["macd(12,26,9)"], "M5")
    with pytest.raises(FeatureError, match=r"^t_a -> t_b -> t_a -> cycle in feature graph$"):
        engine.compute(bars, ["t_a"], "M5")
    with pytest.raises(FeatureError, match=r"unknown feature 'nope'"):
        engine.compute(bars, ["nope(3)"], "M5")
    with pytest.raises(FeatureError, match=r"^keltner\(20, 0\) -> parameter 'atr_period' must"):
        engine.compute(bars, ["keltner(20, 0)"], "M5")
    with pytest.raises(FeatureError, match=r"^structure\(3\) -> missing column 'close'"):
        engine.compute(bars.drop(columns="close"), ["structure(3)"], "M5")
    with pytest.raises(FeatureError, match=r"^t_needs_foo -> missing column 'foo'$"):
        engine.compute(bars, ["t_needs_foo"], "M5")


def test_bad_parameters_name_feature_and_param(bars):
    engine = FeatureEngine()
    cases = {
        "atr(0)": r"^atr\(0\) -> parameter 'period' must be >= 1, got 0$",
        "atr(1.5)": r"parameter 'period' must be an int, got 1.5",
        "ema(period='x')": r"ema\(period='x'\) -> parameter 'period' must be an int",
        "atr(14, 3)": r"takes at most 1 parameters",
        "atr(foo=3)": r"unknown parameter 'foo'",
        "macd(26, 12)": r"^macd\(26,12,9\) -> fast period \(26\) must be shorter",
        "session_range('tokyo')": r"parameter 'session' must be one of",
        "distance_atr": r"missing required parameter 'level'",
        "bollinger(20, 2).nope": r"no output 'nope'",
    }
    for text, pattern in cases.items():
        with pytest.raises(FeatureError, match=pattern):
            engine.compute(bars, [text], "M5")
    assert issubclass(FeatureError, ConfigError)


def test_nested_bad_param_path(bars):
    with pytest.raises(
        FeatureError,
        match=r"^atr_percentile\(14,100\) -> atr\(14\) -> true_range -> missing column .high.$",
    ):
        FeatureEngine().compute(bars.drop(columns="high"), ["atr_percentile"], "M5")
    with pytest.raises(FeatureError, match=r"^distance_atr\('nope\(\)',14\) -> unknown feature"):
        FeatureEngine().compute(bars, ["distance_atr('nope()')"], "M5")


def test_ambiguous_multi_output_input(bars):
    with pytest.raises(FeatureError, match=r"choose one"):
        compute_features(bars, ["sma(5, source='bollinger()')"], "M5")


def test_feature_returning_wrong_length_is_reported(bars, counted):
    with pytest.raises(FeatureError, match=r"^t_bad_len -> output 't_bad_len' has shape"):
        compute_features(bars, ["t_bad_len"], "M5")


def test_informative_rules(bars):
    with pytest.raises(FeatureError, match="finer"):
        compute_features(bars.resample("30min").agg("last").dropna(), ["atr(14)@M5"], "M30")
    with pytest.raises(FeatureError, match="M7"):
        compute_features(bars, ["atr(14)@M7"], "M5")
    same = compute_features(bars, ["atr(14)@M5"], "M5", keep_input=False)
    assert list(same.columns) == ["atr_14"]


def test_base_timeframe_inferred(bars):
    assert infer_timeframe(bars.index).name == "M5"
    assert infer_timeframe(bars.index[:1]) is None
    a = compute_features(bars, ["ema(20)@H1"])
    b = compute_features(bars, ["ema(20)@H1"], "M5")
    pd.testing.assert_frame_equal(a, b)


def test_index_is_checked(bars):
    with pytest.raises(FeatureError, match="sorted"):
        compute_features(bars.iloc[::-1], ["atr(14)"], "M5")
    with pytest.raises(FeatureError, match="tz-aware"):
        compute_features(bars.tz_localize(None), ["atr(14)"], "M5")


def test_plan_lists_nodes_in_dependency_order(bars):
    plan = FeatureEngine().plan(bars, ["keltner(20)", "structure(3)@M30"], "M5")
    labels = [n.label for n in plan.nodes]
    assert labels.index("true_range") < labels.index("atr(10)") < labels.index("keltner(20,10,2)")
    assert labels.index("swings(3)@M30") < labels.index("structure(3)@M30")
    assert [tf.name for tf in plan.timeframes] == ["M30"]
    assert plan.columns[:3] == ["kc_mid_20_10_2", "kc_upper_20_10_2", "kc_lower_20_10_2"]


def test_every_feature_has_doc_and_runs_with_defaults(bars):
    for name, feature in available_features().items():
        assert feature.doc, name
        if name == "distance_atr":
            continue
        out = compute_features(bars, [name], "M5", keep_input=False)
        assert len(out.columns) == len(feature.outputs)
