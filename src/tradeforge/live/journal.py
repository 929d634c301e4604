"""The write-ahead journal: an append-only JSON-lines file, one checksummed record per line.

Each line is ``{"rec": record, "sum": sha256(record)}`` and every record carries its ``seq``
(1, 2, 3, ... with no gaps), so a reader can tell exactly which records a damaged file lost.
Appends are fsync'd one by one; a crash mid-append leaves a *torn* last line (no newline):
that record was never committed. Any other bad line is damage, reported with its line number;
`scan` keeps every valid line, also those after a damaged one.

A record of kind ``lost`` is a tombstone the operator accepted: it stands for records
``first``..``seq`` that were lost, so later loads know the gap is known and accepted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeforge.core.atomic import fsync_dir
from tradeforge.live.persist import (
    atomic_write_bytes,
    canonical_json,
    sha256_of,
    state_io,
    write_with_pause,
)

LOST = "lost"  # kind of a tombstone record


@dataclass(frozen=True)
class JournalScan:
    """What reading a journal found."""

    records: list[dict[str, Any]]  # every valid record, in file order
    lines: dict[int, int]  # seq -> line number of its record
    damaged: list[tuple[int, str]]  # (line number, what is wrong) of bad complete lines
    torn_at: int | None  # byte offset of a torn last line (an uncommitted append), if any
    n_lines: int  # complete lines read

    @property
    def torn_line(self) -> int:
        return self.n_lines + 1


def _check_line(raw: bytes) -> dict[str, Any] | str:
    """The record of one journal line, or what is wrong with it."""
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "not valid JSON"
    if not isinstance(doc, dict) or sha256_of(doc.get("rec")) != doc.get("sum"):
        return "checksum mismatch"
    rec = doc["rec"]
    seq = rec.get("seq") if isinstance(rec, dict) else None
    if type(seq) is not int or seq < 1:
        return "not a journal record (no valid seq)"
    if rec.get("kind") == LOST and not (type(rec.get("first")) is int and 1 <= rec["first"] <= seq):
        return "malformed lost-records marker"
    return rec


def record_line(record: dict[str, Any]) -> bytes:
    """The journal line of ``record``."""
    return (canonical_json({"rec": record, "sum": sha256_of(record)}) + "\n").encode()


def covered(record: dict[str, Any]) -> range:
    """The seqs a record stands for (a tombstone stands for several)."""
    first = record["first"] if record.get("kind") == LOST else record["seq"]
    return range(first, record["seq"] + 1)


class Journal:
    """Append-only checksummed JSON-lines file of numbered records."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        data = record_line(record)
        new = not self.path.exists()
        with state_io(self.path, "append to"):
            with open(self.path, "ab") as fh:
                write_with_pause(fh, data)
                fh.flush()
                os.fsync(fh.fileno())
            if new:
                fsync_dir(self.path.parent)

    def _read(self) -> bytes:
        with state_io(self.path, "read"):
            try:
                return self.path.read_bytes()
            except FileNotFoundError:
                return b""

    def committed(self) -> bool:
        """Whether the file holds at least one complete line (a committed append)."""
        with state_io(self.path, "read"):
            try:
                with open(self.path, "rb") as fh:
                    while chunk := fh.read(1 << 16):
                        if b"\n" in chunk:
                            return True
            except FileNotFoundError:
                pass
        return False

    def scan(self) -> JournalScan:
        raw = self._read()
        records: list[dict[str, Any]] = []
        lines: dict[int, int] = {}
        damaged: list[tuple[int, str]] = []
        pos = lineno = 0
        while True:
            end = raw.find(b"\n", pos)
            if end < 0:
                torn_at = pos if pos < len(raw) else None
                return JournalScan(records, lines, damaged, torn_at, lineno)
            lineno += 1
            rec = _check_line(raw[pos:end])
            if isinstance(rec, str):
                damaged.append((lineno, rec))
            else:
                records.append(rec)
                lines.setdefault(rec["seq"], lineno)
            pos = end + 1

    def cut_torn_tail(self, scan: JournalScan) -> None:
        """Drop an uncommitted torn last line."""
        if scan.torn_at is None:
            return
        with state_io(self.path, "repair"), open(self.path, "r+b") as fh:
            fh.truncate(scan.torn_at)
            fh.flush()
            os.fsync(fh.fileno())

    def rewrite(self, records: Iterable[dict[str, Any]]) -> Path:
        """Replace the file by ``records`` (in seq order); the old file is first kept as
        ``<name>.damaged`` (``.damaged.2``, ... if taken), whose path is returned."""
        saved = self.path.with_name(self.path.name + ".damaged")
        n = 1
        while saved.exists():
            n += 1
            saved = self.path.with_name(f"{self.path.name}.damaged.{n}")
        atomic_write_bytes(saved, self._read())
        ordered = sorted(records, key=lambda r: r["seq"])
        atomic_write_bytes(self.path, b"".join(record_line(r) for r in ordered))
        return saved
