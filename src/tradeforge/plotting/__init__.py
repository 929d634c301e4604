"""tradeforge.plotting: report charts as PNG files (matplotlib, Agg canvas, deterministic).

`render_charts` writes the full set for a run; the single-chart builders (`equity_chart`,
`trade_chart`, `r_histogram` …, in `equity`, `candles` and `distribution`) return matplotlib
Figures — draw them inside `chart_style()` and write them with `save_png`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.analytics._data import time_ns
from tradeforge.analytics.indicators import Indicators
from tradeforge.analytics.report import Report
from tradeforge.analytics.tradepath import TradePaths, trade_paths
from tradeforge.core.paths import user_path
from tradeforge.plotting._base import chart_style, save_png
from tradeforge.plotting.candles import signal_points, trade_chart, trade_window_chart
from tradeforge.plotting.distribution import monthly_heatmap, r_histogram, tag_expectancy
from tradeforge.plotting.equity import equity_chart
from tradeforge.trading.result import BacktestResult

__all__ = [
    "CHART_PATTERNS",
    "chart_style",
    "equity_chart",
    "monthly_heatmap",
    "r_histogram",
    "render_charts",
    "run_title",
    "save_png",
    "tag_expectancy",
    "trade_chart",
    "trade_window_chart",
]

#: file names this module writes (stale ones are removed before a new set is written)
CHART_PATTERNS: tuple[str, ...] = (
    "equity.png",
    "monthly_returns.png",
    "r_multiples.png",
    "tag_expectancy.png",
    "trade_*.png",
    "candles_*.png",
)


def run_title(report: Report, width: int = 90) -> str:
    """Symbols and strategy label, wrapped so that long parameter lists stay on the figure."""
    symbols = ", ".join(report.run["symbols"]) or "run"
    title = f"{symbols} · {report.strategy_label}" if report.strategy_label else symbols
    return textwrap.fill(title, width=width, break_long_words=False)


def _pick_trades(trades: pd.DataFrame, n_best: int, n_worst: int) -> list[tuple[str, pd.Series]]:
    """The n best and n worst trades by PnL (ties by trade_id), without repeats."""
    if len(trades) == 0:
        return []
    pnl = pd.to_numeric(trades["pnl"]).to_numpy(dtype=np.float64)
    ids = pd.to_numeric(trades["trade_id"]).to_numpy()
    order = np.lexsort((ids, -pnl))  # best first
    best = order[:n_best].tolist()
    worst = [i for i in order[::-1][:n_worst].tolist() if i not in best]
    return [(f"best {k + 1}", trades.iloc[i]) for k, i in enumerate(best)] + [
        (f"worst {k + 1}", trades.iloc[i]) for k, i in enumerate(worst)
    ]


def _signals_of(signals, paths: TradePaths, symbol: str, bars: pd.DataFrame):
    """Signal markers of ``symbol``: the given table, else the signals of ``paths``."""
    given = (signals or {}).get(symbol)
    if given is None and len(paths.signals):
        given = paths.signals[paths.signals["symbol"] == symbol]
    return signal_points(given, bars)


def _window_charts(
    result: BacktestResult, ohlc, signals, window, out: Path, indicators, lines: TradePaths
) -> list[Path]:
    start, end = (pd.Timestamp(w) for w in window)
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    paths = []
    for symbol in sorted(ohlc):
        bars = ohlc[symbol]
        lo, hi = np.searchsorted(time_ns(bars.index), time_ns([start, end]))
        if hi <= lo:
            continue
        tr = result.trades
        if len(tr):
            tr = tr[tr["symbol"].astype(str) == symbol]
            e, x = time_ns(tr["entry_time"]), time_ns(tr["exit_time"])
            tr = tr[(e < time_ns([end])[0]) & (x >= time_ns([start])[0])]
        sig = _signals_of(signals, lines, symbol, bars)
        title = f"{symbol} {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC ({len(tr)} trades)"
        fig = trade_window_chart(
            bars, tr, result.legs, int(lo), int(hi), title, sig, indicators.get(symbol),
            lines.of(tr["trade_id"]) if len(tr) else lines,
        )  # fmt: skip
        name = f"candles_{symbol}_{start:%Y%m%dT%H%M}_{end:%Y%m%dT%H%M}.png"
        paths.append(save_png(fig, out / name))
    return paths


def render_charts(
    report: Report,
    result: BacktestResult,
    out_dir: str | Path,
    ohlc: Mapping[str, pd.DataFrame] | None = None,
    signals: Mapping[str, Any] | None = None,
    *,
    n_best: int = 3,
    n_worst: int = 3,
    window: tuple[Any, Any] | None = None,
    indicators: Mapping[str, Indicators] | None = None,
    paths: TradePaths | None = None,
) -> list[Path]:
    """Write every chart PNG into ``out_dir`` and return their paths (in a fixed order).

    Candlestick charts need ``ohlc`` (symbol -> bars); ``signals`` (symbol -> a `Signals`
    table or a frame with ``time``/``side``) adds signal markers. With ``window`` one chart per
    symbol covers that time range; otherwise the ``n_best`` and ``n_worst`` trades by PnL get
    one chart each. ``indicators`` ({symbol: `Indicators`} aligned with ``ohlc``) are drawn
    on those charts, ``paths`` (`trade_paths`, computed when not given) each trade's stop
    over its life, its targets and — without ``signals`` — the signal markers. Charts that
    have nothing to show (no trades, no bars) are skipped.
    """
    indicators = dict(indicators or {})
    trade_lines = paths
    out = user_path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for pattern in CHART_PATTERNS:  # charts of an earlier report in the same folder
        for stale in out.glob(pattern):
            stale.unlink()
    title = run_title(report)
    paths: list[Path] = []
    with chart_style():
        if report.run["bars"]:
            paths.append(save_png(equity_chart(report, title), out / "equity.png"))
        if len(report.periods["monthly"]):
            paths.append(save_png(monthly_heatmap(report, title), out / "monthly_returns.png"))
        if report.no_trades:
            return paths
        r = pd.to_numeric(result.trades["r_multiple"]).to_numpy(dtype=np.float64)
        if np.isfinite(r).any():
            paths.append(save_png(r_histogram(r, title), out / "r_multiples.png"))
        tags = report.breakdowns["tag"]
        if len(tags):
            paths.append(save_png(tag_expectancy(tags, title), out / "tag_expectancy.png"))
        if not ohlc:
            return paths
        if trade_lines is None:
            trade_lines = trade_paths(result, ohlc, signals)
        if window is not None:
            paths.extend(
                _window_charts(result, ohlc, signals, window, out, indicators, trade_lines)
            )
            return paths
        sig_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for label, trade in _pick_trades(result.trades, n_best, n_worst):
            symbol = str(trade["symbol"])
            if symbol not in ohlc:
                continue
            bars = ohlc[symbol]
            if symbol not in sig_cache:
                sig_cache[symbol] = _signals_of(signals, trade_lines, symbol, bars)
            fig = trade_chart(
                bars, trade, result.legs, sig_cache[symbol], label,
                indicators=indicators.get(symbol), paths=trade_lines.of([trade["trade_id"]]),
            )  # fmt: skip
            name = f"trade_{label.replace(' ', '_')}_{int(trade['trade_id'])}.png"
            paths.append(save_png(fig, out / name))
    return paths
