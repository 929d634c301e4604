"""A shared-cash portfolio of a universe larger than memory: the time-chunked streaming merge.

`run_streamed` runs what `run_backtest` runs for a shared portfolio and writes the run folder
as it goes — the same bytes `write_result` writes for the in-memory run:

1. every symbol's job (`runner._symbol_job`, on the backend `plan_execution` picks) computes
   features and signals, reduces them to the kernel's inputs and spills those to ``.npy``
   files in a scratch folder (each written atomically: `spill`); only a small `_Spilled`
   record stays in memory;
2. the spilled inputs are stacked into one padded ``(symbols, …)`` file per array, a symbol
   at a time through a memory map (mapping each symbol's parts instead, 13 files a symbol
   mapped per window, measured ~250 MB more resident at the peak of the 28 pairs' run);
3. the portfolio loop (`portfolio_kernel.simulate_portfolio`) runs one time window
   (``chunk``, 30 days by default) at a time over memory maps of those files, mapped afresh
   per window so only the window's pages stay resident; its whole state (cursor, slots,
   counters, balance) lives in arrays kept from one window to the next;
4. after each window its equity rows and legs are appended to ``equity.csv`` and
   ``legs.csv``, the trades it entered get their run-wide ids (entry time, symbol, order:
   later windows only enter later trades), and the trades closed by then are appended to
   ``trades.csv`` up to the oldest still-open one.

The trade-off: bars are read and inputs written twice (job, then the stacked files), and the
loop is serial. What stays in memory is the windows' pages, the kernel's per-symbol trade
and leg rows (written only when a trade fills or leaves, so only those pages are touched)
and the trades not yet written. The caller gives ``out`` (the CLI a staged folder: an
interrupted run leaves no half-written folder).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from tradeforge.backtest import kernel as K
from tradeforge.backtest.engine import _legs_frame, _trades_frame
from tradeforge.backtest.io import (
    RunCsvs,
    needs_quotes,
    run_config,
    write_run_json,
)
from tradeforge.backtest.parallel import Backend, check_cancelled
from tradeforge.backtest.portfolio import BAR_ARRAYS
from tradeforge.backtest.portfolio_kernel import (
    ADDRESSES,
    BAR_ADDRESSES,
    END,
    address_table,
    simulate_portfolio,
    start_cursor,
)
from tradeforge.backtest.runner import (
    Progress,
    Stage,
    _job_state,
    _JobState,
    _legs_in_order,
    _symbol_job,
    run_jobs,
)
from tradeforge.core.atomic import atomic_write
from tradeforge.core.errors import ConfigError
from tradeforge.core.instruments import Instrument
from tradeforge.data.cache import StoreSlice
from tradeforge.strategy.base import Strategy
from tradeforge.strategy.signal_schema import BY_NAME, column
from tradeforge.strategy.signals import pack_signals
from tradeforge.trading.fx import Conversion
from tradeforge.trading.result import EQUITY_COLUMNS, EXIT_REASONS
from tradeforge.trading.spec import RunSpec

#: the default time window of the loop
CHUNK = pd.Timedelta(days=30)
#: the spilled arrays of a symbol and the value padding them to the longest symbol
_FILL: dict[str, float | int] = {
    "times": END,
    **dict.fromkeys(BAR_ARRAYS, 0),
    "ints": 0,
    "floats": np.nan,
    "int_at": 0,
    "float_at": 0,
    "levels": np.nan,
}
#: the prefix of a run's scratch folder inside ``out`` (``.spill-XXXX``: one per run, so a
#: run ending into the same ``out`` meanwhile cannot remove another's spilled inputs),
#: removed when the run is written
_SPILL = ".spill-"


@dataclass(frozen=True)
class StreamedRun:
    """What a streamed run leaves besides its folder (the rest is in ``run.json``)."""

    out: Path
    config: dict[str, Any]
    counters: dict[str, int]
    checksums: dict[str, str]
    initial_capital: float
    summary: dict[str, Any]
    execution: dict[str, Any]


@dataclass(frozen=True)
class _Spilled:
    """A symbol's job result: its kernel inputs are in the scratch folder."""

    symbol: str
    n_bars: int
    n_signals: int
    n_slots: int
    per_tag: bool
    fparams: np.ndarray
    tags: tuple[str, ...]
    instrument: Instrument
    checksum: str
    timeframe: str


@dataclass(frozen=True)
class SpillState:
    """A streamed run's job state: the runner's, plus the scratch folder its jobs spill to
    (both streamed portfolios use it)."""

    folder: str
    job: _JobState


def spill_state(folder: str, *args: Any) -> SpillState:
    return SpillState(folder, _job_state(*args))


def _part(folder: str | Path, symbol: str, name: str) -> Path:
    return Path(folder) / f"{symbol}.{name}.npy"


