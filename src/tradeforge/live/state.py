"""The live state repository: a checksummed JSON snapshot plus a write-ahead journal.

Files in the state directory:

* ``state.json`` — the latest snapshot ``{"body": state, "sha256": ...}``, replaced atomically;
* ``state.json.prev`` — the snapshot before it (the last good state if ``state.json`` is bad);
* ``journal.jsonl`` — one checksummed line per committed change: ``seq``, the event that caused
  it, a *patch* from the previous state, the sha256 of the resulting state, and audit data
  (decisions, closed trades). Record 1 is the genesis record holding the full initial state.

A change is committed by appending its journal record (fsync) and then writing the snapshot.
On load the newest valid snapshot is taken (``state.json``, else ``.prev``, else genesis) and
every journal record after it is re-applied, each checked against its recorded sha256, so the
state is exactly the last committed one. A torn journal tail (crash mid-append) is cut off: that
change was never committed and is simply redone. If no chain of valid data reaches the end,
`StateError` is raised — the engine never trades on state it could not validate.

State bodies are JSON objects whose top-level values are scalars or flat dicts; patches are
two-level (``set``/``del`` of top-level keys and of entries of dict-valued keys).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeforge.core.errors import StateError
from tradeforge.live.persist import (
    Journal,
    atomic_write_bytes,
    canonical_json,
    document_bytes,
    read_document,
    sha256_of,
    write_document,
)

SCHEMA_VERSION = 1
STATE_FILE = "state.json"
PREV_FILE = "state.json.prev"
JOURNAL_FILE = "journal.jsonl"

_MISSING = object()


def _norm(value: Any) -> Any:
    """The value as it reads back from JSON (so diffs compare like with like)."""
    return json.loads(canonical_json(value))


def _bare(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "seq"}


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two-level patch turning ``old`` into ``new`` (both JSON-normalised)."""
    patch: dict[str, Any] = {}
    sets: dict[str, Any] = {}
    dels: list[str] = sorted(k for k in old if k not in new)
    subs: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if before == value:
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            s = {k: v for k, v in value.items() if before.get(k, _MISSING) != v}
            d = sorted(k for k in before if k not in value)
            subs[key] = {"set": s, "del": d}
        else:
            sets[key] = value
    if sets:
        patch["set"] = sets
    if dels:
        patch["del"] = dels
    if subs:
        patch["sub"] = subs
    return patch


def apply_patch(state: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(state)
    for key in patch.get("del", []):
        out.pop(key, None)
    for key, value in patch.get("set", {}).items():
        out[key] = copy.deepcopy(value)
    for key, sub in patch.get("sub", {}).items():
        target = out.setdefault(key, {})
        if not isinstance(target, dict):
            raise StateError(f"journal patch edits entries of {key!r}, which is not a mapping")
        for k in sub.get("del", []):
            target.pop(k, None)
        for k, v in sub.get("set", {}).items():
            target[k] = copy.deepcopy(v)
    return out


@dataclass
class LoadReport:
    """What `StateRepository.load` did, for the operator."""

    source: str = ""  # "state.json" | "state.json.prev" | "journal genesis" | "new"
    seq: int = 0
    replayed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def recovered(self) -> bool:
        return bool(self.problems)

    def message(self) -> str:
        text = f"state seq {self.seq} from {self.source}"
        if self.replayed:
            text += f" + {self.replayed} journal record(s) replayed"
        if self.problems:
            text += "; recovered from: " + "; ".join(self.problems)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "seq": self.seq,
            "replayed": self.replayed,
            "problems": list(self.problems),
        }


