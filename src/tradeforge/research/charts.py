"""PNG charts of the research tools (matplotlib, Agg backend; no GUI, no global state)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _figure(width: float = 9.0, height: float = 4.5, rows: int = 1, cols: int = 1):
    from matplotlib.figure import Figure  # no pyplot: renders with Agg, no global state

    fig = Figure(figsize=(width, height), dpi=100)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _slug(text: str) -> str:
    """``text`` safe as a file name part: non-alphanumerics become ``_``."""
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_")


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


# -- optimisation ---------------------------------------------------------------------------------
#: fill of a heatmap cell whose best trial is not ``ok``, by status
STATUS_COLORS = {"rejected": "#c7c7c7", "undefined": "#e6e6e6", "invalid": "#8c8c8c"}


def heatmap_cells(trials: pd.DataFrame, x: str, y: str, sign: float) -> pd.DataFrame:
    """One row per (``x``, ``y``) cell of the trials: the best ``ok`` trial of the cell or,
    when none is ``ok``, its best other trial (NaN objectives last); with the cell's trial
    count and ``ok`` count."""
    t = trials.assign(
        _ok=(trials["status"] == "ok").astype(int),
        _key=-sign * trials["objective"].to_numpy(dtype=np.float64),
    )
    t["_key"] = t["_key"].fillna(np.inf)
    t = t.sort_values(["_ok", "_key", "trial_id"], ascending=[False, True, True], kind="stable")
    best = t.drop_duplicates([x, y], keep="first")
    counts = t.groupby([x, y], sort=False).agg(n=("trial_id", "size"), n_ok=("_ok", "sum"))
    best = best.join(counts, on=[x, y]).drop(columns=["_ok", "_key"])
    return best.sort_values([y, x], kind="stable").reset_index(drop=True)


def optimize_charts(result: Any, out: Path) -> list[Path]:
    """Objective by trial, objective vs each parameter, heatmap of the first two parameters."""
    trials = result.trials
    paths: list[Path] = []
    if trials.empty:
        return paths
    ok = trials["status"] == "ok"
    fig, ax = _figure()
    a = ax[0, 0]
    a.scatter(trials.loc[~ok, "trial_id"], trials.loc[~ok, "objective"], s=10, c="0.7",
              label="rejected/undefined")  # fmt: skip
    a.scatter(trials.loc[ok, "trial_id"], trials.loc[ok, "objective"], s=12, label="ok")
    a.set_xlabel("trial")
    a.set_ylabel(result.objective.metric)
    a.set_title(f"{result.method} search: objective per trial")
    a.legend(loc="best", fontsize=8)
    paths.append(_save(fig, out / "trials.png"))
    names = result.space.names
    fig, ax = _figure(4.0 * len(names), 3.8, 1, len(names))
    for i, name in enumerate(names):
        a = ax[0, i]
        sub = trials[ok]
        a.scatter(sub[name], sub["objective"], s=12)
        a.set_xlabel(name)
        a.set_ylabel(result.objective.metric)
    paths.append(_save(fig, out / "params.png"))
    if len(names) >= 2:
        paths.append(_heatmap_png(result, out / "heatmap.png"))
    return paths


def _heatmap_png(result: Any, path: Path) -> Path:
    """Every cell of the first two parameters: ``ok`` cells coloured by the objective and
    labelled with it, the others grey and labelled with their status."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    x, y = result.space.names[:2]
    cells = heatmap_cells(result.trials, x, y, result.objective.sign)
    xs = sorted(pd.unique(result.trials[x].dropna()), key=_order)
    ys = sorted(pd.unique(result.trials[y].dropna()), key=_order)
    ok = (cells["status"] == "ok").to_numpy()
    value = cells["objective"].to_numpy(dtype=float)
    norm = Normalize(*(value[ok].min(), value[ok].max()) if ok.any() else (0.0, 1.0))
    fig, ax = _figure(max(6.0, 1.0 + 0.9 * len(xs)), max(4.0, 1.5 + 0.6 * len(ys)))
    a = ax[0, 0]
    cmap = colormaps["viridis"]
    for (_, cell), good, v in zip(cells.iterrows(), ok, value, strict=True):
        i, j = ys.index(cell[y]), xs.index(cell[x])
        color = cmap(norm(v)) if good else STATUS_COLORS.get(cell["status"], "#e6e6e6")
        a.add_patch(_rect(j, i, color))
        text = f"{v:.3g}" if good else cell["status"]
        if not good and np.isfinite(v):
            text += f"\n{v:.3g}"
        dark = good and norm(v) < 0.65
        a.text(j, i, text, ha="center", va="center", fontsize=8,
               color="white" if dark else "#222222")  # fmt: skip
    a.set_xlim(-0.5, len(xs) - 0.5)
    a.set_ylim(-0.5, len(ys) - 0.5)
    a.set_xticks(range(len(xs)), [_tick(v) for v in xs])
    a.set_yticks(range(len(ys)), [_tick(v) for v in ys])
    a.set_xlabel(x)
    a.set_ylabel(y)
    a.set_title(f"best {result.objective.metric} by {x} x {y} (grey: no ok trial)")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=a)
    return _save(fig, path)


