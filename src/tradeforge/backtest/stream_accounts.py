"""Sub-accounts of a universe larger than memory: every symbol's run spilled, merged in windows.

`stream.run_streamed` hands a ``sub-accounts`` spec here. Each symbol trades its own account,
so its job (`runner._symbol_job`, on the backend `plan_execution` picks) runs its whole
simulation; the job spills the run's trades, legs and equity curve to the run's scratch
folder, one ``.npy`` file a table (a record of its columns per row, written atomically:
`stream.spill`), and keeps a small `_Account` record. The merge then walks time windows (``chunk``) and appends to the
run folder's CSVs what `runner.combine_runs` makes of those rows:

* ``equity.csv``: the window's bar times of every symbol, each curve summed onto the account
  (``initial_capital`` per symbol) as `runner._sum_equity` sums them — a symbol without a
  bar at a time held at its previous value (carried from window to window), flat before its
  first bar;
* ``trades.csv``: the trades entered in the window, numbered run-wide by (entry time,
  symbol, local id) — a later window only enters later trades, so the ids are final;
* ``legs.csv``: the window's legs, their trades renumbered (every trade a leg belongs to
  entered before it), stably ordered by (time, trade id).

So the files are the in-memory run's bytes, and what stays in memory is the jobs running,
one step of every symbol and a local→run trade id map per symbol (8 bytes a trade). A step
is a window, or consecutive windows holding fewer than `STEP_ROWS` bar rows together (what a
step costs is mostly fixed; the files do not depend on where steps end). Each table's rows
of every step are found once up front (a binary search of its ordering column at the window
edges); a step then reads just those rows of each table with one plain read (no memory map
keeps its pages in the process) and formats them as Arrow columns, so a step costs three
reads and a few array operations per symbol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tradeforge.backtest.io import (
    TRADE_TIME_COLUMNS,
    RunCsvs,
    iso_times,
    needs_quotes,
    run_config,
)
from tradeforge.backtest.parallel import Backend, check_cancelled
from tradeforge.backtest.runner import Progress, Stage, _symbol_job, run_jobs
from tradeforge.backtest.stream import SpillState, spill, spill_state
from tradeforge.data.cache import StoreSlice
from tradeforge.strategy.base import Strategy
from tradeforge.trading.fx import Conversion
from tradeforge.trading.result import EQUITY_COLUMNS, LEG_COLUMNS, TRADE_COLUMNS
from tradeforge.trading.spec import RunSpec

#: the spilled tables: their columns, and the column a window selects rows by (each table
#: of one symbol is in that column's order: bars, trades by entry, legs as booked)
_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "equity": (("time", *EQUITY_COLUMNS), "time"),
    "trades": (TRADE_COLUMNS, "entry_time"),
    "legs": (LEG_COLUMNS, "time"),
}
#: the fewest bar rows (all symbols together) a merge step holds: consecutive windows with
#: fewer are merged in one step, since what a step costs is mostly fixed (a read per column
#: and symbol, a few Arrow calls per table) — 1-day windows cost what 30-day ones do
STEP_ROWS = 1 << 16


@dataclass(frozen=True)
class _Account:
    """A symbol's job result: its run is in the scratch folder."""

    symbol: str
    categories: dict[tuple[str, str], tuple[str, ...]]  # (table, column) -> labels
    counters: dict[str, int]
    checksum: str
    timeframe: str


def _part(folder: str | Path, symbol: str, table: str) -> Path:
    return Path(folder) / f"{symbol}.{table}.npy"


