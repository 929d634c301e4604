"""The documented, versioned schema of ``report.json``.

Encoding rules (``schema_version`` 1):

* UTF-8 JSON, keys in the fixed order of this document (not sorted), 2-space indent.
* No NaN or infinity: an undefined value (a ratio with a zero denominator, a statistic of
  an empty set) is ``null``.
* Times are ISO-8601 UTC strings ending in ``Z`` (``2024-03-01T10:05:00Z``); durations are
  seconds (``*_s``); percentages are in percent (``*_pct``: 12.5 means 12.5 %); money is in
  the account (quote) currency; R values are multiples of the initial risk.
* Tables are lists of row objects whose keys follow the column order given here.

Bump `SCHEMA_VERSION` whenever a key is renamed or removed or its meaning changes; adding a
key is backwards compatible and needs no bump.
"""

from __future__ import annotations

SCHEMA_VERSION = 1
KIND = "tradeforge.report"

#: Top level. ``status`` is "ok" or "no trades".
TOP_LEVEL: tuple[str, ...] = (
    "schema_version",
    "kind",
    "status",
    "run",
    "summary",
    "breakdowns",
    "periods",
    "stability",
    "series",
    "trade_paths",
)

RUN_FIELDS: dict[str, str] = {
    "symbols": "symbols traded (sorted)",
    "tags": "strategy tags seen in the trades (sorted)",
    "start": "first equity bar (open time)",
    "end": "last equity bar (open time)",
    "bars": "number of equity bars",
    "initial_capital": "starting balance",
    "counters": "backtest counters (signals, filled, expired, …) as recorded by the run",
    "config": "the run configuration as recorded by the run",
    "checksums": "data checksums per symbol/timeframe as recorded by the run",
}

#: summary.<section>.<key> -> meaning. See `tradeforge.analytics.metrics` and `.drawdown`.
SUMMARY_FIELDS: dict[str, dict[str, str]] = {
    "returns": {
        "initial_capital": "starting balance",
        "final_equity": "equity at the last bar close",
        "net_profit": "final_equity - initial_capital",
        "return_pct": "net_profit / initial_capital",
        "start": "first equity bar",
        "end": "last equity bar",
        "trading_days": "Mon-Fri UTC days with bars (weekend bars fold into Monday)",
        "years": "calendar years between start and end (365.25-day years)",
        "cagr_pct": "compound annual growth rate",
        "sharpe": "annualised Sharpe ratio of daily returns, risk-free rate 0",
        "sortino": "annualised Sortino ratio of daily returns (downside deviation, target 0)",
        "calmar": "CAGR / |max_drawdown_pct|",
        "volatility_ann_pct": "annualised standard deviation of daily returns",
        "exposure_pct": "share of bars with at least one open position",
        "periods_per_year": "annualisation factor for daily statistics (default 260)",
    },
    "drawdown": {
        "max_drawdown": "deepest equity - running peak, money (<= 0)",
        "max_drawdown_pct": "deepest drawdown in percent of the running peak (<= 0)",
        "peak_time": "start of the deepest % drawdown: last bar at the peak before the trough",
        "trough_time": "bar of the deepest % drawdown",
        "recovery_time": "first bar back at the peak (null: not recovered)",
        "recovered": "whether the deepest drawdown recovered",
        "duration_s": "peak_time to recovery_time (or to the last bar)",
        "longest_underwater_s": "longest time between a bar at the peak and the next one",
        "longest_underwater_start": "start of that span",
        "longest_underwater_end": "end of that span",
    },
    "trades": {
        "trades": "number of trades",
        "wins": "trades with pnl > 0",
        "losses": "trades with pnl < 0",
        "breakeven": "trades with pnl == 0",
        "trades_per_day": "trades / trading_days",
        "win_rate_pct": "wins / trades",
        "gross_profit": "sum of winning pnl",
        "gross_loss": "sum of losing pnl (<= 0)",
        "net_profit": "sum of trade pnl",
        "commission": "total commission paid",
        "avg_win": "mean pnl of wins",
        "avg_loss": "mean pnl of losses (< 0)",
        "payoff_ratio": "avg_win / |avg_loss|",
        "profit_factor": "gross_profit / |gross_loss|",
        "expectancy": "mean pnl per trade",
        "expectancy_r": "mean R multiple (trades with a finite R)",
        "avg_win_r": "mean R of trades with R > 0",
        "avg_loss_r": "mean R of trades with R < 0",
        "r_trades": "trades with a finite R multiple",
        "sqn": "sqrt(min(N, 100)) * mean(R) / std(R) (Van Tharp)",
        "largest_win": "largest trade pnl",
        "largest_loss": "smallest trade pnl",
        "max_win_streak": "longest run of consecutive wins (exit order)",
        "max_loss_streak": "longest run of consecutive losses (exit order)",
        "avg_holding_s": "mean exit_time - entry_time",
        "avg_bars_held": "mean bars from entry bar to exit bar",
    },
}

#: breakdowns.<name>: rows with the group column <name> then these columns.
BREAKDOWN_FIELDS: dict[str, str] = {
    "trades": "trades in the group",
    "win_rate_pct": "wins / trades",
    "net_profit": "sum of pnl",
    "gross_profit": "sum of winning pnl",
    "gross_loss": "sum of losing pnl",
    "profit_factor": "gross_profit / |gross_loss|",
    "expectancy": "mean pnl",
    "expectancy_r": "mean R",
    "avg_bars_held": "mean bars held",
}
BREAKDOWN_NAMES: tuple[str, ...] = ("symbol", "tag", "side", "exit_reason", "month", "year")

#: periods.monthly rows: year, month, start_equity, end_equity, net_profit, return_pct;
#: periods.yearly rows: year, start_equity, end_equity, net_profit, return_pct.
PERIOD_NAMES: tuple[str, ...] = ("monthly", "yearly")

#: stability.equal (N equal windows) and stability.yearly (calendar years), each null or:
STABILITY_FIELDS: dict[str, str] = {
    "mode": "'equal' or 'year'",
    "windows": "number of windows",
    "profitable_windows": "windows whose closed trades netted > 0",
    "profitable_share_pct": "profitable_windows / windows",
    "expectancy_mean": "mean of per-window expectancy",
    "expectancy_std": "sample std of per-window expectancy",
    "expectancy_cv": "expectancy_std / |expectancy_mean|",
    "expectancy_r_mean": "mean of per-window expectancy_r",
    "expectancy_r_std": "sample std of per-window expectancy_r",
    "expectancy_r_cv": "expectancy_r_std / |expectancy_r_mean|",
    "table": "rows: window, start, end, breakdown columns, return_pct, max_drawdown_pct",
}

#: series.daily: columnar arrays ``date`` (YYYY-MM-DD trading day), ``equity`` (close of the
#: day's last bar) and ``drawdown_pct`` (at that bar).
SERIES_NAMES: tuple[str, ...] = ("daily",)

#: trade_paths: null when the report was built without checking the trades' paths on bars
#: (`build_report` alone), else (`write_report`; see `tradeforge.analytics.tradepath`):
TRADE_PATHS_FIELDS: dict[str, str] = {
    "trades": "number of trades",
    "checked": "trades whose symbol's bars were at hand to replay them on",
    "verified": "checked trades whose replay through the backtest's rules reproduced every "
    "recorded leg (bar, reason, size, price within half a tick)",
    "unverified": "ids of the checked trades that were not verified (sorted)",
}