def _order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float | np.number) else (1, str(value))


def _tick(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)


def _rect(x: float, y: float, color: Any) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.48, y - 0.48), 0.96, 0.96, facecolor=color, edgecolor="white")


# -- walk-forward ---------------------------------------------------------------------------------
def walkforward_charts(result: Any, out: Path) -> list[Path]:
    paths: list[Path] = []
    folds = result.folds
    if not folds.empty:
        fig, ax = _figure()
        a = ax[0, 0]
        x = folds["fold"].to_numpy()
        a.bar(x - 0.2, folds["is_objective"].to_numpy(dtype=float), 0.4, label="in sample")
        a.bar(x + 0.2, folds["oos_objective"].to_numpy(dtype=float), 0.4, label="out of sample")
        a.axhline(0, color="0.4", lw=0.8)
        a.set_xlabel("fold")
        a.set_ylabel(result.summary.get("objective", "objective"))
        a.set_title("walk-forward: in sample vs out of sample")
        a.legend(fontsize=8)
        paths.append(_save(fig, out / "is_vs_oos.png"))
    if len(result.equity):
        fig, ax = _figure()
        a = ax[0, 0]
        eq = result.equity
        for fold, part in eq.groupby("fold", sort=True):
            a.plot(part.index, part["equity"], lw=1.0, label=f"fold {fold}")
        a.set_title("stitched out-of-sample equity")
        a.set_ylabel("equity")
        if eq["fold"].nunique() <= 12:
            a.legend(fontsize=7, ncol=2)
        paths.append(_save(fig, out / "oos_equity.png"))
    return paths


# -- R distribution -------------------------------------------------------------------------------
def r_charts(doc: Mapping[str, Any], out: Path) -> list[Path]:
    paths: list[Path] = []
    r = np.asarray(doc.get("r", []), dtype=float)
    dist = doc["distribution"]
    if len(r):
        fig, ax = _figure()
        a = ax[0, 0]
        a.hist(r, bins=min(60, max(10, int(math.sqrt(len(r))))), color="tab:blue", alpha=0.8)
        for key, style in (("mean", "-"), ("median", "--"), ("cvar", ":")):
            if dist.get(key) is not None:
                a.axvline(dist[key], color="k", ls=style, lw=1, label=f"{key} {dist[key]:.2f}")
        a.set_xlabel("R multiple")
        a.set_title("R distribution")
        a.legend(fontsize=8)
        paths.append(_save(fig, out / "r_hist.png"))
    curve = doc["contribution"].get("curve")
    if curve and curve["k"]:
        fig, ax = _figure()
        a = ax[0, 0]
        a.plot(curve["k"], curve["net_without"])
        a.axhline(0, color="0.4", lw=0.8)
        a.set_xscale("log")
        a.set_xlabel("best k trades removed")
        a.set_ylabel("net profit of the rest")
        a.set_title("edge without the best trades")
        paths.append(_save(fig, out / "r_contribution.png"))
    mc = doc["monte_carlo"].get("bootstrap", {})
    samples = mc.get("samples")
    if samples is not None:
        fig, ax = _figure(10, 4, 1, 2)
        for a, key, label in (
            (ax[0, 0], "final_equity", "final equity"),
            (ax[0, 1], "max_drawdown_pct", "max drawdown %"),
        ):
            a.hist(samples[key], bins=50, color="tab:gray")
            a.axvline(mc["actual"][key], color="tab:red", lw=1.2, label="actual")
            a.set_title(f"Monte Carlo ({mc['sims']} bootstrap runs): {label}")
            a.legend(fontsize=8)
        paths.append(_save(fig, out / "r_montecarlo.png"))
    return paths


