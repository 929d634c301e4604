"""Phase 2: contextual features at the signal bar (no look-ahead), per-feature evidence and a
reasoned, stored selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.features import register_feature, unregister_feature
from tradeforge.research.featureset import (
    CONTEXT,
    FeatureSet,
    LeakageError,
    SelectionRules,
    analyze_dataset,
    audit_lookahead,
    build_dataset,
    build_spec,
    compare_feature_sets,
    parse_target,
    select_features,
)
from tradeforge.research.featureset.analysis import quantile_table, rolling_drift
from tradeforge.research.featureset.dataset import rows_at
from tradeforge.research.featureset.spec import FeatureSpec
from tradeforge.strategy import create_strategy

from .conftest import synthetic_dataset

CONTEXT_SPEC = build_spec(timeframe="H1")


@pytest.fixture(scope="module")
def context_full(h1_year):
    bars = h1_year.iloc[:1500]
    return bars, CONTEXT_SPEC.compute(bars, "H1")


def test_context_spec_covers_every_group():
    cols = set(CONTEXT_SPEC.columns)
    assert {"trend_3", "bos_3", "choch_3"} <= cols  # market structure
    assert {"adx_14", "dist_ema_50_atr_14"} <= cols  # trend regime
    assert {"atr_pct_14_100", "rvol_20"} <= cols  # volatility regime
    assert {"dist_prior_day_prev_day_high_atr_14", "dist_donchian_20_donchian_lower_atr_14",
            "dist_structure_3_last_swing_low_atr_14"} <= cols  # fmt: skip
    assert {"session_london", "bar_in_day", "bar_in_session", "day_of_week"} <= cols
    assert CONTEXT_SPEC.inputs[-1] == "side" and len(CONTEXT_SPEC.requests) == len(CONTEXT)
    user = build_spec(["rsi(14)"], timeframe="H1")
    assert user.columns[-1] == "rsi_14" and set(CONTEXT_SPEC.columns) < set(user.columns)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(cut=st.integers(0, 1498), seed=st.integers(0, 2**16))
def test_changing_bars_after_the_signal_bar_never_changes_its_row(context_full, cut, seed):
    bars, full = context_full
    rng = np.random.default_rng(seed)
    changed = bars.copy()
    factor = np.exp(rng.normal(scale=0.02, size=len(bars) - cut - 1))  # per bar: OHLC stay valid
    for col in ("open", "high", "low", "close"):
        changed.iloc[cut + 1 :, changed.columns.get_loc(col)] *= factor
    changed.iloc[cut + 1 :, changed.columns.get_loc("volume")] *= rng.random() * 3
    after = CONTEXT_SPEC.compute(changed, "H1")
    positions = np.arange(0, cut + 1)
    np.testing.assert_array_equal(rows_at(after, positions), rows_at(full, positions))


@pytest.fixture
def peeking():
    @register_feature("t_ml_peek", inputs=("close",), outputs=("t_ml_peek",), warmup=0)
    def t_ml_peek(close):
        return np.r_[close[1:], np.nan]  # the next bar's close

    yield FeatureSpec(("atr(14)", "t_ml_peek"), ("atr_14", "t_ml_peek"))
    unregister_feature("t_ml_peek")


def test_audit_catches_a_peeking_feature(h1_year, peeking):
    bars = {"EURUSD": h1_year.iloc[:800]}
    with pytest.raises(LeakageError, match="'t_ml_peek' looks ahead"):
        audit_lookahead(bars, peeking, "H1")
    audit_lookahead(bars, CONTEXT_SPEC, "H1")  # the context set passes


def test_dataset_reads_features_at_the_signal_bar(h1_year):
    spec = FeatureSpec(("atr(14)", "rsi(14)"), ("atr_14", "rsi_14"))
    strat = create_strategy("sma_cross", {"fast": 10, "slow": 30, "stop_pips": 20,
                                          "target_pips": 30})  # fmt: skip
    ds = build_dataset(strat, {"EURUSD": h1_year}, spec, timeframe="H1")
    feats = spec.compute(h1_year, "H1")
    assert len(ds) > 50 and list(ds.X.columns) == ["atr_14", "rsi_14", "side"]
    for i in (0, len(ds) // 2, len(ds) - 1):
        row = ds.frame.iloc[i]
        at = feats.loc[row["signal_time"]]
        assert row["atr_14"] == at["atr_14"] and row["rsi_14"] == at["rsi_14"]
        assert row["signal_time"] < row["entry_time"] <= row["exit_time"]
    assert ds.frame["signal_time"].is_monotonic_increasing


def test_targets():
    assert parse_target("win") == 0.0 and parse_target("r>0.5") == 0.5
    assert parse_target("R > 1") == 1.0
    with pytest.raises(ConfigError, match="use 'win' or 'r>X'"):
        parse_target("profit")


def test_quantile_table_by_hand():
    values = np.array([1, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    r = np.array([-1, -1, 1, -1, 2, 2, -1, 2], dtype=float)
    t = quantile_table(values, r, q=2, n_boot=200, seed=1)
    assert t["trades"].tolist() == [4, 4]
    assert t["expectancy_r"].tolist() == [-0.5, 1.25]
    assert t["win_rate_pct"].tolist() == [25.0, 75.0]
    z, n, p = 1.959963984540054, 4, 0.25  # Wilson interval of 1 win in 4
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert t["win_rate_ci_low"][0] == pytest.approx(100 * (centre - half))
    assert t["win_rate_ci_high"][0] == pytest.approx(100 * (centre + half))
    assert -1.0 <= t["expectancy_r_ci_low"][0] <= -0.5 <= t["expectancy_r_ci_high"][0] <= 1.0


def test_rolling_drift_flags_a_moved_distribution():
    rng = np.random.default_rng(3)
    stable = rolling_drift(rng.normal(size=4000))
    moved = rolling_drift(np.r_[rng.normal(size=2000), rng.normal(loc=1.0, size=2000)])
    assert stable["drift_share"] == 0.0 and len(stable["windows"]) == 7
    assert moved["drift_share"] >= 0.5 and moved["max_psi"] >= 0.25


def _analysis(ds):
    bars_like = {"EURUSD": ds.frame.set_index("signal_time")[list(ds.spec.columns)]}
    return analyze_dataset(ds, bars_like, n_boot=100, windows=4)


def test_selection_keeps_the_signal_and_drops_noise_and_twins(tmp_path):
    ds = synthetic_dataset()
    rules = SelectionRules(min_features=1)
    fs = select_features(_analysis(ds), ds.spec, "demo_set", rules, {"strategy": "synthetic"})
    reasons = {d["feature"]: d["reason"] for d in fs.decisions}
    assert reasons["good"].startswith("kept:")
    assert reasons["twin"].startswith("redundant with good")
    assert reasons["noise"].startswith("weak:")
    assert fs.spec.columns == ("good",)
    two = select_features(_analysis(ds), ds.spec, "demo_set", SelectionRules(min_features=2))
    assert two.kept == ["good", "twin"]  # back to reach the minimum, the reason says so
    assert two.decisions[1]["reason"].startswith("kept to reach the minimum of 2 (was redundant")
    path = fs.save(tmp_path / "fs.json")
    again = select_features(_analysis(ds), ds.spec, "demo_set", rules, {"strategy": "synthetic"})
    assert again.save(tmp_path / "fs2.json").read_bytes() == path.read_bytes()
    loaded = FeatureSet.load(path)
    assert loaded.spec == fs.spec and loaded.kept == fs.kept
    assert compare_feature_sets(loaded, again)["same"]


def test_selection_reports_weak_features_and_regressions():
    ds = synthetic_dataset(edge=0.0, seed=4)
    fs = select_features(_analysis(ds), ds.spec, "none", SelectionRules(min_features=1))
    weak = [d for d in fs.decisions if d["reason"].startswith("weak")]
    assert weak, fs.decisions
    ref = select_features(_analysis(synthetic_dataset()), ds.spec, "ref")
    diff = compare_feature_sets(ref, fs)
    assert not diff["same"] and diff["changed"]


def test_feature_set_file_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        FeatureSet.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "other"}')
    with pytest.raises(DataError, match="is not a feature set"):
        FeatureSet.load(bad)
    with pytest.raises(ConfigError, match="invalid feature set name"):
        select_features(_analysis(synthetic_dataset(200)), synthetic_dataset(200).spec, "../x")
