"""Where Numba caches tradeforge's compiled kernels.

Numba invalidates a cached function only when *its own* source file changes, but our kernels
call jitted functions in other files (the backtest kernel calls `trading.rules`, features call
shared kernels). Editing one of those would silently keep running the old machine code. So the
cache lives in a directory keyed by a hash of the package's source: any change to any module
gives a fresh cache. An explicit ``NUMBA_CACHE_DIR`` always wins.

`is_cached` tells whether a kernel is already there (a run that finds it missing can have it
compiled in a child process meanwhile: `tradeforge.core.compilechild`).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def source_digest(root: Path = _PACKAGE) -> str:
    """Hash of every ``.py`` file under ``root`` (paths and contents)."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def configure() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    cache_dir = os.path.join(base, "tradeforge", "numba", source_digest())
    os.environ["NUMBA_CACHE_DIR"] = cache_dir
    if "numba" in sys.modules:  # imported before us: numba reads the setting at cache time
        from numba.core import config

        config.CACHE_DIR = cache_dir


def is_cached(dispatcher: Any) -> bool:
    """Whether Numba's on-disk cache holds machine code of ``dispatcher`` (a ``cache=True``
    function) compiled from its current source, for some signature: one small index file
    read, nothing loaded or compiled. True also when that cannot be told (no cache, Numba's
    internals moved), so a caller falls back to what it would do without the check."""
    try:
        return bool(dispatcher._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 - see the docstring
        return True