class StateRepository:
    """Load, validate, recover and commit the engine state of one state directory."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.state_path = self.dir / STATE_FILE
        self.prev_path = self.dir / PREV_FILE
        self.journal = Journal(self.dir / JOURNAL_FILE)
        self._state: dict[str, Any] | None = None
        self._doc: bytes | None = None  # bytes of the current snapshot (becomes .prev)

    # -- reading -----------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.state_path.exists() or self.prev_path.exists() or self.journal.path.exists()

    @property
    def state(self) -> dict[str, Any]:
        if self._state is None:
            raise StateError("state not loaded")
        return self._state

    def load(self, *, heal: bool = True) -> tuple[dict[str, Any], LoadReport]:
        """Newest valid snapshot + journal replay; raises `StateError` when nothing validates.

        ``heal`` (the engine's start) cuts a damaged journal back and rewrites the snapshot it
        recovered; ``heal=False`` only reads, so an observer (``tradeforge status``) never
        writes into the directory of a session that may be running."""
        report = LoadReport()
        scan = self.journal.scan()
        if scan.problem and heal:
            saved = self.journal.repair(scan)
            note = f"journal {scan.problem}; cut back to {len(scan.records)} valid record(s)"
            if saved:
                note += f" (damaged file kept as {saved})"
            report.problems.append(note)
        elif scan.problem:
            report.problems.append(
                f"journal {scan.problem}; read {len(scan.records)} valid record(s), not repaired"
            )
        records = scan.records
        base: dict[str, Any] | None = None
        for path, name in ((self.state_path, STATE_FILE), (self.prev_path, PREV_FILE)):
            try:
                body = read_document(path)
            except StateError as exc:
                if path.exists() or name == STATE_FILE:
                    report.problems.append(str(exc))
                continue
            if not isinstance(body, dict) or body.get("schema_version") != SCHEMA_VERSION:
                report.problems.append(f"{path}: unsupported schema version")
                continue
            base, report.source = body, name
            break
        if base is None:
            if records and records[0].get("kind") == "genesis" and records[0].get("seq") == 1:
                base, report.source = records[0]["state"], "journal genesis"
                if sha256_of(base) != records[0].get("sha"):
                    raise StateError("journal genesis record does not match its checksum")
            else:
                raise StateError(
                    f"no valid state in {self.dir}: "
                    + "; ".join(report.problems or ["empty"])
                    + ". Refusing to trade on unvalidated state."
                )
        state = _norm(base)
        for rec in records:
            seq = rec.get("seq", 0)
            if seq <= state["seq"]:
                continue
            if seq != state["seq"] + 1:
                raise StateError(
                    f"journal gap: state is at seq {state['seq']} but the next record is {seq}"
                )
            state = apply_patch(state, rec.get("patch", {}))
            state["seq"] = seq
            if sha256_of(state) != rec.get("sha"):
                raise StateError(f"journal record {seq} does not reproduce its state checksum")
            report.replayed += 1
        if heal and (report.source != STATE_FILE or report.replayed):
            self._doc = write_document(self.state_path, state)  # heal the snapshot
        else:
            self._doc = document_bytes(state)
        report.seq = state["seq"]
        self._state = state
        return copy.deepcopy(state), report

    def records(self) -> list[dict[str, Any]]:
        return self.journal.scan().records

    # -- writing -----------------------------------------------------------------------------
    def create(self, initial: dict[str, Any]) -> dict[str, Any]:
        """Start a new state directory from ``initial`` (genesis journal record + snapshot)."""
        if self.exists():
            raise StateError(f"{self.dir} already holds state; load it instead")
        self.dir.mkdir(parents=True, exist_ok=True)
        state = _norm({**initial, "schema_version": SCHEMA_VERSION, "seq": 1})
        self.journal.append({"seq": 1, "kind": "genesis", "state": state, "sha": sha256_of(state)})
        self._doc = write_document(self.state_path, state)
        self._state = state
        return copy.deepcopy(state)

    def commit(
        self, new_state: dict[str, Any], kind: str, event: Any = None, **audit: Any
    ) -> dict[str, Any]:
        """Journal the change from the current state to ``new_state`` and snapshot it.

        Returns the committed record. ``audit`` items (decisions, trades) go into the record.
        """
        old = self.state
        state = _norm(new_state)
        seq = old["seq"] + 1
        state["seq"] = seq
        state["schema_version"] = SCHEMA_VERSION
        patch = diff(_bare(old), _bare(state))  # seq is implied by the record
        record = {"seq": seq, "kind": kind, "event": event, "patch": patch, "sha": sha256_of(state)}
        record.update(_norm(audit))
        self.journal.append(record)
        atomic_write_bytes(self.prev_path, self._doc or document_bytes(old))
        self._doc = write_document(self.state_path, state)
        self._state = state
        return record
