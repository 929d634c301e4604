"""Scaling across symbols: 1 vs 2 workers on 4 symbols x 736k M5 bars (``structure``), the
4 symbols' sub-accounts writing their run folder in memory and streamed in 30-day windows
(`run_streamed`: the same bytes, checked), and a 28-pair universe of 7 years of M5 (~20M
bars) read from the store one symbol per job — as sub-accounts, and as one shared portfolio
streamed in 30-day windows.

Rows: wall time (median of ``--repeat``, 1- and 2-worker runs interleaved so machine load
hits both alike), speed-up over serial, the execution the runner chose, and the peak RSS of
the processes doing the work (`PeakRSS`: this process's high-water mark — the runs here use
threads — or, on a cluster, every process of the tree sampled every 20 ms; each universe row
runs in a fresh process, so its peak is its own). The in-memory 4-symbol rows also give
the process's CPU seconds and the serial tail: the wall time from the first stage that runs
after the jobs (the shared portfolio's loop, or the combine) to the end, which no number of
workers shortens. The bars are
synthetic (``generate_bars``, ``calendar="continuous"``) and generated once into
``--home``. Optionally (``--cluster``) the 4-symbol case on a local Dask cluster of two
worker processes, and the streamed universe on it (its workers read the bars from a
``file://`` URL). Results go to ``bench/results/scale.json``.

    python bench/scale_bench.py --home .bench-home [--repeat 3] [--no-universe] [--cluster]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import statistics
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import psutil

RESULTS = Path(__file__).with_name("results")
FOUR = ("EURUSD", "GBPUSD", "AUDUSD", "NZDUSD")
CCY = ("EUR", "GBP", "AUD", "NZD", "USD", "CAD", "CHF", "JPY")
#: the 28 pairs of the 8 majors, in market order
UNIVERSE = tuple(a + b for i, a in enumerate(CCY) for b in CCY[i + 1 :])
START, END = "2019-01-01", "2026-01-01"
STREAM_START = "2019-01-02"


class PeakRSS:
    """Peak resident memory while the block runs.

    This process's is the kernel's high-water mark (``VmHWM``, reset on entry through
    ``/proc/self/clear_refs`` and read on exit): exact, and nothing runs beside the timed
    work. A sampling thread would not be free: walking the process table costs ~3.5 ms of
    CPU and the GIL, every 20 ms, taken from the worker threads of the very run it measures
    (it made the 2-worker rows ~10 % slower). With ``children`` (a run whose work happens in
    other processes: a Dask cluster) the sum of this process's and its descendants' RSS is
    sampled every 20 ms instead. Where the high-water mark cannot be reset (not Linux), this
    process alone is sampled."""

    def __init__(self, children: bool = False) -> None:
        self.children = children

    def __enter__(self) -> PeakRSS:
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hwm = not self.children and _reset_high_water_mark()
        if not self._hwm:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        me = psutil.Process()
        while True:
            total = 0
            for p in [me, *me.children(recursive=True)] if self.children else [me]:
                with contextlib.suppress(psutil.Error):  # a child that just ended
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            if self._stop.wait(0.02):
                return

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        else:
            self.peak = _high_water_mark()


def _reset_high_water_mark() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _high_water_mark() -> int:
    """This process's peak RSS in bytes since the last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _ensure(home: Path, symbols: tuple[str, ...]) -> float:
    from tradeforge.data.cache import ParquetStore
    from tradeforge.data.sources.synthetic import SyntheticParams, generate_bars

    store = ParquetStore(home)
    t0 = time.perf_counter()
    for i, s in enumerate(symbols):
        if not store.has(s, "M5"):
            bars = generate_bars(
                s, "M5", START, END, seed=100 + i, params=SyntheticParams(calendar="continuous")
            )
            store.write(s, "M5", bars, "synthetic")
    return time.perf_counter() - t0


def _spec(symbols, portfolio: str, account_currency: str | None = "USD"):
    """The reference settings; the universe's sub-accounts keep quote-currency money (its
    crosses would otherwise need conversion bars)."""
    from tradeforge.trading.spec import RunSpec

    return RunSpec(
        strategy="structure",
        symbols=tuple(symbols),
        timeframe="M5",
        position_mode="tag",
        portfolio=portfolio,
        initial_capital=10_000_000.0,
        account_currency=account_currency,
    )


