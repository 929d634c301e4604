"""What a notification is: a level, the event it reports and one line of plain text. It is
formatted once, from the session's own data, and every channel renders the same message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Level(str, Enum):
    """How urgent a message is; each channel routes every level to its own targets."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


ICONS = {Level.INFO: "•", Level.WARNING: "⚠️", Level.CRITICAL: "🛑"}


@dataclass(frozen=True)
class Message:
    """One notification. ``time`` is the session's event time (ISO UTC), not the wall clock,
    so a replay produces the same messages; ``data`` carries the event's fields for machine
    readers (the webhook's JSON)."""

    level: Level
    kind: str  # the event: opened, closed, partial, stop, guard, error, risk, start, end, ...
    text: str
    time: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """The text with its level's icon, as a chat shows it."""
        return f"{ICONS[self.level]} {self.text}"

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "kind": self.kind,
            "time": self.time,
            "text": self.text,
            "data": dict(self.data),
        }