def spill(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to the ``.npy`` file ``path`` atomically (`core.atomic`): a job run
    again (a Dask task re-executed, its worker dying mid-write) replaces the file whole, so
    a reader sees the one attempt's file or the other's, never a torn one."""
    atomic_write(path, lambda f: np.save(f, array, allow_pickle=False), durable=False)


def _spill_job(state: SpillState, symbol: str, stage: Stage | None = None) -> _Spilled:
    """The runner's job, its kernel inputs written to the scratch folder."""
    output = _symbol_job(state.job, symbol, stage)
    x = output.inputs
    assert x is not None  # a shared portfolio's job
    packed = pack_signals(x.signals)
    arrays = {
        "times": x.index.as_unit("ns").asi8,
        **{name: getattr(x, name) for name in BAR_ARRAYS},
        "ints": packed.ints,
        "floats": packed.floats,
        "int_at": packed.int_at,
        "float_at": packed.float_at,
        "levels": packed.levels,
    }
    for name, a in arrays.items():
        spill(_part(state.folder, symbol, name), a)
    check_cancelled()
    return _Spilled(
        symbol, x.n_bars, len(x.signals), x.n_slots, x.per_tag, x.fparams, x.signals.tags,
        x.instrument, output.checksum, output.timeframe,
    )  # fmt: skip


def _stack(folder: Path, symbols: list[str], name: str) -> None:
    """``stack.<name>.npy``: the symbols' ``name`` arrays stacked and padded (as
    `portfolio._pad`), written atomically (as `spill`) row after row, one symbol at a time
    (each part read whole, then deleted)."""
    heads = [np.load(_part(folder, s, name), mmap_mode="r") for s in symbols]
    shape = (len(symbols), *heads[0].shape[:-1], max(h.shape[-1] for h in heads))
    dtype = heads[0].dtype
    del heads
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}

    def write(f: BinaryIO) -> None:
        np.lib.format.write_array_header_1_0(f, {**header, "shape": shape})
        width = shape[-1]
        for s in symbols:
            part = np.load(_part(folder, s, name))
            rows = part.reshape(-1, part.shape[-1])
            pad = np.full(width - rows.shape[1], _FILL[name], dtype=dtype)
            for row in rows:
                f.write(row.tobytes())
                f.write(pad.tobytes())
            os.remove(_part(folder, s, name))

    atomic_write(folder / f"stack.{name}.npy", write, durable=False)


def _mapped(folder: Path) -> dict[str, np.ndarray]:
    """The stacked inputs, mapped read-only (plain arrays over the maps, for the kernel)."""
    return {
        name: np.load(folder / f"stack.{name}.npy", mmap_mode="r").view(np.ndarray)
        for name in _FILL
    }


class _Index:
    """A symbol's bar times (a mapped row) indexed like its frame's DatetimeIndex."""

    def __init__(self, times: np.ndarray) -> None:
        self.times = times

    def __getitem__(self, positions: np.ndarray) -> pd.DatetimeIndex:
        ns = np.asarray(self.times[positions], dtype=np.int64)
        return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


