"""A trained filter as an artifact: ``model.pkl`` (the calibrated classifier, or the regressor
of R, pickled) and ``model.json`` (its SHA-256, the feature spec, the threshold, the target,
the model kind and seed, the training window and the strategy whose trades it learned from).
A threshold that keeps every signal of a regressor (-inf) is written as ``null``.

Loading checks the pickle against the recorded hash (and against a hash the caller expects,
which is how a filtered strategy's parameters pin one exact model), so the backtest, the
dry-run and the live engine read the same bytes or refuse to start. A pickle runs code when
loaded: load only models you trained.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeforge.core.atomic import atomic_write_bytes
from tradeforge.core.errors import DataError
from tradeforge.core.paths import user_path
from tradeforge.research.featureset.spec import FeatureSpec
from tradeforge.research.ml.models import score

if TYPE_CHECKING:
    from tradeforge.research.ml.compiled import Scorer

MODEL_FILE, META_FILE = "model.pkl", "model.json"
KIND = "tradeforge.ml.model"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ModelArtifact:
    """A calibrated classifier and what it needs to be used exactly as trained."""

    estimator: Any  # `models.score` reads it
    spec: FeatureSpec
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)  # kind, seed, target, window, strategy
    sha256: str = ""  # of the pickle; set by `save` / `load`
    path: Path | None = None

    @property
    def regression(self) -> bool:
        """True for a regressor of R (the ``r`` target): it scores predicted R, not P(win)."""
        return self.meta.get("target") == "r"

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:  # noqa: N803
        """P(label = 1), or the predicted R, for rows of the spec's inputs (in ``spec.inputs``
        order): the compiled scorer's where there is one (`compiled`, the same numbers), the
        library's otherwise."""
        inputs = list(self.spec.inputs)
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(np.asarray(X, np.float64), columns=inputs, copy=False)  # noqa: N806
        X = X if list(X.columns) == inputs else X[inputs]  # noqa: N806
        if self._compiled is not None and (X.dtypes == np.float64).all():
            return self._compiled(X.to_numpy())
        return score(self.estimator, X)

    @cached_property
    def _compiled(self) -> Scorer | None:
        from tradeforge.research.ml.compiled import compile_scorer

        return compile_scorer(self.estimator, len(self.spec.inputs))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the compiled scorer (a closure; rebuilt on first use): a filter
        still travels to process and Dask workers after it has scored."""
        return {k: v for k, v in self.__dict__.items() if k != "_compiled"}

    def document(self) -> dict[str, Any]:
        threshold = self.threshold if math.isfinite(self.threshold) else None
        return {"kind": KIND, "sha256": self.sha256, "threshold": threshold,
                "features": self.spec.to_dict(), **self.meta}  # fmt: skip

    def save(self, folder: str | Path) -> ModelArtifact:
        """Write ``model.pkl`` and ``model.json`` into ``folder``; the saved artifact."""
        folder = user_path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        blob = pickle.dumps(self.estimator, protocol=5)
        saved = ModelArtifact(self.estimator, self.spec, self.threshold, dict(self.meta),
                              sha256(blob), folder)  # fmt: skip
        atomic_write_bytes(folder / MODEL_FILE, blob)
        text = json.dumps(saved.document(), indent=2, sort_keys=True, allow_nan=False)
        atomic_write_bytes(folder / META_FILE, (text + "\n").encode())
        return saved

    @classmethod
    def load(cls, folder: str | Path, expected_sha256: str | None = None) -> ModelArtifact:
        """Read an artifact, refusing a pickle whose hash differs from the recorded one or
        from ``expected_sha256``."""
        folder = user_path(folder)
        try:
            doc = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            blob = (folder / MODEL_FILE).read_bytes()
        except FileNotFoundError as exc:
            raise DataError(
                f"no model artifact in {folder} ({Path(exc.filename).name} missing)"
            ) from None
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read model artifact {folder}: {exc}") from None
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise DataError(f"{folder / META_FILE} is not a tradeforge model")
        digest = sha256(blob)
        if digest != doc.get("sha256"):
            raise DataError(f"{folder / MODEL_FILE} does not match the hash in {META_FILE} "
                            f"(file {digest[:12]}…, recorded {str(doc.get('sha256'))[:12]}…)")  # fmt: skip
        if expected_sha256 and digest != expected_sha256:
            raise DataError(f"model {folder} has hash {digest[:12]}…, expected "
                            f"{expected_sha256[:12]}… (a different model)")  # fmt: skip
        try:
            estimator = pickle.loads(blob)  # noqa: S301 (our own artifact, hash checked)
        except Exception as exc:  # unpickling can fail in many ways (missing library, version)
            raise DataError(f"cannot load {folder / MODEL_FILE}: {exc}") from None
        meta = {
            k: v for k, v in doc.items() if k not in ("kind", "sha256", "threshold", "features")
        }
        threshold = -math.inf if doc["threshold"] is None else float(doc["threshold"])
        return cls(estimator, FeatureSpec.from_dict(doc["features"]), threshold, meta, digest,
                   folder)  # fmt: skip
