"""Where tradeforge keeps its data: ``--home`` > ``$TRADEFORGE_HOME`` > per-user data dir."""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    env = os.environ.get("TRADEFORGE_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "tradeforge"


def resolve_home(home: str | Path | None = None) -> Path:
    path = Path(home).expanduser() if home else default_home()
    path.mkdir(parents=True, exist_ok=True)
    return path
