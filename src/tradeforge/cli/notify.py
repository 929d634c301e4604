"""``tradeforge notify test``, and the ``--notify FILE`` option of ``dry-run`` and ``live``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradeforge.cli.common import command_group, console, console_err, expand_user

if TYPE_CHECKING:
    from tradeforge.notify.session import SessionNotifier

app = command_group("Notifications: Telegram chats and webhooks.")

NotifyOption = Annotated[
    Path | None,
    typer.Option(
        "--notify",
        help="Notification config (TOML): Telegram chats and webhook URLs per level, alert "
        "thresholds. The bot token comes from the environment or a file, never from here.",
        callback=expand_user,
    ),
]


def session_notifier(path: Path | None) -> SessionNotifier | None:
    """The observer a session's ``--notify`` file asks for (config errors before it starts)."""
    if path is None:
        return None
    from tradeforge.notify.config import load_notify_config
    from tradeforge.notify.session import SessionNotifier

    def warn(line: str) -> None:
        console_err.print(f"[yellow]notifications:[/] {line}", highlight=False, soft_wrap=True)

    return SessionNotifier(load_notify_config(path), warn=warn)


@app.command("test")
def test(
    config: Annotated[
        Path, typer.Option("--config", help="Notification config file.", callback=expand_user)
    ],
) -> None:
    """Send one test message to every configured chat and URL (exit 2 naming the first that
    fails: a bad token, an unknown chat, an unreachable address)."""
    from tradeforge.notify.check import send_test
    from tradeforge.notify.config import load_notify_config

    for line in send_test(load_notify_config(config)):
        console.print(line, highlight=False)


def register(root: typer.Typer) -> None:
    """Add the ``notify`` group to the root app."""
    root.add_typer(app, name="notify")
