"""Run a strategy over one or many symbols (optionally in parallel processes) into a
`BacktestResult`.

The settings are one `RunSpec` (`run_backtest` also builds it from keywords). With several
symbols, ``spec.portfolio`` says how they share money: ``shared`` (the default) trades one
balance of ``initial_capital`` (`tradeforge.backtest.portfolio`: risk sizing and the
blown-account rule on that balance); ``sub-accounts`` gives each symbol its own
``initial_capital`` (risk sizing compounds per symbol) and sums the curves. Features and
signals are computed per symbol (in ``workers`` processes if asked); a shared portfolio is
then simulated in this process, sub-accounts in the workers. The combined result is sorted
deterministically — trades by ``(entry_time, symbol, per-symbol order)`` — so a parallel run
is identical to a serial one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.backtest.engine import SymbolInputs, SymbolRun, prepare_symbol, simulate_symbol
from tradeforge.backtest.io import run_config
from tradeforge.backtest.portfolio import check_shared_money, run_portfolio
from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.data.checksum import cached_frame_checksum
from tradeforge.strategy.base import Strategy
from tradeforge.strategy.signals import Signals
from tradeforge.trading.fx import Conversion
from tradeforge.trading.result import EQUITY_COLUMNS, BacktestResult
from tradeforge.trading.spec import RunSpec

Progress = Callable[[str, int, int], None]  # (symbol, done, total)


@dataclass(frozen=True)
class _Job:
    strategy: Strategy
    symbol: str
    frame: pd.DataFrame
    spec: RunSpec
    conversion: Conversion | None = None


@dataclass(frozen=True)
class _Output:
    """A job's result: the frame with features (kept only for a shared portfolio, which is
    simulated afterwards), its signals, the run (sub-accounts) and the data checksum."""

    frame: pd.DataFrame | None
    signals: Signals
    run: SymbolRun | None
    checksum: str


def _run_job(job: _Job) -> _Output:
    frame = job.strategy.compute_features(job.frame, job.spec.timeframe)
    instrument = job.spec.instrument(job.symbol)
    signals = job.strategy.signals(frame, instrument)
    checksum = cached_frame_checksum(job.frame)
    if _shared(job.spec):
        return _Output(frame, signals, None, checksum)
    run = simulate_symbol(
        frame, signals, instrument, job.spec, symbol=job.symbol, conversion=job.conversion
    )
    return _Output(None, signals, run, checksum)


def _shared(spec: RunSpec) -> bool:
    """Whether ``spec`` runs a shared portfolio (one symbol: the sub-account is the account)."""
    return spec.portfolio == "shared" and len(spec.symbols) > 1


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
    spec: RunSpec | None = None,
    *,
    conversion: Conversion | None = None,
    symbol: str | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    extra_config: Mapping[str, Any] | None = None,
    **keywords: Any,
) -> BacktestResult:
    """Features → signals → simulation for every symbol of ``data``; one combined result.

    The settings come from ``spec`` (its symbols, when it names any, must be those of
    ``data``; its strategy, when it names one, that of ``strategy``) or, as a convenience,
    from ``keywords`` (`RunSpec.from_keywords`: ``execution``, ``sizing``,
    ``position_mode``, ``portfolio``, ``initial_capital``, ``timeframe``, ``instruments``,
    ``account_currency``). ``conversion`` maps conversion symbols (``GBPUSD``) to bars, or
    (keywords only) to constant rates (`tradeforge.trading.fx`).
    ``workers > 1`` runs symbols in that many processes (results identical to serial).
    ``progress(symbol, done, total)`` is called as symbols finish, in completion order.
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    frames = _as_mapping(data, symbol)
    spec = _spec_for(spec, strategy, frames, conversion, keywords)
    check_shared_money(spec)
    jobs = [_Job(strategy, s, frames[s], spec, conversion) for s in spec.symbols]
    outputs: dict[str, _Output] = {}
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
    config = {**run_config(spec), **dict(extra_config or {})}
    tf = spec.timeframe
    symbols = sorted(outputs)
    checksums = {f"{s}/{tf or _tf_name(frames[s])}": outputs[s].checksum for s in symbols}
    if _shared(spec):
        inputs = [_inputs(s, outputs[s], spec, conversion) for s in symbols]
        runs, equity = run_portfolio(inputs, spec.initial_capital)
        result = combine_runs(
            runs, spec.initial_capital, config=config, checksums=checksums, equity=equity
        )
    else:
        runs = [run for s in symbols if (run := outputs[s].run) is not None]
        result = combine_runs(runs, spec.initial_capital, config=config, checksums=checksums)
    result.signals = {s: outputs[s].signals for s in symbols}
    return result


