"""Run a strategy over one or many symbols (optionally in parallel processes) into a
`BacktestResult`.

Each symbol is an independent sub-account starting with ``initial_capital`` (risk sizing
compounds per symbol). The combined result is sorted deterministically — trades by
``(entry_time, symbol, per-symbol order)`` — so a parallel run is identical to a serial one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.backtest.engine import SymbolRun, simulate_symbol
from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.data.checksum import frame_checksum
from tradeforge.strategy.base import Strategy
from tradeforge.strategy.signals import Signals
from tradeforge.trading.execution import ExecutionModel, Sizing
from tradeforge.trading.fx import Conversion, normalize_currency
from tradeforge.trading.result import EQUITY_COLUMNS, BacktestResult

Progress = Callable[[str, int, int], None]  # (symbol, done, total)


@dataclass(frozen=True)
class _Job:
    strategy: Strategy
    symbol: str
    frame: pd.DataFrame
    instrument: Instrument
    timeframe: str | None
    execution: ExecutionModel
    sizing: Sizing
    position_mode: str
    initial_capital: float
    account_currency: str | None = None
    conversion: Conversion | None = None


def _run_job(job: _Job) -> tuple[SymbolRun, str, Signals]:
    frame = job.strategy.compute_features(job.frame, job.timeframe)
    signals = job.strategy.signals(frame, job.instrument)
    run = simulate_symbol(
        frame,
        signals,
        job.instrument,
        execution=job.execution,
        sizing=job.sizing,
        position_mode=job.position_mode,
        initial_capital=job.initial_capital,
        symbol=job.symbol,
        account_currency=job.account_currency,
        conversion=job.conversion,
    )
    return run, frame_checksum(job.frame), signals


def _as_mapping(data: pd.DataFrame | Mapping[str, pd.DataFrame], symbol: str | None):
    if isinstance(data, pd.DataFrame):
        name = symbol or data.attrs.get("symbol")
        if not name:
            raise ConfigError("run_backtest on a single frame needs symbol= (or attrs['symbol'])")
        return {str(name).upper(): data}
    if not isinstance(data, Mapping) or not data:
        raise ConfigError("data must be a DataFrame or a non-empty mapping symbol -> DataFrame")
    return {str(k).upper(): v for k, v in data.items()}


def run_backtest(
    strategy: Strategy,
    data: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    execution: ExecutionModel | None = None,
    sizing: Sizing | None = None,
    position_mode: str = "symbol",
    initial_capital: float = 100_000.0,
    timeframe: Timeframe | str | None = None,
    symbol: str | None = None,
    instruments: Mapping[str, Instrument] | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    extra_config: Mapping[str, Any] | None = None,
    account_currency: str | None = None,
    conversion: Conversion | None = None,
) -> BacktestResult:
    """Features → signals → simulation for every symbol of ``data``; one combined result.

    ``workers > 1`` runs symbols in that many processes (results identical to serial).
    ``progress(symbol, done, total)`` is called as symbols finish, in completion order.
    Money (capital, PnL, risk, equity) is in ``account_currency``, None meaning each
    instrument's quote currency; ``conversion`` maps conversion symbols (``GBPUSD``) to bars
    or constant rates where an instrument needs a third currency (`tradeforge.trading.fx`).
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if not initial_capital > 0:  # checked here too so that no worker process starts
        raise ConfigError(f"initial capital must be > 0, got {initial_capital}")
    account_currency = normalize_currency(account_currency)
    execution = execution or ExecutionModel()
    sizing = sizing or Sizing()
    frames = _as_mapping(data, symbol)
    tf = Timeframe.parse(timeframe).name if timeframe is not None else None
    insts = {s: (instruments or {}).get(s) or get_instrument(s) for s in frames}
    jobs = [
        _Job(strategy, s, frames[s], insts[s], tf, execution, sizing, position_mode,
             float(initial_capital), account_currency, conversion)
        for s in sorted(frames)
    ]  # fmt: skip
    outputs: dict[str, tuple[SymbolRun, str, Signals]] = {}
    total = len(jobs)
    workers = max(1, min(int(workers), total))
    if workers == 1:
        for job in jobs:
            outputs[job.symbol] = _run_job(job)
            if progress:
                progress(job.symbol, len(outputs), total)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_run_job, job): job.symbol for job in jobs}
            from concurrent.futures import as_completed

            for fut in as_completed(futures):
                outputs[futures[fut]] = fut.result()
                if progress:
                    progress(futures[fut], len(outputs), total)
    config = {
        "strategy": strategy.describe(),
        "symbols": sorted(frames),
        "timeframe": tf,
        "position_mode": position_mode,
        "initial_capital": float(initial_capital),
        "execution": execution.to_dict(),
        "sizing": sizing.to_dict(),
        "instruments": {s: insts[s].to_dict() for s in sorted(insts)},
        **_fx_config(account_currency, conversion),
        **dict(extra_config or {}),
    }
    runs = [outputs[s][0] for s in sorted(outputs)]
    checksums = {f"{s}/{tf or _tf_name(frames[s])}": outputs[s][1] for s in sorted(outputs)}
    result = combine_runs(runs, float(initial_capital), config=config, checksums=checksums)
    result.signals = {s: outputs[s][2] for s in sorted(outputs)}
    return result


def _fx_config(account: str | None, conversion: Conversion | None) -> dict[str, Any]:
    """run.json entries of the account currency (none when money is in quote currency)."""
    if account is None:
        return {}
    return {
        "account_currency": account,
        "conversion": {
            str(k).upper(): "bars" if isinstance(v, pd.DataFrame) else float(v)
            for k, v in sorted((conversion or {}).items(), key=lambda kv: str(kv[0]).upper())
        },
    }


