"""A file that keeps the account's OAuth token pair across runs.

Refreshing an access token also replaces the refresh token: the old one stops working. So a
refresh is only worth doing when the new pair can be kept; this file is where it is kept (JSON
``{"access_token": ..., "refresh_token": ...}``, replaced atomically, readable by its owner
only).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tradeforge.core.atomic import atomic_write
from tradeforge.core.errors import ConfigError
from tradeforge.core.paths import user_path
from tradeforge.ctrader.config import Credentials


class TokenFile:
    """Read and rewrite one token file (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = user_path(path)

    def load(self) -> tuple[str, str]:
        """``(access_token, refresh_token)``; `ConfigError` naming the file when unusable."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"cTrader token file not found: {self.path}") from None
        except (OSError, UnicodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read cTrader token file {self.path}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"cTrader token file {self.path} must hold a JSON object")
        access, refresh = data.get("access_token"), data.get("refresh_token", "")
        if not isinstance(access, str) or not access or not isinstance(refresh, str):
            raise ConfigError(
                f"cTrader token file {self.path} needs a non-empty string 'access_token' "
                "(and optionally 'refresh_token')"
            )
        return access, refresh

    def save(self, credentials: Credentials) -> None:
        """Replace the file with the new pair (mode 0600)."""
        body = json.dumps(
            {"access_token": credentials.access_token, "refresh_token": credentials.refresh_token},
            indent=2,
        ).encode()

        def write(fh) -> None:  # noqa: ANN001
            os.fchmod(fh.fileno(), 0o600)
            fh.write(body + b"\n")

        atomic_write(self.path, write)


__all__ = ["TokenFile"]
