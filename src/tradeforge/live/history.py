"""Is the journal's history complete? Which records are missing, and which lines are damaged?

The state snapshot records the journal ``seq`` it covers, so a state at seq N needs journal
records 1..N (or accepted tombstones for them). Whatever is neither is lost history: the state
itself is intact, but the trades and decisions of those records are gone, so ``trades.csv`` and
the P&L built from the journal would silently be short. The engine refuses to start on such a
loss unless the operator accepts it (``--accept-state-loss``), which writes tombstones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeforge.core.errors import StateError
from tradeforge.live.journal import LOST, JournalScan, covered

OVERRIDE = "--accept-state-loss"


def index_records(scan: JournalScan, path: Path) -> dict[int, dict[str, Any]]:
    """Valid records by seq; `StateError` when two different valid lines claim one seq."""
    by_seq: dict[int, dict[str, Any]] = {}
    for rec in scan.records:
        seen = by_seq.setdefault(rec["seq"], rec)
        if seen != rec:
            raise StateError(
                f"{path}: two different records claim seq {rec['seq']} (line "
                f"{scan.lines[rec['seq']]} and a later line); refusing to guess which is right"
            )
    return by_seq


def _ranges(seqs: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in sorted(seqs):
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def _fmt(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


@dataclass(frozen=True)
class HistoryLoss:
    """Journal records the state at ``seq`` relies on that no valid line holds."""

    journal: Path
    seq: int  # the state's seq (what the journal must cover)
    missing: list[tuple[int, int]]  # seq ranges no valid record or tombstone holds
    damaged: list[tuple[int, str]]  # (line, fault) of damaged lines
    tail: bool  # damaged lines after the last valid record: committed changes may be unknown

    def describe(self) -> str:
        if not self.journal.exists():
            parts = [f"{self.journal} is missing"]
        else:
            parts = [f"{self.journal} line {n}: {why}" for n, why in self.damaged]
        if self.missing:
            where = "journal" if parts else str(self.journal)
            parts.append(
                f"{where} record(s) seq {_fmt(self.missing)} of 1-{self.seq} missing (the state "
                f"at seq {self.seq} is intact; the trades and decisions of those records are lost)"
            )
        if self.tail:
            parts.append(f"what the damaged line(s) after seq {self.seq} recorded is unknown")
        return "; ".join(parts)

    def tombstones(self) -> list[dict[str, Any]]:
        """The ``lost`` records that accept this loss."""
        why = self.describe()
        return [{"seq": b, "kind": LOST, "first": a, "reason": why} for a, b in self.missing]


class HistoryLost(StateError):
    """The journal lost history the state relies on; refused unless the loss is accepted."""

    def __init__(self, loss: HistoryLoss, state: dict[str, Any], note: str = "") -> None:
        self.loss = loss
        self.state = state  # the (intact) state, for callers that explain the loss further
        super().__init__(
            f"state history lost: {loss.describe()}{note}. Refusing to start, as trade history "
            f"and P&L would silently be incomplete; rerun with {OVERRIDE} to start anyway (the "
            "loss is then recorded in the journal and the damaged file kept beside it)"
        )


def find_loss(
    scan: JournalScan, by_seq: dict[int, dict[str, Any]], seq: int, path: Path
) -> tuple[HistoryLoss | None, list[tuple[int, str]]]:
    """The history lost for a state at ``seq``, and the damaged lines that lose nothing (no
    seq is missing around them: they cannot have been records)."""
    known = {s for rec in by_seq.values() for s in covered(rec)}
    missing = [s for s in range(1, seq + 1) if s not in known]
    last_valid = max(scan.lines.values(), default=0)
    tail = any(n > last_valid for n, _ in scan.damaged)
    if not missing and not tail:
        return None, scan.damaged
    return HistoryLoss(path, seq, _ranges(missing), scan.damaged, tail), []
