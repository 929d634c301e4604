"""Telegram delivery through python-telegram-bot's `Bot` (its ``base_url`` makes the API
address configurable, so tests talk to a fake Bot API server on 127.0.0.1).

Plain text only (no ``parse_mode``): event texts carry symbols and prices that Markdown would
need escaped. A burst is coalesced: one ``sendMessage`` carries as many pending lines as fit
in Telegram's 4,096 characters. Pacing (about one message a second per chat, 20 a minute per
group or channel, 30 a second overall) is declared here and enforced by the dispatcher; a 429
answer's ``retry_after`` pauses the whole bot. See docs/protocols.md, "Telegram Bot API".
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from tradeforge.notify.channel import DeliveryError, Notifier
from tradeforge.notify.message import Level, Message

API_URL = "https://api.telegram.org/bot"
MAX_TEXT = 4096  # sendMessage's limit, in UTF-16 code units
MORE = "…"


def text_units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, units: int) -> str:
    """``text`` cut to at most ``units`` UTF-16 units, marked with an ellipsis when cut."""
    if text_units(text) <= units:
        return text
    out = text[: units - 1]
    while text_units(out) > units - 1:
        out = out[:-1]
    return out + MORE


def is_group(chat: str) -> bool:
    """Groups and channels (negative ids, ``@username``) have the 20-a-minute limit."""
    return chat.startswith(("-", "@"))


class TelegramNotifier(Notifier):
    """Messages to Telegram chats, routed per level. ``token`` comes from the environment or
    a file (`tradeforge.notify.config`); it never appears in an error message."""

    name = "telegram"

    def __init__(
        self,
        token: str,
        chats: Mapping[Level, Sequence[str]],
        *,
        base_url: str = API_URL,
        label: str = "",
        chat_interval: float = 1.0,
        group_interval: float = 3.0,
        overall_rate: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self._token = token
        self.chats = {level: tuple(chats.get(level, ())) for level in Level}
        self.base_url = base_url
        self.label = label
        self.chat_interval = chat_interval
        self.group_interval = group_interval
        self.overall_rate = overall_rate
        self.timeout = timeout
        self._bot: Any = None
        self.username: str | None = None  # the bot's @username, once getMe answered

    # -- the Notifier interface ---------------------------------------------------------------
    def routes(self) -> Mapping[Level, Sequence[str]]:
        return self.chats

    def interval(self, target: str) -> float:
        return self.group_interval if is_group(target) else self.chat_interval

    def spacing(self) -> float:
        return 1.0 / self.overall_rate if self.overall_rate > 0 else 0.0

    def batch_size(self, pending: Sequence[Message]) -> int:
        used = text_units(self.label) + 1 if self.label else 0
        count = 0
        for msg in pending:
            used += text_units(msg.line()) + (1 if count else 0)
            if used > MAX_TEXT and count:
                break
            count += 1
        return max(count, 1)

    def render(self, messages: Sequence[Message]) -> str:
        """The text of one ``sendMessage``: the session label, then one line per message."""
        lines = [m.line() for m in messages]
        if self.label:
            lines.insert(0, self.label)
        return clip("\n".join(lines), MAX_TEXT)

    async def open(self) -> None:
        """``getMe``: checks the token before the first message is due."""
        await self.identity()

    async def send(self, target: str, messages: Sequence[Message]) -> None:
        from telegram.error import TelegramError

        try:
            await self.bot.send_message(chat_id=chat_id(target), text=self.render(messages))
        except TelegramError as exc:
            raise self.error(exc) from None

    async def close(self) -> None:
        if self._bot is not None:
            from telegram.error import TelegramError

            with contextlib.suppress(TelegramError):  # connections of a server that is gone
                await self._bot.shutdown()
            self._bot = None

    def describe(self, target: str) -> str:
        return f"telegram chat {target}"

    # -- python-telegram-bot --------------------------------------------------------------------
    @property
    def bot(self) -> Any:
        """The `telegram.Bot` (created in the event loop that uses it)."""
        if self._bot is None:
            self._bot = make_bot(self._token, self.base_url, self.timeout)
        return self._bot

    async def identity(self) -> str:
        """The bot's ``@username`` (``getMe``); raises `DeliveryError`."""
        from telegram.error import TelegramError

        try:
            await self.bot.initialize()
        except TelegramError as exc:
            raise self.error(exc) from None
        self.username = f"@{self.bot.username}"
        return self.username

    def redact(self, text: str) -> str:
        return text.replace(self._token, "<token>") if self._token else text

    def error(self, exc: Exception) -> DeliveryError:
        """A python-telegram-bot error as a `DeliveryError` (whether to retry, how long)."""
        from telegram import error as E

        if isinstance(exc, E.RetryAfter):
            return DeliveryError(
                f"Telegram rate limit: retry after {retry_seconds(exc):g} s",
                transient=True,
                retry_in=retry_seconds(exc),
                whole_channel=True,
            )
        if isinstance(exc, E.InvalidToken):  # its text may quote the token
            return DeliveryError(
                "Telegram rejected the bot token (Unauthorized / Not Found): check the token "
                "and the Bot API address",
                transient=False,
                whole_channel=True,
            )
        if isinstance(exc, E.ChatMigrated):
            return DeliveryError(
                f"the chat became a supergroup with id {exc.new_chat_id}; use that id",
                transient=False,
            )
        permanent = (E.Forbidden, E.BadRequest, E.Conflict, E.EndPointNotFound)
        transient = isinstance(exc, E.NetworkError) and not isinstance(exc, permanent)
        text = self.redact(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
        return DeliveryError(f"Telegram: {text}", transient=transient)


def make_bot(token: str, base_url: str, timeout: float) -> Any:
    """A `telegram.Bot` on ``base_url`` whose requests give up after ``timeout`` seconds
    (``getUpdates`` adds its long-poll time to that itself)."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    def request(pool: int) -> HTTPXRequest:
        t = timeout
        return HTTPXRequest(
            connection_pool_size=pool, read_timeout=t, write_timeout=t, connect_timeout=t,
            pool_timeout=t,
        )  # fmt: skip

    return Bot(token, base_url=base_url, request=request(8), get_updates_request=request(1))


def chat_id(target: str) -> int | str:
    """A configured chat as the API takes it: a number, or an ``@username``."""
    return target if target.startswith("@") else int(target)


def retry_seconds(exc: Any) -> float:
    """``RetryAfter.retry_after`` in seconds (an int, or a timedelta from PTB 22.2 on)."""
    with warnings.catch_warnings():  # the int form is deprecated in favour of timedelta
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
