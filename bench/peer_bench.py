"""Peer workload: the whole ``run_backtest`` call against a plain Numba loop of the same rules.

The workload every backtesting library can run: long when the close crosses above SMA(10),
short when it crosses below, stop 10 pips and target 15 pips from the fill, fills at the next
bar's open, one position at a time, zero costs, 1 lot — on the 736,416 M5 bars of the
reference set (``make bench`` generates them under ``--home``).

The yardstick is that workload written directly as one Numba function (SMA, crosses and the
position loop; no frames, no validation, no result tables): the cost of the rules alone. The
framework runs it as ``sma_cross`` with ``fast=1`` (the close) and ``slow=10``. Both are timed
interleaved in one process (best of ``--rounds``, and the median of the per-round ratios), so
machine noise hits both alike; the ratio is the figure to watch. They must produce the same
trades (count and P&L), else the ratio compares different work and the script fails.

Each call is also timed in CPU time of the calling thread (everything runs on it), which
load from other processes inflates far less than wall time: ``cpu_ratio`` is the figure
to compare on a busy machine. The stage split says where the framework's time goes: the runner's stages as its ``stage``
callback reports them (features, signals, simulate, combine; ``setup`` is the call up to the
first stage), the simulate stage further split by timing the kernel alone on the same inputs
(``kernel``; the rest of simulate is preparing the arrays and building the result frames).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit
from reference import BASE_TF, RESULTS, SYMBOL, ensure_data

PERIOD, STOP_PIPS, TARGET_PIPS = 10, 10.0, 15.0
TOUCH_TOL = 1e-9  # the framework's relative touch tolerance (float noise on computed levels)


@njit(cache=True)
def yardstick(o, h, lo, c, period, stop_dist, target_dist):  # pragma: no cover - numba
    """Trades of the peer workload: (entry bar, exit bar, side, entry, exit) arrays."""
    n = len(c)
    sma = np.full(n, np.nan)
    acc = 0.0
    for i in range(n):
        acc += c[i]
        if i >= period:
            acc -= c[i - period]
        if i >= period - 1:
            if (i + 1) % period == 0:  # re-anchor the running sum (as the library does)
                acc = 0.0
                for j in range(i - period + 1, i + 1):
                    acc += c[j]
            sma[i] = acc / period
    entry_bar = np.empty(n, np.int64)
    exit_bar = np.empty(n, np.int64)
    sides = np.empty(n, np.int64)
    entries = np.empty(n)
    exits = np.empty(n)
    k = 0
    side = 0  # open position: +1 / -1, 0 flat
    pending = 0  # side of a market entry for this bar's open
    entry = stop = target = 0.0
    start = 0
    for t in range(n):
        if pending != 0 and side == 0:
            side, entry, start = pending, o[t], t
            stop = entry - side * stop_dist
            target = entry + side * target_dist
        pending = 0
        if side != 0:
            px = np.nan
            st_tol = TOUCH_TOL * abs(stop)
            tg_tol = TOUCH_TOL * abs(target)
            if side > 0:
                if o[t] <= stop + st_tol or o[t] >= target - tg_tol:
                    px = o[t]
                elif lo[t] <= stop + st_tol:
                    px = stop
                elif h[t] >= target - tg_tol:
                    px = target
            else:
                if o[t] >= stop - st_tol or o[t] <= target + tg_tol:
                    px = o[t]
                elif h[t] >= stop - st_tol:
                    px = stop
                elif lo[t] <= target + tg_tol:
                    px = target
            if not np.isnan(px):
                entry_bar[k], exit_bar[k], sides[k], entries[k], exits[k] = (
                    start,
                    t,
                    side,
                    entry,
                    px,
                )
                k += 1
                side = 0
        if t > 0 and side == 0 and np.isfinite(sma[t - 1]):
            if c[t] > sma[t] and not c[t - 1] > sma[t - 1]:
                pending = 1
            elif c[t] < sma[t] and not c[t - 1] < sma[t - 1]:
                pending = -1
    if side != 0:  # still open at the end of the data: closed at the last close
        entry_bar[k], exit_bar[k], sides[k], entries[k], exits[k] = start, n - 1, side, entry, c[-1]
        k += 1
    return entry_bar[:k], exit_bar[:k], sides[:k], entries[:k], exits[:k]


def stage_split(run: Any, kernel: Any, rounds: int) -> dict[str, float]:
    """Best seconds of each stage of ``run()`` (a `run_backtest` call given a ``stage``
    callback) and of ``kernel()`` alone, over ``rounds`` calls, in CPU seconds of this thread."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        marks: list[tuple[str, float]] = [("setup", time.thread_time())]
        run(lambda _symbol, name, marks=marks: marks.append((name, time.thread_time())))
        marks.append(("end", time.thread_time()))
        for (name, t0), (_, t1) in zip(marks, marks[1:], strict=False):
            best[name] = min(best.get(name, np.inf), t1 - t0)
        t0 = time.thread_time()
        kernel()
        best["kernel"] = min(best.get("kernel", np.inf), time.thread_time() - t0)
    best["simulate - kernel"] = best["simulate"] - best["kernel"]
    return best


