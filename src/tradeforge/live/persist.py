"""Crash-safe file primitives: canonical JSON, checksummed documents, atomic replace.

Every persisted document is ``{"body": ..., "sha256": sha256(canonical(body))}`` so a torn or
edited file is detected on load. Files are replaced atomically: write a temp file in the same
directory, fsync it, ``os.replace`` it over the target, fsync the directory. An OS error on a
state file (read-only directory, a file where a directory should be, disk full) is raised as a
one-line `StateError` naming the file.

Test hook: when ``TRADEFORGE_CRASH_WRITE_DELAY`` (seconds) is set, every atomic write and every
journal append sleeps for that long *in the middle* of the write (after part of the bytes are
on disk), so a crash test's ``kill -9`` lands mid-write with high probability.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from tradeforge.core.atomic import atomic_write
from tradeforge.core.errors import StateError

_DELAY_ENV = "TRADEFORGE_CRASH_WRITE_DELAY"


def _crash_delay() -> None:
    delay = os.environ.get(_DELAY_ENV)
    if delay:
        time.sleep(float(delay))


def _sanitize(value: Any) -> Any:
    """Replace non-finite floats by None so the JSON is standard and canonical."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitize(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, NaN/inf written as null: equal data, equal text."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError:  # non-finite floats somewhere: the slow path
        return json.dumps(_sanitize(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


@contextmanager
def state_io(path: Path, action: str) -> Iterator[None]:
    """Raise an `OSError` of the body as `StateError` ("cannot <action> <path>: <reason>")."""
    try:
        yield
    except OSError as exc:
        raise StateError(f"cannot {action} {path}: {exc.strerror or exc}") from exc


def ensure_dir(path: Path) -> None:
    """Create the state directory ``path`` if needed; `StateError` if it cannot be one."""
    if path.exists() and not path.is_dir():
        raise StateError(f"{path} is not a directory (a state directory was expected)")
    with state_io(path, "create the state directory"):
        path.mkdir(parents=True, exist_ok=True)


def write_with_pause(fh: BinaryIO, data: bytes) -> None:
    """Write ``data`` in two halves with the crash-test pause (if any) between them."""
    half = len(data) // 2
    fh.write(data[:half])
    fh.flush()
    _crash_delay()
    fh.write(data[half:])


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new file."""
    with state_io(path, "write"):
        atomic_write(path, lambda fh: write_with_pause(fh, data))


def document_bytes(body: Any) -> bytes:
    """The bytes `write_document` writes for ``body``."""
    text = canonical_json(body)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return ('{"body":' + text + ',"sha256":"' + digest + '"}').encode()


def write_document(path: Path, body: Any) -> bytes:
    """Write a checksummed JSON document atomically; returns the bytes written."""
    data = document_bytes(body)
    atomic_write_bytes(path, data)
    return data


def read_document(path: Path) -> Any:
    """Read and verify a document written by `write_document`; `StateError` names the fault."""
    with state_io(path, "read"):
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise StateError(f"{path}: missing") from None
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateError(f"{path}: not valid JSON ({len(raw)} bytes; truncated?): {exc}") from None
    if not isinstance(doc, dict) or "body" not in doc or "sha256" not in doc:
        raise StateError(f"{path}: not a tradeforge state document")
    if sha256_of(doc["body"]) != doc["sha256"]:
        raise StateError(f"{path}: checksum mismatch (file edited or corrupted)")
    return doc["body"]
