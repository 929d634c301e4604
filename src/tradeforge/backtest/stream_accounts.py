"""Sub-accounts of a universe larger than memory: every symbol's run spilled, merged in windows.

`stream.run_streamed` hands a ``sub-accounts`` spec here. Each symbol trades its own account,
so its job (`runner._symbol_job`, on the backend `plan_execution` picks) runs its whole
simulation; the job spills the run's trades, legs and equity curve column by column to
``.npy`` files in the run's scratch folder and keeps a small `_Account` record. The merge then
walks time windows (``chunk``) and appends to the run folder's CSVs what `runner.combine_runs`
makes of those rows:

* ``equity.csv``: the window's bar times of every symbol, each curve summed onto the account
  (``initial_capital`` per symbol) as `runner._sum_equity` sums them — a symbol without a
  bar at a time held at its previous value (carried from window to window), flat before its
  first bar;
* ``trades.csv``: the trades entered in the window, numbered run-wide by (entry time,
  symbol, local id) — a later window only enters later trades, so the ids are final;
* ``legs.csv``: the window's legs, their trades renumbered (every trade a leg belongs to
  entered before it), stably ordered by (time, trade id).

So the files are the in-memory run's bytes, and what stays in memory is the jobs running,
one window of every symbol and a local→run trade id map per symbol (8 bytes a trade).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.backtest.io import (
    RunCsvs,
    needs_quotes,
    run_config,
)
from tradeforge.backtest.parallel import Backend, check_cancelled
from tradeforge.backtest.runner import Progress, Stage, _job_state, _JobState, _symbol_job, run_jobs
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


@dataclass(frozen=True)
class _Account:
    """A symbol's job result: its run is in the scratch folder."""

    symbol: str
    times: frozenset[tuple[str, str]]  # (table, column) of the time columns
    categories: dict[tuple[str, str], tuple[str, ...]]  # (table, column) -> labels
    counters: dict[str, int]
    checksum: str
    timeframe: str


@dataclass(frozen=True)
class _AccountState:
    folder: str
    job: _JobState


def _account_state(folder: str, *args: Any) -> _AccountState:
    return _AccountState(folder, _job_state(*args))


def _part(folder: str | Path, symbol: str, table: str, column: str) -> Path:
    return Path(folder) / f"{symbol}.{table}.{column}.npy"


def _account_job(state: _AccountState, symbol: str, stage: Stage | None = None) -> _Account:
    """The runner's job (the symbol's own account), its run written to the scratch folder."""
    output = _symbol_job(state.job, symbol, stage)
    run = output.run
    assert run is not None and run.equity is not None  # a sub-account's job
    tables = {
        "equity": run.equity.rename_axis("time").reset_index(),
        "trades": run.trades,
        "legs": run.legs,
    }
    times, categories = set(), {}
    for table, frame in tables.items():
        for column in _TABLES[table][0]:
            values = frame[column]
            if isinstance(values.dtype, pd.CategoricalDtype):
                categories[table, column] = tuple(str(c) for c in values.cat.categories)
                data = values.cat.codes.to_numpy()
            elif isinstance(values.dtype, pd.DatetimeTZDtype):
                times.add((table, column))
                data = values.array.as_unit("ns").asi8
            else:
                data = values.to_numpy()
            np.save(_part(state.folder, symbol, table, column), data)
    check_cancelled()
    return _Account(
        symbol, frozenset(times), categories, dict(run.counters), output.checksum,
        output.timeframe,
    )  # fmt: skip


