"""Secrets (broker passwords) from a file or an environment variable, never from argv, where
every user of the machine can read them in the process list."""

from __future__ import annotations

import os
from pathlib import Path

from tradeforge.core.errors import ConfigError
from tradeforge.core.paths import user_path


def read_secret(env: str | None, file: str | Path | None, what: str = "password") -> str | None:
    """The first line of ``file`` when given (missing, unreadable or empty: `ConfigError`),
    else the value of the environment variable ``env`` when set and non-empty, else None."""
    if file is not None:
        path = user_path(file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise ConfigError(f"{what} file not found: {path}") from None
        except (OSError, UnicodeError) as exc:
            raise ConfigError(f"cannot read {what} file {path}: {exc}") from None
        if not lines or not lines[0]:
            raise ConfigError(f"{what} file {path} is empty")
        return lines[0]
    return (os.environ.get(env) or None) if env else None