def _account_job(state: SpillState, symbol: str, stage: Stage | None = None) -> _Account:
    """The runner's job (the symbol's own account), its run written to the scratch folder."""
    output = _symbol_job(state.job, symbol, stage)
    run = output.run
    assert run is not None and run.equity is not None  # a sub-account's job
    tables = {
        "equity": run.equity.rename_axis("time").reset_index(),
        "trades": run.trades,
        "legs": run.legs,
    }
    categories: dict[tuple[str, str], tuple[str, ...]] = {}
    for table, frame in tables.items():
        fields: dict[str, np.ndarray] = {}
        for column in _TABLES[table][0]:
            values = frame[column]
            if isinstance(values.dtype, pd.CategoricalDtype):
                categories[table, column] = tuple(str(c) for c in values.cat.categories)
                fields[column] = values.cat.codes.to_numpy()
            elif isinstance(values.dtype, pd.DatetimeTZDtype):
                fields[column] = values.array.as_unit("ns").asi8
            else:
                fields[column] = values.to_numpy()
        records = np.empty(len(frame), dtype=[(c, a.dtype) for c, a in fields.items()])
        for column, data in fields.items():
            records[column] = data
        spill(_part(state.folder, symbol, table), records)
    check_cancelled()
    return _Account(symbol, categories, dict(run.counters), output.checksum, output.timeframe)


@dataclass(frozen=True)
class _Table:
    """A spilled table (a record of its columns per row): its file, record type and where
    its first row starts. Rows are read with a plain read (no memory map), so only the
    step's copy is in this process — one read a table, symbol and step."""

    path: Path
    dtype: np.dtype
    offset: int

    @classmethod
    def of(cls, path: Path) -> _Table:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0
            if version != (1, 0):
                read = np.lib.format.read_array_header_2_0
            _shape, _fortran, dtype = read(f)
            return cls(path, dtype, f.tell())

    def read(self, rows: slice) -> np.ndarray:
        count = rows.stop - rows.start
        if count == 0:
            return np.empty(0, self.dtype)
        offset = self.offset + rows.start * self.dtype.itemsize
        return np.fromfile(self.path, self.dtype, count=count, offset=offset)


def _mapped(folder: Path, symbol: str, table: str) -> np.ndarray:
    """The ordering column of a spilled table, mapped (a strided view of the records that
    keeps the map only as long as it is used: one table's pages in the process at a time)."""
    return np.load(_part(folder, symbol, table), mmap_mode="r")[_TABLES[table][1]]


def _union(times: list[np.ndarray]) -> np.ndarray:
    """The sorted union of increasing bar times: the longest when it holds all the others
    (symbols on one calendar: a binary search, not a sort of them all)."""
    longest = max(times, key=len)
    for t in times:
        at = np.searchsorted(longest, t)
        if len(t) and (at[-1] == len(longest) or not np.array_equal(longest[at], t)):
            return np.unique(np.concatenate(times))
    return longest


def _steps(rows: np.ndarray, least: int) -> np.ndarray:
    """The window edges a merge steps at (positions in ``rows``, the rows before each edge;
    the first and last kept): each step spans as few consecutive windows as hold ``least``
    rows together, the last one what remains."""
    kept, last = [0], len(rows) - 1
    while kept[-1] < last:
        reach = int(np.searchsorted(rows, rows[kept[-1]] + least))
        kept.append(min(max(reach, kept[-1] + 1), last))
    return np.array(kept)


