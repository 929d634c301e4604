"""Choose a feature set from the evidence of `analysis` and store it as a named file.

Rules, applied in order (each dropped feature records the first rule it failed):

1. **weak** — no evidence of a link with the outcome: Spearman's p-value with R at least
   ``max_pvalue`` *and* mutual information with the label below ``min_mi``;
2. **unstable** — its rho has the whole sample's sign in fewer than ``min_agreement`` of the
   years and rolling windows;
3. **drifting** — more than ``max_drift_share`` of the later windows are flagged ``drift``
   against the first (the feature's distribution moved: a model fitted on the past would
   read it wrongly);
4. **redundant** — in each correlation cluster only the feature with the most mutual
   information stays;
5. **over the limit** — at most ``max_features``, ranked by mutual information.

If fewer than ``min_features`` survive, the strongest dropped ones (by mutual information)
come back, with the reason saying so. The signal side is always a model input and is not
subject to selection.

The result is a `FeatureSet`: the spec of the kept columns, every decision with its reason
and numbers, and where it came from. Saved as JSON (`save`), it is the reference a later run
compares with (`compare_feature_sets`): which features joined, left or changed reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.names import check_name
from tradeforge.research.featureset.analysis import summary_rows
from tradeforge.research.featureset.spec import SIDE, FeatureSpec

KIND = "tradeforge.featureset"


@dataclass(frozen=True)
class SelectionRules:
    max_pvalue: float = 0.2
    min_mi: float = 0.005
    min_agreement: float = 0.5
    max_drift_share: float = 0.5
    min_features: int = 5
    max_features: int = 20

    def __post_init__(self) -> None:
        if not 1 <= self.min_features <= self.max_features:
            raise ConfigError("feature count bounds need 1 <= min_features <= max_features")


@dataclass(frozen=True)
class FeatureSet:
    """A named, reasoned feature selection (see the module docstring)."""

    name: str
    spec: FeatureSpec
    decisions: tuple[dict[str, Any], ...]
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def kept(self) -> list[str]:
        return [d["feature"] for d in self.decisions if d["kept"]]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "name": self.name, "spec": self.spec.to_dict(),
                "source": self.source, "decisions": list(self.decisions)}  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Write the set as JSON (byte-identical for the same selection)."""
        from tradeforge.research.io import write_json

        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> FeatureSet:
        from tradeforge.core.paths import user_path

        path = user_path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"feature set not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read feature set {path}: {exc}") from None
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise DataError(f"{path} is not a feature set (kind {KIND!r})")
        return cls(str(doc["name"]), FeatureSpec.from_dict(doc["spec"]),
                   tuple(doc.get("decisions") or ()), dict(doc.get("source") or {}))  # fmt: skip


def _bad(x: float) -> bool:
    return not math.isfinite(x)


def select_features(
    analysis: Mapping[str, Any],
    spec: FeatureSpec,
    name: str,
    rules: SelectionRules | None = None,
    source: Mapping[str, Any] | None = None,
) -> FeatureSet:
    """Apply the rules of the module docstring to an `analyze_dataset` result."""
    name = check_name(name, "feature set name", "trend_context")
    rules = rules or SelectionRules()
    rows = {r["feature"]: r for r in summary_rows(analysis) if r["feature"] != SIDE}
    reason: dict[str, str] = {}
    for f, r in rows.items():
        p, mi = r["rho_pvalue"], r["mutual_info"]
        if (_bad(p) or p >= rules.max_pvalue) and mi < rules.min_mi:
            reason[f] = (f"weak: Spearman p {p:.3g} >= {rules.max_pvalue:g} and mutual "
                         f"information {mi:.4f} < {rules.min_mi:g}")  # fmt: skip
        elif _bad(r["sign_agreement"]) or r["sign_agreement"] < rules.min_agreement:
            reason[f] = (f"unstable: rho has the overall sign in {r['sign_agreement']:.0%} of "
                         f"years/windows (< {rules.min_agreement:.0%})")  # fmt: skip
        elif not _bad(r["drift_share"]) and r["drift_share"] > rules.max_drift_share:
            reason[f] = (f"drifting: {r['drift_share']:.0%} of windows drift against the first "
                         f"(max PSI {r['max_psi']:.2f})")  # fmt: skip
    by_cluster: dict[int, list[str]] = {}
    for f in rows:
        if f not in reason:
            by_cluster.setdefault(rows[f]["cluster"], []).append(f)
    for members in by_cluster.values():
        members.sort(key=lambda f: (-rows[f]["mutual_info"], f))
        for other in members[1:]:
            rho = analysis["correlation"].loc[members[0], other]
            reason[other] = f"redundant with {members[0]} (Spearman {rho:+.2f}, less information)"
    survivors = sorted((f for f in rows if f not in reason),
                       key=lambda f: (-rows[f]["mutual_info"], f))  # fmt: skip
    for f in survivors[rules.max_features :]:
        reason[f] = f"over the limit of {rules.max_features} (lower mutual information)"
    kept = survivors[: rules.max_features]
    if len(kept) < rules.min_features:
        dropped = sorted((f for f in rows if f not in kept),
                         key=lambda f: (-rows[f]["mutual_info"], f))  # fmt: skip
        for f in dropped[: rules.min_features - len(kept)]:
            reason[f] = f"kept to reach the minimum of {rules.min_features} (was {reason[f]})"
            kept.append(f)
    decisions = []
    for f in spec.columns:
        if f not in rows:
            continue
        r = rows[f]
        decisions.append({
            "feature": f, "kept": f in kept,
            "reason": reason.get(f, "kept: linked with the outcome, stable, not redundant")
            if f in kept else reason[f],
            **{k: r[k] for k in ("rho", "rho_pvalue", "mutual_info", "spread_r",
                                 "sign_agreement", "max_psi", "drift_share", "cluster")},
        })  # fmt: skip
    return FeatureSet(name, spec.subset(kept), tuple(decisions), dict(source or {}))


def compare_feature_sets(reference: FeatureSet, current: FeatureSet) -> dict[str, Any]:
    """What changed since ``reference``: features added, removed, and changed reasons."""
    ref = {d["feature"]: d for d in reference.decisions}
    cur = {d["feature"]: d for d in current.decisions}
    ref_kept, cur_kept = set(reference.kept), set(current.kept)
    changed = [
        {"feature": f, "was": ref[f]["reason"], "now": cur[f]["reason"]}
        for f in cur
        if f in ref and ref[f]["reason"].split(":")[0] != cur[f]["reason"].split(":")[0]
    ]
    return {
        "added": sorted(cur_kept - ref_kept),
        "removed": sorted(ref_kept - cur_kept),
        "changed": changed,
        "same": ref_kept == cur_kept,
    }
