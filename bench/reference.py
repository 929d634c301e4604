"""The reference benchmark (docs/conventions.md): the structure stress strategy, 7 years of M5.

Run with ``make bench``. By default it runs the workload twice in fresh subprocesses sharing
one Numba cache directory: first *cold* (empty cache: every kernel compiles), then *warm*.
Each run prints its stage table; both are written to ``bench/results/reference.json``.

Stages: data load (Parquet cache -> frame), informatives (M30 resample + M30 features merged
onto M5), features (M5), signals, backtest, reporting (all metrics and tables, no charts).
The data set is generated once (seeded) and cached under ``--home``; generation is timed
separately and is not part of the total.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYMBOL, BASE_TF, START, END, SEED = "EURUSD", "M5", "2019-01-01", "2026-01-01", 42
# The stress strategy loses on purpose; with 1 lot per trade it must not blow a small account
# (no entries once the balance is gone), or the workload would shrink to a few thousand trades.
CAPITAL = 10_000_000.0
RESULTS = Path(__file__).with_name("results")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def ensure_data(home: Path) -> float:
    """Generate and cache the reference M5 set if absent; returns the generation time."""
    from tradeforge.data.cache import ParquetStore
    from tradeforge.data.sources.synthetic import SyntheticParams, generate_bars

    store = ParquetStore(home)
    if store.has(SYMBOL, BASE_TF):
        return 0.0
    t0 = time.perf_counter()
    bars = generate_bars(
        SYMBOL, BASE_TF, START, END, seed=SEED, params=SyntheticParams(calendar="continuous")
    )
    store.write(SYMBOL, BASE_TF, bars, source=f"synthetic(seed={SEED},calendar=continuous)")
    return time.perf_counter() - t0


def _cpu() -> float:
    """CPU seconds of this process (all threads) and of its ended children: a cold run's
    kernel compiles in a child process (`tradeforge.backtest.precompile`), counted in the
    stage that waited for it."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class _Clock:
    """Wall and CPU seconds (`_cpu`) since the last `lap`."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), _cpu()

    def lap(self, stages: dict[str, float], cpu: dict[str, float], name: str) -> None:
        wall, proc = time.perf_counter(), _cpu()
        stages[name], cpu[name] = wall - self.wall, proc - self.cpu
        self.wall, self.cpu = wall, proc


def run_once(home: Path) -> dict:
    """One timed pass over every stage; returns the stage table (wall seconds, and CPU
    seconds (`_cpu`), which load from other processes inflates far less)."""
    from tradeforge.analytics import build_report
    from tradeforge.backtest import backtest_signals, precompile
    from tradeforge.core.instruments import get_instrument
    from tradeforge.data.cache import ParquetStore
    from tradeforge.data.resample import resample_ohlcv
    from tradeforge.features import FeatureEngine
    from tradeforge.strategy import get_strategy

    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    counts: dict[str, int] = {}
    strategy = get_strategy("structure")()
    instrument = get_instrument(SYMBOL)
    requests = strategy.features()
    informative = [r for r in requests if "@" in r]
    base = [r for r in requests if "@" not in r]
    engine = FeatureEngine()
    t_all, c_all = time.perf_counter(), _cpu()
    clock = _Clock()  # each lap times the stage since the previous one
    # as `run_backtest` and the backtest command do first: on a cold cache the kernel then
    # compiles in a child process while the bars load and the features compute
    precompile.start("symbol")
    bars = ParquetStore(home).load(SYMBOL, BASE_TF)
    clock.lap(stages, cpu, "data_load")
    counts["bars"] = len(bars)

    frame = engine.compute(bars, informative, BASE_TF)  # resample to M30, compute, merge
    clock.lap(stages, cpu, "informatives")

    frame = engine.compute(frame, base, BASE_TF)
    clock.lap(stages, cpu, "features")

    signals = strategy.signals(frame, instrument)
    clock.lap(stages, cpu, "signals")
    counts["signals"] = len(signals)

    result = backtest_signals(
        frame, signals, SYMBOL, position_mode="tag", instrument=instrument, initial_capital=CAPITAL
    )
    clock.lap(stages, cpu, "backtest")
    counts["trades"] = len(result.trades)
    counts["legs"] = len(result.legs)

    build_report(result)
    clock.lap(stages, cpu, "reporting")
    stages["total"], cpu["total"] = time.perf_counter() - t_all, _cpu() - c_all

    # Sub-benchmarks named by the issues (not part of the total), and the steady state of a
    # research loop: the same stages again in this process (Numba runtime and kernels loaded).
    clock = _Clock()
    resample_ohlcv(bars, "M30")
    clock.lap(stages, cpu, "extra: resample M5->M30")
    again = FeatureEngine().compute(bars, requests, BASE_TF)
    clock.lap(stages, cpu, "extra: features+informatives, 2nd pass")
    signals = strategy.signals(again, instrument)
    clock.lap(stages, cpu, "extra: signals, 2nd pass")
    backtest_signals(
        again, signals, SYMBOL, position_mode="tag", instrument=instrument, initial_capital=CAPITAL
    )
    clock.lap(stages, cpu, "extra: backtest, 2nd pass")
    return {"stages": stages, "cpu_stages": cpu, "counts": counts, "peak_memory_mib": _peak_mib()}


def _print_table(label: str, run: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"reference benchmark — {label}")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("CPU seconds", justify="right")
    for name, secs in run["stages"].items():
        table.add_row(name, f"{secs:.3f}", f"{run['cpu_stages'][name]:.3f}")
    table.add_row("peak memory", f"{run['peak_memory_mib']:.0f} MiB")
    for name, value in run["counts"].items():
        table.add_row(name, f"{value:,}")
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".bench-home"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warm-only", action="store_true", help="skip the cold run")
    args = parser.parse_args()
    home = args.home.resolve()

    if args.child:  # one measured pass; prints JSON on the last line
        print(json.dumps(run_once(home)))
        return

    home.mkdir(parents=True, exist_ok=True)
    generated = ensure_data(home)
    if generated:
        print(f"generated the reference data set in {generated:.2f} s")
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="tf-numba-") as numba_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": numba_dir}
        labels = ["warm"] if args.warm_only else ["cold", "warm"]
        if args.warm_only:
            env.pop("NUMBA_CACHE_DIR")
        for label in labels:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", "--home", str(home)],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout + proc.stderr)
                raise SystemExit(f"benchmark {label} run failed")
            runs[label] = json.loads(proc.stdout.strip().splitlines()[-1])
            _print_table(label, runs[label])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "reference.json"
    out.write_text(json.dumps({"generation_s": generated, **runs}, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