def _inputs(
    symbol: str, output: _Output, spec: RunSpec, conversion: Conversion | None
) -> SymbolInputs:
    """The kernel inputs of one symbol of a shared portfolio (its job kept the frame)."""
    assert output.frame is not None
    return prepare_symbol(
        output.frame,
        output.signals,
        spec.instrument(symbol),
        spec,
        symbol=symbol,
        conversion=conversion,
    )


def _spec_for(
    spec: RunSpec | None,
    strategy: Strategy | None,
    frames: Mapping[str, pd.DataFrame],
    conversion: Conversion | None,
    keywords: Mapping[str, Any],
) -> RunSpec:
    """``spec`` checked against the data and strategy, or the spec of ``keywords``."""
    if spec is None:
        return RunSpec.from_keywords(strategy, frames, conversion, **keywords)
    if keywords:
        raise ConfigError(
            f"give the run settings in the spec or as keywords, not both: {sorted(keywords)}"
        )
    if not spec.symbols:
        spec = replace(spec, symbols=tuple(frames))
    elif set(spec.symbols) != set(frames):
        raise ConfigError(
            f"the spec's symbols {list(spec.symbols)} differ from the data's {sorted(frames)}"
        )
    if strategy is not None and spec.strategy is not None:
        described = strategy.describe()
        if described["name"] != spec.strategy or (
            described["params"] != spec.params
            and described["params"] != spec.create_strategy().describe()["params"]  # validated
        ):
            raise ConfigError(
                f"the strategy {strategy!r} is not the spec's {spec.strategy}({spec.params})"
            )
    if strategy is not None and spec.strategy is None:
        spec = replace(spec, strategy=strategy.name, params=strategy.describe()["params"])
    return spec


def _tf_name(frame: pd.DataFrame) -> str:
    from tradeforge.features import infer_timeframe

    tf = infer_timeframe(frame.index)
    return tf.name if tf is not None else "?"


def backtest_signals(
    frame: pd.DataFrame,
    signals: Signals,
    symbol: str,
    spec: RunSpec | None = None,
    *,
    instrument: Instrument | None = None,
    conversion: Conversion | None = None,
    **keywords: Any,
) -> BacktestResult:
    """Backtest precomputed ``signals`` on one symbol's ``frame`` (no features, no strategy).

    This is the pure engine step (what the reference benchmark times as "backtest").
    Settings, ``conversion`` and ``keywords`` as in `run_backtest`; ``instrument`` overrides
    the registry's (and the spec's)."""
    frames = {symbol.upper(): frame}
    spec = _spec_for(spec, None, frames, conversion, keywords)
    if instrument is not None:
        spec = replace(spec, instruments={**spec.instruments, symbol.upper(): instrument})
    inst = spec.instrument(symbol)
    run = simulate_symbol(frame, signals, inst, spec, symbol=symbol.upper(), conversion=conversion)
    return combine_runs([run], spec.initial_capital, config=run_config(spec), checksums={})


def combine_runs(
    runs: list[SymbolRun],
    initial_capital: float,
    *,
    config: dict[str, Any],
    checksums: dict[str, str],
    equity: pd.DataFrame | None = None,
) -> BacktestResult:
    """Merge per-symbol runs: renumber trades by (entry_time, symbol, local id) and take the
    account's curve.

    With ``equity`` (a shared portfolio's curve, `run_portfolio`) the account is that curve
    and starts with ``initial_capital``. Without it each symbol traded a sub-account of
    ``initial_capital``: the curves are summed onto an account starting with their sum, so
    its returns and drawdowns are percentages of the capital actually deployed (two
    sub-accounts losing 90k of 100k each lose 90 %, not 180 %)."""
    counters: dict[str, int] = {}
    for run in runs:
        for k, v in run.counters.items():
            counters[k] = counters.get(k, 0) + v
    if len(runs) == 1 and equity is None:
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
    if equity is None:
        total = initial_capital * len(runs)
        equity = _sum_equity([r.equity for r in runs], initial_capital, total)
    else:
        total = initial_capital
    config = {**config, "symbols": symbols}
    return BacktestResult(
        trades=trades,
        legs=legs,
        equity=equity,
        initial_capital=total,
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


def _sum_equity(curves: list[pd.DataFrame], initial_capital: float, total: float) -> pd.DataFrame:
    """Sum per-symbol curves (each starting at ``initial_capital``) onto an account starting at
    ``total``, on the union of bar times (each held flat before its first bar)."""
    index = curves[0].index
    for c in curves[1:]:
        index = index.union(c.index)
    equity = np.full(len(index), total)
    balance = np.full(len(index), total)
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
