"""R-multiple distribution, top-trade contribution and Monte Carlo resampling of trade order.

* **Distribution** of R (trades with a finite R): mean, median, std, skew, excess kurtosis,
  percentiles, share positive, VaR and CVaR (expected shortfall) at ``alpha``: the mean of
  the worst ``alpha`` share of trades, in R.
* **Contribution**: share of the net profit made by the best ``k`` trades (k = 1, 1 %, 5 %,
  10 %) and the net profit / expectancy without them — "does the edge vanish without the best
  1 %?" is ``edge_without_top_1pct`` (False when the rest nets <= 0).
* **Monte Carlo** (seeded): ``shuffle`` permutes the trade order (final equity is unchanged,
  the drawdown path is not); ``bootstrap`` resamples trades with replacement (both vary).
  Equity is the initial capital plus cumulative trade PnL; drawdowns are measured from the
  running peak (starting at the initial capital). Simulations run in memory-bounded batches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError

PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
MC_PERCENTILES = (5, 25, 50, 75, 95)
MC_MODES = ("shuffle", "bootstrap")
_BATCH_CELLS = 4_000_000  # simulations x trades per batch (≈ 32 MB of float64)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def r_distribution(r: np.ndarray, alpha: float = 0.05) -> dict[str, Any]:
    """Distribution statistics of R multiples (NaN/inf values are dropped)."""
    if not 0 < alpha < 0.5:
        raise ConfigError("alpha must be in (0, 0.5)")
    r = np.asarray(r, dtype=np.float64)
    r = r[np.isfinite(r)]
    n = len(r)
    out: dict[str, Any] = {"trades": n, "alpha": alpha}
    if n == 0:
        return out
    mean = float(r.mean())
    std = float(r.std(ddof=1)) if n > 1 else math.nan
    centred = r - mean
    m2 = float(np.mean(centred**2))
    skew = float(np.mean(centred**3)) / m2**1.5 if m2 > 0 else math.nan
    kurt = float(np.mean(centred**4)) / m2**2 - 3.0 if m2 > 0 else math.nan
    srt = np.sort(r)
    k = max(1, int(math.ceil(alpha * n)))
    out.update(
        mean=mean,
        median=float(np.median(r)),
        std=_finite(std),
        skew=_finite(skew),
        excess_kurtosis=_finite(kurt),
        min=float(srt[0]),
        max=float(srt[-1]),
        positive_pct=100.0 * float(np.mean(r > 0)),
        percentiles={
            str(p): float(v)
            for p, v in zip(PERCENTILES, np.percentile(r, PERCENTILES), strict=True)
        },
        var=float(srt[k - 1]),
        cvar=float(srt[:k].mean()),
        upper_tail_mean=float(srt[-k:].mean()),
        tail_ratio=_finite(float(np.percentile(r, 95)) / abs(float(np.percentile(r, 5))))
        if np.percentile(r, 5) != 0
        else None,
    )
    return out


def top_contribution(pnl: np.ndarray, r: np.ndarray | None = None) -> dict[str, Any]:
    """How much of the net profit the best trades make (see the module docstring)."""
    pnl = np.nan_to_num(np.asarray(pnl, dtype=np.float64))
    n = len(pnl)
    total = float(pnl.sum())
    out: dict[str, Any] = {"trades": n, "net_profit": total, "rows": []}
    if n == 0:
        return out
    order = np.argsort(-pnl, kind="stable")
    cum = np.cumsum(pnl[order])
    r_sorted = None if r is None else np.asarray(r, dtype=np.float64)[order]
    levels = [("top 1", 1), ("top 1%", 0.01), ("top 5%", 0.05), ("top 10%", 0.10)]
    for label, level in levels:
        k = level if isinstance(level, int) else max(1, int(math.ceil(level * n)))
        k = min(k, n)
        top = float(cum[k - 1])
        rest = pnl[order][k:]
        row = {
            "label": label,
            "k": k,
            "top_profit": top,
            "share_of_net_pct": 100.0 * top / total if total != 0 else None,
            "net_without": total - top,
            "expectancy_without": float(rest.mean()) if len(rest) else None,
        }
        if r_sorted is not None:
            rr = r_sorted[k:]
            rr = rr[np.isfinite(rr)]
            row["expectancy_r_without"] = float(rr.mean()) if len(rr) else None
        out["rows"].append(row)
    one_pct = out["rows"][1]
    out["edge_without_top_1pct"] = bool(one_pct["net_without"] > 0)
    out["curve"] = {"k": np.arange(1, n + 1).tolist(), "net_without": (total - cum).tolist()}
    return out


def _max_drawdowns(paths: np.ndarray, initial: float) -> tuple[np.ndarray, np.ndarray]:
    """(max drawdown money <= 0, max drawdown % <= 0) of each equity path (rows)."""
    peak = np.maximum.accumulate(np.maximum(paths, initial), axis=1)
    money = (paths - peak).min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(peak > 0, 100.0 * (paths - peak) / peak, np.nan)
    return money, np.nanmin(pct, axis=1)


def monte_carlo(
    pnl: np.ndarray,
    initial_capital: float,
    *,
    sims: int = 1000,
    seed: int = 0,
    mode: str = "bootstrap",
) -> dict[str, Any]:
    """Percentiles of final equity and max drawdown over ``sims`` resampled trade sequences."""
    if mode not in MC_MODES:
        raise ConfigError(f"Monte Carlo mode must be one of {', '.join(MC_MODES)}")
    if sims < 1:
        raise ConfigError("--sims must be >= 1")
    pnl = np.nan_to_num(np.asarray(pnl, dtype=np.float64))
    n = len(pnl)
    out: dict[str, Any] = {"mode": mode, "sims": sims, "seed": seed, "trades": n}
    if n == 0:
        return out
    rng = np.random.default_rng(seed)
    finals = np.empty(sims)
    dd_money = np.empty(sims)
    dd_pct = np.empty(sims)
    batch = max(1, _BATCH_CELLS // n)
    for start in range(0, sims, batch):
        m = min(batch, sims - start)
        if mode == "shuffle":
            idx = np.argsort(rng.random((m, n)), axis=1)
        else:
            idx = rng.integers(0, n, (m, n))
        paths = initial_capital + np.cumsum(pnl[idx], axis=1)
        finals[start : start + m] = paths[:, -1]
        dd_money[start : start + m], dd_pct[start : start + m] = _max_drawdowns(
            paths, initial_capital
        )
    actual = initial_capital + np.cumsum(pnl)
    a_money, a_pct = _max_drawdowns(actual[None, :], initial_capital)

    def pct(values: np.ndarray) -> dict[str, float]:
        return {
            str(p): float(v)
            for p, v in zip(MC_PERCENTILES, np.percentile(values, MC_PERCENTILES), strict=True)
        }

    out.update(
        final_equity=pct(finals),
        max_drawdown=pct(dd_money),
        max_drawdown_pct=pct(dd_pct),
        prob_loss_pct=100.0 * float(np.mean(finals < initial_capital)),
        actual={
            "final_equity": float(actual[-1]),
            "max_drawdown": float(a_money[0]),
            "max_drawdown_pct": float(a_pct[0]),
        },
        samples={"final_equity": finals, "max_drawdown_pct": dd_pct},
    )
    return out


def analyze_r(
    trades: pd.DataFrame,
    initial_capital: float,
    *,
    alpha: float = 0.05,
    sims: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Distribution, contribution and both Monte Carlo modes of a trade table (exit order)."""
    if len(trades):
        order = np.lexsort(
            (
                trades["trade_id"].to_numpy(),
                pd.DatetimeIndex(trades["exit_time"]).as_unit("ns").asi8,
            )
        )
        trades = trades.iloc[order]
    r = pd.to_numeric(trades["r_multiple"], errors="coerce").to_numpy(dtype=np.float64)
    pnl = pd.to_numeric(trades["pnl"], errors="coerce").to_numpy(dtype=np.float64)
    return {
        "kind": "tradeforge.analyze.r",
        "distribution": r_distribution(r, alpha),
        "contribution": top_contribution(pnl, r),
        "monte_carlo": {
            mode: monte_carlo(pnl, initial_capital, sims=sims, seed=seed, mode=mode)
            for mode in MC_MODES
        },
        "r": r[np.isfinite(r)],
    }
