"""One writer per state directory: an exclusive OS lock on ``<state>/LOCK`` for the session.

The lock (`fcntl.flock`; ``msvcrt.locking`` on Windows) belongs to the open file, so the
operating system releases it when the holder exits or dies — SIGKILL included — and a crash
never leaves a stale lock. It is tried once, never waited for: a second engine on the same
directory fails at once with the pid the holder wrote into the file. Readers (``tradeforge
status``) never take it. The file is never removed: deleting a lock file another process has
open would let two writers in.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType

from tradeforge.core.atomic import remove_stale_temps
from tradeforge.core.errors import StateError
from tradeforge.core.paths import user_path
from tradeforge.live.persist import ensure_dir, state_io

LOCK_FILE = "LOCK"

if sys.platform == "win32":  # pragma: no cover - live MT5 sessions run on Windows
    import msvcrt

    _FAR = 1 << 30  # lock a byte far past the pid, so others can still read the pid

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _FAR, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def _read_pid(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 32).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown: it is just starting"


class StateLock:
    """``with StateLock(directory):`` — hold the state directory's writer lock (creating the
    directory if needed); `StateError` if another process holds it or it cannot be taken."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = user_path(directory)
        self.path = self.dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> StateLock:
        ensure_dir(self.dir)
        with state_io(self.path, "open the lock file"):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            holder = _read_pid(fd)
            os.close(fd)
            raise StateError(
                f"{self.dir} is in use by another tradeforge process (pid {holder}); "
                "only one dry-run/live session may run on a state directory"
            )
        try:
            with state_io(self.path, "write"):
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n".encode())
        except StateError:
            os.close(fd)
            raise
        self._fd = fd
        with state_io(self.dir, "clean up"):
            remove_stale_temps(self.dir)  # of writers killed mid-write: only we write here now
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
