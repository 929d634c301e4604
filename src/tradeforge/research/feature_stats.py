"""Feature expectancy and stability.

* **Expectancy per quantile**: each trade gets the value of a feature at its signal bar (what
  the strategy knew); trades are bucketed by quantiles of those values and every bucket gets
  its trade count, win rate, expectancy in R and seeded bootstrap confidence intervals
  (percentile method) for both.
* **Per year**: the same buckets (edges from the whole sample, so years are comparable),
  expectancy in R by entry year — does the pattern hold every year?
* **Drift** between two periods of the bars (default: first and second half; or a split
  time): Population Stability Index over the reference period's deciles and the two-sample
  Kolmogorov–Smirnov statistic (numpy). Flag ``drift`` when PSI >= 0.25 or (KS p < 0.01 and
  KS D >= 0.1), ``moderate`` when PSI >= 0.1, else ``stable``.
* **Correlation**: Spearman rank correlation between features over all bars; pairs with
  |rho| >= 0.9 are listed as redundant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError
from tradeforge.core.timeutil import to_utc
from tradeforge.research._align import per_symbol_rows, times_ns
from tradeforge.research.consistency import ks_statistic

PSI_MODERATE, PSI_MAJOR = 0.1, 0.25
REDUNDANT_RHO = 0.9
_BOOT_CELLS = 4_000_000


def feature_frames(
    bars: Mapping[str, pd.DataFrame], requests: Sequence[str], timeframe: str | None = None
) -> dict[str, pd.DataFrame]:
    """Per symbol, the requested feature columns only (numeric columns)."""
    from tradeforge.features import compute_features

    if not requests:
        raise ConfigError("give at least one feature (e.g. --feature 'rsi(14)')")
    out = {}
    for sym, frame in bars.items():
        f = compute_features(frame, list(requests), timeframe)
        cols = [c for c in f.columns if c not in frame.columns]
        numeric = [c for c in cols if pd.api.types.is_numeric_dtype(f[c])]
        out[str(sym).upper()] = f[numeric]
    return out


def values_at_entry(features: Mapping[str, pd.DataFrame], trades: pd.DataFrame) -> pd.DataFrame:
    """Feature values at each trade's signal bar (rows aligned with ``trades``)."""
    columns = list(next(iter(features.values())).columns)
    out = np.full((len(trades), len(columns)), np.nan)
    for sym, (rows, pos) in per_symbol_rows(features, trades).items():
        values = features[sym].to_numpy(dtype=np.float64)
        ok = pos >= 0
        out[rows[ok]] = values[pos[ok]]
    return pd.DataFrame(out, columns=columns, index=trades.index)


