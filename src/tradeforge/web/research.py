"""Optimisation and walk-forward results for the dashboard: the folders ``tradeforge
optimize`` / ``walkforward`` wrote (``optimize.json`` + ``optimize.html``, ``walkforward.json``
+ ``walkforward.html``) under the configured research roots. Read from disk on demand: the
folder stays the one home of a research result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from tradeforge.core.errors import ConfigError

KINDS = ("optimize", "walkforward")


@dataclass(frozen=True)
class ResearchResult:
    kind: str
    folder: Path
    key: str  # "<root index>/<folder name>": what the URL carries

    @property
    def page(self) -> Path:
        return self.folder / f"{self.kind}.html"

    def document(self) -> dict[str, Any]:
        return json.loads((self.folder / f"{self.kind}.json").read_text(encoding="utf-8"))


def results() -> list[ResearchResult]:
    """Every result folder directly under a research root (or a root that is one)."""
    found = []
    for i, root in enumerate(settings.RESEARCH_DIRS):
        candidates = [root] + (
            sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        )
        for folder in candidates:
            for kind in KINDS:
                if (folder / f"{kind}.json").is_file():
                    found.append(ResearchResult(kind, folder, f"{i}/{folder.name}"))
    return found


def find(key: str) -> ResearchResult:
    """The listed result ``key`` (never an arbitrary path)."""
    for result in results():
        if result.key == key:
            return result
    raise ConfigError(f"no research result {key!r}")


def tables(doc: dict[str, Any]) -> tuple[list[tuple[str, Any]], list[tuple[str, list, list]]]:
    """A JSON document as (scalar rows, [(name, columns, rows)]) for a generic page."""
    scalars: list[tuple[str, Any]] = []
    frames: list[tuple[str, list, list]] = []
    for key, value in doc.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(value[0])
            frames.append((key, columns, [[row.get(c) for c in columns] for row in value[:200]]))
        elif isinstance(value, dict):
            for sub, v in value.items():
                if not isinstance(v, (dict, list)):
                    scalars.append((f"{key}.{sub}", v))
        elif not isinstance(value, list):
            scalars.append((key, value))
    return scalars, frames
