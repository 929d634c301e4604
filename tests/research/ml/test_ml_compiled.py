"""The compiled scorer of LightGBM filters against LightGBM's own predict: the same numbers
bit for bit — on real trades' features (NaN warm-ups, flags, counters), on the values where
a tree's arithmetic is delicate (a threshold itself and its neighbours, zero and values
LightGBM reads as zero, infinities, NaN) and on every block size — hence the same take/skip
decisions; the other kinds use the library's predict."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMRegressor

from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.research.featureset import build_dataset, build_spec
from tradeforge.research.ml import ModelArtifact, fit_filter
from tradeforge.research.ml.compiled import compile_scorer, lightgbm_forest
from tradeforge.research.ml.models import score
from tradeforge.strategy import create_strategy

from .conftest import synthetic_dataset

#: (name, target): the calibrated classifier of P(win) and the regressor of R
TARGETS = [("classifier", 0.0), ("regressor", None)]


@pytest.fixture(scope="module")
def trades():
    """The full context feature set at ~1,000 sma_cross trades on M5 bars."""
    bars = generate_bars("EURUSD", "M5", "2024-01-01", "2024-02-19", seed=11)
    inner = create_strategy("sma_cross", {"fast": 3, "slow": 12, "stop_pips": 6,
                                          "target_pips": 8})  # fmt: skip
    return build_dataset(inner, {"EURUSD": bars}, build_spec(timeframe="M5"), timeframe="M5")


@pytest.fixture(scope="module", params=TARGETS, ids=[name for name, _ in TARGETS])
def fitted(request, trades):
    n = len(trades)
    target = request.param[1]
    f = fit_filter(trades, np.arange(n * 2 // 3), np.arange(n * 2 // 3, n), kind="lightgbm",
                   target=target)  # fmt: skip
    return trades, f, target


def model_of(estimator):
    """The LightGBM model inside a calibrated classifier (or the regressor itself)."""
    inner = getattr(estimator, "calibrated_classifiers_", None)
    return inner[0].estimator.estimator if inner else estimator


def test_real_trades_score_bit_for_bit_and_decide_alike(fitted):
    ds, f, _ = fitted
    assert ds.X.isna().any().any() and len(ds) > 500  # warm-up NaN in the inputs
    scorer = compile_scorer(f.estimator, len(ds.spec.inputs))
    assert scorer is not None
    expected = score(f.estimator, ds.X)
    got = scorer(ds.X.to_numpy())
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.float64 and len(np.unique(got)) > 20  # not a constant
    for threshold in (f.threshold, float(np.median(expected))):
        np.testing.assert_array_equal(got >= threshold, expected >= threshold)


@pytest.mark.parametrize("seed", range(4))
def test_delicate_values_score_bit_for_bit(fitted, seed):
    """Rows of real inputs with cells replaced by the split thresholds of the model (ties
    go left), their neighbours, zeros of both signs, values LightGBM reads as zero (within
    1e-35) or does not (1e-34), infinities and NaN."""
    ds, f, target = fitted
    objective = "regression" if target is None else "binary sigmoid:1"
    forest = lightgbm_forest(model_of(f.estimator), objective)
    assert forest is not None
    rng = np.random.default_rng(seed)
    X = ds.X.to_numpy().copy()  # noqa: N806
    for k in range(X.shape[1]):
        own = forest.threshold[forest.feature_start[k] : forest.feature_start[k + 1]]
        special = [0.0, -0.0, 1e-36, -1e-36, 1e-34, -1e-34, np.inf, -np.inf, np.nan]
        if len(own):
            special += [*own, *np.nextafter(own, np.inf), *np.nextafter(own, -np.inf)]
        cells = rng.random(len(X)) < 0.4
        X[cells, k] = rng.choice(np.array(special), cells.sum())
    frame = pd.DataFrame(X, columns=ds.X.columns)
    scorer = compile_scorer(f.estimator, X.shape[1])
    np.testing.assert_array_equal(scorer(X), score(f.estimator, frame))


@pytest.mark.parametrize("rows", [1, 31, 32, 33, 97])
def test_every_block_size(fitted, rows):
    ds, f, _ = fitted
    X = ds.X.iloc[:rows]  # noqa: N806
    scorer = compile_scorer(f.estimator, X.shape[1])
    np.testing.assert_array_equal(scorer(X.to_numpy()), score(f.estimator, X))
    # either memory order of the rows (the filter hands a column-major block)
    np.testing.assert_array_equal(scorer(np.ascontiguousarray(X.to_numpy())),
                                  score(f.estimator, X))  # fmt: skip


def test_the_artifact_scores_with_it_after_a_reload(fitted, tmp_path):
    ds, f, target = fitted
    meta = {"target": "r"} if target is None else {}
    art = ModelArtifact(f.estimator, ds.spec, f.threshold, meta).save(tmp_path)
    loaded = ModelArtifact.load(tmp_path, art.sha256)
    assert loaded._compiled is not None
    expected = score(loaded.estimator, ds.X)
    np.testing.assert_array_equal(loaded.predict(ds.X), expected)
    np.testing.assert_array_equal(loaded.predict(ds.X.to_numpy()), expected)
    shuffled = ds.X[list(reversed(ds.X.columns))]  # named columns are put in order
    np.testing.assert_array_equal(loaded.predict(shuffled), expected)
    # a filter that has scored still pickles (process and Dask workers), and scores alike
    copy = pickle.loads(pickle.dumps(loaded))
    assert "_compiled" not in copy.__dict__
    np.testing.assert_array_equal(copy.predict(ds.X), expected)


@pytest.mark.parametrize("kind", ["rf", "xgboost"])
def test_other_kinds_keep_the_library_predict(kind):
    ds = synthetic_dataset(400)
    f = fit_filter(ds, np.arange(300), np.arange(300, 400), kind=kind, target=0.0)
    assert compile_scorer(f.estimator, len(ds.spec.inputs)) is None
    art = ModelArtifact(f.estimator, ds.spec, f.threshold)
    np.testing.assert_array_equal(art.predict(ds.X), score(f.estimator, ds.X))


def test_unsupported_lightgbm_trees_fall_back():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": np.where(rng.random(400) < 0.3, 0.0, rng.normal(size=400)),  # noqa: N806
                      "b": rng.normal(size=400)})  # fmt: skip
    y = 2 * X["a"] + rng.normal(size=400)
    plain = LGBMRegressor(n_estimators=5, verbose=-1).fit(X, y)
    assert compile_scorer(plain, 2) is not None
    assert compile_scorer(plain, 3) is None  # not the model's inputs
    zero_missing = LGBMRegressor(n_estimators=5, zero_as_missing=True, verbose=-1).fit(X, y)
    assert compile_scorer(zero_missing, 2) is None
    wide = LGBMRegressor(n_estimators=3, num_leaves=100, min_child_samples=2, verbose=-1)
    assert compile_scorer(wide.fit(X, y), 2) is None  # more than 64 leaves in a tree


def test_an_isotonic_calibration_scores_alike():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    from tradeforge.research.ml import make_model

    ds = synthetic_dataset(600)
    y = ds.labels(0.0)
    model = make_model("lightgbm").fit(ds.X.iloc[:400], y[:400])
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="isotonic")
    calibrated.fit(ds.X.iloc[400:], y[400:])
    scorer = compile_scorer(calibrated, len(ds.spec.inputs))
    assert scorer is not None
    np.testing.assert_array_equal(scorer(ds.X.to_numpy()), score(calibrated, ds.X))