def bootstrap_ci(
    values: np.ndarray, *, n_boot: int, level: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    n = len(values)
    if n < 2 or n_boot < 1:
        return math.nan, math.nan
    means = np.empty(n_boot)
    batch = max(1, _BOOT_CELLS // n)
    for start in range(0, n_boot, batch):
        m = min(batch, n_boot - start)
        means[start : start + m] = values[rng.integers(0, n, (m, n))].mean(axis=1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [a, 1.0 - a])
    return float(lo), float(hi)


def quantile_edges(values: np.ndarray, q: int) -> np.ndarray:
    ok = values[np.isfinite(values)]
    if len(ok) == 0:
        return np.array([])
    return np.unique(np.quantile(ok, np.linspace(0, 1, q + 1)))


def bucket_codes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bucket index per value (-1 for NaN or when there are no edges)."""
    out = np.full(len(values), -1, dtype=np.int64)
    if len(edges) < 2:
        return out
    ok = np.isfinite(values)
    out[ok] = np.clip(np.searchsorted(edges[1:-1], values[ok], side="right"), 0, len(edges) - 2)
    return out


def expectancy_by_quantile(
    values: np.ndarray,
    r: np.ndarray,
    *,
    q: int = 5,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per bucket: bounds, trades, win rate, expectancy R and bootstrap CIs."""
    values = np.asarray(values, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    keep = np.isfinite(r)
    values, r = values[keep], r[keep]
    edges = quantile_edges(values, q)
    codes = bucket_codes(values, edges)
    rows = []
    for b in range(max(len(edges) - 1, 0)):
        rb = r[codes == b]
        rng = np.random.default_rng([seed, b])
        win = (rb > 0).astype(np.float64)
        e_lo, e_hi = bootstrap_ci(rb, n_boot=n_boot, level=level, rng=rng)
        w_lo, w_hi = bootstrap_ci(win, n_boot=n_boot, level=level, rng=rng)
        rows.append(
            {
                "bucket": b + 1,
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "trades": len(rb),
                "win_rate_pct": 100.0 * float(win.mean()) if len(rb) else math.nan,
                "win_rate_ci_low": 100.0 * w_lo,
                "win_rate_ci_high": 100.0 * w_hi,
                "expectancy_r": float(rb.mean()) if len(rb) else math.nan,
                "expectancy_r_ci_low": e_lo,
                "expectancy_r_ci_high": e_hi,
            }
        )
    return pd.DataFrame(rows)


def expectancy_by_year(
    values: np.ndarray, r: np.ndarray, years: np.ndarray, *, q: int = 5
) -> pd.DataFrame:
    """Expectancy R and trades per (year, bucket), buckets from the whole sample."""
    values = np.asarray(values, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    edges = quantile_edges(values[np.isfinite(r)], q)
    codes = bucket_codes(values, edges)
    ok = (codes >= 0) & np.isfinite(r)
    frame = pd.DataFrame({"year": years[ok], "bucket": codes[ok] + 1, "r": r[ok]})
    if frame.empty:
        return pd.DataFrame({"year": [], "bucket": [], "trades": [], "expectancy_r": []})
    g = frame.groupby(["year", "bucket"], sort=True)["r"]
    return pd.DataFrame({"trades": g.size(), "expectancy_r": g.mean()}).reset_index()


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population Stability Index of ``current`` against ``reference`` (decile bins)."""
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(current, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        return math.nan
    edges = np.unique(np.quantile(a, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        return 0.0 if np.all(b == edges[0]) else math.inf
    inner = edges[1:-1]
    pa = np.bincount(np.searchsorted(inner, a, side="right"), minlength=len(edges) - 1) / len(a)
    pb = np.bincount(np.searchsorted(inner, b, side="right"), minlength=len(edges) - 1) / len(b)
    pa, pb = np.maximum(pa, 1e-4), np.maximum(pb, 1e-4)
    return float(np.sum((pb - pa) * np.log(pb / pa)))


def drift(reference: np.ndarray, current: np.ndarray) -> dict[str, Any]:
    p = psi(reference, current)
    d, pval = ks_statistic(reference, current)
    if p >= PSI_MAJOR or (pval < 0.01 and d >= 0.1):
        flag = "drift"
    elif p >= PSI_MODERATE:
        flag = "moderate"
    else:
        flag = "stable"
    return {"psi": p, "ks_statistic": d, "ks_pvalue": pval, "flag": flag}


def correlation(features: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, list[dict]]:
    """Spearman correlation over all bars of every symbol, and the redundant pairs."""
    frame = pd.concat(list(features.values()), ignore_index=True)
    corr = frame.corr(method="spearman")
    pairs = []
    cols = list(corr.columns)
    for i, a in enumerate(cols):
        for b in cols[i + 1 :]:
            rho = corr.loc[a, b]
            if np.isfinite(rho) and abs(rho) >= REDUNDANT_RHO:
                pairs.append({"a": a, "b": b, "rho": float(rho)})
    return corr, pairs


def analyze_features(
    trades: pd.DataFrame,
    bars: Mapping[str, pd.DataFrame],
    requests: Sequence[str],
    *,
    timeframe: str | None = None,
    q: int = 5,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    split: str | pd.Timestamp | None = None,
) -> dict[str, Any]:
    """Every analysis of the module docstring for the feature ``requests``."""
    if q < 2:
        raise ConfigError("--quantiles must be >= 2")
    feats = feature_frames(bars, requests, timeframe)
    at_entry = values_at_entry(feats, trades)
    r = pd.to_numeric(trades["r_multiple"], errors="coerce").to_numpy(dtype=np.float64)
    years = (
        pd.DatetimeIndex(trades["entry_time"]).year.to_numpy()
        if len(trades)
        else np.array([], dtype=np.int64)
    )
    all_ns = np.concatenate([f.index.as_unit("ns").asi8 for f in feats.values()])
    split_ns = int(times_ns([to_utc(split, "split")])[0]) if split else int(np.median(all_ns))
    out: dict[str, Any] = {
        "kind": "tradeforge.analyze.features",
        "trades": len(trades),
        "quantiles": q,
        "bootstrap": {"samples": n_boot, "level": level, "seed": seed},
        "split": pd.Timestamp(split_ns, unit="ns", tz="UTC"),
        "features": {},
    }
    for col in at_entry.columns:
        v = at_entry[col].to_numpy()
        series = [
            (f[col].to_numpy(dtype=np.float64), f.index.as_unit("ns").asi8) for f in feats.values()
        ]
        before = np.concatenate([x[t < split_ns] for x, t in series])
        after = np.concatenate([x[t >= split_ns] for x, t in series])
        out["features"][col] = {
            "quantiles": expectancy_by_quantile(v, r, q=q, n_boot=n_boot, level=level, seed=seed),
            "yearly": expectancy_by_year(v, r, years, q=q),
            "drift": drift(before, after),
        }
    corr, pairs = correlation(feats)
    out["correlation"] = corr
    out["redundant"] = pairs
    return out
