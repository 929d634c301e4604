"""Run a strategy over one or many symbols into a `BacktestResult`, serially or in parallel
(threads, or a Dask cluster), on frames in memory or on bars read from the store per symbol.

The settings are one `RunSpec` (`run_backtest` also builds it from keywords). With several
symbols, ``spec.portfolio`` says how they share money: ``shared`` (the default) trades one
balance of ``initial_capital`` (`tradeforge.backtest.portfolio`: risk sizing and the
blown-account rule on that balance); ``sub-accounts`` gives each symbol its own
``initial_capital`` (risk sizing compounds per symbol) and sums the curves.

Each symbol is one job (`_symbol_job`): load its bars (from ``data`` or a `StoreSlice`),
features, signals, then either its whole simulation (sub-accounts) or its kernel inputs
(`prepare_symbol`, a shared portfolio, simulated afterwards in this process); an optional
``stage`` callback hears each stage start (`Stage`: the CLI's progress bar shows them). Jobs run
through the backends of `tradeforge.backtest.parallel` — the same ones the research layer
uses: serial, a thread pool (the kernels release the GIL: no pickling, no start-up, results
stay arrays) or a Dask cluster. `plan_execution` picks serial when the work is too small for
threads to pay, and the result says what ran (`BacktestResult.execution`). The combined
result is sorted deterministically — trades by ``(entry_time, symbol, per-symbol order)`` —
so every backend gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.backtest import precompile
from tradeforge.backtest.engine import SymbolInputs, SymbolRun, prepare_symbol, simulate_symbol
from tradeforge.backtest.io import run_config
from tradeforge.backtest.parallel import (
    Backend,
    DaskBackend,
    InProcessBackend,
    Shared,
    ThreadBackend,
    check_cancelled,
    release,
)
from tradeforge.backtest.portfolio import check_shared_money, run_portfolio
from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.data.cache import StoreSlice
from tradeforge.data.checksum import cached_frame_checksum
from tradeforge.strategy.base import Strategy
from tradeforge.strategy.signals import Signals
from tradeforge.trading.fx import Conversion
from tradeforge.trading.result import EQUITY_COLUMNS, BacktestResult
from tradeforge.trading.spec import RunSpec

Progress = Callable[[str, int, int], None]  # (symbol, done, total)
#: (symbol, stage) as a stage starts: per symbol "features", "signals", then "simulate" (its
#: own account) or "inputs" (its kernel inputs, for a shared portfolio); then, symbol None,
#: "portfolio" (the shared portfolio's simulation) and "combine"
Stage = Callable[[str | None, str], None]

#: Fewer bars than this per symbol (on average) and threads do not pay on two cores: the
#: per-symbol work is then dominated by pandas bookkeeping that holds the GIL (measured in
#: ``bench/scale_bench.py``).
MIN_PARALLEL_BARS = 100_000


@dataclass(frozen=True)
class ExecutionPlan:
    """Which backend runs the symbols and why (kept as `BacktestResult.execution`)."""

    backend: str  # "serial", "threads" or "dask"
    workers: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "workers": self.workers, "reason": self.reason}


def plan_execution(
    workers: int, n_symbols: int, n_bars: int | None, scheduler: str | None = None
) -> ExecutionPlan:
    """Serial unless parallel work pays: a scheduler always gets the work; threads need more
    than one worker and one symbol and, when the bar count is known, on average at least
    `MIN_PARALLEL_BARS` bars per symbol (``n_bars`` None: bars read from the store, large)."""
    if scheduler:
        return ExecutionPlan("dask", workers, f"scheduler {scheduler}")
    if workers <= 1:
        return ExecutionPlan("serial", 1, "1 worker asked")
    if n_symbols <= 1:
        return ExecutionPlan("serial", 1, "one symbol")
    if n_bars is not None and n_bars < MIN_PARALLEL_BARS * n_symbols:
        return ExecutionPlan(
            "serial", 1, f"{n_bars:,} bars: too little work per symbol for threads to pay"
        )
    n = min(workers, n_symbols)
    return ExecutionPlan("threads", n, f"{n} threads on {n_symbols} symbols")


@dataclass(frozen=True)
class _JobState:
    """What every symbol job shares: the strategy, the spec, and where the bars are."""

    strategy: Strategy
    spec: RunSpec
    frames: Mapping[str, pd.DataFrame] | None
    source: StoreSlice | None
    conversion: Conversion | None

    def bars(self, symbol: str) -> pd.DataFrame:
        if self.frames is not None:
            return self.frames[symbol]
        assert self.source is not None
        return self.source.load(symbol)


def _job_state(*args: Any) -> _JobState:
    return _JobState(*args)


@dataclass(frozen=True)
class _Output:
    """A job's result: its signals (None when its bars came from the store: see
    `run_backtest`), the kernel inputs (a shared portfolio, simulated afterwards) or the run
    (sub-accounts), the data checksum and the bars' timeframe."""

    symbol: str
    signals: Signals | None
    inputs: SymbolInputs | None
    run: SymbolRun | None
    checksum: str
    timeframe: str


