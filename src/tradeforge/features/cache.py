"""Disk cache of computed feature outputs, keyed by data checksum + feature spec.

Each entry is a directory ``<root>/<key[:2]>/<key>/`` holding one ``.npy`` per output, written
to a temporary directory and renamed into place so readers never see a partial entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tradeforge._numba_cache import source_digest
from tradeforge.core.paths import user_path


@lru_cache(maxsize=1)
def _library_digest() -> str:
    """Hash of the feature package's source: an edited built-in kernel never serves stale
    values (features registered outside the package key on their ``version=``)."""
    return source_digest(Path(__file__).resolve().parent)


def entry_key(*parts: Any) -> str:
    """Stable hash of JSON-serialisable key parts plus the feature library's source digest."""
    blob = json.dumps([_library_digest(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class FeatureCache:
    """Stores lists of 1-D arrays under string keys in ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = user_path(root)
        self.hits = 0
        self.misses = 0

    def _dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str, count: int) -> list[np.ndarray] | None:
        """The ``count`` arrays stored under ``key``, or None when absent or unreadable."""
        d = self._dir(key)
        try:
            arrays = [np.load(d / f"{i}.npy", allow_pickle=False) for i in range(count)]
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return arrays

    def put(self, key: str, arrays: Sequence[np.ndarray]) -> None:
        """Store ``arrays`` atomically; an existing entry is left as it is."""
        final = self._dir(key)
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=final.parent))
        try:
            for i, arr in enumerate(arrays):
                if arr.dtype == object:
                    arr = arr.astype(str)
                np.save(tmp / f"{i}.npy", arr, allow_pickle=False)
            os.replace(tmp, final)
        except OSError:
            if final.exists():  # another process won the race
                shutil.rmtree(tmp, ignore_errors=True)
                return
            raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def clear(self) -> None:
        """Delete every entry."""
        shutil.rmtree(self.root, ignore_errors=True)
