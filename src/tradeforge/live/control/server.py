"""The control channel of a running engine: a Unix domain socket ``<state>/control.sock``
(mode 0600) served by a small thread, one JSON object per line each way, every request
carrying the token of ``<state>/control.token`` (0600, new for every session start).

A command is checked against the committed state and journaled (`Engine.acknowledge`: who —
the OS user and pid the kernel reports for the peer —, when, what) before the answer goes
out; it applies at the next event boundary (`tradeforge.live.control.apply`). Refusals (no
or a wrong token, an unknown command or strategy, a bad window, an unknown position) change
nothing, are answered with one line and logged in ``decisions.jsonl`` as ``command_refused``.
Queries (``status``, ``wait``) are answered at once and not journaled. The engine's thread
never waits for this one: they share only the commit lock, held for one journal append.
The protocol is described in docs/protocols.md ("Runtime control channel").
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import pwd
import secrets
import socket
import socketserver
import struct
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeforge.core.errors import ConfigError, StateError, TradeforgeError
from tradeforge.live.control.commands import COMMANDS, check
from tradeforge.live.control.status import control_status
from tradeforge.live.decisions import (
    DECISIONS_FILE,
    append_decisions,
    decision,
    iso,
    wall_clock,
)
from tradeforge.live.model import EngineState, Json
from tradeforge.live.persist import state_io
from tradeforge.live.summary import engine_summary

if TYPE_CHECKING:
    from tradeforge.live.engine import Engine

SOCKET_FILE = "control.sock"
TOKEN_FILE = "control.token"
MAX_REQUEST = 1 << 20  # bytes in one request line (a calendar import fits)
MAX_WAIT = 600.0  # seconds a ``wait`` may block
MAX_SOCKET_PATH = 100  # sun_path holds 104 (macOS) or 108 (Linux) bytes with its NUL


def peer_of(conn: socket.socket) -> Json:
    """The connecting process as the kernel reports it (Linux ``SO_PEERCRED``), else {}."""
    if not hasattr(socket, "SO_PEERCRED"):
        return {}
    size = struct.calcsize("3i")
    pid, uid, _gid = struct.unpack(
        "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size)
    )
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    return {"user": user, "uid": uid, "pid": pid}


def _who(peer: Json, req: Json) -> Json:
    """Who sent a request: the kernel's word, else what the client declared (marked so)."""
    if peer:
        return dict(peer)
    client = req.get("client") if isinstance(req.get("client"), dict) else {}
    return {"user": str(client.get("user", "?")), "pid": client.get("pid"), "declared": True}


