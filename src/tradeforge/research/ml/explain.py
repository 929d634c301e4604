"""What a filter reads: permutation importance, SHAP values and partial dependence, written
as PNG charts and one self-contained HTML page.

* **Permutation importance** (`sklearn.inspection.permutation_importance`, ROC AUC — R² for
  a regressor of R —, seeded): how much the model's ranking of trades suffers when one input
  is shuffled.
* **SHAP values** of the underlying tree model (the calibration map is monotonic, so it does
  not change which inputs push a trade up or down): `shap.TreeExplainer` when the ``shap``
  package is installed; otherwise XGBoost's ``pred_contribs`` and LightGBM's
  ``pred_contrib``, which compute the same TreeSHAP values, and for a random forest none.
* **Partial dependence** (`sklearn.inspection.PartialDependenceDisplay`) of the calibrated
  probability (or the predicted R) on the most important inputs.

Explain on trades the model did not train on (a later date range) to see what it uses out of
sample.
"""

from __future__ import annotations

import base64
import html
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import DataError
from tradeforge.research.featureset.dataset import TradeDataset, parse_target
from tradeforge.research.ml.artifact import ModelArtifact


def tree_model(estimator: Any) -> Any:
    """The fitted tree model inside a calibrated (frozen) estimator; a regressor itself."""
    inner = getattr(estimator, "calibrated_classifiers_", None)
    if not inner:
        return estimator
    model = inner[0].estimator
    return getattr(model, "estimator", model)  # FrozenEstimator -> the model


def shap_values(model: Any, X: pd.DataFrame) -> tuple[np.ndarray | None, str]:  # noqa: N803
    """SHAP values (rows x inputs, log-odds for boosted trees) and how they were computed."""
    try:
        with warnings.catch_warnings():  # shap's own deprecation notices
            warnings.simplefilter("ignore")
            import shap

            values = shap.TreeExplainer(model).shap_values(X)
        values = np.asarray(values)
        if values.ndim == 3:  # (rows, inputs, classes) for a forest: the positive class
            values = values[..., 1]
        return values, f"shap {shap.__version__} TreeExplainer"
    except ImportError:
        pass
    name = type(model).__name__
    if name.startswith("XGB"):
        import xgboost

        contribs = model.get_booster().predict(xgboost.DMatrix(X), pred_contribs=True)
        return contribs[:, :-1], "xgboost pred_contribs (TreeSHAP)"
    if name.startswith("LGBM"):
        return model.predict(X, pred_contrib=True)[:, :-1], "lightgbm pred_contrib (TreeSHAP)"
    return None, "not available for this model without the shap package"


def _png(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    return path


def explain(
    artifact: ModelArtifact,
    dataset: TradeDataset,
    out: str | Path,
    *,
    seed: int = 0,
    repeats: int = 10,
    top: int = 4,
) -> dict[str, Any]:
    """Importance tables and charts of ``artifact`` on ``dataset``, written into ``out``
    (``importance.png``, ``shap.png``, ``pdp.png``, ``explain.html``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.inspection import PartialDependenceDisplay, permutation_importance

    X = dataset.X[list(artifact.spec.inputs)]  # noqa: N806
    target = parse_target(str(artifact.meta.get("target", "win")), regression=True)
    y = dataset.outcome(target)
    if len(np.unique(y)) < 2:
        raise DataError("the trades to explain on are all wins or all losses"
                        if target is not None else "the trades to explain on have one R")  # fmt: skip
    scoring, what = ("r2", "R²") if target is None else ("roc_auc", "ROC AUC")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    perm = permutation_importance(artifact.estimator, X, y, scoring=scoring,
                                  n_repeats=repeats, random_state=seed)  # fmt: skip
    table = pd.DataFrame({"feature": X.columns, "importance": perm.importances_mean,
                          "std": perm.importances_std})  # fmt: skip
    values, method = shap_values(tree_model(artifact.estimator), X)
    if values is not None:
        table["mean_abs_shap"] = np.abs(values).mean(axis=0)
    table = table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    charts = []
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(table) + 1.5))
    ax.barh(table["feature"][::-1], table["importance"][::-1], xerr=table["std"][::-1])
    ax.set_xlabel(f"drop in {what} when shuffled")
    charts.append(_png(fig, out / "importance.png"))
    plt.close(fig)
    if values is not None:
        order = np.argsort(-np.abs(values).mean(axis=0))[: max(top * 2, 8)]
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.5))
        ax.boxplot([values[:, i] for i in order[::-1]], orientation="horizontal",
                   tick_labels=[X.columns[i] for i in order[::-1]])  # fmt: skip
        ax.set_xlabel(f"SHAP value ({method})")
        charts.append(_png(fig, out / "shap.png"))
        plt.close(fig)
    features = table["feature"].head(top).tolist()
    disp = PartialDependenceDisplay.from_estimator(
        artifact.estimator, X, features, kind="average", grid_resolution=20
    )
    disp.figure_.set_size_inches(3.2 * len(features), 3)
    charts.append(_png(disp.figure_, out / "pdp.png"))
    plt.close(disp.figure_)
    doc = {"kind": "tradeforge.ml.explain", "model": artifact.meta.get("model"),
           "sha256": artifact.sha256, "trades": len(X), "shap": method,
           "importance": table}  # fmt: skip
    _write_html(doc, charts, out / "explain.html")
    return doc


def _write_html(doc: dict[str, Any], charts: list[Path], path: Path) -> None:
    """One page: the importance table and every chart inlined (no external files)."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(f'{v:.4g}' if isinstance(v, float) else str(v))}</td>"
                         for v in r) + "</tr>"
        for r in doc["importance"].itertuples(index=False)
    )  # fmt: skip
    head = "".join(f"<th>{html.escape(c)}</th>" for c in doc["importance"].columns)
    images = "".join(
        f'<h2>{p.stem}</h2><img alt="{p.stem}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}">'
        for p in charts
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>tradeforge model explained"
        "</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;"
        "text-align:right}td:first-child{text-align:left}</style></head><body>"
        f"<h1>Model {html.escape(str(doc['model']))} {doc['sha256'][:12]}</h1>"
        f"<p>{doc['trades']} trades; SHAP: {html.escape(doc['shap'])}</p>"
        f"<table><tr>{head}</tr>{rows}</table>{images}</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")