def _tf_name(frame: pd.DataFrame) -> str:
    from tradeforge.features import infer_timeframe

    tf = infer_timeframe(frame.index)
    return tf.name if tf is not None else "?"


def backtest_signals(
    frame: pd.DataFrame,
    signals: Signals,
    symbol: str,
    *,
    execution: ExecutionModel | None = None,
    sizing: Sizing | None = None,
    position_mode: str = "symbol",
    initial_capital: float = 100_000.0,
    instrument: Instrument | None = None,
    account_currency: str | None = None,
    conversion: Conversion | None = None,
) -> BacktestResult:
    """Backtest precomputed ``signals`` on one symbol's ``frame`` (no features, no strategy).

    This is the pure engine step (what the reference benchmark times as "backtest").
    ``account_currency`` / ``conversion`` as in `run_backtest`."""
    account_currency = normalize_currency(account_currency)
    execution = execution or ExecutionModel()
    sizing = sizing or Sizing()
    inst = instrument or get_instrument(symbol)
    run = simulate_symbol(
        frame,
        signals,
        inst,
        execution=execution,
        sizing=sizing,
        position_mode=position_mode,
        initial_capital=initial_capital,
        symbol=symbol.upper(),
        account_currency=account_currency,
        conversion=conversion,
    )
    config = {
        "symbols": [symbol.upper()],
        "position_mode": position_mode,
        "initial_capital": float(initial_capital),
        "execution": execution.to_dict(),
        "sizing": sizing.to_dict(),
        "instruments": {inst.symbol: inst.to_dict()},
        **_fx_config(account_currency, conversion),
    }
    return combine_runs([run], float(initial_capital), config=config, checksums={})


def combine_runs(
    runs: list[SymbolRun],
    initial_capital: float,
    *,
    config: dict[str, Any],
    checksums: dict[str, str],
) -> BacktestResult:
    """Merge per-symbol runs: renumber trades by (entry_time, symbol, local id), sum equity."""
    counters: dict[str, int] = {}
    for run in runs:
        for k, v in run.counters.items():
            counters[k] = counters.get(k, 0) + v
    if len(runs) == 1:
        run = runs[0]
        return BacktestResult(
            trades=run.trades,
            legs=run.legs.sort_values(["time", "trade_id"], kind="stable", ignore_index=True),
            equity=run.equity,
            initial_capital=initial_capital,
            counters=counters,
            config=config,
            checksums=checksums,
        )
    symbols = sorted({r.symbol for r in runs})
    trades = _concat([r.trades for r in runs], ("symbol", "tag", "side", "exit_reason"))
    order = np.lexsort(
        (
            trades["trade_id"].to_numpy(),
            trades["symbol"].cat.codes.to_numpy()
            if hasattr(trades["symbol"], "cat")
            else trades["symbol"].to_numpy(),
            trades["entry_time"].to_numpy(),
        )
    )
    trades = trades.iloc[order].reset_index(drop=True)
    key = pd.MultiIndex.from_arrays([trades["symbol"].astype(str), trades["trade_id"]])
    new_id = pd.Series(np.arange(len(trades), dtype=np.int64), index=key)
    trades["trade_id"] = new_id.to_numpy()
    legs = _concat([r.legs for r in runs], ("symbol", "tag", "side", "reason"))
    legs["trade_id"] = new_id.reindex(
        pd.MultiIndex.from_arrays([legs["symbol"].astype(str), legs["trade_id"]])
    ).to_numpy()
    legs = legs.sort_values(["time", "trade_id"], kind="stable", ignore_index=True)
    equity = _sum_equity([r.equity for r in runs], initial_capital)
    config = {**config, "symbols": symbols}
    return BacktestResult(
        trades=trades,
        legs=legs,
        equity=equity,
        initial_capital=initial_capital,
        counters=counters,
        config=config,
        checksums=checksums,
    )


def _concat(frames: list[pd.DataFrame], categorical: tuple[str, ...]) -> pd.DataFrame:
    cats = {}
    for col in categorical:
        values: list[str] = []
        for f in frames:
            values.extend(str(v) for v in f[col].cat.categories if str(v) not in values)
        cats[col] = values
    fixed = []
    for f in frames:
        f = f.copy()
        for col, values in cats.items():
            f[col] = f[col].cat.set_categories(values)
        fixed.append(f)
    return pd.concat(fixed, ignore_index=True)


def _sum_equity(curves: list[pd.DataFrame], initial_capital: float) -> pd.DataFrame:
    """Sum per-symbol curves on the union of bar times (each held flat before its first bar)."""
    index = curves[0].index
    for c in curves[1:]:
        index = index.union(c.index)
    equity = np.full(len(index), initial_capital)
    balance = np.full(len(index), initial_capital)
    open_pos = np.zeros(len(index), dtype=np.int64)
    for c in curves:
        aligned = c.reindex(index).ffill()
        equity += np.nan_to_num(aligned["equity"].to_numpy() - initial_capital)
        balance += np.nan_to_num(aligned["balance"].to_numpy() - initial_capital)
        open_pos += np.nan_to_num(aligned["open_positions"].to_numpy()).astype(np.int64)
    return pd.DataFrame(
        {EQUITY_COLUMNS[0]: equity, EQUITY_COLUMNS[1]: balance, EQUITY_COLUMNS[2]: open_pos},
        index=index,
    )
