"""Equity curve with the drawdown underneath, on a UTC time axis."""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from tradeforge.analytics.report import Report
from tradeforge.plotting._base import LINE, NEG, currency_label, envelope, new_figure


def _utc(ns: np.ndarray) -> np.ndarray:
    return ns.astype("datetime64[ns]")


def equity_chart(report: Report, title: str) -> Figure:
    dd = report.drawdown
    equity = dd.peak + dd.money
    x = _utc(dd.t)
    fig = new_figure(11.0, 6.5, hspace=0.06)
    ax, ax_dd = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.3))
    xe, ye = envelope(x, equity)
    initial = report.run["initial_capital"]
    ax.plot(xe, ye, color=LINE, lw=1.1, label="equity (marked to market)")
    ax.axhline(initial, color="0.4", lw=0.8, ls="--", label=f"initial capital {initial:,.0f}")
    ax.fill_between(xe, initial, ye, where=ye >= initial, color=LINE, alpha=0.08, lw=0)
    ax.fill_between(xe, initial, ye, where=ye < initial, color=NEG, alpha=0.10, lw=0)
    ccy = currency_label(report.run.get("config") or {})
    ax.set_ylabel(f"Equity{ccy}")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:,.0f}")
    s = report.summary
    ax.set_title(
        f"{title}\nreturn {s['returns']['return_pct'] or 0:+.1f}%, "
        f"max drawdown {s['drawdown']['max_drawdown_pct'] or 0:.1f}%"
    )
    ax.legend(loc="upper left")

    xd, yd = envelope(x, np.nan_to_num(dd.pct, nan=0.0))
    ax_dd.fill_between(xd, yd, 0.0, color=NEG, alpha=0.35, lw=0)
    ax_dd.plot(xd, yd, color=NEG, lw=0.7)
    trough = s["drawdown"]["trough_time"]
    if trough is not None:
        ax_dd.axvline(
            np.datetime64(trough.tz_convert(None).as_unit("ns")),
            color="0.25",
            lw=0.8,
            ls=":",
            label=f"max DD {s['drawdown']['max_drawdown_pct']:.1f}% ({trough:%Y-%m-%d})",
        )
        ax_dd.legend(loc="lower left")
    ax_dd.set_ylabel("Drawdown (%)")
    ax_dd.set_xlabel("Time (UTC)")
    top = 0.0
    bottom = min(float(np.nanmin(yd)) if len(yd) else 0.0, -0.5)
    ax_dd.set_ylim(bottom * 1.08, top)
    locator = mdates.AutoDateLocator(minticks=5, maxticks=12)
    ax_dd.xaxis.set_major_locator(locator)
    ax_dd.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if len(x):
        ax_dd.set_xlim(x[0], x[-1])
    return fig
