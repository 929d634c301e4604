"""Dry-run/live sessions as the operations page sees them: read from their state directories
(read-only, as ``tradeforge status`` does) into `RuntimeState` rows, and commands sent through
the session's control channel (`tradeforge.live.control.ControlClient`), each one written to
the `AuditLog` with the user who sent it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings

from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.live.control.server import SOCKET_FILE
from tradeforge.live.runner import SPEC_FILE as DRYRUN_FILE
from tradeforge.live.state import STATE_FILE
from tradeforge.web.models import AuditLog, RuntimeState

#: what the operations page may send, and whether it needs the confirmation box ticked
ACTIONS = {
    "pause": False,
    "resume": False,
    "enable": False,
    "disable": False,
    "close": False,
    "close_all": True,
    "kill": True,
    "blackout_add": False,
    "blackout_remove": False,
}


def state_dirs(roots: list[Path] | None = None) -> list[Path]:
    """Every state directory under the configured roots (a root may itself be one)."""
    found = []
    for root in roots if roots is not None else settings.STATE_DIRS:
        if (root / STATE_FILE).is_file():
            found.append(root)
        elif root.is_dir():
            found.extend(sorted(p for p in root.iterdir() if (p / STATE_FILE).is_file()))
    return found


def read_session(state_dir: Path) -> dict[str, Any]:
    """Summary (positions, P&L, guards) and control state of one session, read-only."""
    from tradeforge.live.control.status import control_status
    from tradeforge.live.schema import check_engine_state, load_engine_state
    from tradeforge.live.state import StateRepository
    from tradeforge.live.summary import engine_summary

    stored, _report = StateRepository(state_dir, validate=check_engine_state).load(heal=False)
    return {
        "summary": engine_summary(stored),
        "control": control_status(load_engine_state(stored)),
    }


def refresh() -> list[RuntimeState]:
    """Read every state directory into its `RuntimeState` row (errors kept on the row), the
    sessions started here (`launch`) included before their first state is written."""
    from tradeforge.web.launch import process_of

    launched = {Path(r.state_dir) for r in RuntimeState.objects.exclude(pid=None)}
    rows = []
    for path in sorted(set(state_dirs()) | launched):
        row, _ = RuntimeState.objects.get_or_create(state_dir=str(path))
        if (path / STATE_FILE).is_file():
            _read_into(row, path)
        if row.pid:
            row.running = process_of(row) is not None
        else:
            row.running = (path / SOCKET_FILE).exists()
        row.save()
        rows.append(row)
    return rows


def _read_into(row: RuntimeState, path: Path) -> None:
    try:
        doc = read_session(path)
    except TradeforgeError as exc:
        row.error = str(exc)
        return
    identity = doc["summary"].get("identity") or {}
    row.error = ""
    row.mode = "dry-run" if (path / DRYRUN_FILE).is_file() else "live"
    row.symbol = str(identity.get("symbol", ""))
    row.strategies = sorted(
        {str(identity.get("strategy", ""))} | set(doc["control"]["strategies"]) - {""}
    )
    row.positions = doc["summary"]["positions"]
    row.control = doc["control"]
    row.summary = doc["summary"]


def known_session(state_dir: str) -> Path:
    """``state_dir`` if it is one of the configured sessions (never an arbitrary path)."""
    path = Path(state_dir)
    launched = RuntimeState.objects.filter(state_dir=state_dir).exclude(pid=None).exists()
    if path not in state_dirs() and not launched:
        raise ConfigError(f"{state_dir} is not a session this control plane watches")
    return path


def send_command(user: Any, state_dir: str, action: str, args: dict[str, Any]) -> dict:
    """Send ``action`` (one of `ACTIONS`) to the session at ``state_dir`` as ``user``; audit
    it either way. Returns the engine's acknowledgement; a refusal raises `ConfigError`."""

    def checked() -> None:
        if action not in ACTIONS:
            raise ConfigError(f"unknown action {action!r}")
        if ACTIONS[action] and args.get("confirm") is not True:
            raise ConfigError(f"{action.replace('_', '-')} needs the confirmation box ticked")

    return send(user, state_dir, action, args, checked)


def send(
    user: Any,
    state_dir: str,
    action: str,
    args: dict[str, Any],
    check: Any = None,
    audited: dict[str, Any] | None = None,
) -> dict:
    """Send control command ``action`` (after ``check()``, which may refuse) to the session at
    ``state_dir`` as ``user``; audited either way, with ``audited`` standing for ``args`` when
    given (the control plane's own commands, such as `notifications.reload_sessions`, come
    here directly)."""
    from tradeforge.live.control import ControlClient

    entry = AuditLog(
        user=user,
        username=user.get_username(),
        action=action,
        target=state_dir,
        args=args if audited is None else audited,
    )
    try:
        if check is not None:
            check()
        path = known_session(state_dir)
        client_info = {"user": f"web:{user.get_username()}", "pid": os.getpid()}
        with ControlClient(path, timeout=10.0) as client:
            answer = client.request(action, args, client=client_info)
    except ConfigError as exc:
        entry.outcome, entry.detail = AuditLog.REFUSED, str(exc)
        entry.save()
        raise
    except TradeforgeError as exc:
        entry.outcome, entry.detail = AuditLog.ERROR, str(exc)
        entry.save()
        raise
    entry.outcome, entry.detail = AuditLog.OK, str(answer.get("id", ""))
    entry.save()
    return answer
