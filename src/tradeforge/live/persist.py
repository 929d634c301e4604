"""Crash-safe file primitives: canonical JSON, checksummed documents, atomic replace, journals.

Every persisted document is ``{"body": ..., "sha256": sha256(canonical(body))}`` so a torn or
edited file is detected on load. Files are replaced atomically: write a temp file in the same
directory, fsync it, ``os.replace`` it over the target, fsync the directory.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tradeforge.core.atomic import atomic_write, fsync_dir
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


def _write_with_pause(fh: BinaryIO, data: bytes) -> None:
    """Write ``data`` in two halves with the crash-test pause (if any) between them."""
    half = len(data) // 2
    fh.write(data[:half])
    fh.flush()
    _crash_delay()
    fh.write(data[half:])


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new file."""
    atomic_write(path, lambda fh: _write_with_pause(fh, data))


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


@dataclass(frozen=True)
class JournalScan:
    """What reading a journal found: valid records, and a torn/corrupt tail if any."""

    records: list[dict[str, Any]]
    good_bytes: int  # length of the valid prefix
    problem: str | None  # description of the first bad line (everything after it is ignored)


class Journal:
    """Append-only JSON-lines file; each line is ``{"rec": ..., "sum": sha256(rec)}``.

    Appends are fsync'd one by one. A crash mid-append leaves a torn last line, which `scan`
    reports and `repair` cuts off (the record was not committed, so it is simply redone).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        line = canonical_json({"rec": record, "sum": sha256_of(record)}) + "\n"
        data = line.encode()
        new = not self.path.exists()
        with open(self.path, "ab") as fh:
            _write_with_pause(fh, data)
            fh.flush()
            os.fsync(fh.fileno())
        if new:
            fsync_dir(self.path.parent)

    def scan(self) -> JournalScan:
        if not self.path.exists():
            return JournalScan([], 0, None)
        raw = self.path.read_bytes()
        records: list[dict[str, Any]] = []
        pos = 0
        lineno = 0
        while pos < len(raw):
            end = raw.find(b"\n", pos)
            lineno += 1
            if end < 0:
                return JournalScan(
                    records, pos, f"line {lineno}: torn (no newline, crash mid-append)"
                )
            try:
                doc = json.loads(raw[pos:end])
                ok = isinstance(doc, dict) and sha256_of(doc.get("rec")) == doc.get("sum")
            except (json.JSONDecodeError, UnicodeDecodeError):
                ok = False
            if not ok:
                return JournalScan(records, pos, f"line {lineno}: checksum mismatch or bad JSON")
            records.append(doc["rec"])
            pos = end + 1
        return JournalScan(records, pos, None)

    def repair(self, scan: JournalScan) -> str | None:
        """Cut the file back to its valid prefix; a damaged middle is first copied aside to
        ``<name>.damaged`` (returned) so nothing is silently destroyed."""
        if scan.problem is None:
            return None
        raw = self.path.read_bytes()
        tail = raw[scan.good_bytes :]
        saved = None
        if tail.count(b"\n") > 1:  # more than a torn last line: keep a copy for the operator
            saved = str(self.path.with_name(self.path.name + ".damaged"))
            atomic_write_bytes(Path(saved), raw)
        with open(self.path, "r+b") as fh:
            fh.truncate(scan.good_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        return saved

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.scan().records)