class _Writer(RunCsvs):
    """The run folder's three CSVs, appended window by window (see the module docstring)."""

    def __init__(self, out: Path, spilled: list[_Spilled]) -> None:
        words = [s.symbol for s in spilled] + [t for s in spilled for t in s.tags]
        super().__init__(out, needs_quotes([*words, "long", "short", *EXIT_REASONS]))
        self.spilled = spilled
        m = len(spilled)
        self.n_trades = np.zeros(m, dtype=np.int64)
        self.n_legs = np.zeros(m, dtype=np.int64)
        self.ids: list[list[np.ndarray]] = [[] for _ in range(m)]  # local trade id -> run id
        self.known = 0  # run-wide ids given
        self.written = 0  # trades written
        self.queue_symbol = np.zeros(0, dtype=np.int64)  # ids written .. known: symbol, local
        self.queue_local = np.zeros(0, dtype=np.int64)

    def window(self, maps, kernel, eq_times, equity) -> None:
        """Write what the window that just ran made final."""
        counters = kernel["counters"]
        self.append(
            "equity",
            pd.DataFrame(
                {
                    "time": _Index(eq_times)[slice(None)],
                    EQUITY_COLUMNS[0]: equity[:, 0],
                    EQUITY_COLUMNS[1]: equity[:, 1],
                    EQUITY_COLUMNS[2]: equity[:, 2].astype(np.int64),
                }
            ),
            ("time",),
        )
        if len(equity):
            self.last_equity = float(equity[-1, 0])
        self._number(maps["times"], kernel["trades_i"], counters)
        self._legs(maps, kernel, counters)
        self._trades(maps, kernel)

    def _number(self, times, trades_i, counters) -> None:
        """Run-wide ids for the trades entered in the window: (entry time, symbol, order)."""
        entry, symbol, local = [], [], []
        for k in range(len(self.spilled)):
            a, b = self.n_trades[k], counters[k, K.C_N_TRADES]
            rows = np.arange(a, b, dtype=np.int64)
            entry.append(times[k][trades_i[k, a:b, K.TI_ENTRY_BAR]])
            symbol.append(np.full(b - a, k, dtype=np.int64))
            local.append(rows)
            self.n_trades[k] = b
        e, s, t = (np.concatenate(x) for x in (entry, symbol, local))
        order = np.lexsort((t, s, e))
        ids = np.empty(len(order), dtype=np.int64)
        ids[order] = self.known + np.arange(len(order), dtype=np.int64)
        for k in range(len(self.spilled)):
            self.ids[k].append(ids[s == k])
        self.known += len(order)
        self.queue_symbol = np.concatenate([self.queue_symbol, s[order]])
        self.queue_local = np.concatenate([self.queue_local, t[order]])

    def _run_ids(self, k: int) -> np.ndarray:
        if len(self.ids[k]) > 1:
            self.ids[k] = [np.concatenate(self.ids[k])]
        return self.ids[k][0] if self.ids[k] else np.zeros(0, dtype=np.int64)

    def _signals(self, maps, k: int) -> SimpleNamespace:
        ints, at, n = maps["ints"][k], maps["int_at"][k], self.spilled[k].n_signals
        return SimpleNamespace(
            **{name: column(ints, at, BY_NAME[name], n) for name in ("tag", "side", "bar")},
            tags=self.spilled[k].tags,
        )

    def _legs(self, maps, kernel, counters) -> None:
        frames = []
        for k, x in enumerate(self.spilled):
            a, b = self.n_legs[k], counters[k, K.C_N_LEGS]
            if b == a:
                continue
            self.n_legs[k] = b
            li, lf = kernel["legs_i"][k, a:b], kernel["legs_f"][k, a:b]
            frame = _legs_frame(
                x.symbol, _Index(maps["times"][k]), self._signals(maps, k), x.instrument,
                kernel["trades_i"][k], li, lf,
            )  # fmt: skip
            frame["trade_id"] = self._run_ids(k)[li[:, K.LI_TRADE]]
            frames.append(frame)
        if frames:
            legs = _legs_in_order(pd.concat(frames, ignore_index=True))
            self.append("legs", legs, ("time",))

    def _trades(self, maps, kernel) -> None:
        """Append the trades closed by now, in id order, up to the oldest open one."""
        work_i = kernel["work_i"]
        upto = self.known
        for k in range(len(self.spilled)):
            held = work_i[k, work_i[k, :, K.W_STATUS] == K.OPEN, K.W_TRADE]
            if len(held):
                upto = min(upto, int(self._run_ids(k)[held].min()))
        n = upto - self.written
        if n <= 0:
            return
        symbol, local = self.queue_symbol[:n], self.queue_local[:n]
        self.queue_symbol, self.queue_local = self.queue_symbol[n:], self.queue_local[n:]
        frames, ids = [], []
        for k, x in enumerate(self.spilled):
            rows = local[symbol == k]
            if not len(rows):
                continue
            frames.append(
                _trades_frame(
                    x.symbol,
                    _Index(maps["times"][k]),
                    self._signals(maps, k),
                    x.instrument,
                    kernel["trades_i"][k, rows],
                    kernel["trades_f"][k, rows],
                )  # fmt: skip
            )
            ids.append(self._run_ids(k)[rows])
        trades = pd.concat(frames, ignore_index=True)
        run_ids = np.concatenate(ids)
        trades["trade_id"] = run_ids
        trades = trades.take(np.argsort(run_ids, kind="stable"))
        self.append_trades(trades)
        self.written = upto