def _symbol_job(state: _JobState, symbol: str, stage: Stage | None = None) -> _Output:
    say = (lambda name: stage(symbol, name)) if stage is not None else _silent
    spec = state.spec
    bars = state.bars(symbol)
    check_cancelled()
    say("features")
    frame = state.strategy.compute_features(bars, spec.timeframe)
    check_cancelled()
    say("signals")
    instrument = spec.instrument(symbol)
    signals = state.strategy.signals(frame, instrument)
    checksum = cached_frame_checksum(bars)
    tf = str(spec.timeframe) if spec.timeframe else _tf_name(bars)
    kept = signals if state.frames is not None else None
    check_cancelled()
    if _shared(spec):
        say("inputs")
        inputs = prepare_symbol(
            frame, signals, instrument, spec, symbol=symbol, conversion=state.conversion
        )
        return _Output(symbol, kept, inputs, None, checksum, tf)
    say("simulate")
    run = simulate_symbol(
        frame, signals, instrument, spec, symbol=symbol, conversion=state.conversion
    )
    return _Output(symbol, kept, None, run, checksum, tf)


def _silent(_name: str) -> None:
    pass


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
    data: pd.DataFrame | Mapping[str, pd.DataFrame] | StoreSlice,
    spec: RunSpec | None = None,
    *,
    conversion: Conversion | None = None,
    symbol: str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    backend: Backend | None = None,
    progress: Progress | None = None,
    stage: Stage | None = None,
    extra_config: Mapping[str, Any] | None = None,
    **keywords: Any,
) -> BacktestResult:
    """Features → signals → simulation for every symbol of ``data``; one combined result.

    ``data`` is ``{symbol: bars}`` (or one frame with ``symbol=``), or a `StoreSlice` (bars
    read from the store by each symbol's job; ``spec`` must then name the symbols and the
    timeframe). The settings come from ``spec`` (its symbols, when it names any, must be
    those of ``data``; its strategy, when it names one, that of ``strategy``) or, as a
    convenience, from ``keywords`` (`RunSpec.from_keywords`: ``execution``, ``sizing``,
    ``position_mode``, ``portfolio``, ``initial_capital``, ``timeframe``, ``instruments``,
    ``account_currency``). ``conversion`` maps conversion symbols (``GBPUSD``) to bars, or
    (keywords only) to constant rates (`tradeforge.trading.fx`).

    ``workers > 1`` runs symbols on that many threads when the work pays (`plan_execution`);
    ``scheduler`` (``tcp://host:8786``) or ``backend`` runs them there instead. Results are
    identical whichever ran; ``result.execution`` says which.
    ``result.signals`` holds each symbol's `Signals` (what charts draw on the bars) when
    ``data`` is frames; bars read from a `StoreSlice` keep none — the tables are about as
    large as the bars, which such a run never holds all at once.
    ``progress(symbol, done, total)`` is called as symbols finish, in completion order;
    ``stage(symbol, name)`` as each stage starts (see `Stage`), from the thread running the
    symbol — in this process only: jobs on a Dask cluster report their completion alone.
    """
    spec, outputs, plan = run_jobs(
        strategy, data, spec, conversion=conversion, symbol=symbol, workers=workers,
        scheduler=scheduler, backend=backend, progress=progress, stage=stage,
        keywords=keywords, precompile_kernel=True,
    )  # fmt: skip
    result = _combine(outputs, spec, extra_config, stage or (lambda _symbol, _name: None))
    result.execution = plan.to_dict()
    return result