def _row(label, times, serial, result, peak, extra: dict | None = None) -> dict:
    """One table row; ``extra`` (named medians: CPU seconds, serial tail) is printed after."""
    median = statistics.median(times)
    row = {
        "case": label,
        "seconds": round(median, 3),
        "runs": [round(t, 3) for t in times],
        "speedup": round(serial / median, 3) if serial else None,
        "ratio_to_serial": round(median / serial, 3) if serial else None,
        "execution": result.execution,
        "peak_rss_mib": round(peak / 2**20, 1),
        "trades": len(result.trades),
        **(extra or {}),
    }
    shown = "".join(f"  {k} {v:.2f}" for k, v in (extra or {}).items())
    print(
        f"{label:<44} {median:7.2f} s  x{row['speedup'] or 1:.2f}  "
        f"{row['peak_rss_mib']:8.0f} MiB  {result.execution['backend']}"
        f"×{result.execution['workers']}{shown}",
        flush=True,
    )
    return row


class SerialTail:
    """A `run_backtest` ``stage`` callback noting when the first stage after the jobs starts
    (symbol None: the shared portfolio's loop, or the combine)."""

    def __init__(self) -> None:
        self.start: float | None = None

    def __call__(self, symbol: str | None, _name: str) -> None:
        if symbol is None and self.start is None:
            self.start = time.perf_counter()


def four_symbols(home: Path, repeat: int, portfolio: str) -> list[dict]:
    """1 vs 2 workers, in memory, interleaved."""
    from tradeforge.backtest import run_backtest
    from tradeforge.data.cache import ParquetStore
    from tradeforge.strategy import create_strategy

    store = ParquetStore(home)
    frames = {s: store.load(s, "M5") for s in FOUR}
    strategy = create_strategy("structure")
    spec = _spec(FOUR, portfolio)
    run_backtest(strategy, frames, spec, workers=2)  # warm: kernels loaded, memos filled
    times: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    tails: dict[int, list[float]] = {1: [], 2: []}
    results, peaks = {}, {1: 0, 2: 0}
    for _ in range(repeat):
        for w in (1, 2):
            tail = SerialTail()
            with PeakRSS() as rss:
                c0, t0 = time.process_time(), time.perf_counter()
                results[w] = run_backtest(strategy, frames, spec, workers=w, stage=tail)
                end = time.perf_counter()
                times[w].append(end - t0)
                cpu[w].append(time.process_time() - c0)
            assert tail.start is not None
            tails[w].append(end - tail.start)
            peaks[w] = max(peaks[w], rss.peak)
    for part in ("trades", "legs", "equity"):
        assert getattr(results[1], part).equals(getattr(results[2], part)), part
    serial = statistics.median(times[1])
    rows = []
    for w in (1, 2):
        extra = {"cpu_s": statistics.median(cpu[w]), "serial_tail_s": statistics.median(tails[w])}
        label = f"4 x 736k M5, {portfolio}, workers={w}"
        rows.append(_row(label, times[w], serial, results[w], peaks[w], extra))
    return rows


def _folder_run(home: Path, streamed: bool, out: Path) -> tuple[float, int, dict]:
    """The 4-symbol sub-accounts (2 workers, bars read from the store) writing the run folder
    ``out``: in memory (`run_backtest`, `write_result`) or streamed in 30-day windows
    (`run_streamed`); warmed first on a month of two symbols. Seconds, peak RSS, execution."""
    from tradeforge.backtest import run_backtest, write_result
    from tradeforge.backtest.stream import run_streamed
    from tradeforge.data.cache import ParquetStore, StoreSlice
    from tradeforge.strategy import create_strategy

    strategy = create_strategy("structure")
    store = ParquetStore(home)
    month = {s: store.load(s, "M5").iloc[:8640] for s in FOUR[:2]}
    run_backtest(strategy, month, _spec(FOUR[:2], "sub-accounts"))  # warm: kernels loaded
    del month
    spec = _spec(FOUR, "sub-accounts")
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        if streamed:
            execution = run_streamed(
                strategy, StoreSlice(str(home), "M5"), spec, out, workers=2
            ).execution
        else:
            result = run_backtest(strategy, StoreSlice(str(home), "M5"), spec, workers=2)
            write_result(result, out)
            execution = result.execution
        seconds = time.perf_counter() - t0
    return seconds, rss.peak, execution