class _Merge(RunCsvs):
    """The three CSVs of the merged run, appended step by step (module docstring): a step
    is a window, or consecutive windows holding fewer than `STEP_ROWS` bar rows together.

    Each spilled file's header is read once; each table's rows of every step are found up
    front (its ordering column mapped once, binary-searched at every window edge), so a
    step reads just its rows of each column and formats them straight to Arrow."""

    def __init__(
        self, folder: Path, out: Path, accounts: list[_Account], capital: float, chunk_ns: int
    ) -> None:
        words = [a.symbol for a in accounts]
        words += [c for a in accounts for cs in a.categories.values() for c in cs]
        super().__init__(out, needs_quotes(words))
        self.accounts, self.capital = accounts, capital
        self.total = capital * len(accounts)
        self.tables = [
            {table: _Table.of(_part(folder, a.symbol, table)) for table in _TABLES}
            for a in accounts
        ]
        times = (_mapped(folder, a.symbol, "equity") for a in accounts)
        ends = [t[[0, -1]] for t in times if len(t)]  # each curve's first and last bar time
        first = min(int(t[0]) for t in ends)
        n = (max(int(t[1]) for t in ends) - first) // chunk_ns + 1
        edges = first + chunk_ns * np.arange(n + 1, dtype=np.int64)
        bounds = {
            table: np.array(
                [np.searchsorted(_mapped(folder, a.symbol, table), edges) for a in accounts],
                dtype=np.int64,
            )
            for table in _TABLES
        }
        kept = _steps(bounds["equity"].sum(axis=0), STEP_ROWS)
        #: table -> (symbols, steps + 1): where each step's rows start
        self.bounds = {table: b[:, kept] for table, b in bounds.items()}
        #: (table, column) -> every account's labels end to end, and where each one's start
        #: (a step's codes of all symbols become one take of these)
        self.labels: dict[tuple[str, str], tuple[pa.Array, np.ndarray]] = {}
        for where in accounts[0].categories:
            names = [a.categories[where] for a in accounts]
            starts = np.cumsum([0, *map(len, names)])[:-1]
            self.labels[where] = pa.array([c for cs in names for c in cs], pa.string()), starts
        # `runner._sum_equity` adds a curve on every bar time of the run as it is, another
        # one reindexed and filled (NaN before its first bar counts 0)
        union = sum(len(self._bar_times(w)) for w in range(len(kept) - 1))
        self.whole = [int(b[-1] - b[0]) == union for b in self.bounds["equity"]]
        self.carry = np.full((len(accounts), 3), np.nan)  # a symbol's last row so far
        self.ids: list[list[np.ndarray]] = [[] for _ in accounts]  # local -> run trade id
        self.known = 0

    def run(self) -> None:
        for w in range(self.bounds["equity"].shape[1] - 1):
            check_cancelled()
            self._equity(self._read("equity", w))
            self._trades(w, self._read("trades", w))
            self._legs(self._read("legs", w))

    def _rows(self, table: str, w: int) -> list[slice]:
        """Each symbol's rows of ``table`` in step ``w``."""
        return [slice(int(b[w]), int(b[w + 1])) for b in self.bounds[table]]

    def _read(self, table: str, w: int) -> list[np.ndarray]:
        """Each symbol's rows of ``table`` in step ``w`` (records of its columns)."""
        return [self.tables[k][table].read(r) for k, r in enumerate(self._rows(table, w))]

    def _bar_times(self, w: int) -> np.ndarray:
        return _union([records["time"] for records in self._read("equity", w)])

    def _arrow(
        self,
        table: str,
        parts: list[tuple[int, np.ndarray]],
        order: np.ndarray,
        times: tuple[str, ...],
        **replaced: np.ndarray,
    ) -> dict[str, pa.Array]:
        """The rows ``parts`` (symbol, records) of ``table``, concatenated and taken in
        ``order``, as the Arrow columns of `io.RunCsvs.append_columns` (``replaced``: columns
        given)."""
        columns: dict[str, pa.Array] = {}
        for column in _TABLES[table][0]:
            if column in replaced:
                columns[column] = pa.array(replaced[column][order])
                continue
            values = [records[column] for _, records in parts]
            if (table, column) in self.labels:
                labels, starts = self.labels[table, column]
                codes = np.concatenate(
                    [
                        np.where(c >= 0, c.astype(np.int64) + starts[k], -1)  # -1 stays out
                        for (k, _), c in zip(parts, values, strict=True)
                    ]
                )
                columns[column] = pc.take(labels, codes[order])
            elif column in times:
                columns[column] = iso_times(np.concatenate(values)[order])
            else:
                columns[column] = pa.array(np.concatenate(values)[order])
        return columns

    def _equity(self, rows: list[np.ndarray]) -> None:
        times = [records["time"] for records in rows]
        # a curve on every bar time of the run has the window's bar times
        whole = [t for t, on_every_time in zip(times, self.whole, strict=True) if on_every_time]
        index = whole[0] if whole else _union(times)
        equity = np.full(len(index), self.total)
        balance = np.full(len(index), self.total)
        open_pos = np.zeros(len(index), dtype=np.int64)
        for k, records in enumerate(rows):
            e, bal, op = (records[name] for name in EQUITY_COLUMNS)
            if self.whole[k]:
                equity += e - self.capital
                balance += bal - self.capital
                open_pos += op
            else:
                at = np.searchsorted(times[k], index, side="right") - 1
                held = at >= 0
                filled = [
                    np.where(held, v[np.maximum(at, 0)], self.carry[k, i]) if len(v) else
                    np.full(len(index), self.carry[k, i])
                    for i, v in enumerate((e, bal, op.astype(np.float64)))
                ]  # fmt: skip
                equity += np.nan_to_num(filled[0] - self.capital)
                balance += np.nan_to_num(filled[1] - self.capital)
                open_pos += np.nan_to_num(filled[2]).astype(np.int64)
            if len(e):
                self.carry[k] = (e[-1], bal[-1], op[-1])
        if len(index):
            self.last_equity = float(equity[-1])
            columns = (iso_times(index), equity, balance, open_pos)
            names = ("time", *EQUITY_COLUMNS)
            self.append_columns("equity", dict(zip(names, map(pa.array, columns), strict=True)))

    def _trades(self, w: int, rows: list[np.ndarray]) -> None:
        entry = [records["entry_time"] for records in rows]
        symbol = [np.full(len(e), k, dtype=np.int64) for k, e in enumerate(entry)]
        local = [np.arange(r.start, r.stop, dtype=np.int64) for r in self._rows("trades", w)]
        e, s, t = (np.concatenate(x) for x in (entry, symbol, local))
        order = np.lexsort((t, s, e))
        ids = np.empty(len(order), dtype=np.int64)
        ids[order] = self.known + np.arange(len(order), dtype=np.int64)
        for k in range(len(self.accounts)):
            self.ids[k].append(ids[s == k])
        self.known += len(order)
        if len(order):
            parts = [(k, records) for k, records in enumerate(rows) if len(records)]
            columns = self._arrow("trades", parts, order, TRADE_TIME_COLUMNS, trade_id=ids)
            self.append_columns("trades", columns)

    def _run_ids(self, k: int) -> np.ndarray:
        if len(self.ids[k]) > 1:
            self.ids[k] = [np.concatenate(self.ids[k])]
        return self.ids[k][0] if self.ids[k] else np.zeros(0, dtype=np.int64)

    def _legs(self, rows: list[np.ndarray]) -> None:
        parts = [(k, records) for k, records in enumerate(rows) if len(records)]
        if not parts:
            return
        trade_id = np.concatenate([self._run_ids(k)[records["trade_id"]] for k, records in parts])
        time = np.concatenate([records["time"] for _, records in parts])
        order = np.lexsort((trade_id, time))
        self.append_columns("legs", self._arrow("legs", parts, order, ("time",), trade_id=trade_id))


