"""The ``tradeforge`` console script: `tradeforge.cli.main`, then an exit that skips the
native libraries' teardown.

Why: after Python's own shutdown (non-daemon threads joined, atexit handlers run), the C
runtime's ``exit()`` runs C++ static destructors. pyarrow's thread pool can still hold a
worker finishing a Parquet read's continuation at that moment, and destroying it aborts the
process ("terminate called without an active exception", exit -6) after the command has done
all its work: an intermittent failure pyarrow has open upstream. This module registers, before
anything else of the command is imported, an atexit handler that flushes the standard streams
and ends the process with ``os._exit`` and the command's exit code. atexit handlers run last
registered first, so every handler the command or its libraries register runs before it; only
the C-level teardown after Python's is skipped.

This module imports nothing of tradeforge at its top (importing ``tradeforge.cli`` registers
handlers of its own, which must come after this one).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys

_exit_code = 1  # what Python itself gives an uncaught exception


def _end_process() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):  # closed, a broken pipe
            stream.flush()
    os._exit(_exit_code)


def _code_of(code: object) -> int:
    """The process exit code Python gives ``SystemExit(code)`` (a message prints and is 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


def run() -> None:
    """Run the command (the console script's and ``python -m tradeforge``'s entry point)."""
    global _exit_code
    atexit.register(_end_process)
    from tradeforge.cli import main

    try:
        main()
    except SystemExit as stop:
        _exit_code = _code_of(stop.code)
        raise
    except KeyboardInterrupt:  # before the command's own handling (while importing)
        _exit_code = 130
        raise
    _exit_code = 0
