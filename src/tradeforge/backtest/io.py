"""Write a `BacktestResult` as ``trades.csv``, ``legs.csv``, ``equity.csv`` and ``run.json``.

Times are ISO-8601 UTC (``2019-01-02T10:05:00Z``); floats are written in their shortest
round-trip form and strings are quoted only when one needs it, so the bytes depend only on the values (a parallel run
writes the same files as a serial one). The CSVs are formatted by Arrow: a 736k-row equity
curve takes a fraction of a second, where pandas' writer takes seconds.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from tradeforge.core.atomic import atomic_write_bytes
from tradeforge.core.paths import user_path
from tradeforge.trading.result import (
    EQUITY_COLUMNS,
    LEG_COLUMNS,
    RUN_SCHEMA_VERSION,
    TRADE_COLUMNS,
    BacktestResult,
)
from tradeforge.trading.spec import RunSpec


def _iso(values: Any) -> pa.Array:
    """ISO-8601 UTC strings (``2019-01-02T10:05:00Z``) of tz-aware timestamps, vectorized."""
    index = pd.DatetimeIndex(values)
    if len(index) == 0:  # an empty column carries no time zone
        return pa.array([], type=pa.string())
    return iso_times(index.tz_convert("UTC").as_unit("ns").asi8)


def iso_times(ns: np.ndarray) -> pa.Array:
    """`_iso` of UTC times given as int64 nanoseconds."""
    seconds = ns // 1_000_000_000
    text = pa.array(seconds, type=pa.int64()).cast(pa.timestamp("s")).cast(pa.string())
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T"), "Z", "")


#: a string holding one of these is quoted (and then every string of the file is)
NEEDS_QUOTES = r'[,"\r\n]'


def needs_quotes(words: list[str]) -> bool:
    """Whether any of ``words`` needs quoting: the one choice of a file written in pieces
    (`tradeforge.backtest.stream`) for every name that may occur in it."""
    return bool(any(pd.Series(words, dtype=str).str.contains(NEEDS_QUOTES, regex=True)))


def _csv_bytes(
    frame: pd.DataFrame,
    time_columns: tuple[str, ...] = (),
    *,
    header: bool = True,
    quote: bool | None = None,
) -> bytes:
    """``frame`` as CSV bytes: time columns as ISO strings, categoricals as their labels.

    Strings are quoted (all of them) when one needs it; ``quote`` makes that choice for a
    file written in pieces (`tradeforge.backtest.stream`), which must make it once."""
    columns = _arrow_columns(frame, time_columns)
    rows = _csv_rows(columns, quote)
    return csv_header(columns) + rows if header else rows


def _arrow_columns(frame: pd.DataFrame, time_columns: tuple[str, ...]) -> dict[str, pa.Array]:
    """The columns `_csv_bytes` formats: time columns as ISO strings, categoricals as their
    labels, the rest as they are."""
    columns: dict[str, pa.Array] = {}
    for name in frame.columns:
        values = frame[name]
        if name in time_columns:
            columns[name] = _iso(values)
        elif isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
            columns[name] = pa.array(np.asarray(values.astype(str)), type=pa.string())
        else:
            columns[name] = pa.array(values.to_numpy())
    return columns


def _csv_rows(columns: dict[str, pa.Array], quote: bool | None) -> bytes:
    """The CSV rows (no header) of ``columns`` (`_csv_bytes`'s ``quote``)."""
    # Arrow's "needed" style quotes every string; quote only when a value requires it.
    needs_quotes = (
        quote
        if quote is not None
        else any(
            pc.any(pc.match_substring_regex(a, NEEDS_QUOTES)).as_py()
            for a in columns.values()
            if pa.types.is_string(a.type) and len(a)
        )
    )
    sink = pa.BufferOutputStream()
    options = pa_csv.WriteOptions(
        include_header=False, quoting_style="needed" if needs_quotes else "none"
    )
    pa_csv.write_csv(pa.table(columns), sink, options)
    return sink.getvalue().to_pybytes()


def csv_header(columns: Any) -> bytes:
    """The header line of a run CSV (our own column names: never need quotes)."""
    return (",".join(map(str, columns)) + "\n").encode()


def run_config(spec: RunSpec) -> dict[str, Any]:
    """``run.json``'s ``config``: the spec's `RunSpec.to_dict`, with ``instruments`` holding
    the instrument of every symbol (overridden or from the registry) as the run used it."""
    config = spec.to_dict()
    config["instruments"] = {s: spec.instrument(s).to_dict() for s in spec.symbols}
    return config


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


def run_summary(result: Any) -> dict[str, Any]:
    """The summary of ``result`` (its ``trades`` frame — ``pnl`` and ``r_multiple`` are
    read — and its ``equity`` curve)."""
    trades = result.trades
    final = float(result.equity["equity"].iloc[-1]) if len(result.equity) else math.nan
    return {
        "trades": len(trades),
        "net_pnl": float(trades["pnl"].sum()) if len(trades) else 0.0,
        "final_equity": final,
        "win_rate": float((trades["pnl"] > 0).mean()) if len(trades) else math.nan,
        "mean_r": float(trades["r_multiple"].mean()) if len(trades) else math.nan,
    }


TRADE_TIME_COLUMNS = ("signal_time", "entry_time", "exit_time")


class RunCsvs:
    """A run folder's trades.csv, legs.csv and equity.csv appended piece by piece (a streamed
    run), keeping what `run_summary` reads: the trades' P&L and R in id order, the last
    equity. ``quote``: `needs_quotes` of the run's words."""

    def __init__(self, out: Path, quote: bool) -> None:
        self.quote = quote
        self.files: dict[str, IO[bytes]] = {}
        for name, columns in (
            ("trades", TRADE_COLUMNS),
            ("legs", LEG_COLUMNS),
            ("equity", ("time", *EQUITY_COLUMNS)),
        ):
            self.files[name] = open(out / f"{name}.csv", "wb")  # noqa: SIM115 (closed in close)
            self.files[name].write(csv_header(columns))
        self.pnl: list[np.ndarray] = []
        self.r_multiple: list[np.ndarray] = []
        self.last_equity = np.nan

    def close(self) -> None:
        for f in self.files.values():
            f.close()

    def append(self, name: str, frame: pd.DataFrame, times: tuple[str, ...]) -> None:
        """Rows of table ``name`` (``times``: its time columns), after those written."""
        if len(frame):
            self.append_columns(name, _arrow_columns(frame, times))

    def append_columns(self, name: str, columns: dict[str, pa.Array]) -> None:
        """Rows of table ``name`` as the Arrow columns `_csv_bytes` would format (times as
        ISO strings, categoricals as labels), after those written; trades in run id order."""
        quote = self.quote and name != "equity"  # the curve has no strings but ISO times
        self.files[name].write(_csv_rows(columns, quote))
        if name == "trades":
            self.pnl.append(columns["pnl"].to_numpy())
            self.r_multiple.append(columns["r_multiple"].to_numpy())

    def append_trades(self, trades: pd.DataFrame) -> None:
        """Trades in run id order, after those written."""
        self.append("trades", trades, TRADE_TIME_COLUMNS)

    def summary(self) -> dict[str, Any]:
        """`run_summary` of the written run."""
        trades = pd.DataFrame(
            {
                "pnl": np.concatenate([np.zeros(0), *self.pnl]),
                "r_multiple": np.concatenate([np.zeros(0), *self.r_multiple]),
            }
        )
        equity = pd.DataFrame({"equity": [self.last_equity]})
        return run_summary(SimpleNamespace(trades=trades, equity=equity))


def write_trades_csv(trades: pd.DataFrame, path: str | Path) -> Path:
    """Write a trade table (`TRADE_COLUMNS`) in the run folder's ``trades.csv`` format."""
    path = Path(path)
    atomic_write_bytes(path, _csv_bytes(trades, TRADE_TIME_COLUMNS), durable=False)
    return path


def write_result(result: BacktestResult, out: str | Path) -> dict[str, Path]:
    """Write the run folder (the four files, each atomically) into ``out``; returns their paths.

    `tradeforge.analytics.load_run` reads it back."""
    out = user_path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "trades": out / "trades.csv",
        "legs": out / "legs.csv",
        "equity": out / "equity.csv",
        "run": out / "run.json",
    }
    write_trades_csv(result.trades, paths["trades"])
    atomic_write_bytes(paths["legs"], _csv_bytes(result.legs, ("time",)), durable=False)
    equity = result.equity.rename_axis("time").reset_index()
    atomic_write_bytes(paths["equity"], _csv_bytes(equity, ("time",)), durable=False)
    write_run_json(paths["run"], result, run_summary(result))
    return paths


def write_run_json(path: Path, result: Any, summary: dict[str, Any]) -> None:
    """``run.json`` of ``result`` (anything with the config, counters, checksums and initial
    capital of a `BacktestResult`) and its `run_summary`."""
    meta = {
        "schema_version": RUN_SCHEMA_VERSION,
        "config": result.config,
        "counters": result.counters,
        "checksums": result.checksums,
        "initial_capital": result.initial_capital,
        "summary": summary,
        "notes": execution_notes(result.config),
    }
    text = json.dumps(meta, indent=2, default=_json_default, allow_nan=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), durable=False)


@contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """A fresh folder beside ``out`` to write a whole run folder into; when the block ends
    normally it takes ``out``'s place (two renames), when it raises — Ctrl-C included — it
    is removed. So ``out`` is the previous folder or the complete new one, never a mix or a
    half-written file (a run's files are only valid together)."""
    out = user_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            os.replace(out, old)
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return str(value)
