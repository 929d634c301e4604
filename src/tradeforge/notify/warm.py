"""Compile the divergence monitor's kernels in a child process, so a cold Numba cache never
stalls a running session.

Compiling the shadow backtest's kernels (the features and the backtest kernel) takes tens of
seconds on a fresh install and holds Python's GIL for long stretches: done by the monitor's
thread inside the session it once stalled a live engine for over a minute. Instead
`KernelWarmer` runs ``python -m tradeforge.notify.warm`` with the shadow's `RunSpec` (JSON on
its stdin): the child runs the same steps (`strategy_signals`, then `backtest_signals`) on
synthetic bars of the spec's timeframe, which compiles every kernel into Numba's on-disk
cache (the same ``NUMBA_CACHE_DIR``, inherited). The monitor waits for it on its own thread
before its first comparison, which then loads the machine code from the cache; the engine
trades meanwhile. If the child fails (a strategy or instrument only the parent process
knows, say) the monitor compiles in-process as before, and says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

from tradeforge.core.timeframes import Timeframe
from tradeforge.trading.spec import RunSpec


def synthetic_bars(timeframe: str, count: int) -> pd.DataFrame:
    """``count`` bars of ``timeframe`` (a smooth wave around 1.1): the dtypes and columns of
    a recorded frame, the values irrelevant (only the kernels' types matter)."""
    step = pd.Timedelta(seconds=Timeframe.parse(timeframe).seconds)
    index = pd.date_range(
        end=pd.Timestamp("2024-01-05", tz="UTC"), periods=count, freq=step, name="time"
    )
    wave = 1.1 + 0.002 * np.sin(np.arange(count + 1) / 5.0)
    o, c = wave[:-1], wave[1:]
    return pd.DataFrame(
        {"open": o, "high": np.maximum(o, c) + 0.0003, "low": np.minimum(o, c) - 0.0003,
         "close": c, "volume": np.full(count, 100.0), "spread": np.full(count, 0.0001)},
        index=index,
    )  # fmt: skip


def warm_kernels(spec: RunSpec) -> None:
    """Run the shadow backtest's steps once on synthetic bars (compiling its kernels)."""
    from tradeforge.backtest.runner import backtest_signals
    from tradeforge.live.strategy_signals import strategy_signals

    strategy = spec.create_strategy()
    timeframe = str(spec.timeframe)
    bars = synthetic_bars(timeframe, spec.resolve_window(strategy) + 200)
    inst = spec.instrument(spec.symbol)
    signals = strategy_signals(strategy, bars, Timeframe.parse(timeframe).name, inst)
    backtest_signals(bars, signals, spec.symbol, spec)


class KernelWarmer:
    """The child process compiling ``spec``'s kernels (started at once); `done` polls it,
    `outcome` says how it went."""

    def __init__(self, spec: RunSpec) -> None:
        self.started = time.perf_counter()
        self.seconds: float | None = None
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed by `close`
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tradeforge.notify.warm"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err,
        )  # fmt: skip
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(spec.to_dict()).encode())
        self.proc.stdin.close()

    def done(self) -> bool:
        if self.proc.poll() is None:
            return False
        if self.seconds is None:
            self.seconds = round(time.perf_counter() - self.started, 3)
        return True

    def wait(self) -> None:
        self.proc.wait()
        self.done()

    def outcome(self) -> tuple[bool, str]:
        """Whether the kernels are compiled, and the child's last error line if not."""
        if self.proc.returncode == 0:
            return True, ""
        self._err.seek(0)
        lines = self._err.read().decode(errors="replace").strip().splitlines()
        return False, lines[-1] if lines else f"exit code {self.proc.returncode}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


def main() -> int:
    """``python -m tradeforge.notify.warm`` < spec JSON: compile its kernels."""
    warm_kernels(RunSpec.from_dict(json.loads(sys.stdin.read())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
