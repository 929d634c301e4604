"""`BacktestRun`: a finished backtest with its stats, tables, report and chart."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from tradeforge.analytics import Report, build_report, write_report
from tradeforge.analytics.console import header_line
from tradeforge.analytics.format import KEY_METRICS, fmt
from tradeforge.backtest import BacktestResult, write_result
from tradeforge.core.paths import user_path
from tradeforge.research.evaluate import flat_metrics

if TYPE_CHECKING:
    from bokeh.models import LayoutDOM

#: the stats `repr` shows, in order
REPR_STATS = (
    "net_profit",
    "return_pct",
    "cagr_pct",
    "sharpe",
    "sortino",
    "max_drawdown_pct",
    "exposure_pct",
    "trades",
    "win_rate_pct",
    "profit_factor",
    "expectancy",
    "expectancy_r",
    "sqn",
)
_LABELS = {key: (label, kind) for rows in KEY_METRICS.values() for key, label, kind in rows}


class BacktestRun:
    """The outcome of `Backtest.run`: ``result`` (the library's `BacktestResult`) and the
    ``bars`` it ran on (for the report's candlestick charts)."""

    def __init__(self, result: BacktestResult, bars: Mapping[str, pd.DataFrame]) -> None:
        self.result = result
        self.bars = dict(bars)

    @property
    def trades(self) -> pd.DataFrame:
        """One row per trade (columns: `tradeforge.trading.TRADE_COLUMNS`)."""
        return self.result.trades

    @property
    def legs(self) -> pd.DataFrame:
        """One row per partial or final exit."""
        return self.result.legs

    @property
    def equity(self) -> pd.DataFrame:
        """Equity, balance and open positions at every bar close."""
        return self.result.equity

    @property
    def counters(self) -> dict[str, int]:
        """Signals, fills, de-duplicated and expired orders …"""
        return self.result.counters

    @cached_property
    def _report(self) -> Report:
        return build_report(self.result)

    @cached_property
    def stats(self) -> pd.Series:
        """Every numeric summary metric of the report by name (``net_profit``, ``return_pct``,
        ``cagr_pct``, ``sharpe``, ``sortino``, ``max_drawdown_pct``, ``win_rate_pct``,
        ``profit_factor``, ``expectancy``, ``expectancy_r``, ``sqn``, ``trades``,
        ``exposure_pct`` …; see `tradeforge.analytics.schema`); NaN where undefined."""
        return pd.Series(flat_metrics(self._report), name=self._report.strategy_label or None)

    def report(self, out: str | Path | None = None) -> Report:
        """The full report (every metric and table). With ``out``, also write the run folder
        as the ``tradeforge backtest`` command does: trades/legs/equity CSVs, ``run.json``,
        ``report.json``/``.txt``/``.html`` and ``charts/``."""
        if out is not None:
            folder = user_path(out)
            write_result(self.result, folder)
            write_report(
                self.result, folder, ohlc=self.bars, signals=self.result.signals,
                report=self._report,
            )  # fmt: skip
        return self._report

    def figure(self) -> LayoutDOM:
        """The interactive figure of ``report.html`` (a new Bokeh layout each call): candles
        with the strategy's indicators, each trade's entries, exits, stops and targets, the
        signals, equity and drawdown on one time axis, the trade table, R histogram, monthly
        returns and the P&L per tag and symbol."""
        from bokeh.layouts import column

        from tradeforge.analytics.interactive import report_models

        models = report_models(self._report, self.result, self.bars, *self._chart_lines)
        return column(*models.values(), sizing_mode="stretch_width")

    @cached_property
    def _chart_lines(self) -> tuple:
        """The strategy's indicators and the trades' stop/target paths (computed once, on
        one computation of the strategy's features)."""
        from tradeforge.analytics.indicators import strategy_features, strategy_indicators
        from tradeforge.analytics.tradepath import trade_paths

        config = self.result.config
        features = strategy_features(config, self.bars)
        return (
            strategy_indicators(config, self.bars, features),
            trade_paths(self.result, self.bars, self.result.signals, features),
        )

    def plot(self, path: str | Path | None = None) -> LayoutDOM:
        """Show `figure` inline when running under IPython/Jupyter (`bokeh.io.show` after
        ``output_notebook``) and return it; with ``path``, also write it as a self-contained
        offline HTML page there."""
        fig = self.figure()
        if path is not None:
            from tradeforge.analytics.writers import standalone_page
            from tradeforge.core.atomic import atomic_write_bytes

            page = standalone_page(f"tradeforge — {header_line(self._report)}", [fig])
            atomic_write_bytes(user_path(path), page.encode("utf-8"), durable=False)
            fig = self.figure()  # a model lives in one document: a fresh one to show
        if _in_ipython():
            from bokeh.io import output_notebook, show

            output_notebook(hide_banner=True)
            show(fig)
        return fig

    def _repr_html_(self) -> str:
        """The notebook view: the report's title, run line and key metric tables, then
        `figure` (`tradeforge.analytics.writers.notebook_html`)."""
        from tradeforge.analytics.writers import notebook_html

        return notebook_html(self._report, self.figure())

    def __repr__(self) -> str:
        stats = self.stats
        rows = [f"{_LABELS[k][0]:<16}{fmt(stats[k], _LABELS[k][1]):>14}" for k in REPR_STATS]
        return "\n  ".join([f"<BacktestRun {header_line(self._report)}", *rows]) + ">"


def _in_ipython() -> bool:
    """Whether an IPython shell (a notebook kernel) runs this code; never imports IPython."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None
