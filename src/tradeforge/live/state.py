"""The live state repository: a checksummed JSON snapshot plus a write-ahead journal.

Files in the state directory:

* ``state.json`` — the latest snapshot ``{"body": state, "sha256": ...}``, replaced atomically;
  its ``seq`` is the journal seq it covers (the state needs journal records 1..seq);
* ``state.json.prev`` — the snapshot before it (the last good state if ``state.json`` is bad);
* ``journal.jsonl`` — one checksummed line per committed change (`tradeforge.live.journal`):
  ``seq``, the event that caused it, a *patch* from the previous state, the sha256 of the
  resulting state, and audit data (decisions, closed trades — the trade history). Record 1 is
  the genesis record holding the full initial state.

A change is committed by appending its journal record (fsync) and then writing the snapshot.
On load the newest valid snapshot is taken (``state.json``, else ``.prev``, else genesis) and
every journal record after it is re-applied, each checked against its recorded sha256, so the
state is exactly the last committed one. A torn journal tail (crash mid-append) is cut off: that
change was never committed and is simply redone. A directory whose first start died before its
genesis record was committed holds no state (`StateRepository.exists` is false): it starts fresh.
If no chain of valid data reaches the end, `StateError` is raised — the engine never trades on
state it could not validate. If the state is intact but journal records it covers are missing
or damaged (`tradeforge.live.history`), the history is lost: `HistoryLost` is raised unless the
loss is accepted, which rewrites the journal from its valid records plus ``lost`` tombstones
(the damaged file is kept as ``journal.jsonl.damaged``).

State bodies are JSON objects whose top-level values are scalars or flat dicts; patches are
two-level (``set``/``del`` of top-level keys and of entries of dict-valued keys). Every body
carries ``schema_version``; a body of an older layout is migrated when it is loaded
(`tradeforge.live.migrations`) and, when the load heals the directory, the migration is
committed as a ``migrate`` journal record like any other change.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeforge.core.errors import StateError
from tradeforge.core.paths import user_path
from tradeforge.live.history import HistoryLoss, HistoryLost, find_loss, index_records
from tradeforge.live.journal import LOST, Journal, JournalScan
from tradeforge.live.migrations import SCHEMA_VERSION, upgrade, version_of
from tradeforge.live.persist import (
    atomic_write_bytes,
    canonical_json,
    document_bytes,
    ensure_dir,
    read_document,
    sha256_of,
    state_io,
    write_document,
)

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
    migrated_from: int | None = None  # the stored layout's schema version, when older

    @property
    def recovered(self) -> bool:
        return bool(self.problems)

    def message(self) -> str:
        text = f"state seq {self.seq} from {self.source}"
        if self.replayed:
            text += f" + {self.replayed} journal record(s) replayed"
        if self.migrated_from is not None:
            text += f"; migrated from schema version {self.migrated_from} to {SCHEMA_VERSION}"
        if self.problems:
            text += "; problems: " + "; ".join(self.problems)
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "seq": self.seq,
            "replayed": self.replayed,
            "problems": list(self.problems),
        }
        if self.migrated_from is not None:  # absent otherwise: start decisions stay as they were
            out["migrated_from"] = self.migrated_from
        return out


class StateRepository:
    """Load, validate, recover and commit the engine state of one state directory.

    ``validate`` checks the shape of a state body migrated to the current layout (raising
    `StateError`); a snapshot that fails it is treated like a corrupt one."""

    def __init__(
        self, directory: str | Path, validate: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.dir = user_path(directory)
        self.state_path = self.dir / STATE_FILE
        self.prev_path = self.dir / PREV_FILE
        self.journal = Journal(self.dir / JOURNAL_FILE)
        self.validate = validate
        self._state: dict[str, Any] | None = None
        self._doc: bytes | None = None  # bytes of the current snapshot (becomes .prev)

    # -- reading -----------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the directory holds committed state (or damaged remains of it)."""
        if not self.dir.is_dir():
            return False
        return self.state_path.exists() or self.prev_path.exists() or self.journal.committed()

    @property
    def state(self) -> dict[str, Any]:
        if self._state is None:
            raise StateError("state not loaded")
        return self._state

    def load(
        self, *, heal: bool = True, accept_loss: bool = False
    ) -> tuple[dict[str, Any], LoadReport]:
        """Newest valid snapshot + journal replay; raises `StateError` when nothing validates.

        ``heal`` (the engine's start) repairs the journal and rewrites the snapshot it
        recovered, and raises `HistoryLost` on lost history unless ``accept_loss``;
        ``heal=False`` only reads and reports, so an observer (``tradeforge status``) never
        writes into the directory of a session that may be running."""
        if not self.dir.is_dir():
            raise StateError(f"{self.dir} is not a state directory (missing, or not a directory)")
        report = LoadReport()
        scan = self.journal.scan()
        by_seq = index_records(scan, self.journal.path)
        state = self._replay(self._base(by_seq, report), by_seq, scan, report)
        current = upgrade(state)
        loss, harmless = find_loss(scan, by_seq, state["seq"], self.journal.path)
        if loss is not None and heal and not accept_loss:
            raise HistoryLost(loss, current)
        self._settle_journal(scan, by_seq, loss, harmless, report, heal)
        if heal and (report.source != STATE_FILE or report.replayed):
            self._doc = write_document(self.state_path, state)  # heal the snapshot
        else:
            self._doc = document_bytes(state)
        self._state = state
        if current is not state:
            report.migrated_from = state["schema_version"]
            if heal:
                self.commit(current, "migrate", [report.migrated_from, SCHEMA_VERSION])
            else:
                self._state = current
        report.seq = self.state["seq"]
        return copy.deepcopy(self.state), report

    def _check(self, body: Any, where: str) -> None:
        """`StateError` naming ``where`` unless ``body`` is a well-formed state (of the current
        layout once migrated)."""
        try:
            version_of(body)
        except StateError as exc:
            raise StateError(f"{where}: {exc}") from None
        seq = body.get("seq")
        if type(seq) is not int or seq < 1:
            raise StateError(f"{where}: malformed state (seq {seq!r} is not a positive integer)")
        if self.validate is not None:
            try:
                self.validate(upgrade(body))
            except StateError as exc:
                raise StateError(f"{where}: malformed state ({exc})") from None

    def _base(self, by_seq: dict[int, dict[str, Any]], report: LoadReport) -> dict[str, Any]:
        """The newest valid snapshot: ``state.json``, else ``.prev``, else the genesis record."""
        for path in (self.state_path, self.prev_path):
            try:
                body = read_document(path)
                self._check(body, str(path))
            except StateError as exc:
                if path.exists() or path == self.state_path:
                    report.problems.append(str(exc))
                continue
            report.source = path.name
            return _norm(body)
        genesis = by_seq.get(1)
        if genesis is not None and genesis.get("kind") == "genesis":
            if sha256_of(genesis.get("state")) != genesis.get("sha"):
                raise StateError("journal genesis record does not match its checksum")
            self._check(genesis["state"], f"{self.journal.path} genesis record")
            report.source = "journal genesis"
            return _norm(genesis["state"])
        raise StateError(
            f"no valid state in {self.dir}: "
            + "; ".join(report.problems or ["empty"])
            + ". Refusing to trade on unvalidated state."
        )

    def _replay(
        self,
        state: dict[str, Any],
        by_seq: dict[int, dict[str, Any]],
        scan: JournalScan,
        report: LoadReport,
    ) -> dict[str, Any]:
        """Re-apply every journal record after ``state``, each checked against its sha256."""
        last = max(by_seq, default=0)
        while state["seq"] < last:
            seq = state["seq"] + 1
            rec = by_seq.get(seq)
            if rec is None or rec.get("kind") == LOST:
                raise StateError(
                    f"journal gap: the state is at seq {state['seq']} ({report.source}) but "
                    f"journal record {seq} is missing or damaged while later records exist, so "
                    f"the current state cannot be rebuilt from {self.dir}. Refusing to trade."
                )
            where = f"{self.journal.path} line {scan.lines[seq]} (seq {seq})"
            try:
                state = apply_patch(state, rec["patch"])
            except (KeyError, AttributeError, TypeError):
                raise StateError(f"{where}: malformed patch") from None
            state["seq"] = seq
            if sha256_of(state) != rec.get("sha"):
                raise StateError(f"{where}: does not reproduce its state checksum")
            report.replayed += 1
        if report.replayed:
            self._check(state, f"the state replayed from {self.journal.path}")
        return state

    def _settle_journal(
        self,
        scan: JournalScan,
        by_seq: dict[int, dict[str, Any]],
        loss: HistoryLoss | None,
        harmless: list[tuple[int, str]],
        report: LoadReport,
        heal: bool,
    ) -> None:
        """Report what the journal scan found; with ``heal``, repair the journal (a loss is
        accepted by then: it is recorded as tombstones)."""
        done = "" if heal else ", not repaired"
        if scan.torn_at is not None:
            report.problems.append(
                f"journal line {scan.torn_line} torn (crash mid-append, never committed){done}"
            )
        for n, why in harmless:
            report.problems.append(
                f"journal line {n}: {why} (no record is missing around it: it held none){done}"
            )
        if loss is not None:
            verb = "accepted" if heal else "found"
            report.problems.append(f"history loss {verb}: {loss.describe()}{done}")
        if not heal:
            return
        if loss is not None or harmless:
            tombstones = loss.tombstones() if loss is not None else []
            saved = self.journal.rewrite([*by_seq.values(), *tombstones])
            report.problems.append(f"journal rewritten from its valid records (old file: {saved})")
        else:
            self.journal.cut_torn_tail(scan)

    def records(self) -> list[dict[str, Any]]:
        """Every valid journal record, in seq order."""
        scan = self.journal.scan()
        return sorted(index_records(scan, self.journal.path).values(), key=lambda r: r["seq"])

    # -- writing -----------------------------------------------------------------------------
    def create(self, initial: dict[str, Any]) -> dict[str, Any]:
        """Start a new state directory from ``initial`` (genesis journal record + snapshot)."""
        if self.exists():
            raise StateError(f"{self.dir} already holds state; load it instead")
        ensure_dir(self.dir)
        with state_io(self.journal.path, "remove"):  # an uncommitted (torn) first append
            self.journal.path.unlink(missing_ok=True)
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