def run_jobs(
    strategy: Strategy,
    data: pd.DataFrame | Mapping[str, pd.DataFrame] | StoreSlice,
    spec: RunSpec | None,
    *,
    conversion: Conversion | None,
    symbol: str | None,
    workers: int,
    scheduler: str | None,
    backend: Backend | None,
    progress: Progress | None,
    stage: Stage | None,
    keywords: Mapping[str, Any],
    job: Callable[..., Any] = _symbol_job,
    state: Callable[..., Any] = _job_state,
    state_args: tuple[Any, ...] = (),
    precompile_kernel: bool = False,
) -> tuple[RunSpec, list[Any], ExecutionPlan]:
    """`run_backtest`'s first half: the checked spec, then ``job(state, symbol)`` for every
    symbol (sorted) on the backend that pays, with ``state(*state_args, strategy, spec,
    frames, source, conversion)`` shared; returns the spec, the jobs' outputs in symbol order
    and the plan that ran them (arguments as in `run_backtest`). ``precompile_kernel``: the
    jobs are `run_backtest`'s, so a cold Numba cache has the kernel that will run in this
    process compiled meanwhile (`precompile.start`)."""
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    source = data if isinstance(data, StoreSlice) else None
    frames = None if source is not None else _as_mapping(data, symbol)
    spec = _spec_for(spec, strategy, frames, source, conversion, keywords)
    check_shared_money(spec)
    symbols = sorted(spec.symbols)
    n_bars = None if frames is None else sum(len(f) for f in frames.values())
    if backend is not None:
        plan = ExecutionPlan(backend.name, backend.workers, "backend given")
    else:
        plan = plan_execution(workers, len(symbols), n_bars, scheduler)
    own = backend is None
    if backend is None:
        backend = _make_backend(plan, scheduler)
        if plan.backend == "dask":  # the cluster's size, not the workers= argument
            plan = replace(plan, workers=backend.workers)
    if frames is not None and plan.backend == "dask":
        raise ConfigError(
            "on a Dask cluster the workers read the bars themselves: pass a StoreSlice "
            "(a store path every worker can read), not frames"
        )
    in_process = isinstance(backend, (InProcessBackend, ThreadBackend))
    if precompile_kernel:
        start_kernel_compile(spec, in_process=in_process)
    shared = Shared(state, (*state_args, strategy, spec, frames, source, conversion))
    total = len(symbols)

    def report(i: int, output: Any) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(symbols[i], done, total)

    done = 0
    if stage is not None and in_process:
        job = partial(job, stage=stage)
    order = _longest_first(symbols, frames) if isinstance(backend, ThreadBackend) else None
    try:
        if order is None:
            outputs = backend.map(job, shared, symbols, on_result=report)
        else:
            ran = backend.map(
                job, shared, [symbols[i] for i in order],
                on_result=lambda j, output: report(order[j], output),
            )  # fmt: skip
            outputs = [None] * total
            for j, i in enumerate(order):
                outputs[i] = ran[j]
    finally:
        release(shared)
        if own and plan.backend == "dask":
            backend.close()
    return spec, outputs, plan


def start_kernel_compile(spec: RunSpec, *, in_process: bool = True) -> None:
    """Have the kernel ``spec``'s run will call compiled in a child process meanwhile if it is
    not in Numba's cache (`precompile.start`): a shared portfolio's loop (always run in this
    process), else the single-symbol kernel when the symbols run in this process (not on a
    cluster's workers: ``in_process`` False)."""
    if _shared(spec):
        precompile.start("portfolio")
    elif in_process:
        precompile.start("symbol")


def _longest_first(
    symbols: list[str], frames: Mapping[str, pd.DataFrame] | None
) -> list[int] | None:
    """The positions of ``symbols`` by bar count, longest first (ties in name order), so the
    threads do not end with one long job running alone; None when the lengths are unknown
    (bars read by the jobs) or already in that order."""
    if frames is None:
        return None
    order = sorted(range(len(symbols)), key=lambda i: -len(frames[symbols[i]]))
    return None if order == sorted(order) else order


def _make_backend(plan: ExecutionPlan, scheduler: str | None) -> Backend:
    if plan.backend == "dask":
        return DaskBackend(scheduler)
    if plan.backend == "threads":
        return ThreadBackend(plan.workers)
    return InProcessBackend()