# -- consistency ----------------------------------------------------------------------------------
def consistency_charts(
    doc: Mapping[str, Any], expected: pd.DataFrame, actual: pd.DataFrame, out: Path
) -> list[Path]:
    paths: list[Path] = []
    matched = doc["matched"]
    if len(matched):
        fig, ax = _figure(10, 4, 1, 2)
        a = ax[0, 0]
        a.hist(matched["entry_slippage_pips"].dropna(), bins=40, color="tab:orange")
        a.set_title("entry slippage (pips, + = worse)")
        a = ax[0, 1]
        a.hist(matched["entry_delay_s"].dropna(), bins=40, color="tab:purple")
        a.set_title("entry delay (s, actual - expected)")
        paths.append(_save(fig, out / "consistency_diffs.png"))
    fig, ax = _figure()
    a = ax[0, 0]
    for name, trades in (("expected", expected), ("actual", actual)):
        if len(trades):
            t = pd.DatetimeIndex(trades["exit_time"])
            order = np.argsort(t.as_unit("ns").asi8, kind="stable")
            pnl = pd.to_numeric(trades["pnl"], errors="coerce").fillna(0).to_numpy()[order]
            a.step(t[order], np.cumsum(pnl), where="post", label=name)
    a.set_title("cumulative PnL: expected vs actual")
    a.legend(fontsize=8)
    paths.append(_save(fig, out / "consistency_pnl.png"))
    return paths


# -- regimes --------------------------------------------------------------------------------------
def regime_charts(analysis: Mapping[str, Any], out: Path) -> list[Path]:
    paths: list[Path] = []
    for seg, item in analysis.items():
        table = item["table"]
        if table.empty:
            continue
        fig, ax = _figure(11, 4, 1, 2)
        a = ax[0, 0]
        a.bar(table["regime"].astype(str), table["expectancy_r"].to_numpy(dtype=float))
        a.axhline(0, color="0.4", lw=0.8)
        a.set_title(f"{seg}: expectancy (R) per regime")
        a.tick_params(axis="x", rotation=30, labelsize=7)
        a = ax[0, 1]
        for name, curve in item["curves"].items():
            a.step(curve.index, curve.to_numpy(), where="post", label=str(name))
        a.set_title(f"{seg}: cumulative PnL per regime")
        a.legend(fontsize=7)
        paths.append(_save(fig, out / f"regime_{_slug(seg)}.png"))
    return paths


# -- features -------------------------------------------------------------------------------------
def feature_charts(doc: Mapping[str, Any], out: Path) -> list[Path]:
    paths: list[Path] = []
    for name, item in doc["features"].items():
        qt = item["quantiles"]
        if qt.empty:
            continue
        fig, ax = _figure(11, 4, 1, 2)
        a = ax[0, 0]
        x = qt["bucket"].to_numpy()
        y = qt["expectancy_r"].to_numpy(dtype=float)
        err = np.vstack([y - qt["expectancy_r_ci_low"], qt["expectancy_r_ci_high"] - y])
        a.bar(x, y, yerr=np.nan_to_num(err), capsize=3)
        a.axhline(0, color="0.4", lw=0.8)
        a.set_xlabel(f"{name} quantile")
        a.set_ylabel("expectancy (R)")
        a.set_title(f"{name}: expectancy per quantile ({doc['bootstrap']['level']:.0%} CI)")
        a = ax[0, 1]
        yearly = item["yearly"]
        for year, part in yearly.groupby("year", sort=True):
            a.plot(part["bucket"], part["expectancy_r"], marker="o", lw=1, label=str(year))
        a.axhline(0, color="0.4", lw=0.8)
        a.set_xlabel(f"{name} quantile")
        a.set_xticks(x)
        a.set_title("per year")
        if yearly["year"].nunique() <= 12:
            a.legend(fontsize=7)
        paths.append(_save(fig, out / f"feature_{_slug(name)}.png"))
    corr = doc.get("correlation")
    if corr is not None and len(corr) > 1:
        fig, ax = _figure(6.5, 5.5)
        a = ax[0, 0]
        im = a.imshow(corr.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu_r")
        a.set_xticks(range(len(corr)), list(corr.columns), rotation=45, ha="right", fontsize=7)
        a.set_yticks(range(len(corr)), list(corr.index), fontsize=7)
        a.set_title("feature correlation (Spearman)")
        fig.colorbar(im, ax=a)
        paths.append(_save(fig, out / "feature_correlation.png"))
    return paths