def four_streamed(home: Path, repeat: int) -> list[dict]:
    """The 4-symbol sub-accounts writing their run folder in memory and streamed, each run in
    a fresh process (its peak its own), interleaved; the streamed folder must hold the
    in-memory one's bytes. The streamed row's yardstick is the in-memory one."""
    import shutil
    import tempfile

    times: dict[bool, list[float]] = {False: [], True: []}
    peaks, executions = {False: 0, True: 0}, {}
    for _ in range(repeat):
        outs = {s: Path(tempfile.mkdtemp(prefix="folder-run-", dir=home)) for s in (False, True)}
        try:
            for streamed, out in outs.items():
                seconds, peak, executions[streamed] = _fresh(_folder_run, home, streamed, out)
                times[streamed].append(seconds)
                peaks[streamed] = max(peaks[streamed], peak)
            for name in ("trades.csv", "legs.csv", "equity.csv", "run.json"):
                same = (outs[False] / name).read_bytes() == (outs[True] / name).read_bytes()
                assert same, f"streamed {name} differs from the in-memory one"
            summary = json.loads((outs[True] / "run.json").read_text())["summary"]
        finally:
            for out in outs.values():
                shutil.rmtree(out, ignore_errors=True)
    trades = range(summary["trades"])
    serial = statistics.median(times[False])
    return [
        _row(
            label,
            times[s],
            serial,
            SimpleNamespace(execution=executions[s], trades=trades),
            peaks[s],
        )
        for s, label in (
            (False, "4 x 736k M5, sub-accounts + folder, workers=2"),
            (True, "4 x 736k M5, sub-accounts streamed, workers=2"),
        )
    ]


def universe(home: Path, workers: int, serial: float | None = None) -> dict:
    """28 pairs read from the store one symbol per job (sub-accounts: each job's result is
    its trades, legs and curve; the bars and features of a symbol are dropped after it)."""
    from tradeforge.backtest import run_backtest
    from tradeforge.data.cache import StoreSlice
    from tradeforge.strategy import create_strategy

    spec = _spec(UNIVERSE, "sub-accounts", None)
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        result = run_backtest(
            create_strategy("structure"), StoreSlice(str(home), "M5"), spec, workers=workers
        )
        seconds = time.perf_counter() - t0
    return _row(
        f"28 pairs x 736k M5 (store), sub-accounts, workers={workers}",
        [seconds],
        serial,
        result,
        rss.peak,
    )


def universe_accounts_streamed(home: Path, workers: int, serial: float | None = None) -> dict:
    """The 28 pairs as sub-accounts (as `universe`), streamed in 30-day windows
    (`run_streamed`: each job spills its run, a merge appends the run folder window by
    window); ``serial``: the in-memory row's seconds, its yardstick. The run folder is this
    row's own (benches sharing a ``--home`` run side by side)."""
    import shutil
    import tempfile

    from tradeforge.backtest.stream import run_streamed
    from tradeforge.data.cache import StoreSlice
    from tradeforge.strategy import create_strategy

    spec = _spec(UNIVERSE, "sub-accounts", None)
    out = Path(tempfile.mkdtemp(prefix="streamed-run-", dir=home))
    try:
        with PeakRSS() as rss:
            t0 = time.perf_counter()
            run = run_streamed(
                create_strategy("structure"), StoreSlice(str(home), "M5"), spec, out,
                workers=workers,
            )  # fmt: skip
            seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    result = SimpleNamespace(execution=run.execution, trades=range(run.summary["trades"]))
    return _row(
        f"28 pairs x 736k M5, sub-accounts streamed, workers={workers}",
        [seconds],
        serial,
        result,
        rss.peak,
    )


