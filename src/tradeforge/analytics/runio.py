"""The run folder on disk: ``trades.csv``, ``legs.csv``, ``equity.csv`` and ``run.json``.

``run.json`` holds ``schema_version`` (`RUN_SCHEMA_VERSION`), ``initial_capital``, and the
``config``, ``counters`` and ``checksums`` of the `BacktestResult`. The CSVs have the columns of
`TRADE_COLUMNS` / `LEG_COLUMNS` and ``time`` + `EQUITY_COLUMNS`; times are UTC with an explicit
offset; floats are written with full (round-trip) precision.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tradeforge.core.errors import DataError
from tradeforge.core.paths import user_path
from tradeforge.trading.result import (
    EQUITY_COLUMNS,
    LEG_COLUMNS,
    RUN_FILES,
    RUN_SCHEMA_VERSION,
    TRADE_COLUMNS,
    BacktestResult,
)

_TRADE_TIMES = ("signal_time", "entry_time", "exit_time")
_TRADE_INTS = ("trade_id", "bars_held")
_STRINGS = ("symbol", "tag", "side", "exit_reason", "reason")


class RunFolderError(DataError):
    """A run folder is missing files, has another schema version or malformed content."""


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame({c: [] for c in columns})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise RunFolderError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RunFolderError(f"{path} lacks columns {missing}")
    return frame


def _times(frame: pd.DataFrame, col: str, path: Path) -> pd.Series:
    try:
        return pd.to_datetime(frame[col], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise RunFolderError(f"{path}: column {col!r} has unparseable times: {exc}") from exc


def _numeric(frame: pd.DataFrame, path: Path, skip: tuple[str, ...]) -> None:
    for col in frame.columns:
        if col in skip:
            continue
        try:
            frame[col] = pd.to_numeric(frame[col])
        except (ValueError, TypeError) as exc:
            raise RunFolderError(f"{path}: column {col!r} is not numeric: {exc}") from exc


def load_run(run_dir: str | Path) -> BacktestResult:
    """Read a run folder back into a `BacktestResult`.

    Raises `RunFolderError` naming the missing files, an unsupported ``schema_version`` or
    the malformed file/column.
    """
    root = user_path(run_dir)
    if not root.is_dir():
        raise RunFolderError(f"run folder {root} does not exist")
    missing = [name for name in RUN_FILES if not (root / name).is_file()]
    if missing:
        raise RunFolderError(f"run folder {root} is missing {', '.join(missing)}")
    meta_path = root / "run.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"cannot read {meta_path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise RunFolderError(f"{meta_path} is not a JSON object")
    version = meta.get("schema_version")
    if version != RUN_SCHEMA_VERSION:
        raise RunFolderError(
            f"{meta_path} has schema_version {version!r}; this tradeforge reads "
            f"schema_version {RUN_SCHEMA_VERSION} (re-run the backtest to regenerate it)"
        )
    try:
        initial = float(meta["initial_capital"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunFolderError(f"{meta_path} lacks a numeric initial_capital") from exc

    t_path, l_path, e_path = (root / n for n in RUN_FILES[:3])
    trades = _read_csv(t_path, TRADE_COLUMNS)[list(TRADE_COLUMNS)]
    for col in _TRADE_TIMES:
        trades[col] = _times(trades, col, t_path)
    _numeric(trades, t_path, _TRADE_TIMES + _STRINGS)
    for col in _TRADE_INTS:
        if len(trades) and trades[col].notna().all():
            trades[col] = trades[col].astype("int64")
    for col in ("symbol", "tag", "side", "exit_reason"):
        trades[col] = trades[col].fillna("").astype(str)

    legs = _read_csv(l_path, LEG_COLUMNS)[list(LEG_COLUMNS)]
    legs["time"] = _times(legs, "time", l_path)
    _numeric(legs, l_path, ("time", *_STRINGS))
    for col in ("symbol", "tag", "side", "reason"):
        legs[col] = legs[col].fillna("").astype(str)

    equity = _read_csv(e_path, ("time", *EQUITY_COLUMNS))
    index = pd.DatetimeIndex(_times(equity, "time", e_path), name="time")
    equity = equity[list(EQUITY_COLUMNS)].set_axis(index)
    _numeric(equity, e_path, ())
    if not index.is_monotonic_increasing:
        raise RunFolderError(f"{e_path}: times are not sorted")
    return BacktestResult(
        trades=trades,
        legs=legs,
        equity=equity,
        initial_capital=initial,
        counters=dict(meta.get("counters") or {}),
        config=dict(meta.get("config") or {}),
        checksums=dict(meta.get("checksums") or {}),
    )
