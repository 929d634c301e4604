"""Dry-run sessions started and stopped from the control plane. A start runs the
``tradeforge dry-run`` console script as a detached child (a session of its own, so it
outlives a restart of the web process) on a new state directory under the first configured
state root, with ``--notify`` the control plane's notification file when there is one
(`notifications`), and records it in `RuntimeState` (pid, command, who, when, log file).
A stop is a SIGTERM to that recorded process, which the dry-run handles as Ctrl-C: it
commits, closes its control channel and exits; a resume runs the recorded command again on
the same state directory, and the engine continues from its state. Each goes to the
`AuditLog` with the user."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from tradeforge.core.errors import ConfigError
from tradeforge.core.process import pid_alive
from tradeforge.web.models import AuditLog, RuntimeState

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LOG_DIR = "session-logs"
#: optional form fields passed on as they are (the dry-run validates them: a bad value ends it
#: at once, with its one-line error at the end of the session's log)
OPTIONS = {
    "commission": "--commission",
    "sizing": "--sizing",
    "max_daily_loss": "--max-daily-loss",
    "max_drawdown": "--max-drawdown",
    "max_positions": "--max-positions",
    "max_spread": "--max-spread",
}


def tradeforge_script() -> str:
    """The console script beside this interpreter (the installation the web process runs)."""
    return str(Path(sys.executable).with_name("tradeforge"))


def session_command(form: dict[str, Any], state_dir: Path) -> list[str]:
    """The ``tradeforge dry-run`` command line of a start form; `ConfigError` naming a bad
    field (the strategy and its parameters are checked here, before anything starts)."""
    from tradeforge.strategy.registry import create_strategy, parse_params

    strategy = str(form.get("strategy") or "").strip()
    symbol = str(form.get("symbol") or "").strip().upper()
    timeframe = str(form.get("timeframe") or "").strip().upper()
    replay = str(form.get("replay") or "").strip()
    if not strategy:
        raise ConfigError("a session needs a strategy")
    if not symbol or not timeframe:
        raise ConfigError("a session needs a symbol and a timeframe")
    if not replay:
        raise ConfigError("a session needs a replay range START:END, e.g. 2024-01-01:2024-03-01")
    raw = form.get("params") or []
    lines = raw if isinstance(raw, list) else str(raw).replace(",", "\n").splitlines()
    lines = [str(x).strip() for x in lines if str(x).strip()]
    create_strategy(strategy, parse_params(lines))
    try:
        pace = float(form.get("pace") or 0)
    except (TypeError, ValueError):
        raise ConfigError(f"pace must be a number of seconds, got {form.get('pace')!r}") from None
    if not pace >= 0:
        raise ConfigError(f"pace must be >= 0 seconds, got {pace:g}")
    params = [x for p in lines for x in ("-p", p)]
    # free text goes in ``--option=value`` form: a value cannot pose as another option
    command = [
        tradeforge_script(), "dry-run", f"--state={state_dir}", f"--strategy={strategy}",
        *params, f"--symbol={symbol}", f"--timeframe={timeframe}", f"--replay={replay}",
        f"--pace={pace:g}", f"--home={settings.HOME}",
    ]  # fmt: skip
    for field, option in OPTIONS.items():
        value = str(form.get(field) or "").strip()
        if value:
            command.append(f"{option}={value}")
    return command


def _audit(user: Any, action: str, target: str, args: dict, outcome: str, detail: str) -> None:
    AuditLog.objects.create(
        user=user,
        username=user.get_username(),
        action=action,
        target=target,
        args=args,
        outcome=outcome,
        detail=detail,
    )


def _spawn(command: list[str], log_path: Path) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the web server's process group: no stray signals
            env=os.environ.copy(),
        )
    # reap it when it ends (this process is its parent while it lives)
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc.pid


def start(user: Any, form: dict[str, Any]) -> RuntimeState:
    """Start a new dry-run session named ``form["name"]`` as ``user``; audited either way."""
    name = str(form.get("name") or "").strip()
    args = {k: form.get(k) for k in sorted(form) if k != "csrfmiddlewaretoken"}
    try:
        if not _NAME.match(name):
            raise ConfigError(
                f"session name {name!r}: letters, digits, '.', '_' or '-' (at most 64)"
            )
        root = Path(settings.STATE_DIRS[0])
        state_dir = root / name
        if state_dir.exists():
            raise ConfigError(f"a session named {name!r} already exists ({state_dir})")
        command = session_command(form, state_dir)
    except ConfigError as exc:
        _audit(user, "session_start", name, args, AuditLog.REFUSED, str(exc))
        raise
    command = with_notify(command)
    root.mkdir(parents=True, exist_ok=True)
    log_path = Path(settings.WEB_HOME) / LOG_DIR / f"{name}.log"
    pid = _spawn(command, log_path)
    row, _ = RuntimeState.objects.update_or_create(
        state_dir=str(state_dir),
        defaults={
            "mode": "dry-run",
            "symbol": str(form.get("symbol") or "").strip().upper(),
            "pid": pid,
            "launched_by": user.get_username(),
            "launched": timezone.now(),
            "command": command,
            "log_path": str(log_path),
            "running": True,
            "error": "",
        },
    )
    _audit(user, "session_start", str(state_dir), args, AuditLog.OK, f"pid {pid}")
    return row


def with_notify(command: list[str]) -> list[str]:
    """``command`` given the control plane's notification file as it is now (``--notify``
    added, or dropped once no chat or webhook is enabled)."""
    from tradeforge.web.notifications import active_path

    notify = active_path()
    kept = [arg for arg in command if not arg.startswith("--notify=")]
    return kept if notify is None else [*kept, f"--notify={notify}"]


def resume(user: Any, state_dir: str, confirm: bool = False) -> RuntimeState:
    """Relaunch the stopped session this control plane started at ``state_dir`` with its
    recorded command (its ``--notify`` following the file as it is now): the engine continues
    from its state. A live session needs ``confirm``. Audited either way."""
    try:
        row = RuntimeState.objects.filter(state_dir=state_dir).exclude(pid=None).first()
        if row is None or not row.command:
            raise ConfigError(f"{state_dir} was not started from the control plane")
        if process_of(row) is not None:
            raise ConfigError(f"the session at {state_dir} is running (pid {row.pid})")
        if row.command[1] == "live" and not confirm:
            raise ConfigError("resuming a live session needs the confirmation box ticked")
    except ConfigError as exc:
        _audit(user, "session_resume", state_dir, {}, AuditLog.REFUSED, str(exc))
        raise
    command = with_notify(row.command)
    pid = _spawn(command, Path(row.log_path))
    row.pid, row.command, row.running = pid, command, True
    row.launched_by, row.launched = user.get_username(), timezone.now()
    row.save()
    _audit(user, "session_resume", state_dir, {}, AuditLog.OK, f"pid {pid}")
    return row


def process_of(row: RuntimeState) -> int | None:
    """The recorded pid while that process is still this session's dry-run (a recycled pid
    running something else does not count)."""
    pid = row.pid or 0
    if not pid_alive(pid):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
        with open(f"/proc/{pid}/stat") as fh:
            zombie = fh.read().rsplit(") ", 1)[1].startswith("Z")
    except OSError:  # no /proc (not Linux): trust the pid
        return pid
    return None if zombie or f"--state={row.state_dir}".encode() not in argv else pid


def stop(user: Any, state_dir: str) -> str:
    """SIGTERM the session this control plane started at ``state_dir``; audited."""
    try:
        row = RuntimeState.objects.filter(state_dir=state_dir).first()
        if row is None or not row.pid:
            raise ConfigError(f"{state_dir} was not started from the control plane")
        pid = process_of(row)
        if pid is None:
            raise ConfigError(f"the session at {state_dir} is not running")
        os.kill(pid, signal.SIGTERM)
    except ConfigError as exc:
        _audit(user, "session_stop", state_dir, {}, AuditLog.REFUSED, str(exc))
        raise
    detail = f"SIGTERM sent to pid {pid}"
    _audit(user, "session_stop", state_dir, {}, AuditLog.OK, detail)
    return detail


def log_tail(row: RuntimeState, lines: int = 5) -> str:
    """The last lines of a started session's output (why it ended, when it did)."""
    if not row.log_path:
        return ""
    try:
        text = Path(row.log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