def universe_streamed(
    home: Path, workers: int, scheduler: str | None = None, serial: float | None = None
) -> dict:
    """The 28 pairs as one shared portfolio in US dollars, streamed in 30-day windows
    (`run_streamed`: inputs spilled per symbol, the run folder written per window); with
    ``scheduler`` the jobs run on that cluster and read the bars from a ``file://`` URL.
    The run folder is this row's own (benches sharing a ``--home`` run side by side)."""
    import shutil
    import tempfile

    from tradeforge.backtest.conversion import load_conversion
    from tradeforge.backtest.stream import run_streamed
    from tradeforge.data.cache import StoreSlice
    from tradeforge.strategy import create_strategy

    # from the second day: the crosses' conversion rates need a completed bar before
    spec = replace(_spec(UNIVERSE, "shared"), start=STREAM_START)
    spec, conversion = load_conversion(spec, home)
    out = Path(tempfile.mkdtemp(prefix="streamed-run-", dir=home))
    where = home.resolve().as_uri() if scheduler else str(home)
    try:
        with PeakRSS(children=scheduler is not None) as rss:
            t0 = time.perf_counter()
            run = run_streamed(
                create_strategy("structure"), StoreSlice(where, "M5", STREAM_START), spec, out,
                conversion=conversion, workers=workers, scheduler=scheduler,
            )  # fmt: skip
            seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    result = SimpleNamespace(execution=run.execution, trades=range(run.summary["trades"]))
    where_ran = "LocalCluster 2 procs" if scheduler else f"workers={workers}"
    return _row(
        f"28 pairs x 736k M5, shared streamed, {where_ran}",
        [seconds],
        serial,
        result,
        rss.peak,
    )


def _local_cluster():
    import distributed

    return distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0",
    )  # fmt: skip


def _streamed_on_cluster(home: Path, serial: float) -> dict:
    with _local_cluster() as cluster:
        return universe_streamed(home, 2, cluster.scheduler_address, serial)


def _fresh(fn, *args) -> dict:
    """``fn(*args)`` in a fresh process (not a pool's daemon: it may start a cluster): the
    peak memory of a universe row is its own, not raised by what earlier rows left in this
    process's heap."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_send, args=(send, fn, args))
    process.start()
    send.close()
    try:
        return receive.recv()  # EOFError: the row failed (its traceback is on stderr)
    finally:
        process.join()


def _send(send, fn, args) -> None:
    send.send(fn(*args))


def cluster_row(home: Path) -> dict:
    from tradeforge.backtest import run_backtest
    from tradeforge.data.cache import StoreSlice
    from tradeforge.strategy import create_strategy

    spec = _spec(FOUR, "sub-accounts")
    with _local_cluster() as cluster:
        source = StoreSlice(str(home), "M5")
        strategy = create_strategy("structure")
        run_backtest(strategy, source, spec, scheduler=cluster.scheduler_address)  # warm
        with PeakRSS(children=True) as rss:
            t0 = time.perf_counter()
            result = run_backtest(strategy, source, spec, scheduler=cluster.scheduler_address)
            seconds = time.perf_counter() - t0
    return _row("4 x 736k M5, sub-accounts, LocalCluster 2 procs", [seconds], None, result,
                rss.peak)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".bench-home"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-universe", action="store_true", help="skip the 28-pair rows")
    parser.add_argument("--cluster", action="store_true", help="add the LocalCluster row")
    args = parser.parse_args()
    symbols = FOUR if args.no_universe else tuple(dict.fromkeys(FOUR + UNIVERSE))
    generation = _ensure(args.home, symbols)
    print(f"data ready ({generation:.1f} s generating); load average {psutil.getloadavg()}")
    rows = four_symbols(args.home, args.repeat, "sub-accounts")
    rows += four_symbols(args.home, args.repeat, "shared")
    rows += four_streamed(args.home, args.repeat)
    if not args.no_universe:
        one = _fresh(universe, args.home, 1)
        rows += [one, _fresh(universe, args.home, 2, one["seconds"])]
        rows.append(_fresh(universe_accounts_streamed, args.home, 2, rows[-1]["seconds"]))
        one = _fresh(universe_streamed, args.home, 1)
        rows += [one, _fresh(universe_streamed, args.home, 2, None, one["seconds"])]
    if args.cluster:
        rows.append(cluster_row(args.home))
        if not args.no_universe:
            rows.append(_fresh(_streamed_on_cluster, args.home, one["seconds"]))
    RESULTS.mkdir(exist_ok=True)
    doc = {"rows": rows, "load_average": psutil.getloadavg(), "cpus": psutil.cpu_count()}
    (RESULTS / "scale.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
