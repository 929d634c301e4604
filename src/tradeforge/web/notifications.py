"""The notification configuration edited in the control plane (`NotificationConfig` chats
and `WebhookConfig` URLs), applied to the engine: the enabled rows are written, validated as
the engine validates them (`tradeforge.notify.config.parse_notify_config`), to
``<data home>/web/notify.yaml``. Every session this control plane starts runs with
``--notify`` that file, and an edit is handed at once to those running
(`reload_sessions`: a ``notify_reload`` control command); sessions started by hand use the
file with ``--notify`` and ``tradeforge ctl notify-reload``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from tradeforge.core.atomic import atomic_write_bytes
from tradeforge.core.config import read_config_file
from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.notify.config import parse_notify_config
from tradeforge.notify.message import Level
from tradeforge.web.models import NotificationConfig, RuntimeState, WebhookConfig

NOTIFY_FILE = "notify.yaml"
LEVELS = [level.value for level in Level]


def config_path() -> Path:
    return Path(settings.WEB_HOME) / NOTIFY_FILE


def _levels(name: str, levels: list[str]) -> list[str]:
    if not levels:
        raise ConfigError(f"{name}: choose at least one level ({', '.join(LEVELS)})")
    unknown = sorted(set(levels) - set(LEVELS))
    if unknown:
        raise ConfigError(f"{name}: unknown level {unknown[0]!r}; levels: {LEVELS}")
    return levels


def _telegram(rows: list[NotificationConfig]) -> dict[str, Any]:
    token_envs = sorted({r.token_env for r in rows})
    if len(token_envs) > 1:
        raise ConfigError(
            f"the enabled chats name different token variables ({', '.join(token_envs)}); "
            "one bot sends every message"
        )
    chats: dict[str, list[int | str]] = {}
    for row in sorted(rows, key=lambda r: r.name):
        chat: int | str = int(row.chat_id) if row.chat_id.lstrip("-").isdigit() else row.chat_id
        for level in _levels(row.name, row.levels):
            chats.setdefault(level, []).append(chat)
    telegram: dict[str, Any] = {"token_env": token_envs[0], "chats": chats}
    if settings.TELEGRAM_URL:
        telegram["base_url"] = settings.TELEGRAM_URL
    return telegram


def document(rows: list[NotificationConfig], hooks: list[WebhookConfig]) -> dict[str, Any] | None:
    """The notification config of the enabled chats ``rows`` and webhooks ``hooks`` (None
    when none is enabled); `ConfigError` naming the problem, as the engine would."""
    rows = [r for r in rows if r.enabled]
    hooks = [h for h in hooks if h.enabled]
    if not rows and not hooks:
        return None
    doc: dict[str, Any] = {}
    if rows:
        doc["telegram"] = _telegram(rows)
    if hooks:
        urls: dict[str, list[str]] = {}
        for hook in sorted(hooks, key=lambda h: h.name):
            for level in _levels(hook.name, hook.levels):
                urls.setdefault(level, []).append(hook.url)
        doc["webhook"] = {"urls": urls}
    parse_notify_config(doc, "notification settings")  # the engine's own validation
    return doc


def apply() -> Path | None:
    """Write the file from the rows (remove it when none is enabled); returns its path.
    `ConfigError` (naming the problem) leaves the previous file in place."""
    doc = document(list(NotificationConfig.objects.all()), list(WebhookConfig.objects.all()))
    path = config_path()
    if doc is None:
        path.unlink(missing_ok=True)
        return None
    text = "# written by the tradeforge control plane; edit it there\n" + yaml.safe_dump(doc)
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def reload_sessions(user: Any) -> list[str]:
    """Hand the settings now in the file to every running session started here with it: a
    ``notify_reload`` command through its control channel (validated by the engine with the
    same loader, journaled, audited as ``user``). One line per session on what happened."""
    from tradeforge.web.launch import process_of
    from tradeforge.web.sessions import send

    path = config_path()
    doc = read_config_file(path, "notification config") if path.is_file() else {}
    out = []
    for row in RuntimeState.objects.exclude(pid=None).order_by("state_dir"):
        if process_of(row) is None:
            continue
        if not any(arg.startswith("--notify=") for arg in row.command):
            out.append(f"{row.state_dir}: started without notifications; they apply when resumed")
            continue
        try:
            # audited by the file's name: webhook URLs may hold a secret
            answer = send(
                user, row.state_dir, "notify_reload", {"config": doc}, audited={"file": str(path)}
            )
        except TradeforgeError as exc:
            out.append(f"{row.state_dir}: not reloaded: {exc}")
        else:
            out.append(f"{row.state_dir}: reloaded (command {answer.get('id', '?')})")
    return out


def active_path() -> Path | None:
    """The file a session started now is given, if there is one."""
    path = config_path()
    return path if path.is_file() else None
