"""A LightGBM filter's trees read once into flat arrays and scored by one Numba kernel: the
same numbers as LightGBM's own predict, bit for bit, in a fifth of its time (the bench's
model: 150 trees of 7 leaves, 24 inputs).

The kernel is QuickScorer's (Lucchese et al., SIGIR 2015), in its blocked SIMD form
(SIGIR 2016): each tree's leaves are numbered left to right, one bit each of a 64-bit word;
a split whose test fails (the row goes right) clears the bits of its left subtree's leaves,
and the exit leaf is the lowest bit left set. The splits are stored by (feature, threshold)
and applied to a block of `_ROWS` rows at once, the inner loop over the rows without a
branch (SIMD lanes); a feature's scan stops at the first threshold no row of the block
exceeds. No walk down each tree with a hard-to-predict branch at every node, which is what
LightGBM's own predictor pays. The cost grows with the number of splits (a walk's with the
depth): it pays on LightGBM's small trees (7 leaves here), not on the random forest's
256-leaf ones.

Exactly LightGBM's arithmetic (``binary`` or ``regression`` objective, numerical splits, at
most 64 leaves per tree): float64 inputs; a value within LightGBM's ``kZeroThreshold``
(1e-35) of zero read as 0, as its dense reader does; NaN sent where each split's missing type
sends it ("None": read as 0; "NaN": the default side); the trees' leaf values summed in tree
order from 0.0, as LightGBM sums its raw score. A calibrated classifier
(`CalibratedClassifierCV` of frozen models) reads that raw score (``decision_function``, since
LightGBM 4.7) through scikit-learn's own fitted calibrators, averaged and clipped as its
``predict_proba`` does.

Anything else gives ``None`` and the caller uses the library's predict: the random forest
(scikit-learn's pass is as fast as a compiled walk of its deep trees), XGBoost (its predictor
sums float32 margins in its own order), a categorical, zero-as-missing or linear tree, an
older LightGBM. Single-threaded like the models; rows are independent, so deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

Scorer = Callable[[np.ndarray], np.ndarray]

#: LightGBM's ``kZeroThreshold`` (a C++ float): inputs within it of zero are read as 0.
_LGBM_ZERO = float(np.float32(1e-35))
#: Rows scored together: the inner loops run over them, in SIMD lanes.
_ROWS = 32
_ALL = (1 << 64) - 1
_DE_BRUIJN = 0x03F79D71B4CB0A89
#: The position of a 64-bit word's only set bit, by its de Bruijn product's top six bits.
_BIT_AT = np.zeros(64, dtype=np.int64)
for _bit in range(64):
    _BIT_AT[(((1 << _bit) * _DE_BRUIJN) & _ALL) >> 58] = _bit


@dataclass(frozen=True)
class Forest:
    """Trees as the kernel reads them: one entry per split, ordered by (feature, threshold);
    each tree's leaves numbered left to right from its ``first_leaf``."""

    feature_start: np.ndarray  # int64 [n_features + 1]: each feature's entries
    threshold: np.ndarray  # float64, ascending within a feature: right when x > threshold
    nan_left: np.ndarray  # bool: where NaN goes
    tree: np.ndarray  # int64: the split's tree
    mask: np.ndarray  # uint64: going right keeps these leaves (clears the left subtree's)
    leaf_value: np.ndarray  # float64
    first_leaf: np.ndarray  # int64 per tree

    def raw(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """Per row of ``X``, the trees' leaf values summed in tree order from 0.0."""
        columns = np.ascontiguousarray(np.asarray(X, dtype=np.float64).T)  # a view if F-ordered
        if columns.ndim != 2 or len(columns) != len(self.feature_start) - 1:
            raise ValueError(f"{len(self.feature_start) - 1} inputs expected, got {X.shape}")
        out = np.empty(columns.shape[1])
        _sum_leaves(columns, self.feature_start,
                    self.threshold, self.nan_left, self.tree, self.mask, self.leaf_value,
                    self.first_leaf, out)  # fmt: skip
        return out


@njit(cache=True, nogil=True, error_model="numpy")
def _sum_leaves(columns, feature_start, threshold, nan_left, tree, mask, leaf_value, first_leaf,
                out):  # fmt: skip
    n_features, n = columns.shape
    alive = np.empty((len(first_leaf), _ROWS), np.uint64)  # per tree, per row of the block
    x = np.empty((n_features, _ROWS))  # the block's inputs, feature-major
    nan = np.empty((n_features, _ROWS), np.bool_)
    for start in range(0, n, _ROWS):
        rows = min(_ROWS, n - start)
        for k in range(n_features):
            for r in range(_ROWS):
                v = columns[k, start + r] if r < rows else 0.0
                nan[k, r] = np.isnan(v)
                x[k, r] = 0.0 if abs(v) <= _LGBM_ZERO else v
        alive[:, :] = np.uint64(_ALL)
        for k in range(n_features):
            top, any_nan = -np.inf, False
            for r in range(_ROWS):
                if x[k, r] > top:  # never for NaN
                    top = x[k, r]
                any_nan |= nan[k, r]
            xk, nan_k = x[k], nan[k]
            for e in range(feature_start[k], feature_start[k + 1]):
                t = threshold[e]
                if t >= top and not any_nan:  # no row of the block goes right here or later
                    break
                nan_right, cleared, keep = not nan_left[e], mask[e], alive[tree[e]]
                for r in range(_ROWS):
                    right = (xk[r] > t) | (nan_k[r] & nan_right)
                    keep[r] &= cleared if right else np.uint64(_ALL)
        total = np.zeros(_ROWS)
        for j in range(len(first_leaf)):
            first, keep = first_leaf[j], alive[j]
            for r in range(_ROWS):
                low = keep[r] & (~keep[r] + np.uint64(1))  # the exit leaf's bit
                total[r] += leaf_value[
                    first + _BIT_AT[(low * np.uint64(_DE_BRUIJN)) >> np.uint64(58)]
                ]
        out[start : start + rows] = total[:rows]


#: What `_Builder.add_tree` reads of a node: a leaf's value, or a split's
#: (feature, threshold, NaN goes left, left child, right child); None: not supported.
Node = float | tuple[int, float, bool, Any, Any] | None


class _Builder:
    """Collects trees, in order, into a `Forest`."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, float, bool, int, int]] = []
        self.leaves: list[float] = []
        self.first_leaf: list[int] = []

    def add_tree(self, root: Any, read: Callable[[Any], Node]) -> bool:
        """Add the tree under ``root``; False if ``read`` met a node it does not support or
        the tree has more than 64 leaves."""
        first, number = len(self.leaves), len(self.first_leaf)
        splits: list[tuple[int, float, bool, int, int]] = []  # left subtree: leaves lo..hi-1

        def visit(node: Any) -> bool:
            got = read(node)
            if got is None:
                return False
            if isinstance(got, float):
                self.leaves.append(got)
                return True
            feature, threshold, nan_left, left, right = got
            lo = len(self.leaves) - first
            if not visit(left):
                return False
            splits.append((feature, threshold, nan_left, lo, len(self.leaves) - first))
            return visit(right)

        if not visit(root) or len(self.leaves) - first > 64:
            return False
        for feature, threshold, nan_left, lo, hi in splits:
            cleared = ((1 << (hi - lo)) - 1) << lo
            self.entries.append((feature, threshold, nan_left, number, ~cleared & _ALL))
        self.first_leaf.append(first)
        return True

    def forest(self, n_features: int) -> Forest:
        columns = list(zip(*self.entries, strict=True)) if self.entries else [()] * 5
        feature = np.asarray(columns[0], dtype=np.int64)
        threshold = np.asarray(columns[1], dtype=np.float64)
        order = np.lexsort((threshold, feature))
        start = np.searchsorted(feature[order], np.arange(n_features + 1))
        return Forest(start.astype(np.int64), threshold[order],
                      np.asarray(columns[2], dtype=bool)[order],
                      np.asarray(columns[3], dtype=np.int64)[order],
                      np.asarray(columns[4], dtype=np.uint64)[order],
                      np.asarray(self.leaves, dtype=np.float64),
                      np.asarray(self.first_leaf, dtype=np.int64))  # fmt: skip


def _read_lightgbm(node: dict[str, Any]) -> Node:
    if "leaf_value" in node:
        return None if "leaf_coeff" in node else float(node["leaf_value"])  # a linear tree
    missing = node.get("missing_type")
    if node.get("decision_type") != "<=" or missing not in ("None", "NaN"):
        return None
    threshold = float(node["threshold"])
    # "None": NaN is read as 0.0; "NaN": NaN takes the default side
    nan_left = bool(node["default_left"]) if missing == "NaN" else threshold >= 0.0
    return (int(node["split_feature"]), threshold, nan_left, node["left_child"],
            node["right_child"])  # fmt: skip


def lightgbm_forest(model: Any, objective: str) -> Forest | None:
    """The trees of a fitted LightGBM sklearn model with ``objective`` (as its model dump
    names it), or None for what the kernel does not reproduce."""
    dump = model.booster_.dump_model()
    if dump.get("objective") != objective or dump.get("num_tree_per_iteration") != 1:
        return None
    if dump.get("average_output"):
        return None
    build = _Builder()
    if not all(build.add_tree(t["tree_structure"], _read_lightgbm) for t in dump["tree_info"]):
        return None
    if len(build.first_leaf) != model.booster_.num_trees():
        return None
    return build.forest(int(dump["max_feature_idx"]) + 1)


def _lightgbm_classifier(model: Any) -> Forest | None:
    from lightgbm import LGBMClassifier

    if type(model) is not LGBMClassifier or list(model.classes_) != [0, 1]:
        return None
    if getattr(model, "decision_function", None) is None:
        return None  # before LightGBM 4.7 the calibration read its probability
    return lightgbm_forest(model, "binary sigmoid:1")


def _calibrated(estimator: Any) -> Scorer | None:
    """P(class 1) of a binary `CalibratedClassifierCV` of LightGBM models, as its
    ``predict_proba`` computes it."""
    from sklearn.frozen import FrozenEstimator

    if list(estimator.classes_) != [0, 1]:
        return None
    parts = []
    for part in estimator.calibrated_classifiers_:
        model = part.estimator
        if isinstance(model, FrozenEstimator):
            model = model.estimator
        if part.method not in ("sigmoid", "isotonic") or len(part.calibrators) != 1:
            return None
        forest = _lightgbm_classifier(model) if list(part.classes) == [0, 1] else None
        if forest is None:
            return None
        parts.append((forest, part.calibrators[0]))

    def calibrated(X: np.ndarray) -> np.ndarray:  # noqa: N803
        total = np.zeros(len(X))
        for forest, calibrator in parts:
            p = np.asarray(calibrator.predict(forest.raw(X)), dtype=np.float64)
            p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
            total += p
        total /= len(parts)
        return total

    return calibrated


def compile_scorer(estimator: Any, n_inputs: int) -> Scorer | None:
    """A function of a float64 matrix of ``n_inputs`` columns (the model's inputs, in order)
    giving exactly `models.score` of ``estimator`` — or None where the library's predict must
    be used (see the module docstring)."""
    module = type(estimator).__module__
    scorer: Scorer | None = None
    if module.startswith("sklearn.calibration"):
        from sklearn.calibration import CalibratedClassifierCV

        if type(estimator) is CalibratedClassifierCV:
            scorer = _calibrated(estimator)
    elif module.startswith("lightgbm"):
        from lightgbm import LGBMRegressor

        if type(estimator) is LGBMRegressor:
            forest = lightgbm_forest(estimator, "regression")
            scorer = forest.raw if forest is not None else None
    return scorer if getattr(estimator, "n_features_in_", None) == n_inputs else None
