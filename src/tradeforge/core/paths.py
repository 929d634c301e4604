"""Where tradeforge keeps its data: ``--home`` > ``$TRADEFORGE_HOME`` > per-user data dir."""

from __future__ import annotations

import os
from pathlib import Path


def user_path(path: str | Path) -> Path:
    """``path`` with a leading ``~`` expanded: every path a user gives goes through this."""
    return Path(path).expanduser()


def default_home() -> Path:
    env = os.environ.get("TRADEFORGE_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "tradeforge"


def resolve_home(home: str | Path | None = None) -> Path:
    path = user_path(home) if home else default_home()
    path.mkdir(parents=True, exist_ok=True)
    return path
