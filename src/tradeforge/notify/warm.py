"""Compile the divergence monitor's kernels in a child process, so a cold Numba cache never
stalls a running session.

Compiling the shadow backtest's kernels (the features and the backtest kernel) takes tens of
seconds on a fresh install and holds Python's GIL for long stretches: done by the monitor's
thread inside the session it once stalled a live engine for over a minute. Instead
`start_warmer` runs ``python -m tradeforge.notify.warm`` with the shadow's `RunSpec` (a
`tradeforge.core.compilechild.CompileChild`; a fresh interpreter, since the session runs
threads): the child runs the same steps (`strategy_signals`, then `backtest_signals`) on
synthetic bars of the spec's timeframe, which compiles every kernel into Numba's on-disk cache
(the same ``NUMBA_CACHE_DIR``, inherited). The monitor waits for it on its own thread before its
first comparison, which then loads the machine code from the cache; the engine trades
meanwhile. If the child fails (a strategy or instrument only the parent process knows, say)
the monitor compiles in-process as before, and says so.
"""

from __future__ import annotations

from tradeforge.core.compilechild import CompileChild, child_main
from tradeforge.core.timeframes import Timeframe
from tradeforge.trading.spec import RunSpec


def warm_kernels(spec: RunSpec) -> None:
    """Run the shadow backtest's steps once on synthetic bars (compiling its kernels)."""
    from tradeforge.backtest.runner import backtest_signals
    from tradeforge.data.sources.synthetic import wave_bars
    from tradeforge.live.strategy_signals import strategy_signals

    strategy = spec.create_strategy()
    timeframe = str(spec.timeframe)
    bars = wave_bars(timeframe, spec.resolve_window(strategy) + 200)
    inst = spec.instrument(spec.symbol)
    signals = strategy_signals(strategy, bars, Timeframe.parse(timeframe).name, inst)
    backtest_signals(bars, signals, spec.symbol, spec)


def start_warmer(spec: RunSpec) -> CompileChild:
    """The child process compiling ``spec``'s kernels (started at once)."""
    return CompileChild.spawn(__name__, spec.to_dict())


def main() -> int:
    """``python -m tradeforge.notify.warm`` < spec JSON: compile its kernels."""
    return child_main(lambda task: warm_kernels(RunSpec.from_dict(task)))


if __name__ == "__main__":
    raise SystemExit(main())
