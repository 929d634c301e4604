"""Candlestick charts with signals, entries, exits, stops, targets and the strategy's
indicators.

Candles are drawn on integer bar positions (no gaps over weekends) as two vectorized
collections: a `LineCollection` of wicks and a `PolyCollection` of bodies. The x tick labels
map positions back to UTC bar times, with the year. Price-scale indicators are lines over the
candles; the others (oscillators, ATR) get a pane each below, on the same bar positions
(`tradeforge.analytics.indicators` decides which is which). The charts are 1600 px wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tradeforge.analytics._data import time_ns
from tradeforge.analytics.indicators import Indicators
from tradeforge.analytics.tradepath import STOP_KINDS, TradePaths, recorded_paths
from tradeforge.plotting._base import DOWN, LINE, NEG, POS, UP, new_figure

BODY_WIDTH = 0.7
#: trade and window charts: 16 x 8.5 inches at 100 dpi = 1600 px wide
WIDTH, HEIGHT, PANE_HEIGHT = 16.0, 8.5, 1.8
#: indicator line colours (no green or red: those mean up/down, profit/loss here)
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")  # fmt: skip
#: stop line colour and legend label by kind (`STOP_KINDS`)
STOP_STYLE = {"initial": (NEG, "stop (initial)"), "breakeven": ("#212121", "stop (break-even)"),
              "trailing": ("#ef6c00", "stop (trailing)")}  # fmt: skip


def draw_candles(ax: Axes, o, h, lo, c, x0: int = 0) -> None:
    """Vectorized candles at x = x0, x0+1, …"""
    n = len(o)
    x = np.arange(x0, x0 + n, dtype=np.float64)
    up = c >= o
    colors = np.where(up, UP, DOWN)
    wicks = np.stack([np.c_[x, lo], np.c_[x, h]], axis=1)
    ax.add_collection(LineCollection(wicks, colors=colors, linewidths=0.8, zorder=2))
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    flat = top - bottom < 1e-12
    pad = (np.nanmax(h) - np.nanmin(lo)) * 0.0015 if n else 0.0
    top = np.where(flat, top + pad, top)
    bottom = np.where(flat, bottom - pad, bottom)
    half = BODY_WIDTH / 2
    verts = np.stack(
        [
            np.c_[x - half, bottom],
            np.c_[x - half, top],
            np.c_[x + half, top],
            np.c_[x + half, bottom],
        ],
        axis=1,
    )
    ax.add_collection(
        PolyCollection(verts, facecolors=colors, edgecolors=colors, linewidths=0.5, zorder=3)
    )
    if n:
        ax.set_xlim(x0 - 1, x0 + n)
        span = float(np.nanmax(h) - np.nanmin(lo)) or 1e-4
        ax.set_ylim(float(np.nanmin(lo)) - 0.06 * span, float(np.nanmax(h)) + 0.06 * span)


def _time_axis(ax: Axes, index: pd.DatetimeIndex, x0: int) -> None:
    """Tick labels with the full date (year included) and time of the bar at each tick."""
    n = len(index)

    def label(v: float, _pos: int) -> str:
        i = int(round(v)) - x0
        return index[i].strftime("%Y-%m-%d\n%H:%M") if 0 <= i < n else ""

    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.set_xlabel("Time (UTC)")


def signal_points(signals: Any, bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(bar positions, side +1/-1) of signals given as a `Signals` table (``bar``/``side``
    arrays) or a frame with a UTC ``time`` index/column and a ``side`` column."""
    if signals is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if (
        hasattr(signals, "bar")
        and hasattr(signals, "side")
        and not isinstance(signals, pd.DataFrame)
    ):
        return np.asarray(signals.bar, np.int64), np.sign(np.asarray(signals.side, np.int64))
    frame = pd.DataFrame(signals)
    times = frame["time"] if "time" in frame.columns else frame.index
    pos = np.searchsorted(time_ns(bars.index), time_ns(times))
    side = frame["side"]
    if side.dtype.kind in "iuf":
        s = np.sign(side.to_numpy(dtype=np.float64)).astype(np.int64)
    else:
        s = np.where(side.astype(str).str.lower().to_numpy() == "short", -1, 1)
    ok = pos < len(bars)
    return pos[ok], s[ok]


