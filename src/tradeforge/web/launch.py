"""Dry-run and live sessions started, stopped and resumed from the control plane. A start
runs the ``tradeforge dry-run`` or ``tradeforge live`` console script (cTrader or MT5, with
the options that command takes; its credentials come from the web process's environment or
from secret files the form names, never from the form or the database) as a detached child
(a session of its own, so it outlives a restart of the web process) on a new state
directory under the first configured state root, with ``--notify`` the control plane's notification file when there is one
(`notifications`), and records it in `RuntimeState` (pid, command, who, when, log file).
A stop is a SIGTERM to that recorded process, which a session handles as Ctrl-C: it
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
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
LOG_DIR = "session-logs"
MODES = ("dry-run", "live")
#: optional form fields passed on as they are (the session validates them: a bad value ends
#: it at once, with its one-line error at the end of the session's log)
OPTIONS = {
    "sizing": "--sizing",
    "max_daily_loss": "--max-daily-loss",
    "max_drawdown": "--max-drawdown",
    "max_positions": "--max-positions",
    "max_spread": "--max-spread",
}
DRY_RUN_OPTIONS = {"commission": "--commission"}
#: a live session's broker connection fields: names of things (a host, an account, files, an
#: environment variable), never a secret — the credentials are read by the session from the
#: web process's environment or from the files named here, as ``tradeforge live`` reads them
BROKER_OPTIONS = {
    "ctrader": {
        "host": "--host",
        "account_id": "--account-id",
        "ca_file": "--ca-file",
        "token_file": "--token-file",
        "broker_symbol": "--broker-symbol",
    },
    "mt5": {
        "login": "--login",
        "server": "--server",
        "password_env": "--password-env",
        "password_file": "--password-file",
        "terminal_path": "--terminal-path",
        "broker_symbol": "--broker-symbol",
        "magic": "--magic",
    },
}
#: every field a start form may have (only these are audited: nothing else is kept)
FIELDS = {
    "name", "mode", "strategy", "params", "symbol", "timeframe", "replay", "pace", "broker",
    "health", "confirm", *OPTIONS, *DRY_RUN_OPTIONS,
    *(field for options in BROKER_OPTIONS.values() for field in options),
}  # fmt: skip


def tradeforge_script() -> str:
    """The console script beside this interpreter (the installation the web process runs)."""
    return str(Path(sys.executable).with_name("tradeforge"))


def _text(form: dict[str, Any], field: str) -> str:
    return str(form.get(field) or "").strip()


def _strategy_args(form: dict[str, Any]) -> list[str]:
    """``--strategy``, ``-p`` and ``--symbol/--timeframe`` of a start form, checked here
    (strategy and parameters), before anything starts."""
    from tradeforge.strategy.registry import create_strategy, parse_params

    strategy = _text(form, "strategy")
    symbol, timeframe = _text(form, "symbol").upper(), _text(form, "timeframe").upper()
    if not strategy:
        raise ConfigError("a session needs a strategy")
    if not symbol or not timeframe:
        raise ConfigError("a session needs a symbol and a timeframe")
    raw = form.get("params") or []
    lines = raw if isinstance(raw, list) else str(raw).replace(",", "\n").splitlines()
    lines = [str(x).strip() for x in lines if str(x).strip()]
    create_strategy(strategy, parse_params(lines))
    params = [x for p in lines for x in ("-p", p)]
    return [f"--strategy={strategy}", *params, f"--symbol={symbol}", f"--timeframe={timeframe}"]


def _options(form: dict[str, Any], options: dict[str, str]) -> list[str]:
    return [
        f"{option}={_text(form, field)}" for field, option in options.items() if _text(form, field)
    ]


def confirmed(form: dict[str, Any]) -> bool:
    """The confirmation box of a form (``on``) or ``true`` in a JSON body."""
    return form.get("confirm") in ("on", True)


def session_command(form: dict[str, Any], state_dir: Path) -> list[str]:
    """The ``tradeforge dry-run`` or ``tradeforge live`` command line of a start form
    (``mode``); `ConfigError` naming a bad field. Free text goes in ``--option=value`` form,
    so a value cannot pose as another option."""
    mode = _text(form, "mode") or "dry-run"
    if mode not in MODES:
        raise ConfigError(f"unknown session mode {mode!r}; modes: {', '.join(MODES)}")
    if mode == "live":
        return _live_command(form, state_dir)
    strategy = _strategy_args(form)
    replay = _text(form, "replay")
    if not replay:
        raise ConfigError("a session needs a replay range START:END, e.g. 2024-01-01:2024-03-01")
    try:
        pace = float(form.get("pace") or 0)
    except (TypeError, ValueError):
        raise ConfigError(f"pace must be a number of seconds, got {form.get('pace')!r}") from None
    if not pace >= 0:
        raise ConfigError(f"pace must be >= 0 seconds, got {pace:g}")
    return [
        tradeforge_script(), "dry-run", f"--state={state_dir}", *strategy, f"--replay={replay}",
        f"--pace={pace:g}", f"--home={settings.HOME}",
        *_options(form, OPTIONS), *_options(form, DRY_RUN_OPTIONS),
    ]  # fmt: skip


def _live_command(form: dict[str, Any], state_dir: Path) -> list[str]:
    broker = _text(form, "broker")
    if broker not in BROKER_OPTIONS:
        raise ConfigError(f"unknown broker {broker!r}; brokers: {', '.join(BROKER_OPTIONS)}")
    if not confirmed(form):
        raise ConfigError("a live session trades real orders: tick the confirmation box")
    password_env = _text(form, "password_env")
    if password_env and not _ENV_NAME.match(password_env):
        raise ConfigError(
            "password variable: the NAME of an environment variable of the web process "
            "(letters, digits, '_'), never the password itself"
        )
    health = [f"--health={rule}" for rule in _text(form, "health").replace(",", " ").split()]
    return [
        tradeforge_script(), "live", f"--state={state_dir}", f"--broker={broker}",
        *_strategy_args(form), *_options(form, BROKER_OPTIONS[broker]), *health,
        *_options(form, OPTIONS),
    ]  # fmt: skip


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
    """Start a new dry-run or live session named ``form["name"]`` as ``user``; audited
    either way (the form's known fields only)."""
    name = _text(form, "name")
    args = {k: form[k] for k in sorted(form) if k in FIELDS}
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
            "mode": command[1],
            "symbol": _text(form, "symbol").upper(),
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