class _Merge(RunCsvs):
    """The three CSVs of the merged run, appended window by window (module docstring)."""

    def __init__(
        self, folder: Path, out: Path, accounts: list[_Account], capital: float, chunk_ns: int
    ) -> None:
        words = [a.symbol for a in accounts]
        words += [c for a in accounts for cs in a.categories.values() for c in cs]
        super().__init__(out, needs_quotes(words))
        self.folder, self.accounts, self.capital = folder, accounts, capital
        self.total = capital * len(accounts)
        self._remap()
        times = [t for t in self.keys["equity"] if len(t)]
        first = min(int(t[0]) for t in times)
        n = (max(int(t[-1]) for t in times) - first) // chunk_ns + 1
        self.windows = [(first + i * chunk_ns, first + (i + 1) * chunk_ns) for i in range(n)]
        # `runner._sum_equity` adds a curve on every bar time of the run as it is, another
        # one reindexed and filled (NaN before its first bar counts 0)
        union = 0
        for a, b in self.windows:
            union += len(
                np.unique(np.concatenate([t[_rows(t, a, b)] for t in self.keys["equity"]]))
            )
            self._remap()
        self.whole = [len(t) == union for t in self.keys["equity"]]
        self.carry = np.full((len(accounts), 3), np.nan)  # a symbol's last row so far
        self.ids: list[list[np.ndarray]] = [[] for _ in accounts]  # local -> run trade id
        self.known = 0

    def _remap(self) -> None:
        """Each table's ordering column, mapped afresh: the pages read so far (a window's)
        leave this process."""
        self.keys = {
            table: [self._map(a, table, column) for a in self.accounts]
            for table, (_, column) in _TABLES.items()
        }

    def _map(self, account: _Account, table: str, column: str) -> np.ndarray:
        return np.load(_part(self.folder, account.symbol, table, column), mmap_mode="r")

    def run(self) -> None:
        for a, b in self.windows:
            check_cancelled()
            self._equity(a, b)
            self._trades(a, b)
            self._legs(a, b)
            self._remap()

    def _load(self, k: int, table: str, rows: slice) -> pd.DataFrame:
        """Rows of a symbol's spilled table as the frame the in-memory run had."""
        account = self.accounts[k]
        data: dict[str, Any] = {}
        for column in _TABLES[table][0]:
            values = np.array(self._map(account, table, column)[rows])
            if (table, column) in account.times:
                values = pd.DatetimeIndex(values.view("datetime64[ns]")).tz_localize("UTC")
            elif (table, column) in account.categories:
                values = pd.Categorical.from_codes(
                    values, categories=list(account.categories[table, column])
                )
            data[column] = values
        return pd.DataFrame(data)

    def _slices(self, table: str, a: int, b: int) -> list[slice]:
        """Each symbol's rows of ``table`` in ``[a, b)``."""
        return [_rows(key, a, b) for key in self.keys[table]]

    def _equity(self, a: int, b: int) -> None:
        slices = self._slices("equity", a, b)
        times = self.keys["equity"]
        index = np.unique(np.concatenate([t[s] for t, s in zip(times, slices, strict=True)]))
        equity = np.full(len(index), self.total)
        balance = np.full(len(index), self.total)
        open_pos = np.zeros(len(index), dtype=np.int64)
        for k, rows in enumerate(slices):
            c = self._load(k, "equity", rows)
            e, bal, op = (c[name].to_numpy() for name in EQUITY_COLUMNS)
            if self.whole[k]:
                equity += e - self.capital
                balance += bal - self.capital
                open_pos += op
            else:
                at = np.searchsorted(times[k][rows], index, side="right") - 1
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
            frame = pd.DataFrame(
                {
                    "time": pd.DatetimeIndex(index.view("datetime64[ns]")).tz_localize("UTC"),
                    EQUITY_COLUMNS[0]: equity,
                    EQUITY_COLUMNS[1]: balance,
                    EQUITY_COLUMNS[2]: open_pos,
                }
            )
            self.append("equity", frame, ("time",))

    def _trades(self, a: int, b: int) -> None:
        slices = self._slices("trades", a, b)
        entry = [np.asarray(self.keys["trades"][k][s]) for k, s in enumerate(slices)]
        symbol = [np.full(len(e), k, dtype=np.int64) for k, e in enumerate(entry)]
        local = [np.arange(s.start, s.stop, dtype=np.int64) for s in slices]
        e, s, t = (np.concatenate(x) for x in (entry, symbol, local))
        order = np.lexsort((t, s, e))
        ids = np.empty(len(order), dtype=np.int64)
        ids[order] = self.known + np.arange(len(order), dtype=np.int64)
        for k in range(len(self.accounts)):
            self.ids[k].append(ids[s == k])
        self.known += len(order)
        if not len(order):
            return
        frames = [self._load(k, "trades", s) for k, s in enumerate(slices) if s.stop > s.start]
        trades = pd.concat(frames, ignore_index=True).take(order).reset_index(drop=True)
        trades["trade_id"] = ids[order]
        self.append_trades(trades)

    def _run_ids(self, k: int) -> np.ndarray:
        if len(self.ids[k]) > 1:
            self.ids[k] = [np.concatenate(self.ids[k])]
        return self.ids[k][0] if self.ids[k] else np.zeros(0, dtype=np.int64)

    def _legs(self, a: int, b: int) -> None:
        slices = self._slices("legs", a, b)
        frames = []
        for k, rows in enumerate(slices):
            if rows.stop == rows.start:
                continue
            frame = self._load(k, "legs", rows)
            frame["trade_id"] = self._run_ids(k)[frame["trade_id"].to_numpy()]
            frames.append(frame)
        if not frames:
            return
        legs = pd.concat(frames, ignore_index=True)
        order = np.lexsort((legs["trade_id"].to_numpy(), legs["time"].array.asi8))
        self.append("legs", legs.take(order), ("time",))


def _rows(key: np.ndarray, a: int, b: int) -> slice:
    """The rows of a sorted time column in ``[a, b)``."""
    return slice(int(np.searchsorted(key, a)), int(np.searchsorted(key, b)))


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
        job=_account_job, state=_account_state, state_args=(str(folder),),
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
