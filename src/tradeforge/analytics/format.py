"""Human formatting of report values, shared by the console, text, HTML and compare views."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

MISSING = "—"

#: section -> [(key, label, kind)] for the key-metrics tables, in display order.
KEY_METRICS: dict[str, list[tuple[str, str, str]]] = {
    "returns": [
        ("net_profit", "Net profit", "money"),
        ("return_pct", "Return", "pct"),
        ("cagr_pct", "CAGR", "pct"),
        ("sharpe", "Sharpe", "ratio"),
        ("sortino", "Sortino", "ratio"),
        ("calmar", "Calmar", "ratio"),
        ("volatility_ann_pct", "Volatility (ann.)", "pct"),
        ("exposure_pct", "Exposure", "pct"),
        ("initial_capital", "Initial capital", "money"),
        ("final_equity", "Final equity", "money"),
        ("trading_days", "Trading days", "int"),
    ],
    "drawdown": [
        ("max_drawdown", "Max drawdown", "money"),
        ("max_drawdown_pct", "Max drawdown %", "pct"),
        ("peak_time", "DD peak", "time"),
        ("trough_time", "DD trough", "time"),
        ("recovery_time", "DD recovery", "time"),
        ("duration_s", "DD duration", "duration"),
        ("longest_underwater_s", "Longest under water", "duration"),
    ],
    "trades": [
        ("trades", "Trades", "int"),
        ("trades_per_day", "Trades / day", "ratio"),
        ("win_rate_pct", "Win rate", "pct"),
        ("avg_win", "Avg win", "money"),
        ("avg_loss", "Avg loss", "money"),
        ("payoff_ratio", "Payoff ratio", "ratio"),
        ("profit_factor", "Profit factor", "ratio"),
        ("expectancy", "Expectancy", "money"),
        ("expectancy_r", "Expectancy (R)", "r"),
        ("sqn", "SQN", "ratio"),
        ("largest_win", "Largest win", "money"),
        ("largest_loss", "Largest loss", "money"),
        ("max_win_streak", "Max win streak", "int"),
        ("max_loss_streak", "Max loss streak", "int"),
        ("avg_holding_s", "Avg holding time", "duration"),
        ("commission", "Commission", "money"),
    ],
}

SECTION_TITLES = {"returns": "Returns", "drawdown": "Drawdown", "trades": "Trades"}

#: column -> (header, kind) for breakdown / stability / period tables.
COLUMN_FORMATS: dict[str, tuple[str, str]] = {
    "trades": ("Trades", "int"),
    "win_rate_pct": ("Win %", "pct"),
    "net_profit": ("Net profit", "money"),
    "gross_profit": ("Gross profit", "money"),
    "gross_loss": ("Gross loss", "money"),
    "profit_factor": ("PF", "ratio"),
    "expectancy": ("Expect.", "money"),
    "expectancy_r": ("Exp. R", "r"),
    "avg_bars_held": ("Bars", "ratio"),
    "return_pct": ("Return", "pct"),
    "max_drawdown_pct": ("Max DD", "pct"),
    "start": ("Start", "date"),
    "end": ("End", "date"),
    "start_equity": ("Start equity", "money"),
    "end_equity": ("End equity", "money"),
    "year": ("Year", "text"),
    "month": ("Month", "text"),
    "window": ("Window", "text"),
    "symbol": ("Symbol", "text"),
    "tag": ("Tag", "text"),
    "side": ("Side", "text"),
    "exit_reason": ("Exit", "text"),
}

#: columns shown in breakdown tables (the group column comes first).
BREAKDOWN_VIEW: tuple[str, ...] = (
    "trades",
    "win_rate_pct",
    "net_profit",
    "profit_factor",
    "expectancy",
    "expectancy_r",
    "avg_bars_held",
)


def _missing(v: Any) -> bool:
    if v is None or v is pd.NaT:
        return True
    return isinstance(v, float) and not math.isfinite(v)


def duration(seconds: float) -> str:
    """``3d 04:05`` / ``04:05:00`` style durations."""
    s = int(round(seconds))
    days, rem = divmod(s, 86_400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if days:
        return f"{days}d {h:02d}:{m:02d}"
    return f"{h:02d}:{m:02d}:{sec:02d}"


def fmt(value: Any, kind: str) -> str:
    """One value as display text; undefined values become an em dash."""
    if _missing(value):
        return MISSING
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "pct":
        return f"{value:,.2f}%"
    if kind == "ratio":
        return f"{value:,.2f}"
    if kind == "r":
        return f"{value:+.3f}R"
    if kind == "int":
        return f"{int(value):,d}"
    if kind == "duration":
        return duration(float(value))
    if kind == "time":
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
    if kind == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    return str(value)


def sign(value: Any) -> int:
    """-1, 0 or +1 for colouring (0 for missing)."""
    if _missing(value) or not isinstance(value, (int, float)):
        return 0
    return (value > 0) - (value < 0)


#: unverified trade ids `trade_paths_line` names before it only counts the rest
SHOWN_UNVERIFIED = 10


def trade_paths_line(tally: Mapping[str, Any] | None) -> str:
    """The line "Trade paths: K of N trades verified", with the ids not reproduced and the
    trades not checked, of a report's ``trade_paths`` (`TradePaths.tally`); "" without a check."""
    if not tally or not tally["trades"]:
        return ""
    line = f"Trade paths: {tally['verified']:,} of {tally['trades']:,} trades verified"
    notes = []
    ids = tally["unverified"]
    if ids:
        shown = ", ".join(f"#{i}" for i in ids[:SHOWN_UNVERIFIED])
        more = len(ids) - SHOWN_UNVERIFIED
        notes.append(f"not reproduced: {shown}" + (f" and {more:,} more" if more > 0 else ""))
    unchecked = tally["trades"] - tally["checked"]
    if unchecked:
        notes.append(f"{unchecked:,} not checked: no bars or no strategy to replay")
    return line + (f" ({'; '.join(notes)})" if notes else "")
