"""The client side of the control channel (what ``tradeforge ctl`` speaks): connect to
``<state>/control.sock``, send one JSON request per line with the session's token, read one
answer per line. A refusal comes back as `ConfigError` (its line is the engine's reason); a
channel that is not there as `StateError`."""

from __future__ import annotations

import getpass
import json
import os
import socket
from pathlib import Path
from typing import Any

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.live.control.server import SOCKET_FILE, TOKEN_FILE
from tradeforge.live.model import Json


def read_token(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise StateError(
            f"no control token at {path}: is a dry-run/live session running there?"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"cannot read the control token {path}: {exc}") from None


class ControlClient:
    """``with ControlClient(state_dir) as c: c.request("pause", {})`` — one connection."""

    def __init__(
        self, state_dir: str | Path, *, token_file: Path | None = None, timeout: float = 30.0
    ) -> None:
        self.dir = Path(state_dir)
        self.socket_path = self.dir / SOCKET_FILE
        self.token_file = token_file or self.dir / TOKEN_FILE
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file: Any = None

    def __enter__(self) -> ControlClient:
        if not self.dir.is_dir():
            raise StateError(f"{self.dir} is not a state directory")
        token = read_token(self.token_file)
        if not self.socket_path.exists():
            raise StateError(
                f"no control socket at {self.socket_path}: is a dry-run/live session running "
                "on this state directory?"
            )
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError as exc:
            sock.close()
            raise StateError(
                f"cannot connect to {self.socket_path} ({exc.strerror or exc}): the session "
                "is not running (it ended or crashed; acknowledged commands apply on restart)"
            ) from None
        self._sock, self._file, self._token = sock, sock.makefile("rwb"), token
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()

    def send(self, cmd: str, args: Json | None = None, **extra: Any) -> Json:
        """The engine's answer to one request (``ok`` true or false, as it came)."""
        assert self._file is not None
        req = {
            "cmd": cmd,
            "args": args or {},
            "token": self._token,
            "client": {"user": getpass.getuser(), "pid": os.getpid()},
            **extra,
        }
        try:
            self._file.write((json.dumps(req) + "\n").encode())
            self._file.flush()
            line = self._file.readline()
        except TimeoutError:
            raise StateError(
                f"no answer from {self.socket_path} within {self.timeout:g}s"
            ) from None
        except OSError as exc:
            raise StateError(f"control channel {self.socket_path}: {exc}") from None
        if not line:
            raise StateError(
                f"the session closed the control channel before answering {cmd!r} (it ended or "
                "crashed; an acknowledged command applies on restart)"
            )
        return json.loads(line)

    def request(self, cmd: str, args: Json | None = None, **extra: Any) -> Json:
        """Like `send`, but a refusal raises `ConfigError` with the engine's reason."""
        answer = self.send(cmd, args, **extra)
        if not answer.get("ok"):
            raise ConfigError(answer.get("error", "refused"))
        return answer

    def wait(self, command_id: int, timeout: float) -> Json:
        """Block until command ``command_id`` applied (or ``timeout``): its outcome."""
        assert self._sock is not None
        self._sock.settimeout(timeout + self.timeout)
        return self.request("wait", id=command_id, timeout=timeout)
