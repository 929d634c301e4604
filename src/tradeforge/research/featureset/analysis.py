"""Per-feature evidence for a feature set: edge, stability, drift and redundancy.

For every model input of a `TradeDataset`:

* **quantiles** — trades bucketed by quantiles of the feature at the signal bar; per bucket
  the trade count, win rate with its Wilson interval (`scipy.stats.binomtest`) and
  expectancy in R with a seeded percentile bootstrap interval (`scipy.stats.bootstrap`);
* **association** — Spearman's rho between the feature and R (`scipy.stats.spearmanr`) and
  the mutual information between the feature and the target label
  (`sklearn.feature_selection.mutual_info_classif`, seeded);
* **stability** — rho per calendar year and per rolling window of trades: the share of
  periods whose rho has the sign of the whole sample's (periods with too few trades skipped);
* **drift** — the feature's distribution over all bars, cut into consecutive windows, each
  compared with the first by `feature_stats.drift` (PSI and the two-sample
  Kolmogorov–Smirnov test, and its flags);
* **redundancy** — Spearman correlation between features over the trades, clustered
  hierarchically (`scipy.cluster.hierarchy`, average linkage on 1 - |rho|): features in one
  cluster carry the same information.

The bucket edges and codes are `feature_stats`'s (one home for quantile buckets).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError
from tradeforge.research.feature_stats import bucket_codes, drift, quantile_edges
from tradeforge.research.featureset.dataset import TradeDataset

#: |rho| at or above which two features are one cluster (redundant).
CLUSTER_RHO = 0.8
MIN_PERIOD_TRADES = 20


def _mean_ci(values: np.ndarray, *, n_boot: int, level: float, seed: int) -> tuple[float, float]:
    from scipy import stats

    if len(values) < 2 or n_boot < 1 or np.ptp(values) == 0:
        v = float(values[0]) if len(values) and np.ptp(values) == 0 else math.nan
        return v, v
    res = stats.bootstrap((values,), np.mean, n_resamples=n_boot, confidence_level=level,
                          method="percentile", rng=np.random.default_rng(seed))  # fmt: skip
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _wilson(wins: int, n: int, level: float) -> tuple[float, float]:
    from scipy import stats

    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(wins, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def quantile_table(
    values: np.ndarray, r: np.ndarray, *, q: int = 5, n_boot: int = 1000, level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """One row per bucket: bounds, trades, win rate and expectancy R with intervals."""
    values, r = np.asarray(values, np.float64), np.asarray(r, np.float64)
    edges = quantile_edges(values, q)
    codes = bucket_codes(values, edges)
    rows = []
    for b in range(max(len(edges) - 1, 0)):
        rb = r[codes == b]
        wins = int((rb > 0).sum())
        w_lo, w_hi = _wilson(wins, len(rb), level)
        e_lo, e_hi = _mean_ci(rb, n_boot=n_boot, level=level, seed=seed * 1000 + b)
        rows.append({
            "bucket": b + 1, "low": float(edges[b]), "high": float(edges[b + 1]),
            "trades": len(rb),
            "win_rate_pct": 100.0 * wins / len(rb) if len(rb) else math.nan,
            "win_rate_ci_low": 100.0 * w_lo, "win_rate_ci_high": 100.0 * w_hi,
            "expectancy_r": float(rb.mean()) if len(rb) else math.nan,
            "expectancy_r_ci_low": e_lo, "expectancy_r_ci_high": e_hi,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _rho(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    from scipy import stats

    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan, math.nan, n
    res = stats.spearmanr(x[ok], y[ok])
    return float(res.statistic), float(res.pvalue), n


def stability(
    values: np.ndarray, r: np.ndarray, times: pd.DatetimeIndex, *, windows: int = 6,
    min_trades: int = MIN_PERIOD_TRADES,
) -> dict[str, Any]:  # fmt: skip
    """Rho of the feature with R per year and per rolling window of trades, and the share of
    periods agreeing in sign with the whole sample."""
    overall, _, _ = _rho(values, r)
    years = np.asarray(times.year)
    periods: list[dict[str, Any]] = []
    for year in np.unique(years):
        m = years == year
        periods.append({"kind": "year", "period": str(int(year)), "trades": int(m.sum()),
                        "rho": _rho(values[m], r[m])[0]})  # fmt: skip
    n = len(values)
    size = max(min_trades, n // max(windows, 1))
    for start in range(0, max(n - size + 1, 1), max(size // 2, 1)):  # half-overlapping
        sl = slice(start, start + size)
        periods.append({"kind": "window", "period": f"{times[start]:%Y-%m-%d}",
                        "trades": len(values[sl]), "rho": _rho(values[sl], r[sl])[0]})  # fmt: skip
    signs = [
        np.sign(p["rho"]) == np.sign(overall)
        for p in periods
        if p["trades"] >= min_trades and math.isfinite(p["rho"])
    ]
    return {
        "rho": overall,
        "sign_agreement": float(np.mean(signs)) if signs and math.isfinite(overall) else math.nan,
        "periods": pd.DataFrame(periods),
    }


def rolling_drift(values: np.ndarray, *, windows: int = 8) -> dict[str, Any]:
    """PSI and KS of each consecutive window of ``values`` (bar order) against the first."""

    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    rows = []
    if len(values) >= 2 * windows:
        chunks = np.array_split(values, windows)
        ref = chunks[0]
        for k, cur in enumerate(chunks[1:], start=2):
            rows.append({"window": k, **drift(ref, cur)})
    table = pd.DataFrame(rows, columns=["window", "psi", "ks_statistic", "ks_pvalue", "flag"])
    return {
        "windows": table,
        "max_psi": float(table["psi"].max()) if len(table) else math.nan,
        "drift_share": float((table["flag"] == "drift").mean()) if len(table) else math.nan,
    }


def mutual_information(X: pd.DataFrame, y: np.ndarray, seed: int = 0) -> dict[str, float]:  # noqa: N803
    """Mutual information (nats) of each column with the label; NaN filled with the median
    (the estimator needs finite values)."""
    from sklearn.feature_selection import mutual_info_classif

    filled = X.astype(np.float64).copy()
    for c in filled.columns:
        med = filled[c].median()
        filled[c] = filled[c].fillna(0.0 if not math.isfinite(med) else med)
    discrete = [bool(np.isin(filled[c].unique(), [-1.0, 0.0, 1.0]).all()) for c in filled]
    mi = mutual_info_classif(filled.to_numpy(), y, discrete_features=np.asarray(discrete),
                             random_state=seed)  # fmt: skip
    return {c: float(v) for c, v in zip(filled.columns, mi, strict=True)}


def correlation_clusters(
    X: pd.DataFrame,
    *,
    rho: float = CLUSTER_RHO,  # noqa: N803
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Spearman correlation matrix and a cluster id per column (|rho| >= ``rho`` joins)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    corr = X.corr(method="spearman").fillna(0.0)
    cols = list(corr.columns)
    if len(cols) < 2:
        return corr, dict.fromkeys(cols, 1)
    dist = 1.0 - corr.abs().to_numpy()
    np.fill_diagonal(dist, 0.0)
    dist = np.clip((dist + dist.T) / 2.0, 0.0, None)
    z = linkage(squareform(dist, checks=False), method="average")
    ids = fcluster(z, t=1.0 - rho, criterion="distance")
    return corr, {c: int(i) for c, i in zip(cols, ids, strict=True)}


def _over_time(features: Mapping[str, pd.DataFrame], col: str) -> np.ndarray:
    """Column ``col`` of every symbol's bars, in time order (symbols interleaved)."""
    series = pd.concat([f[col] for f in features.values()]).sort_index(kind="stable")
    return series.to_numpy(dtype=np.float64)


