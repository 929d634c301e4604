"""``tradeforge notify test``: one test message to every configured target, synchronously,
so a wrong token, chat id, URL or API address is found before a session relies on it."""

from __future__ import annotations

import asyncio

from tradeforge.notify.channel import DeliveryError, Notifier, NotifyError
from tradeforge.notify.config import NotifyConfig
from tradeforge.notify.message import Level, Message

TEST_TEXT = "tradeforge test message: notifications reach this chat"


async def _probe(channels: list[Notifier]) -> list[str]:
    done: list[str] = []
    for channel in channels:
        where = channel.name
        try:
            await channel.open()
            if username := getattr(channel, "username", None):
                done.append(f"{channel.name}: bot {username}")
            targets = dict.fromkeys(t for level in Level for t in channel.routes()[level])
            for target in targets:
                where = channel.describe(target)
                await channel.send(target, [Message(Level.INFO, "test", TEST_TEXT)])
                done.append(f"sent to {where}")
        except DeliveryError as exc:
            raise NotifyError(f"{where}: {exc}") from None
        finally:
            await channel.close()
    return done


def send_test(config: NotifyConfig, label: str = "tradeforge") -> list[str]:
    """Send the test message everywhere; one line per step done. `NotifyError` names the
    first target that failed and why; `ConfigError` for a missing token."""
    return asyncio.run(_probe(config.channels(label)))