def _addresses(maps: dict[str, np.ndarray], n_bars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The `portfolio_kernel.address_table` of the stacked maps: each symbol's rows (its bars'
    part of the per-bar ones). ``maps`` holds them while the loop reads them."""
    return address_table(
        [
            {
                name: maps[name][k][: n_bars[k]] if name in BAR_ADDRESSES else maps[name][k]
                for name in ADDRESSES
            }
            for k in range(len(n_bars))
        ]
    )


def _loop(folder: Path, spilled: list[_Spilled], capital: float, chunk_ns: int, writer: _Writer):
    """The portfolio loop, window by window; returns the symbols' counters."""
    m = len(spilled)
    n_bars = np.array([s.n_bars for s in spilled], dtype=np.int64)
    template = K.allocate(1, max(s.n_signals for s in spilled), max(s.n_slots for s in spilled))
    kernel = {  # trade/leg rows: untouched pages of np.empty are never resident
        name: np.empty((m, *template[name].shape), dtype=template[name].dtype)
        for name in ("trades_i", "trades_f", "legs_i", "legs_f")
    }
    for name in ("counters", "work_i", "work_f", "pf"):
        kernel[name] = np.stack([template[name]] * m)
    out, acct = template["out"], template["acct"]
    acct[0] = capital
    cursor = start_cursor(m)
    fparams = np.stack([s.fparams for s in spilled])
    per_tag = spilled[0].per_tag
    maps = _mapped(folder)
    first = int(maps["times"][:, 0].min())
    while (cursor[0] < n_bars).any():
        check_cancelled()
        times = maps["times"]
        now = min(int(times[k, cursor[0, k]]) for k in range(m) if cursor[0, k] < n_bars[k])
        stop = first + ((now - first) // chunk_ns + 1) * chunk_ns
        rows = sum(
            int(np.searchsorted(times[k, : n_bars[k]], stop)) - int(cursor[0, k]) for k in range(m)
        )  # at most this many bar times in the window
        eq_times = np.empty(rows, dtype=np.int64)
        equity = np.empty((rows, 3))
        n = simulate_portfolio(
            n_bars, *_addresses(maps, n_bars), maps["int_at"], maps["float_at"],
            per_tag, fparams, min(stop, END),
            *(kernel[name] for name in ("trades_i", "trades_f", "legs_i", "legs_f", "counters",
                                        "work_i", "work_f", "pf")),
            out, acct, cursor, eq_times, equity,
        )  # fmt: skip
        writer.window(maps, kernel, eq_times[:n], equity[:n])
        maps = _mapped(folder)  # a fresh map: the last window's pages leave this process
    return kernel["counters"]


def run_streamed(
    strategy: Strategy,
    data: Mapping[str, pd.DataFrame] | StoreSlice,
    spec: RunSpec,
    out: str | Path,
    *,
    conversion: Conversion | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    backend: Backend | None = None,
    chunk: pd.Timedelta = CHUNK,
    progress: Progress | None = None,
    stage: Stage | None = None,
    extra_config: Mapping[str, Any] | None = None,
) -> StreamedRun:
    """Run ``spec`` streamed and write its run folder (trades.csv, legs.csv, equity.csv,
    run.json) into ``out``: the same bytes as `write_result` of `run_backtest` with the same
    arguments (which are as there). A shared portfolio streams as the module docstring says,
    sub-accounts as `tradeforge.backtest.stream_accounts` does.

    ``chunk`` is the loop's time window: smaller keeps less in memory, larger costs less
    per window; the files do not depend on it."""
    if chunk <= pd.Timedelta(0):
        raise ConfigError(f"the stream's time window must be positive, got {chunk}")
    n_symbols = len(spec.symbols) or (len(data) if isinstance(data, Mapping) else 0)
    if n_symbols < 2:
        raise ConfigError("streaming runs several symbols (one fits in memory)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=_SPILL, dir=out))
    if spec.portfolio != "shared":
        from tradeforge.backtest.stream_accounts import run_accounts_streamed

        try:
            fields = run_accounts_streamed(
                strategy, data, spec, out, folder, chunk.value, conversion=conversion,
                workers=workers, scheduler=scheduler, backend=backend, progress=progress,
                stage=stage, extra_config=extra_config,
            )  # fmt: skip
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        run = StreamedRun(out=out, **vars(fields))
        write_run_json(out / "run.json", run, run.summary)
        return run
    try:
        spec, spilled, plan = run_jobs(
            strategy, data, spec, conversion=conversion, symbol=None, workers=workers,
            scheduler=scheduler, backend=backend, progress=progress, stage=stage,
            keywords={}, job=_spill_job, state=spill_state, state_args=(str(folder),),
        )  # fmt: skip
        say: Callable[[str | None, str], None] = stage or (lambda _symbol, _name: None)
        say(None, "portfolio")
        symbols = [s.symbol for s in spilled]
        for name in _FILL:
            _stack(folder, symbols, name)
        writer = _Writer(out, spilled)
        try:
            counters = _loop(folder, spilled, spec.initial_capital, chunk.value, writer)
        finally:
            writer.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    totals: dict[str, int] = {}
    for k in range(len(spilled)):
        for name, v in zip(K.COUNTER_NAMES, counters[k, : K.N_COUNTERS], strict=True):
            totals[name] = totals.get(name, 0) + int(v)
    run = StreamedRun(
        out=out,
        config={**run_config(spec), **dict(extra_config or {}), "symbols": symbols},
        counters=totals,
        checksums={f"{s.symbol}/{s.timeframe}": s.checksum for s in spilled},
        initial_capital=spec.initial_capital,
        summary=writer.summary(),
        execution=plan.to_dict(),
    )
    write_run_json(out / "run.json", run, run.summary)
    return run