def _combine(
    outputs: list[_Output], spec: RunSpec, extra_config: Mapping[str, Any] | None, stage: Stage
) -> BacktestResult:
    """The symbols' outputs (sorted by symbol) as one result."""
    config = {**run_config(spec), **dict(extra_config or {})}
    checksums = {f"{o.symbol}/{o.timeframe}": o.checksum for o in outputs}
    if _shared(spec):
        inputs = [o.inputs for o in outputs if o.inputs is not None]
        stage(None, "portfolio")
        runs, equity = run_portfolio(inputs, spec.initial_capital)
        stage(None, "combine")
        result = combine_runs(
            runs, spec.initial_capital, config=config, checksums=checksums, equity=equity
        )
    else:
        runs = [o.run for o in outputs if o.run is not None]
        stage(None, "combine")
        result = combine_runs(runs, spec.initial_capital, config=config, checksums=checksums)
    result.signals = {o.symbol: o.signals for o in outputs if o.signals is not None}
    return result


def _spec_for(
    spec: RunSpec | None,
    strategy: Strategy | None,
    frames: Mapping[str, pd.DataFrame] | None,
    source: StoreSlice | None,
    conversion: Conversion | None,
    keywords: Mapping[str, Any],
) -> RunSpec:
    """``spec`` checked against the data and strategy, or the spec of ``keywords``."""
    if frames is None:  # bars in the store: the spec says which and on what timeframe
        if spec is None or not spec.symbols or spec.timeframe is None:
            raise ConfigError("bars from the store need a spec naming the symbols and timeframe")
        if source is not None and Timeframe.parse(source.timeframe).name != spec.timeframe:
            raise ConfigError(
                f"the spec's timeframe {spec.timeframe} is not the store slice's {source.timeframe}"
            )
        frames = dict.fromkeys(spec.symbols)  # names only: checked below like frames
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
    spec = _spec_for(spec, None, frames, None, conversion, keywords)
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
            legs=_legs_in_order(run.legs),
            equity=run.equity,
            initial_capital=initial_capital,
            counters=counters,
            config=config,
            checksums=checksums,
        )
    summing = None
    if equity is None:  # the curves' sum beside the trades and legs (it releases the GIL)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tradeforge-combine")
        total = initial_capital * len(runs)
        summing = pool.submit(_sum_equity, [r.equity for r in runs], initial_capital, total)
        pool.shutdown(wait=False)
    symbols = sorted({r.symbol for r in runs})
    trades = _concat([r.trades for r in runs], ("symbol", "tag", "side", "exit_reason"))
    order = np.lexsort(
        (
            trades["trade_id"].to_numpy(),
            trades["symbol"].cat.codes.to_numpy()
            if hasattr(trades["symbol"], "cat")
            else trades["symbol"].to_numpy(),
            trades["entry_time"].array.asi8,  # int64: a tz-aware column is objects
        )
    )
    trades = trades.iloc[order].reset_index(drop=True)
    legs = _concat([r.legs for r in runs], ("symbol", "tag", "side", "reason"))
    renumber = _renumbering(runs, trades)
    trades["trade_id"] = np.arange(len(trades), dtype=np.int64)
    legs["trade_id"] = renumber(legs)
    legs = _legs_in_order(legs)
    if summing is not None:
        equity = summing.result()
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


def _same_times(a: pd.Index, b: pd.Index) -> bool:
    """``a.equals(b)`` for the bar times of two curves, compared as int64 arrays when both
    are DatetimeIndexes of one dtype (pandas' equals costs several times more)."""
    if a is b:
        return True
    if isinstance(a, pd.DatetimeIndex) and isinstance(b, pd.DatetimeIndex) and a.dtype == b.dtype:
        return bool(np.array_equal(a.asi8, b.asi8))
    return bool(a.equals(b))


def _renumbering(runs: list[SymbolRun], trades: pd.DataFrame) -> Callable[[pd.DataFrame], Any]:
    """A function giving rows keyed ``(symbol, local trade id)`` the new id of that trade in
    ``trades`` (already in the combined order). A symbol's local ids are ``0..n-1``, so the
    lookup is one flat array indexed by the symbol's offset plus the local id."""
    offsets: dict[str, int] = {}
    total = 0
    for run in runs:
        offsets[run.symbol] = total
        total += len(run.trades)
    lookup = np.empty(total, dtype=np.int64)

    def flat(frame: pd.DataFrame) -> np.ndarray:
        column = frame["symbol"]
        starts = np.array([offsets[str(c)] for c in column.cat.categories], dtype=np.int64)
        return starts[column.cat.codes.to_numpy()] + frame["trade_id"].to_numpy()

    lookup[flat(trades)] = np.arange(len(trades), dtype=np.int64)
    return lambda frame: lookup[flat(frame)]