def analyze_dataset(
    dataset: TradeDataset,
    features: Mapping[str, pd.DataFrame],
    *,
    target: float = 0.0,
    q: int = 5,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    windows: int = 6,
    drift_windows: int = 8,
) -> dict[str, Any]:
    """Every analysis of the module docstring for each model input of ``dataset``;
    ``features`` are the spec's columns on all bars, per symbol (for drift)."""
    if q < 2:
        raise ConfigError("quantiles must be >= 2")
    if len(dataset) < 2 * q:
        raise ConfigError(f"{len(dataset)} trades are too few for {q} quantile buckets")
    r = dataset.r
    y = dataset.labels(target)
    times = pd.DatetimeIndex(dataset.frame["signal_time"])
    X = dataset.X  # noqa: N806
    first = next(iter(features.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant inputs: spearmanr warns, returns NaN
        mi = mutual_information(X, y, seed)
        corr, clusters = correlation_clusters(X)
        out: dict[str, Any] = {}
        for col in X.columns:
            v = X[col].to_numpy(dtype=np.float64)
            rho, pval, n = _rho(v, r)
            bars_values = _over_time(features, col) if col in first.columns else v
            out[col] = {
                "quantiles": quantile_table(v, r, q=q, n_boot=n_boot, level=level, seed=seed),
                "rho": rho,
                "rho_pvalue": pval,
                "coverage_pct": 100.0 * n / len(v),
                "mutual_info": mi[col],
                "stability": stability(v, r, times, windows=windows),
                "drift": rolling_drift(bars_values, windows=drift_windows),
                "cluster": clusters[col],
            }
    return {
        "kind": "tradeforge.research.features",
        "trades": len(dataset),
        "target": target,
        "quantiles": q,
        "bootstrap": {"samples": n_boot, "level": level, "seed": seed},
        "features": out,
        "correlation": corr,
    }


def summary_rows(analysis: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per feature: the numbers selection decides on."""
    rows = []
    for name, a in analysis["features"].items():
        qt = a["quantiles"]
        rows.append({
            "feature": name,
            "rho": a["rho"],
            "rho_pvalue": a["rho_pvalue"],
            "mutual_info": a["mutual_info"],
            "spread_r": float(qt["expectancy_r"].iloc[-1] - qt["expectancy_r"].iloc[0])
            if len(qt) >= 2 else math.nan,
            "sign_agreement": a["stability"]["sign_agreement"],
            "max_psi": a["drift"]["max_psi"],
            "drift_share": a["drift"]["drift_share"],
            "cluster": a["cluster"],
            "coverage_pct": a["coverage_pct"],
        })  # fmt: skip
    return rows
