"""Atomic file replacement: a crash leaves either the old file or the new one, never a torn one.

The new content goes to a temporary file beside the target (``.<name>.<random>.tmp``: same
directory so the rename cannot cross file systems, a unique name so concurrent writers never
write into or rename each other's file), which then replaces the target with `os.replace`; if
writing fails the temporary file is removed. With ``durable=True`` the temporary file is
fsync'd before the rename and the directory after it, so the new content also survives a power
loss; outputs that can simply be regenerated (reports, run folders) skip the fsyncs. A process
killed mid-write leaves its temporary file behind (never the target torn).
"""

from __future__ import annotations

import os
import secrets
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


def remove_stale_temps(directory: str | Path, name: str = "*") -> int:
    """Delete temporary files that killed writers left in ``directory`` (of target ``name``, or
    of every target); returns how many. Only for a caller that holds the lock every writer of
    those targets takes, or it could delete a file being written."""
    count = 0
    for tmp in Path(directory).glob(f".{name}.*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


def _open_temp(path: Path) -> tuple[BinaryIO, Path]:
    """Create a new, uniquely named temporary file beside ``path`` (honours the umask)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return open(tmp, "xb"), tmp  # noqa: SIM115 (closed by atomic_write)
        except FileExistsError:
            continue


def atomic_write(
    path: str | Path, write: Callable[[BinaryIO], object], *, durable: bool = True
) -> None:
    """Replace ``path`` with what ``write`` writes to the binary file handle it is given."""
    path = Path(path)
    fh, tmp = _open_temp(path)
    try:
        with fh:
            write(fh)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` (see `atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(data), durable=durable)
