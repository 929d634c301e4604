"""R-multiple histogram, monthly-returns heatmap and per-tag expectancy bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from tradeforge.analytics.report import Report
from tradeforge.plotting._base import LINE, NEG, POS, new_figure

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def r_histogram(r: np.ndarray, title: str, bin_width: float = 0.25) -> Figure:
    """Histogram of R multiples; the tails beyond the 0.5/99.5 percentiles are clipped into
    the edge bins (and said so)."""
    r = r[np.isfinite(r)]
    fig = new_figure(10.0, 5.0)
    ax = fig.add_subplot()
    lo_q, hi_q = np.percentile(r, [0.5, 99.5])
    lo = np.floor(min(lo_q, -1.0) / bin_width) * bin_width
    hi = np.ceil(max(hi_q, 1.0) / bin_width) * bin_width + bin_width
    clipped = int(np.count_nonzero((r < lo) | (r >= hi)))
    edges = np.arange(lo, hi + bin_width / 2, bin_width)
    counts, edges = np.histogram(np.clip(r, lo, hi - 1e-9), bins=edges)
    left = edges[:-1]
    colors = np.where(left >= 0, POS, NEG)
    ax.bar(
        left,
        counts,
        width=bin_width,
        align="edge",
        color=colors,
        alpha=0.8,
        edgecolor="white",
        linewidth=0.4,
    )
    mean, median = float(r.mean()), float(np.median(r))
    ax.axvline(0.0, color="0.2", lw=0.9)
    ax.axvline(mean, color=LINE, lw=1.4, ls="--", label=f"mean {mean:+.3f}R")
    ax.axvline(median, color="0.45", lw=1.1, ls=":", label=f"median {median:+.3f}R")
    win = 100.0 * np.count_nonzero(r > 0) / len(r)
    ax.set_title(f"{title}\n{len(r):,} trades, {win:.1f}% with R > 0")
    ax.set_xlabel(f"R multiple (PnL / initial risk), bins of {bin_width:g}R")
    ax.set_ylabel("Trades")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
    note = f"{clipped:,} outliers clipped into the edge bins" if clipped else None
    ax.legend(loc="upper right", title=note, title_fontsize=8)
    ax.set_xlim(lo, hi)
    return fig


def monthly_heatmap(report: Report, title: str) -> Figure:
    """Years x months grid of monthly returns (%), with each year's return on the right."""
    monthly, yearly = report.periods["monthly"], report.periods["yearly"]
    years = yearly["year"].astype(int).tolist()
    grid = np.full((len(years), 12), np.nan)
    row = {y: i for i, y in enumerate(years)}
    for y, m, v in zip(monthly["year"], monthly["month"], monthly["return_pct"], strict=True):
        grid[row[int(y)], int(m) - 1] = v
    fig = new_figure(11.0, 1.25 + 0.42 * len(years), left=0.6, top=0.8, bottom=0.15)
    ax, ax_y = fig.subplots(1, 2, width_ratios=(12, 1.6))
    vmax = _heat(ax, grid, MONTHS, years)
    year_values = yearly["return_pct"].to_numpy(dtype=np.float64)[:, None]
    _heat(ax_y, year_values, ("Year",), years, floor=vmax * np.sqrt(12))
    ax_y.set_yticklabels([])
    fig.suptitle(
        f"{title}\nmonthly returns (%) of the equity curve, UTC months",
        fontsize=11.5,
        fontweight="bold",
    )
    return fig


def _heat(ax, grid: np.ndarray, cols, years, floor: float = 0.1) -> float:
    """Annotated diverging heatmap centred on 0; colours saturate at the 95th percentile of
    |value| (never below ``floor``). Returns that colour limit."""
    finite = grid[np.isfinite(grid)]
    vmax = float(np.percentile(np.abs(finite), 95)) if len(finite) else 1.0
    vmax = max(vmax, floor)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
    ax.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", norm=norm, aspect="auto")
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            strong = abs(v) > 0.65 * vmax
            ax.text(
                j,
                i,
                f"{v:.1f}".replace("-0.0", "0.0"),
                ha="center",
                va="center",
                fontsize=8.5,
                color="white" if strong else "black",
            )
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(years)), [str(y) for y in years])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return vmax


def tag_expectancy(table: pd.DataFrame, title: str) -> Figure:
    """Horizontal bars of expectancy (R, else money) per tag, annotated with count and PF."""
    use_r = table["expectancy_r"].notna().any()
    col = "expectancy_r" if use_r else "expectancy"
    t = table.sort_values([col, "tag"], ascending=[True, True], na_position="first")
    vals = t[col].to_numpy(dtype=np.float64)
    vals = np.nan_to_num(vals, nan=0.0)
    longest = max((len(str(v)) for v in t["tag"]), default=4)
    fig = new_figure(10.0, 1.3 + 0.45 * len(t), left=0.3 + 0.075 * longest)
    ax = fig.add_subplot()
    y = np.arange(len(t))
    ax.barh(y, vals, color=np.where(vals >= 0, POS, NEG), alpha=0.85, height=0.6)
    ax.set_yticks(y, t["tag"].astype(str).tolist())
    ax.axvline(0.0, color="0.2", lw=0.9)
    span = float(np.abs(vals).max()) or 1.0
    for yi, v, n, pf in zip(y, vals, t["trades"], t["profit_factor"], strict=True):
        pf_txt = "—" if pd.isna(pf) else f"{pf:.2f}"
        label = f" {v:+.3f}{'R' if use_r else ''}  (n={int(n):,}, PF {pf_txt}) "
        ax.text(v, yi, label, va="center", ha="left" if v >= 0 else "right", fontsize=8.5)
    ax.set_xlim(
        -1.6 * span if (vals < 0).any() else -0.1 * span,
        1.6 * span if (vals > 0).any() else 0.1 * span,
    )
    ax.set_xlabel("Expectancy per trade (R)" if use_r else "Expectancy per trade (money)")
    ax.set_title(f"{title}\nexpectancy by tag")
    ax.grid(axis="y", visible=False)
    return fig
