"""Write a `BacktestResult` as ``trades.csv``, ``legs.csv``, ``equity.csv`` and ``run.json``.

Times are ISO-8601 UTC (``2019-01-02T10:05:00Z``); floats use Python's shortest repr so the
bytes depend only on the values (a parallel run writes the same files as a serial one).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from tradeforge.backtest.result import RUN_SCHEMA_VERSION, BacktestResult
from tradeforge.core.atomic import atomic_write_bytes

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _iso(values: Any) -> Any:
    index = pd.DatetimeIndex(values)
    if len(index) == 0:  # an empty column carries no time zone
        return pd.Index([], dtype=str)
    return index.tz_convert("UTC").strftime(_TIME_FORMAT)


def _csv_frame(frame: pd.DataFrame, time_columns: tuple[str, ...]) -> pd.DataFrame:
    out = frame.copy()
    for col in time_columns:
        if col in out.columns:
            out[col] = _iso(out[col])
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str)
    return out


def execution_notes(config: dict[str, Any]) -> list[str]:
    """Human-readable notes on the cost model (says so when every cost is zero)."""
    ex = config.get("execution", {})
    zero_spread = ex.get("spread") not in ("data",) and float(ex.get("spread", 0) or 0) == 0
    free = (
        ex.get("slippage", "none") == "none" or float(ex.get("slippage_value", 0)) == 0
    ) and float(ex.get("commission", 0)) == 0
    no_swap = float(ex.get("swap_long", 0)) == 0 and float(ex.get("swap_short", 0)) == 0
    notes = []
    if ex.get("spread") == "data":
        notes.append("spread: from the data's spread column (zero where absent)")
    elif zero_spread:
        notes.append("spread: zero")
    if free and no_swap:
        notes.append("slippage, commission and swap: zero (defaults)")
    return notes


def run_summary(result: BacktestResult) -> dict[str, Any]:
    trades = result.trades
    final = float(result.equity["equity"].iloc[-1]) if len(result.equity) else math.nan
    return {
        "trades": len(trades),
        "net_pnl": float(trades["pnl"].sum()) if len(trades) else 0.0,
        "final_equity": final,
        "win_rate": float((trades["pnl"] > 0).mean()) if len(trades) else math.nan,
        "mean_r": float(trades["r_multiple"].mean()) if len(trades) else math.nan,
    }


def _csv_bytes(frame: pd.DataFrame, index: bool) -> bytes:
    return frame.to_csv(index=index, lineterminator="\n").encode("utf-8")


def write_result(result: BacktestResult, out: str | Path) -> dict[str, Path]:
    """Write the run folder (the four files, each atomically) into ``out``; returns their paths.

    `tradeforge.analytics.load_run` reads it back."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "trades": out / "trades.csv",
        "legs": out / "legs.csv",
        "equity": out / "equity.csv",
        "run": out / "run.json",
    }
    trades = _csv_frame(result.trades, ("signal_time", "entry_time", "exit_time"))
    atomic_write_bytes(paths["trades"], _csv_bytes(trades, index=False), durable=False)
    legs = _csv_frame(result.legs, ("time",))
    atomic_write_bytes(paths["legs"], _csv_bytes(legs, index=False), durable=False)
    equity = result.equity.copy()
    equity.index = _iso(equity.index)
    equity.index.name = "time"
    atomic_write_bytes(paths["equity"], _csv_bytes(equity, index=True), durable=False)
    meta = {
        "schema_version": RUN_SCHEMA_VERSION,
        "config": result.config,
        "counters": result.counters,
        "checksums": result.checksums,
        "initial_capital": result.initial_capital,
        "summary": run_summary(result),
        "notes": execution_notes(result.config),
    }
    text = json.dumps(meta, indent=2, default=_json_default, allow_nan=True) + "\n"
    atomic_write_bytes(paths["run"], text.encode("utf-8"), durable=False)
    return paths


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return str(value)
