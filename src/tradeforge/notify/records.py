"""Reading one committed record back from a session's journal (``journal.jsonl``): the closed
trades of a commit are in its record, not in the decisions the engine echoes.

The delivery thread asks for recent commits, so the file is searched from its end in blocks;
a torn last line (an append in progress) is skipped like any line that does not parse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BLOCK = 1 << 16


def _record(raw: bytes) -> dict[str, Any] | None:
    """The record of one journal line (``{"rec": record, "sum": ...}``), None if unreadable."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    rec = doc.get("rec") if isinstance(doc, dict) else None
    return rec if isinstance(rec, dict) and isinstance(rec.get("seq"), int) else None


def commit_record(path: str | Path, seq: int) -> dict[str, Any] | None:
    """The journal record numbered ``seq`` (None when the file does not hold it)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, read in blocks from the end
    except FileNotFoundError:
        return None
    with fh:
        pos = fh.seek(0, 2)
        head = b""  # the start of a line cut by the block boundary (read with the next block)
        while pos > 0:
            step = min(BLOCK, pos)
            pos -= step
            fh.seek(pos)
            lines = (fh.read(step) + head).split(b"\n")
            head = lines.pop(0) if pos > 0 else b""
            for raw in reversed(lines):
                rec = _record(raw) if raw else None
                if rec is None:
                    continue
                if rec["seq"] == seq:
                    return rec
                if rec["seq"] < seq:
                    return None
    return None


def commit_trades(path: str | Path, seq: int) -> list[dict[str, Any]]:
    """The trades closed by commit ``seq``."""
    rec = commit_record(path, seq)
    return [t for t in (rec or {}).get("trades") or [] if t]


class JournalTail:
    """The closed trades appended to a journal since the previous call: each call reads only
    the bytes added meanwhile (a line still being appended waits for the next call). A
    journal that shrank (rewritten on a restart) is read again from its start; callers key
    trades by ``trade_id``, so a trade read twice counts once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self._partial = b""

    def trades(self) -> list[dict[str, Any]]:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return []
        with fh:
            if fh.seek(0, 2) < self.offset:
                self.offset, self._partial = 0, b""
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        out = []
        for raw in lines:
            rec = _record(raw) if raw else None
            if rec is not None:
                out += [t for t in rec.get("trades") or [] if t]
        return out