def trade_window_chart(
    bars: pd.DataFrame,
    trades: pd.DataFrame,
    legs: pd.DataFrame,
    lo: int,
    hi: int,
    title: str,
    signals: tuple[np.ndarray, np.ndarray] | None = None,
    indicators: Indicators | None = None,
    paths: TradePaths | None = None,
) -> Figure:
    """Bars ``[lo, hi)`` of ``bars`` with every trade of ``trades`` drawn on them — its stop
    over its life and its targets from ``paths`` (`trade_paths`; by default what the run
    recorded: the initial stop and the filled targets) — and the strategy's ``indicators``
    (values aligned with ``bars``) over and under the candles."""
    view = bars.iloc[lo:hi]
    ind = indicators or Indicators()
    n_panes = len(ind.panes)
    fig = new_figure(WIDTH, HEIGHT + PANE_HEIGHT * n_panes, bottom=1.3, hspace=0.08)
    ratios = (HEIGHT - 2.0,) + (PANE_HEIGHT,) * n_panes
    axes = fig.subplots(1 + n_panes, 1, sharex=True, squeeze=False, height_ratios=ratios)[:, 0]
    ax = axes[0]
    draw_candles(
        ax, *(view[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close")), lo
    )
    _time_axis(axes[-1], view.index, lo)
    _indicator_lines(axes, ind, lo, hi)
    ax.set_ylabel("Price")
    ax.ticklabel_format(axis="y", style="plain", useOffset=False)
    span = float(view["high"].max() - view["low"].min()) or 1e-4
    bar_ns = time_ns(bars.index)

    def pos(times) -> np.ndarray:
        return np.searchsorted(bar_ns, time_ns(times))

    if signals is not None and len(signals[0]):
        sp, ss = signals
        m = (sp >= lo) & (sp < hi)
        sp, ss = sp[m], ss[m]
        y = np.where(
            ss > 0,
            bars["low"].to_numpy()[sp] - 0.035 * span,
            bars["high"].to_numpy()[sp] + 0.035 * span,
        )
        for s, marker in ((1, "^"), (-1, "v")):
            k = ss == s
            if k.any():
                ax.scatter(
                    sp[k],
                    y[k],
                    marker=marker,
                    s=22,
                    color="0.55",
                    zorder=4,
                    label="signal" if s == 1 or not (ss == 1).any() else None,
                )
    levels: list[np.ndarray] = []
    if len(trades):
        e_pos, x_pos = pos(trades["entry_time"]), pos(trades["exit_time"])
        for a, b in zip(e_pos.tolist(), x_pos.tolist(), strict=True):
            ax.axvspan(a - 0.5, b + 0.5, color=LINE, alpha=0.06, lw=0, zorder=1)
        long = trades["side"].astype(str).to_numpy() == "long"
        entry = trades["entry_price"].to_numpy(dtype=np.float64)
        ids = set(trades["trade_id"].tolist())
        lg = legs[legs["trade_id"].isin(ids)] if len(legs) else legs
        mine = paths.of(list(ids)) if paths is not None else recorded_paths(trades, lg)
        levels += _path_lines(ax, mine, pos)
        ax.hlines(
            entry, e_pos, x_pos, colors=LINE, linestyles=":", lw=1.0, zorder=5, label="entry price"
        )
        for m, marker, lab in ((long, "^", "long entry"), (~long, "v", "short entry")):
            if m.any():
                ax.scatter(
                    e_pos[m],
                    entry[m],
                    marker=marker,
                    s=90,
                    color=LINE,
                    edgecolors="white",
                    linewidths=0.8,
                    zorder=6,
                    label=lab,
                )
        levels += [entry, trades["exit_price"].to_numpy(dtype=np.float64)]
        if len(lg):
            pnl = lg["pnl"].to_numpy(dtype=np.float64)
            lp = pos(lg["time"])
            colors = np.where(pnl >= 0, POS, NEG)
            ax.scatter(
                lp,
                lg["price"].to_numpy(dtype=np.float64),
                marker="X",
                s=80,
                c=colors,
                edgecolors="white",
                linewidths=0.8,
                zorder=7,
                label="exit (green: profit, red: loss)",
            )
        else:
            ax.scatter(
                x_pos,
                trades["exit_price"].to_numpy(dtype=np.float64),
                marker="X",
                s=80,
                color="black",
                zorder=7,
                label="exit",
            )
    if levels:
        allv = np.concatenate(levels)
        allv = allv[np.isfinite(allv)]
        y0, y1 = ax.get_ylim()
        lo_v, hi_v = min(y0, allv.min() - 0.04 * span), max(y1, allv.max() + 0.04 * span)
        ax.set_ylim(lo_v, hi_v)
    ax.set_title(title)
    fig.legend(
        *ax.get_legend_handles_labels(), loc="lower center", ncols=7, frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )  # fmt: skip
    return fig


def _indicator_lines(axes, ind: Indicators, lo: int, hi: int) -> None:
    """The price-scale lines on ``axes[0]``, each pane's lines on the next axes."""
    x = np.arange(lo, hi, dtype=np.float64)
    colors = iter(PALETTE * (1 + len(ind.columns) // len(PALETTE)))
    for col in ind.price:
        axes[0].plot(x, ind.values[col][lo:hi], color=next(colors), lw=1.3, zorder=4, label=col)
    for a, (feature, cols) in zip(axes[1:], ind.panes, strict=True):
        for col in cols:
            a.plot(x, ind.values[col][lo:hi], color=next(colors), lw=1.1, label=col)
        a.set_ylabel(feature)
        a.legend(loc="upper left", ncols=len(cols))


def _path_lines(ax: Axes, paths: TradePaths, pos) -> list:
    """Each trade's stop levels (a step per move, coloured by kind: from the open of the bar
    it takes effect on to the bar it is replaced or hit on) and its targets (solid: filled,
    dashed: not filled; from the entry bar to the fill or exit bar) over its life; returns
    the prices drawn."""
    drawn = []
    st = paths.stops
    for kind in STOP_KINDS:
        part = st[st["kind"] == kind]
        if len(part):
            color, label = STOP_STYLE[kind]
            price = part["price"].to_numpy(np.float64)
            ax.hlines(price, pos(part["start"]) - 0.5, pos(part["end"]), colors=color,
                      lw=1.6, zorder=5, label=label)  # fmt: skip
            drawn.append(price)
    tg = paths.targets
    for filled, style, label in ((True, "-", "target (filled)"),
                                 (False, "--", "target (not filled)")):  # fmt: skip
        part = tg[tg["filled"].astype(bool) == filled]
        if len(part):
            price = part["price"].to_numpy(np.float64)
            ax.hlines(price, pos(part["start"]), pos(part["end"]), colors=POS,
                      linestyles=style, lw=1.3, zorder=5, label=label)  # fmt: skip
            drawn.append(price)
    return drawn


def trade_title(t: Mapping[str, Any]) -> str:
    r = t.get("r_multiple")
    r_txt = f" · {r:+.2f}R" if r is not None and np.isfinite(r) else ""
    return (
        f"{t['symbol']} trade #{int(t['trade_id'])} · {t['side']} · {t['tag']}{r_txt} · "
        f"PnL {t['pnl']:+,.2f} · exit: {t['exit_reason']}"
    )


def trade_chart(
    bars: pd.DataFrame,
    trade: pd.Series,
    legs: pd.DataFrame,
    signals: tuple[np.ndarray, np.ndarray] | None = None,
    label: str = "",
    max_bars: int = 400,
    indicators: Indicators | None = None,
    paths: TradePaths | None = None,
) -> Figure:
    """One trade with context before its entry and after its exit (``paths``: as
    `trade_window_chart`)."""
    bar_ns = time_ns(bars.index)
    e = int(np.searchsorted(bar_ns, time_ns([trade["entry_time"]])[0]))
    x = int(np.searchsorted(bar_ns, time_ns([trade["exit_time"]])[0]))
    hold = x - e + 1
    pad = int(np.clip(hold // 2, 15, max(15, (max_bars - hold) // 2)))
    lo, hi = max(0, e - pad), min(len(bars), x + pad + 1)
    title = (f"{label}: " if label else "") + trade_title(trade)
    return trade_window_chart(
        bars, trade.to_frame().T, legs, lo, hi, title, signals, indicators, paths
    )