def write_token(path: Path) -> str:
    """A fresh random token in ``path``, created 0600 and moved into place atomically."""
    token = secrets.token_hex(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with state_io(path, "write"):
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(token + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return token


class _Handler(socketserver.StreamRequestHandler):
    timeout = 30.0  # seconds a client may leave a request line unfinished

    def handle(self) -> None:
        control: ControlServer = self.server.control  # type: ignore[attr-defined]
        peer = peer_of(self.connection)
        while True:
            line = self.rfile.readline(MAX_REQUEST + 1)
            if not line:
                return
            if len(line) > MAX_REQUEST:
                answer = control.refuse(
                    f"request longer than {MAX_REQUEST} bytes", "?", _who(peer, {})
                )
            else:
                answer = control.answer(line, peer)
            self.wfile.write((json.dumps(answer, sort_keys=True) + "\n").encode())
            self.wfile.flush()


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished or stalled is its own problem: no traceback on stderr."""


class ControlServer:
    """``with ControlServer(engine):`` — serve the control channel while the engine runs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dir = engine.dir
        self.socket_path = self.dir / SOCKET_FILE
        self.token_path = self.dir / TOKEN_FILE
        self.token = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._outcomes: dict[int, Json] = {}
        self._closed = False

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> ControlServer:
        """Write the token, bind the socket (0600) and start serving; `StateError` when the
        socket cannot be made (the session holds the state directory's lock, so a socket
        file left there is a dead session's and is replaced)."""
        if not hasattr(socket, "AF_UNIX"):
            raise StateError("this platform has no Unix domain sockets: no control channel")
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise StateError(
                f"state directory path too long for a control socket ({self.socket_path}: "
                f"more than {MAX_SOCKET_PATH} bytes); use a shorter --state path"
            )
        self.token = write_token(self.token_path)
        with state_io(self.socket_path, "create the control socket"):
            self.socket_path.unlink(missing_ok=True)
            # bound in a private (0700) directory, made 0600, then moved into place: nobody
            # can connect before the mode is set
            private = Path(tempfile.mkdtemp(prefix=".ctl", dir=self.dir))
            try:
                server = _Server(str(private / "s"), _Handler, bind_and_activate=False)
                server.server_bind()
                os.chmod(private / "s", 0o600)
                os.replace(private / "s", self.socket_path)
                server.server_activate()
            finally:
                with contextlib.suppress(OSError):
                    (private / "s").unlink(missing_ok=True)
                    private.rmdir()
        server.control = self  # type: ignore[attr-defined]
        self._server = server
        self.engine.on_applied = self._applied
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
            name="tradeforge-control",
        )  # fmt: skip
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, release waiters, remove the socket and the token."""
        self.engine.on_applied = None
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for path in (self.socket_path, self.token_path):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the engine's thread --------------------------------------------------------------------
    def _applied(self, outcomes: list[Json]) -> None:
        with self._cond:
            for o in outcomes:
                self._outcomes[o["id"]] = o
            self._cond.notify_all()

    # -- requests (connection threads) -----------------------------------------------------------
    def answer(self, line: bytes, peer: Json) -> Json:
        """The answer to one request line."""
        try:
            req = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            req = None
        if not isinstance(req, dict):
            return self.refuse("request is not a JSON object", "?", _who(peer, {}))
        who = _who(peer, req)
        name = req.get("cmd")
        name = name if isinstance(name, str) else "?"
        token = req.get("token")
        if not isinstance(token, str) or not token:
            return self.refuse("missing token", name, who)
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return self.refuse(f"bad token (not the one in {self.token_path})", name, who)
        try:
            if name == "status":
                return {"ok": True, "status": self.status()}
            if name == "wait":
                return self._wait(req)
            if name not in COMMANDS:
                raise ConfigError(f"unknown command {name!r}")
            return self._command(name, req.get("args", {}), who)
        except ConfigError as exc:
            return self.refuse(str(exc), name, who)
        except TradeforgeError as exc:  # e.g. the journal cannot be written
            return {"ok": False, "error": str(exc)}

    def refuse(self, reason: str, name: str, who: Json) -> Json:
        """Log a refusal (``command_refused``) and answer it."""
        d = decision(None, "command_refused", reason, command=name[:64], who=who,
                     received=wall_clock())  # fmt: skip
        seq = self.engine.state.get("seq", 0)
        append_decisions(self.dir, seq, [d])
        if self.engine.echo is not None:
            self.engine.echo(d)
        return {"ok": False, "error": reason}

    def _command(self, name: str, args: Any, who: Json) -> Json:
        engine = self.engine
        received = wall_clock()

        def checked(state: EngineState) -> Json:
            if state.risk.halted:
                raise ConfigError(f"trading halted ({state.risk.halted}); commands need a restart")
            return check(name, args, state, engine.ctx)

        cmd = engine.acknowledge(name, checked, who, received)
        last = engine.current.last_key if engine.current else None
        applies = (
            f"at the next feed event after {iso(last[0])}" if last else "at the first feed event"
        )
        d = decision(None, "command_received", f"{name} acknowledged as command {cmd.id}",
                     id=cmd.id, command=name, args=cmd.args, who=who, received=received)  # fmt: skip
        append_decisions(self.dir, cmd.id, [d])
        return {"ok": True, "id": cmd.id, "command": name, "args": cmd.args, "applies": applies}

    def _wait(self, req: Json) -> Json:
        cid, timeout = req.get("id"), req.get("timeout", 30.0)
        if type(cid) is not int or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ConfigError("wait needs an integer 'id' and a 'timeout' >= 0 seconds")
        with self._cond:
            self._cond.wait_for(
                lambda: cid in self._outcomes or self._closed, min(float(timeout), MAX_WAIT)
            )
            done = self._outcomes.get(cid)
        if done is not None:
            return {"ok": True, **done}
        current = self.engine.current
        if current is not None and str(cid) in current.commands:
            return {"ok": True, "id": cid, "outcome": "pending"}
        logged = logged_outcome(self.dir, cid)
        if logged is None:
            raise ConfigError(f"no command {cid} in this session")
        return {"ok": True, **logged}

    def status(self) -> Json:
        """Positions, P&L, guards (`engine_summary`) and the control state, of one commit."""
        engine = self.engine
        with engine.lock:
            stored, current = engine.state, engine.current
        assert current is not None
        return {**engine_summary(stored), "control": control_status(current)}


def logged_outcome(state_dir: Path, cid: int) -> Json | None:
    """The outcome of command ``cid`` as ``decisions.jsonl`` recorded it (an earlier start)."""
    path = state_dir / DECISIONS_FILE
    with (
        state_io(path, "read"),
        contextlib.suppress(FileNotFoundError),
        open(path, encoding="utf-8") as fh,
    ):
        for line in fh:
            if '"command"' not in line:
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line
            if d.get("kind") == "command" and d.get("id") == cid:
                keys = ("id", "command", "outcome", "time")
                return {**{k: d.get(k) for k in keys}, "detail": d.get("reason")}
    return None
