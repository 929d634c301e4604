"""Optimisation throughput: a 200-trial grid of ``sma_cross`` on 5 years of synthetic H1 bars.

Runs the same grid in-process (1 worker) and on 2 local worker processes, checks that both
give the same trials table, and prints trials per second and the speed-up. Results go to
``bench/results/optimize.json``. The Numba kernels are compiled (or loaded from the cache)
before timing; the feature union (30 SMAs) is precomputed once per run and timed with it.

    python bench/optimize_bench.py [--workers 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results")
SPACE = ["fast=2:21", "slow=25:70:5"]  # 20 x 10 = 200 grid points, fast < slow everywhere


def _run(bars, space, backend) -> tuple[float, object]:
    from tradeforge.research.objective import Objective
    from tradeforge.research.optimize import optimize
    from tradeforge.strategy import get_strategy

    t0 = time.perf_counter()
    result = optimize(
        get_strategy("sma_cross"),
        {"EURUSD": bars},
        space,
        objective=Objective("expectancy_r", min_trades=30),
        backend=backend,
    )
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="best of N timings")
    args = parser.parse_args()

    from tradeforge.data.sources.synthetic import generate_bars
    from tradeforge.research.backends import InProcessBackend, ProcessBackend
    from tradeforge.research.space import ParameterSpace
    from tradeforge.strategy import get_strategy

    bars = generate_bars("EURUSD", "H1", "2019-01-01", "2024-01-01", seed=7)
    space = ParameterSpace.from_specs(get_strategy("sma_cross"), SPACE)
    assert space.size == 200
    # warm-up: compile/load the Numba kernels in this process
    small = ParameterSpace.from_specs(get_strategy("sma_cross"), ["fast=5", "slow=30"])
    _run(bars.iloc[:500], small, InProcessBackend())

    timings: dict[str, float] = {}
    results = {}
    for label, make in (
        ("1 worker (in-process)", InProcessBackend),
        (f"{args.workers} workers (processes)", lambda: ProcessBackend(args.workers)),
    ):
        best = float("inf")
        for _ in range(args.repeat):
            with make() as backend:
                seconds, result = _run(bars, space, backend)
            best = min(best, seconds)
        timings[label] = best
        results[label] = result
    serial, parallel = list(results.values())
    identical = serial.trials.equals(parallel.trials)
    t1, t2 = timings.values()
    report = {
        "bars": len(bars),
        "trials": 200,
        "cpu_count": os.cpu_count(),
        "seconds": timings,
        "trials_per_second": {k: 200 / v for k, v in timings.items()},
        "speedup": t1 / t2,
        "identical_results": identical,
        "best_params": serial.best_params,
    }
    print(f"{len(bars):,} H1 bars, 200-trial grid of sma_cross")
    for label, seconds in timings.items():
        print(f"  {label:<28} {seconds:7.2f} s  {200 / seconds:7.1f} trials/s")
    print(f"  speed-up {t1 / t2:.2f}x; identical results: {identical}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "optimize.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not identical:
        raise SystemExit("parallel results differ from serial results")


if __name__ == "__main__":
    main()
