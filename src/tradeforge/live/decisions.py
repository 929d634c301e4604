"""Decision records: one JSON object per thing the engine decided (and why), journaled with
each commit and appended to ``decisions.jsonl`` for people and tools to follow. A record's
``time`` is the engine's (market) time; each line of ``decisions.jsonl`` also carries
``recorded``, the wall-clock time it was written (a replay runs far ahead of the clock)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tradeforge.live.persist import state_io

DECISIONS_FILE = "decisions.jsonl"


def wall_clock() -> str:
    """Now, for audit fields only (never for trading decisions)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso(ns: int | None) -> str | None:
    return None if ns is None else pd.Timestamp(ns, tz="UTC").isoformat()


def decision(now: int | None, kind: str, reason: str, **data: Any) -> dict[str, Any]:
    return {"time": iso(now), "kind": kind, "reason": reason, **data}


def append_decisions(state_dir: Path, seq: int, decisions: Iterable[dict[str, Any]]) -> None:
    """Append the decisions of the commit numbered ``seq`` to the JSON-lines log, stamped
    with the wall-clock time they are written."""
    path = state_dir / DECISIONS_FILE
    recorded = wall_clock()
    with state_io(path, "append to"), open(path, "a", encoding="utf-8") as fh:
        for d in decisions:
            fh.write(json.dumps({"seq": seq, "recorded": recorded, **d}, sort_keys=True) + "\n")
