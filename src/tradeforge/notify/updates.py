"""Receiving Telegram updates by long polling (``getUpdates``), each one exactly once at most.

Telegram keeps an update until a ``getUpdates`` call asks for a higher ``offset``; asking again
with a lower one (or none) returns it again. So the offset is the session's memory of what it
has handled: `OffsetStore` keeps the next offset in ``<state>/telegram_offset.json`` (a
checksummed document, replaced atomically and fsync'd), written **before** the update is acted
on. A crash in between loses that one update (the user sees no answer and may send it again)
rather than running a ``/close`` twice; a restart never sees an update it has handled. The
offset is kept with the bot's id: another bot's offsets mean nothing.

`poll_updates` is a coroutine for the notifier's event loop (`Dispatcher` tasks): one long poll
at a time, each update handed to ``handle`` in order, network trouble retried with a backoff
(1 s doubling to 30 s), a 429's ``retry_after`` honoured, a rejected token or a second poller
on the same bot (409 Conflict) reported once. See docs/protocols.md, "Telegram Bot API".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tradeforge.core.errors import StateError
from tradeforge.live.persist import read_document, write_document
from tradeforge.notify.telegram import retry_seconds

OFFSET_FILE = "telegram_offset.json"
ALLOWED = ("message", "callback_query")  # the update kinds commands need
BACKOFF = (1.0, 30.0)


class OffsetStore:
    """The next ``getUpdates`` offset of one bot, kept in a state directory."""

    def __init__(self, state_dir: str | Path, bot_id: int) -> None:
        self.path = Path(state_dir) / OFFSET_FILE
        self.bot_id = bot_id

    def load(self) -> int | None:
        """The stored offset (None: never polled, or polled with another bot)."""
        if not self.path.exists():
            return None
        doc = read_document(self.path)
        if not isinstance(doc, dict) or not isinstance(doc.get("offset"), int):
            raise StateError(f"{self.path}: not a Telegram offset document")
        return doc["offset"] if doc.get("bot") == self.bot_id else None

    def save(self, offset: int) -> None:
        write_document(self.path, {"bot": self.bot_id, "offset": offset})


async def poll_updates(
    bot: Any,
    store: OffsetStore,
    handle: Callable[[Any], Awaitable[None]],
    *,
    timeout: int,
    report: Callable[[str, str], None],
) -> None:
    """Long-poll ``bot`` for ever (cancel to stop); ``report(kind, text)`` tells trouble."""
    from telegram import error as E

    try:
        offset = store.load()
    except StateError as exc:
        report("telegram_poll_failed", f"{exc}: commands are off")
        return
    failures = 0
    told: set[str] = set()
    while True:
        try:
            updates = await bot.get_updates(
                offset=offset, timeout=timeout, allowed_updates=list(ALLOWED)
            )
        except E.RetryAfter as exc:
            await asyncio.sleep(retry_seconds(exc))
            continue
        except E.InvalidToken:
            report("telegram_poll_failed", "Telegram rejected the bot token: commands are off")
            return
        except E.TelegramError as exc:  # network, timeouts, 5xx, 409 Conflict
            text = f"Telegram getUpdates: {getattr(exc, 'message', None) or exc}"
            if text not in told:
                told.add(text)
                report("telegram_poll_failing", text)
            failures += 1
            await asyncio.sleep(min(BACKOFF[1], BACKOFF[0] * 2 ** (failures - 1)))
            continue
        if failures:
            report("telegram_poll_resumed", f"Telegram getUpdates works again after {failures}")
            failures, told = 0, set()
        for update in updates:
            offset = update.update_id + 1
            try:
                store.save(offset)  # before acting on it: at most once
            except StateError as exc:
                report(
                    "telegram_poll_failed",
                    f"cannot keep the update offset ({exc}): commands are off",
                )
                return
            await handle(update)