def run_accounts_streamed(
    strategy: Strategy,
    data: Mapping[str, pd.DataFrame] | StoreSlice,
    spec: RunSpec,
    out: Path,
    folder: Path,
    chunk_ns: int,
    *,
    conversion: Conversion | None,
    workers: int,
    scheduler: str | None,
    backend: Backend | None,
    progress: Progress | None,
    stage: Stage | None,
    extra_config: Mapping[str, Any] | None,
) -> Any:
    """`stream.run_streamed` of a sub-accounts ``spec`` (see the module docstring), spilling
    into the scratch ``folder``; returns its `StreamedRun` fields as a namespace."""
    spec, accounts, plan = run_jobs(
        strategy, data, spec, conversion=conversion, symbol=None, workers=workers,
        scheduler=scheduler, backend=backend, progress=progress, stage=stage, keywords={},
        job=_account_job, state=spill_state, state_args=(str(folder),),
    )  # fmt: skip
    say: Callable[[str | None, str], None] = stage or (lambda _symbol, _name: None)
    say(None, "combine")
    merge = _Merge(folder, out, accounts, spec.initial_capital, chunk_ns)
    try:
        merge.run()
    finally:
        merge.close()
    counters: dict[str, int] = {}
    for account in accounts:
        for name, v in account.counters.items():
            counters[name] = counters.get(name, 0) + v
    symbols = sorted(a.symbol for a in accounts)
    return SimpleNamespace(
        config={**run_config(spec), **dict(extra_config or {}), "symbols": symbols},
        counters=counters,
        checksums={f"{a.symbol}/{a.timeframe}": a.checksum for a in accounts},
        initial_capital=merge.total,
        summary=merge.summary(),
        execution=plan.to_dict(),
    )