def main() -> None:
    from tradeforge.backtest import ExecutionModel, Sizing, run_backtest
    from tradeforge.backtest import kernel as K
    from tradeforge.backtest.engine import prepare_symbol
    from tradeforge.core.instruments import get_instrument
    from tradeforge.data.cache import ParquetStore
    from tradeforge.strategy import create_strategy
    from tradeforge.strategy.signals import pack_signals
    from tradeforge.trading.spec import RunSpec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".bench-home"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ensure_data(args.home)
    bars = ParquetStore(args.home).load(SYMBOL, BASE_TF)
    inst = get_instrument(SYMBOL)
    arrays = [np.ascontiguousarray(bars[k].to_numpy(np.float64)) for k in ("open", "high", "low", "close")]  # fmt: skip
    stop, target = STOP_PIPS * inst.pip_size, TARGET_PIPS * inst.pip_size
    strategy = create_strategy(
        "sma_cross", {"fast": 1, "slow": PERIOD, "stop_pips": STOP_PIPS, "target_pips": TARGET_PIPS}
    )
    execution, sizing = ExecutionModel(spread=0.0), Sizing("fixed", 1.0)

    def framework(stage=None):
        return run_backtest(
            strategy, {SYMBOL: bars}, execution=execution, sizing=sizing,
            initial_capital=1e9, timeframe=BASE_TF, stage=stage,
        )  # fmt: skip

    def plain():
        return yardstick(*arrays, PERIOD, stop, target)

    t0 = time.perf_counter()
    plain()
    first_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = framework()
    first_framework = time.perf_counter() - t0
    plain_s, framework_s, plain_cpu, framework_cpu = [], [], [], []
    for _ in range(args.rounds):
        t0, c0 = time.perf_counter(), time.thread_time()
        ref = plain()
        plain_s.append(time.perf_counter() - t0)
        plain_cpu.append(time.thread_time() - c0)
        t0, c0 = time.perf_counter(), time.thread_time()
        result = framework()
        framework_s.append(time.perf_counter() - t0)
        framework_cpu.append(time.thread_time() - c0)
    best_plain, best_framework = min(plain_s), min(framework_s)
    # on a shared machine the per-round ratio's median is steadier than the ratio of bests
    median_ratio = float(np.median(np.array(framework_s) / np.array(plain_s)))

    frame = strategy.compute_features(bars, BASE_TF)
    spec = RunSpec(execution=execution, sizing=sizing, initial_capital=1e9)
    x = prepare_symbol(frame, result.signals[SYMBOL], inst, spec)
    packed = pack_signals(x.signals)

    def kernel():
        K.simulate(
            x.o, x.h, x.lo, x.c, x.spread, x.slip, x.day, x.fx, packed, x.per_tag, x.fparams,
            **K.allocate(x.n_bars, len(x.signals), x.n_slots),
        )  # fmt: skip

    split = stage_split(framework, kernel, args.rounds)

    side, entry, exit_ = ref[2], ref[3], ref[4]
    ref_pnl = float(np.sum(side * (exit_ - entry)) * inst.contract_size)
    trades = result.trades
    same = len(trades) == len(side) and abs(float(trades["pnl"].sum()) - ref_pnl) < 1e-6 * max(
        1.0, abs(ref_pnl)
    )
    doc = {
        "bars": len(bars),
        "trades": {"framework": len(trades), "yardstick": len(side)},
        "pnl": {"framework": float(trades["pnl"].sum()), "yardstick": ref_pnl},
        "first_call_s": {"framework": first_framework, "yardstick": first_plain},
        "best_s": {"framework": best_framework, "yardstick": best_plain},
        "ratio": best_framework / best_plain,
        "median_round_ratio": median_ratio,
        "best_cpu_s": {"framework": min(framework_cpu), "yardstick": min(plain_cpu)},
        "cpu_ratio": min(framework_cpu) / min(plain_cpu),
        "stage_best_cpu_s": split,
    }
    print(json.dumps(doc, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "peer.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    if not same:
        raise SystemExit("framework and yardstick disagree: the ratio would compare different work")
    print(
        f"run_backtest / plain Numba loop = {doc['ratio']:.2f}x best, "
        f"{median_ratio:.2f}x median of {args.rounds} rounds ({len(side):,} trades)"
    )
    print(f"in CPU time of the thread: {doc['cpu_ratio']:.2f}x best")
    print(
        "stage split (best CPU ms): "
        + ", ".join(f"{name} {1e3 * secs:.1f}" for name, secs in split.items())
    )


if __name__ == "__main__":
    main()
