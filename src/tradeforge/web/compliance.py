"""The compliance view: each session's guard state (halted or trading, the drawdown guard's
equity peak, the day's opening balance, per strategy too), its limit breaches (entries the
risk guards refused, kill switches) and divergence alerts (the divergence monitor's records)
from its ``decisions.jsonl``, and the control plane's audit trail — as one list of events,
exportable as CSV. Each event has two times, kept apart: ``market_time``, the engine's time of
the event (a replay's bar time; none for an audit entry), and ``recorded``, the wall-clock
time it was written (a decision line's ``recorded``, an audit entry's time); the list is in
recorded order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradeforge.live.decisions import DECISIONS_FILE
from tradeforge.web.models import AuditLog, RuntimeState

#: decision kinds that are limit breaches / divergence alerts
BREACHES = ("guard", "kill")
DIVERGENCE = ("divergence", "divergence_cleared", "monitor_error")
CATEGORY = {**dict.fromkeys(BREACHES, "limit breach"), **dict.fromkeys(DIVERGENCE, "divergence")}
COLUMNS = ["market_time", "recorded", "category", "source", "kind", "subject", "detail", "user"]


def guard_states(rows: list[RuntimeState]) -> list[dict[str, Any]]:
    """One line per session and strategy: trading or halted, and the guards' reference
    figures, from the state last read (`sessions.refresh`)."""
    out = []
    for row in rows:
        summary = row.summary or {}
        risk, daily = summary.get("risk") or {}, summary.get("daily") or {}
        out.append(
            {
                "session": row.state_dir,
                "strategy": "(account)",
                "halted": risk.get("halted") or "",
                "peak": risk.get("peak_equity"),
                "day_start": daily.get("start_balance"),
                "realized": (summary.get("stats") or {}).get("realized"),
            }
        )
        for name, st in sorted((summary.get("strategies") or {}).items()):
            srisk = st.get("risk") or {}
            out.append(
                {
                    "session": row.state_dir,
                    "strategy": name,
                    "halted": "",
                    "peak": srisk.get("peak"),
                    "day_start": srisk.get("day_start"),
                    "realized": (st.get("stats") or {}).get("realized"),
                }
            )
    return out


def session_events(state_dir: str) -> list[dict[str, Any]]:
    """The breaches and divergence alerts in one session's decision log (a torn last line,
    being written, is skipped)."""
    path = Path(state_dir) / DECISIONS_FILE
    if not path.is_file():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            kind = d.get("kind")
            if kind not in CATEGORY:
                continue
            subject = d.get("guard") or d.get("check") or d.get("strategy") or ""
            out.append(
                {
                    "market_time": d.get("time") or "",
                    "recorded": d.get("recorded") or "",  # absent from older logs
                    "category": CATEGORY[kind],
                    "source": state_dir,
                    "kind": kind,
                    "subject": str(subject),
                    "detail": d.get("reason", ""),
                    "user": "",
                }
            )
    return out


def audit_events() -> list[dict[str, Any]]:
    return [
        {
            "market_time": "",
            "recorded": wall_time(e.time),
            "category": "audit",
            "source": "control plane",
            "kind": e.action,
            "subject": e.target,
            "detail": f"{e.outcome}: {e.detail}" if e.detail else e.outcome,
            "user": e.username,
        }
        for e in AuditLog.objects.order_by("time", "id").iterator()
    ]


def wall_time(when: datetime) -> str:
    """An audit time in the decision log's ``recorded`` form (UTC, milliseconds), so the
    two sort together as text."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def events(rows: list[RuntimeState]) -> list[dict[str, Any]]:
    """Every session's breaches and alerts and the audit trail, oldest recorded first, then
    by market time (both UTC ISO 8601, so they sort as text; a decision from a log older
    than the ``recorded`` stamp has none and comes first)."""
    found = [e for row in rows for e in session_events(row.state_dir)] + audit_events()
    return sorted(found, key=lambda e: (e["recorded"], e["market_time"], e["source"], e["kind"]))
