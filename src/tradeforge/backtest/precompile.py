"""The backtest kernel compiled in a child process while a cold run loads its bars and computes
its features.

On an empty Numba cache the kernel of a single-symbol run (`kernel.simulate`) takes ~3 s to
compile, more than the rest of the reference run together, and the portfolio loop about as
long. Neither depends on the data, only on the argument types, which `engine` fixes
(C-contiguous float64 / int64 arrays, the per-bar inputs read-only). So a run calls `start`
first: if the kernel is neither compiled in this process nor in the on-disk cache, a child
process (`tradeforge.core.compilechild`: forked where that is safe, else a fresh interpreter)
runs it once on a few synthetic bars, which compiles the same machine code into the cache, on
the other core. Before the kernel runs, `ready` waits for that child; the call then loads the
machine code from the cache. A warm cache costs one small index read and starts nothing.

If the child fails, the kernel compiles in this process as it would without it. One that has
not finished after `WAIT_SECONDS` (a stuck child: the compile takes seconds) is killed and the
kernel compiles here. Ctrl-C or an error in the parent ends the child too. The machine code is
the same whichever process compiled it, so results do not depend on it.

The child compiles only the backtest's own functions (`kernel`, `portfolio_kernel` and the
`trading` rules they call), never a feature or strategy kernel the parent may be compiling at
the same time (those layers cannot call them), so the two never write one cache entry at once.
"""

from __future__ import annotations

import threading
from typing import Any

from tradeforge.core.compilechild import CompileChild, can_fork

#: the kernels a run can ask for: a symbol with its own account, a shared portfolio
KINDS = ("symbol", "portfolio")
#: how long `ready` waits for a child before compiling in this process instead
WAIT_SECONDS = 120.0
_SYMBOL = "EURUSD"

_children: dict[str, CompileChild] = {}
_lock = threading.Lock()


def _dispatcher(kind: str) -> Any:
    if kind == "symbol":
        from tradeforge.backtest.kernel import simulate

        return simulate
    from tradeforge.backtest.portfolio_kernel import simulate_portfolio

    return simulate_portfolio


def needs_compile(kind: str) -> bool:
    """Whether the ``kind`` kernel is neither loaded here nor in Numba's on-disk cache."""
    from tradeforge._numba_cache import is_cached

    dispatcher = _dispatcher(kind)
    return not dispatcher.signatures and not is_cached(dispatcher)


def start(kind: str) -> None:
    """Have a child process compile the ``kind`` kernel if it `needs_compile` (once per
    process; nothing if one is already at it)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    with _lock:
        if kind in _children or not needs_compile(kind):
            return
        try:
            if can_fork():
                _load_numba_registries()
                _children[kind] = CompileChild.fork(lambda: compile_kernel(kind))
            else:
                _children[kind] = CompileChild.spawn(__name__, kind)
        except OSError:
            return  # no child: the kernel compiles in this process


def _load_numba_registries() -> None:
    """Numba's typing and lowering registries loaded (~0.35 s, once per process, at its first
    compile or cache load): done before a fork, the child inherits them instead of loading them
    again, and this process would load them anyway for its first kernel."""
    from numba.core.registry import cpu_target

    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()


def ready(kind: str) -> None:
    """Before the ``kind`` kernel runs: wait for its child, if one was started, then let it go
    (after `WAIT_SECONDS`, stopped). Cheap when there is none."""
    child = _children.get(kind)
    if child is None:
        return
    child.wait(WAIT_SECONDS)
    with _lock:
        if _children.get(kind) is child:
            del _children[kind]
            child.close()


def compile_kernel(kind: str) -> None:
    """Run the ``kind`` kernel once on a few synthetic bars and no signals, through the same
    preparation as a run (so with the same argument types): compiles it into the cache."""
    from tradeforge.backtest.engine import prepare_symbol, simulate_symbol
    from tradeforge.backtest.portfolio import run_portfolio
    from tradeforge.core.instruments import get_instrument
    from tradeforge.data.sources.synthetic import wave_bars
    from tradeforge.strategy.signals import Signals
    from tradeforge.trading.spec import RunSpec

    bars = wave_bars("M5", 8)
    signals = Signals.empty(len(bars))
    instrument = get_instrument(_SYMBOL)
    spec = RunSpec(position_mode="tag")
    if kind == "symbol":
        simulate_symbol(bars, signals, instrument, spec, symbol=_SYMBOL)
    else:
        inputs = prepare_symbol(bars, signals, instrument, spec, symbol=_SYMBOL)
        run_portfolio([inputs], spec.initial_capital)


def main() -> int:
    """``python -m tradeforge.backtest.precompile`` < ``"symbol"`` or ``"portfolio"`` (JSON)."""
    from tradeforge.core.compilechild import child_main

    return child_main(compile_kernel)


if __name__ == "__main__":
    raise SystemExit(main())
