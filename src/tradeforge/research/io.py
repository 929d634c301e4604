"""Reading run folders and trade files; writing research JSON documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.analytics.report import jsonable
from tradeforge.backtest import BacktestResult
from tradeforge.backtest.result import EQUITY_COLUMNS, LEG_COLUMNS
from tradeforge.core.errors import DataError

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
    path = Path(path)
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
    path = Path(path)
    if path.is_dir():
        path = path / "trades.csv"
    if not path.exists():
        raise DataError(f"trade file not found: {path}")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read trades from {path}: {exc}") from exc
    return _read_times(frame, _TRADE_TIMES)


def load_result(run_dir: str | Path) -> BacktestResult:
    """A `BacktestResult` from a folder written by ``tradeforge backtest``."""
    run_dir = Path(run_dir)
    try:  # the reporting layer's loader is the reference reader of run folders
        from tradeforge.analytics import RunFolderError, load_run
    except ImportError:  # pragma: no cover - partial install
        return _load_plain(run_dir)
    try:
        return load_run(run_dir)
    except RunFolderError as exc:
        # Folders written by `backtest.write_result` carry no schema_version yet; read them
        # with the plain reader instead of refusing them.
        if "schema_version None" not in str(exc):
            raise
        return _load_plain(run_dir)


def _load_plain(run_dir: Path) -> BacktestResult:
    if not (run_dir / "trades.csv").exists():
        raise DataError(f"{run_dir} is not a run folder (no trades.csv)")
    trades = load_trades(run_dir)
    legs_path = run_dir / "legs.csv"
    legs = (
        _read_times(pd.read_csv(legs_path), ("time",))
        if legs_path.exists()
        else pd.DataFrame({c: [] for c in LEG_COLUMNS})
    )
    eq_path = run_dir / "equity.csv"
    meta_path = run_dir / "run.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    capital = float(meta.get("initial_capital", 100_000.0))
    if eq_path.exists():
        equity = pd.read_csv(eq_path, index_col=0)
        equity.index = pd.DatetimeIndex(pd.to_datetime(equity.index, utc=True), name="time")
    else:
        equity = pd.DataFrame(
            {c: np.array([]) for c in EQUITY_COLUMNS}, index=pd.DatetimeIndex([], tz="UTC")
        )
    return BacktestResult(
        trades=trades,
        legs=legs,
        equity=equity,
        initial_capital=capital,
        counters=meta.get("counters", {}),
        config=meta.get("config", {}),
        checksums=meta.get("checksums", {}),
    )


def run_data_spec(result: BacktestResult) -> dict[str, Any]:
    """Symbols, timeframe and date range recorded by a run (to reload its bars)."""
    cfg = result.config or {}
    return {
        "symbols": list(cfg.get("symbols") or []),
        "timeframe": cfg.get("timeframe"),
        "start": cfg.get("start"),
        "end": cfg.get("end"),
    }
