"""Atomic file replacement: a crash leaves either the old file or the new one, never a torn one.

The new content goes to a temporary file beside the target (``.<name>.tmp``, same directory so
the rename cannot cross file systems), which then replaces the target with `os.replace`. With
``durable=True`` the temporary file is fsync'd before the rename and the directory after it,
so the new content also survives a power loss; outputs that can simply be regenerated (reports,
run folders) skip the fsyncs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries (a rename or a new file in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(path: str | Path) -> Path:
    """The temporary name `atomic_write` fills before renaming it to ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


def atomic_write(
    path: str | Path, write: Callable[[BinaryIO], object], *, durable: bool = True
) -> None:
    """Replace ``path`` with what ``write`` writes to the binary file handle it is given."""
    path = Path(path)
    tmp = temp_path(path)
    with open(tmp, "wb") as fh:
        write(fh)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` (see `atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(data), durable=durable)