def _legs_in_order(legs: pd.DataFrame) -> pd.DataFrame:
    """``legs`` stably sorted by ``(time, trade_id)`` on a fresh RangeIndex.

    One symbol's legs come out of the kernel already in that order but for legs of two
    trades closing in one bar; checking that is one vectorised pass, much cheaper than
    pandas' two-key sort, and a stable sort of sorted rows would return them unchanged."""
    index, times = legs.index, legs["time"].array
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        time = times.asi8 if isinstance(times, pd.arrays.DatetimeArray) else None
        trade = legs["trade_id"].to_numpy()
        if time is not None and bool(
            np.all((time[1:] > time[:-1]) | ((time[1:] == time[:-1]) & (trade[1:] >= trade[:-1])))
        ):
            return legs
    if isinstance(times, pd.arrays.DatetimeArray):  # np.lexsort is stable, and cheaper
        order = np.lexsort((legs["trade_id"].to_numpy(), times.asi8))
        return legs.take(order).reset_index(drop=True)
    return legs.sort_values(["time", "trade_id"], kind="stable", ignore_index=True)


def _concat(frames: list[pd.DataFrame], categorical: tuple[str, ...]) -> pd.DataFrame:
    """``frames`` one after the other; each ``categorical`` column takes the union of the
    frames' categories (in order of first appearance).

    A frame's column is recoded through its integer codes into one dtype per column (built
    once; ``set_categories`` rebuilt and hashed the category strings per frame and column),
    and kept as it is when it already has that dtype (the fixed vocabularies)."""
    dtypes = {}
    for col in categorical:
        values: list[str] = []
        for f in frames:
            values.extend(str(v) for v in f[col].cat.categories if str(v) not in values)
        dtypes[col] = pd.CategoricalDtype(values)
    fixed = []
    for f in frames:
        f = f.copy(deep=False)  # new columns below; the rest is copied once, by concat
        for col, dtype in dtypes.items():
            column = f[col].array
            if column.categories.equals(dtype.categories):  # in the same order
                continue
            where = dtype.categories.get_indexer([str(v) for v in column.categories])
            codes = np.append(where, -1)[column.codes]  # code -1 (missing) stays -1
            f[col] = pd.Categorical.from_codes(codes, dtype=dtype)
        fixed.append(f)
    return pd.concat(fixed, ignore_index=True)


def _sum_equity(curves: list[pd.DataFrame], initial_capital: float, total: float) -> pd.DataFrame:
    """Sum per-symbol curves (each starting at ``initial_capital``) onto an account starting at
    ``total``, on the union of bar times (each held flat before its first bar).

    Mostly array work that releases the GIL: `combine_runs` runs it beside the trades and
    legs."""
    index = curves[0].index
    same = [_same_times(c.index, index) for c in curves]
    if not all(same):
        for c in curves[1:]:
            index = index.union(c.index)
        same = [_same_times(c.index, index) for c in curves]
    elif len({c.index.name for c in curves}) > 1:
        index = index.rename(None)  # as a union of differently named indexes is named
    equity = np.full(len(index), total)
    balance = np.full(len(index), total)
    open_pos = np.zeros(len(index), dtype=np.int64)
    scratch = np.empty(len(index))
    for c, on_every_time in zip(curves, same, strict=True):
        if on_every_time:  # on every bar time already (symbols on one calendar)
            equity += np.subtract(c["equity"].to_numpy(), initial_capital, out=scratch)
            balance += np.subtract(c["balance"].to_numpy(), initial_capital, out=scratch)
            open_pos += c["open_positions"].to_numpy()
            continue
        aligned = c.reindex(index).ffill()
        equity += np.nan_to_num(aligned["equity"].to_numpy() - initial_capital)
        balance += np.nan_to_num(aligned["balance"].to_numpy() - initial_capital)
        open_pos += np.nan_to_num(aligned["open_positions"].to_numpy()).astype(np.int64)
    return pd.DataFrame(
        {EQUITY_COLUMNS[0]: equity, EQUITY_COLUMNS[1]: balance, EQUITY_COLUMNS[2]: open_pos},
        index=index,
    )
