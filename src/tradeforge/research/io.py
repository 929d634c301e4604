"""Reading run folders and trade files; writing research JSON documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from tradeforge.analytics.report import jsonable
from tradeforge.backtest import BacktestResult
from tradeforge.core.errors import DataError
from tradeforge.core.paths import user_path

#: Keys holding chart data only (large arrays/series); left out of the JSON documents.
CHART_ONLY = frozenset({"samples", "r", "curve", "curves"})
_TRADE_TIMES = ("signal_time", "entry_time", "exit_time")


def _strip(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k not in CHART_ONLY}
    if isinstance(doc, (list, tuple)):
        return [_strip(v) for v in doc]
    return doc


def write_json(path: str | Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` as UTF-8 JSON (NaN -> null, times ISO UTC, frames as row lists)."""
    path = user_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(jsonable(_strip(doc)), indent=2, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _read_times(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    for col in columns:
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def load_trades(path: str | Path) -> pd.DataFrame:
    """Trades from a run folder (``trades.csv``), a ``.csv`` or a ``.parquet`` file."""
    path = user_path(path)
    if path.is_dir():
        path = path / "trades.csv"
    if not path.exists():
        raise DataError(f"trade file not found: {path}")
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read trades from {path}: {exc}") from exc
    return _read_times(frame, _TRADE_TIMES)


def load_result(run_dir: str | Path) -> BacktestResult:
    """A `BacktestResult` from a folder written by ``tradeforge backtest``."""
    from tradeforge.analytics import load_run

    return load_run(run_dir)


def run_data_spec(result: BacktestResult) -> dict[str, Any]:
    """Symbols, timeframe and date range recorded by a run (to reload its bars)."""
    cfg = result.config or {}
    return {
        "symbols": list(cfg.get("symbols") or []),
        "timeframe": cfg.get("timeframe"),
        "start": cfg.get("start"),
        "end": cfg.get("end"),
    }
