"""`rule`: how the trading rules and steps are compiled — for compiled callers only.

The functions of `tradeforge.trading.rules` and `tradeforge.trading.steps` are called from
compiled loops (the backtest kernels, the trade-path replay) and from Python (the live engine,
the paper broker, tests). Numba builds every compiled function with a CPython wrapper and a
C-callable wrapper so that Python can call it; for the ~15 small rules that is most of their
compile time (~0.7 s of a cold backtest start), and compiled callers need neither. So a rule is
compiled without them, and a call from Python runs the function's own Python source instead
(a compiled rule without its wrapper cannot be called from Python at all). The rules an open
position runs on every bar take ``forceinline=True``: LLVM inlines them into the compiled
loops (the calls, ~25 scalar arguments each, cost as much as the rules' work).

The two forms compute the same thing bit for bit: the same statements on IEEE doubles (the
rules are compiled without ``fastmath``, so Numba neither reorders nor fuses arithmetic, and
its ``min``/``max`` follow Python's algorithm). tests/backtest/test_rulejit.py checks it. The
Python form may return Python ints where the compiled one returns floats of the same value
(``math.floor``) and numpy scalars where it returns Python floats.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from numba import njit


class Rule:
    """A rule: compiled callers get its Numba dispatcher (no wrappers), Python calls run it."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.py_func = fn
        self.dispatcher = njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True, **options)(fn)  # fmt: skip
        functools.update_wrapper(self, fn)

    @property
    def _numba_type_(self) -> Any:
        # how Numba types this object as a global of compiled code: as its dispatcher
        return self.dispatcher._numba_type_

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.py_func(*args, **kwargs)


def rule(**options: Any) -> Callable[[Callable[..., Any]], Rule]:
    """Decorator: a `Rule` compiled with Numba ``options`` (e.g. ``_nrt=False``)."""
    return lambda fn: Rule(fn, options)
