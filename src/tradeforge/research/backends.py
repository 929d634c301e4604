"""Execution backends of the research layer: the backtest's one execution path
(`tradeforge.backtest.parallel`) — in-process, threads, local processes, Dask — re-exported
under the names the optimiser, walk-forward and their callers use.

Optional dependency: the Dask backend imports ``distributed`` only when used
(``pip install "tradeforge[research]"``).
"""

from __future__ import annotations

from tradeforge.backtest.parallel import (
    Backend,
    DaskBackend,
    InProcessBackend,
    ProcessBackend,
    Progress,
    Shared,
    ThreadBackend,
    chunked,
    make_backend,
)

__all__ = [
    "Backend",
    "DaskBackend",
    "InProcessBackend",
    "ProcessBackend",
    "Progress",
    "Shared",
    "ThreadBackend",
    "chunked",
    "make_backend",
]
