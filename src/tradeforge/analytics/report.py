"""`build_report`: every metric and table of a `BacktestResult` (no charts, no I/O)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.analytics._data import NO_LABEL, Equity, equity_of, trades_of, ts
from tradeforge.analytics.breakdowns import breakdown_tables, period_returns
from tradeforge.analytics.drawdown import DrawdownSeries, drawdown_series, drawdown_stats
from tradeforge.analytics.metrics import (
    DEFAULT_PERIODS_PER_YEAR,
    return_metrics,
    trade_metrics,
)
from tradeforge.analytics.schema import KIND, SCHEMA_VERSION
from tradeforge.analytics.stability import stability
from tradeforge.trading.result import BacktestResult

NO_TRADES = "no trades"


@dataclass
class Report:
    """All metrics and tables of one run. ``to_dict`` gives the JSON document (see `schema`)."""

    run: dict[str, Any]
    summary: dict[str, dict[str, Any]]
    breakdowns: dict[str, pd.DataFrame]
    periods: dict[str, pd.DataFrame]
    stability: dict[str, dict[str, Any] | None]
    daily: pd.DataFrame  # date (UTC day), equity, drawdown_pct
    drawdown: DrawdownSeries = field(repr=False)  # bar-level, for charts
    #: `TradePaths.tally` of the written report (`write_report` checks the trades' paths on
    #: the bars); None when no check was made
    trade_paths: dict[str, Any] | None = None

    @property
    def no_trades(self) -> bool:
        return self.summary["trades"]["trades"] == 0

    @property
    def strategy_label(self) -> str:
        """``name(k=v, …)`` of the run's strategy ("" when the run does not record one)."""
        strategy = (self.run.get("config") or {}).get("strategy")
        if isinstance(strategy, dict) and "name" in strategy:
            params = ", ".join(f"{k}={v}" for k, v in (strategy.get("params") or {}).items())
            return f"{strategy['name']}({params})"
        return str(strategy) if strategy else ""

    @property
    def status(self) -> str:
        return NO_TRADES if self.no_trades else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": KIND,
            "status": self.status,
            "run": jsonable(self.run),
            "summary": jsonable(self.summary),
            "breakdowns": jsonable(self.breakdowns),
            "periods": jsonable(self.periods),
            "stability": jsonable(self.stability),
            "series": {"daily": jsonable(self.daily.to_dict(orient="list"))},
            "trade_paths": jsonable(self.trade_paths),
        }

    def _repr_html_(self) -> str:
        """The notebook view: title, run line and key metric tables, and the daily equity
        and drawdown (interactive, `notebook_html`)."""
        from tradeforge.analytics.interactive import daily_figure
        from tradeforge.analytics.writers import notebook_html

        return notebook_html(self, daily_figure(self), height=480)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def iso(t: pd.Timestamp) -> str:
    """ISO-8601 UTC with a ``Z`` suffix."""
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.isoformat().replace("+00:00", "Z")


def jsonable(x: Any) -> Any:
    """A JSON-safe copy: NaN/inf -> None, numpy scalars -> Python, times -> ISO UTC strings."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, pd.DataFrame):
        cols = list(x.columns)
        values = [x[c].tolist() for c in cols]
        return [
            {c: jsonable(v) for c, v in zip(cols, row, strict=True)}
            for row in zip(*values, strict=True)
        ]
    if isinstance(x, (list, tuple, np.ndarray, pd.Series, pd.Index)):
        return [jsonable(v) for v in list(x)]
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return f if math.isfinite(f) else None
    if isinstance(x, pd.Timestamp):
        return None if x is pd.NaT else iso(x)
    if x is pd.NaT:
        return None
    if isinstance(x, pd.Timedelta):
        return x.total_seconds()
    if isinstance(x, Path):
        return str(x)
    return str(x)


def _daily_frame(eq: Equity, dd: DrawdownSeries) -> pd.DataFrame:
    days, last = eq.daily
    dates = days.astype("datetime64[D]").astype(str).astype(object)
    return pd.DataFrame({"date": dates, "equity": eq.equity[last], "drawdown_pct": dd.pct[last]})


def _summary(tr, eq, initial: float, periods_per_year: float):
    """The key metrics (returns, drawdown, trades) and the drawdown series they came from."""
    dd = drawdown_series(eq, initial)
    dd_stats = drawdown_stats(dd)
    returns = return_metrics(eq, initial, dd_stats["max_drawdown_pct"], periods_per_year)
    trades = trade_metrics(tr, returns["trading_days"])
    return {"returns": returns, "drawdown": dd_stats, "trades": trades}, dd


def build_summary(
    result: BacktestResult, *, periods_per_year: float = DEFAULT_PERIODS_PER_YEAR
) -> dict[str, dict]:
    """``build_report(result).summary`` without the tables: what a parameter search reads."""
    summary, _ = _summary(
        trades_of(result), equity_of(result), float(result.initial_capital), periods_per_year
    )
    return summary


def build_report(
    result: BacktestResult,
    *,
    periods_per_year: float = DEFAULT_PERIODS_PER_YEAR,
    windows: int = 4,
) -> Report:
    """Compute every metric and table (vectorized; no charts, no files).

    ``windows`` is the number of equal windows of the stability section (calendar years are
    always reported too).
    """
    initial = float(result.initial_capital)
    tr = trades_of(result)
    eq = equity_of(result)
    summary, dd = _summary(tr, eq, initial, periods_per_year)
    run = {
        "symbols": [s for s in tr.codes("symbol")[1] if s != NO_LABEL] if tr.n else [],
        "tags": [t for t in tr.codes("tag")[1] if t != NO_LABEL] if tr.n else [],
        "start": ts(eq.t[0]) if eq.n else None,
        "end": ts(eq.t[-1]) if eq.n else None,
        "bars": eq.n,
        "initial_capital": initial,
        "counters": dict(result.counters),
        "config": dict(result.config),
        "checksums": dict(result.checksums),
    }
    return Report(
        run=run,
        summary=summary,
        breakdowns=breakdown_tables(tr),
        periods=period_returns(eq, initial),
        stability={
            "equal": stability(tr, eq, initial, windows),
            "yearly": stability(tr, eq, initial, None),
        },
        daily=_daily_frame(eq, dd),
        drawdown=dd,
    )
