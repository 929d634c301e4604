"""`TelegramOperator`: the session's Telegram commands, run as a task of the notifier's event
loop (the dispatcher's thread), so neither a slow Telegram nor a command ever waits on the
engine's thread.

* Updates arrive by long polling (`tradeforge.notify.updates`), at most once each.
* Only the user ids of ``[telegram.commands] users`` may command; anything else — another
  user, a stale message (older than ``max_age``: sent while nobody listened), an unknown
  command, a malformed one — is refused and written to ``decisions.jsonl`` as a
  ``command_refused`` record (the control channel's own kind, ``who`` naming the Telegram
  user), which also reaches the chats as a warning. Strangers get no answer.
* ``/close``, ``/closeall`` and ``/kill`` first ask: the bot answers with Confirm / Cancel
  buttons whose data carries a random one-time code; only the user who asked may press them,
  within ``confirm_seconds``. Codes live in memory: a restart forgets them.
* Every command goes through the control channel's client (`ControlClient`, in a worker
  thread since it blocks), exactly like ``tradeforge ctl``: the engine checks it, journals it
  before acknowledging and applies it at the next event boundary. A ``telegram_command``
  record links the Telegram user to the command id the engine gave it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.live.control.client import ControlClient
from tradeforge.live.decisions import decision, wall_clock
from tradeforge.notify.commands import Request, help_text, parse, positions_text, status_text
from tradeforge.notify.config import CommandSettings
from tradeforge.notify.telegram import make_bot, retry_seconds
from tradeforge.notify.updates import BACKOFF, OffsetStore, poll_updates

Decision = dict[str, Any]
MAX_COMMAND = 64  # characters of a refused text kept in the log


@dataclass(frozen=True)
class Pending:
    """A destructive command waiting for its user's confirmation."""

    request: Request
    user: int
    chat: int
    who: dict[str, Any]
    deadline: float  # on the monotonic clock


def who_of(user: Any, chat: int | None) -> dict[str, Any]:
    """A Telegram sender as the audit records name it."""
    uid = getattr(user, "id", None)
    return {
        "user": f"telegram:{uid}",
        "telegram_user": uid,
        "username": getattr(user, "username", None),
        "chat": chat,
    }


class TelegramOperator:
    """Telegram commands for the session in ``state_dir`` (see the module doc). ``log``
    writes decision records; ``echo`` passes a refusal on to the notifications."""

    def __init__(
        self,
        settings: CommandSettings,
        *,
        token: str,
        base_url: str,
        state_dir: str | Path,
        log: Callable[[Decision], None],
        echo: Callable[[Decision], None] | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.users = frozenset(settings.users)
        self._token = token
        self.base_url = base_url
        self.dir = Path(state_dir)
        self.log = log
        self.echo = echo
        self.timeout = timeout
        self.clock = clock
        self.now = now
        self.pending: dict[str, Pending] = {}
        self.username: str | None = None
        self.bot: Any = None
        self._told: set[str] = set()

    # -- the task ---------------------------------------------------------------------------------
    async def run(self) -> None:
        """Identify the bot (retrying while Telegram is unreachable), then poll for ever."""
        from telegram import error as E

        self.bot = make_bot(self._token, self.base_url, self.timeout)
        try:
            failures = 0
            while True:
                try:
                    await self.bot.initialize()
                    break
                except E.InvalidToken:
                    self._report("telegram_poll_failed", "Telegram rejected the bot token")
                    return
                except E.TelegramError as exc:
                    self._report("telegram_poll_failing", f"Telegram getMe: {exc}")
                    failures += 1
                    await asyncio.sleep(min(BACKOFF[1], BACKOFF[0] * 2 ** (failures - 1)))
            self.username = self.bot.username
            store = OffsetStore(self.dir, self.bot.id)
            await poll_updates(
                self.bot, store, self.handle, timeout=self.settings.poll_timeout,
                report=self._report,
            )  # fmt: skip
        finally:
            with contextlib.suppress(Exception):  # connections of a server that is gone
                await asyncio.wait_for(self.bot.shutdown(), 2.0)

    async def handle(self, update: Any) -> None:
        """One update: a command message or a button press; anything else is ignored."""
        try:
            if update.callback_query is not None:
                await self._pressed(update.callback_query)
            elif update.message is not None and update.message.text:
                await self._message(update.message)
        except Exception as exc:  # noqa: BLE001 - one bad update must not end the commands
            self._report("telegram_command_error", f"{type(exc).__name__}: {exc}")

    # -- messages ---------------------------------------------------------------------------------
    async def _message(self, msg: Any) -> None:
        chat = msg.chat.id
        who = who_of(msg.from_user, chat)
        text = msg.text.strip()
        if who["telegram_user"] not in self.users:
            self.refuse(who, text, f"Telegram user {who['telegram_user']} may not command")
            return  # no answer to strangers
        age = self.now() - msg.date.timestamp()
        if age > self.settings.max_age:
            reason = f"sent {age:.0f} s ago (limit {self.settings.max_age:g} s): ignored"
            self.refuse(who, text, reason)
            await self.reply(chat, f"{text.split()[0][:MAX_COMMAND]} {reason}; send it again")
            return
        try:
            req = parse(text, self.username, who["user"])
        except ConfigError as exc:
            self.refuse(who, text, str(exc))
            await self.reply(chat, str(exc))
            return
        if req is None:
            return  # a command for another bot of the group
        if req.name == "help":
            await self.reply(chat, help_text())
        elif req.destructive:
            await self._ask(req, who, chat)
        else:
            await self._execute(req, who, chat)

    async def _ask(self, req: Request, who: dict[str, Any], chat: int) -> None:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup

        self._expire()
        code = secrets.token_urlsafe(8)
        seconds = self.settings.confirm_seconds
        self.pending[code] = Pending(req, who["telegram_user"], chat, who, self.clock() + seconds)
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton("Confirm", callback_data=f"yes:{code}"),
              InlineKeyboardButton("Cancel", callback_data=f"no:{code}")]]
        )  # fmt: skip
        self._record(req, who, "asked", f"/{req.name}: confirmation asked ({seconds:g} s)")
        await self.reply(chat, f"{req.describe()}? Confirm within {seconds:g} s.", markup)

    def _expire(self) -> None:
        now = self.clock()
        for code in [c for c, p in self.pending.items() if p.deadline < now]:
            p = self.pending.pop(code)
            self._record(p.request, p.who, "expired", f"/{p.request.name}: not confirmed in time")

    # -- buttons ----------------------------------------------------------------------------------
    async def _pressed(self, query: Any) -> None:
        chat = query.message.chat.id if query.message is not None else None
        who = who_of(query.from_user, chat)
        verb, _, code = (query.data or "").partition(":")
        pending = self.pending.get(code) if verb in ("yes", "no") else None
        answer, reason = "", None
        if who["telegram_user"] not in self.users:
            reason = f"Telegram user {who['telegram_user']} may not command"
        elif pending is None:
            reason, answer = "unknown or already used confirmation", "this confirmation is void"
        elif pending.user != who["telegram_user"]:
            reason = f"the confirmation of /{pending.request.name} is not this user's"
            answer = "only the user who asked may confirm"
        elif self.clock() > pending.deadline:
            del self.pending[code]
            seconds = self.settings.confirm_seconds
            reason = f"/{pending.request.name}: confirmation expired (after {seconds:g} s)"
            answer = f"expired; send /{pending.request.name} again"
        if reason is not None:
            name = f"/{pending.request.name} confirm" if pending else "confirm"
            self.refuse(who, name, reason)
            await self._answer(query, answer)
            if answer.startswith("expired") and chat is not None:
                await self.reply(chat, reason)
            return
        assert pending is not None
        del self.pending[code]
        if verb == "no":
            self._record(pending.request, who, "cancelled", f"/{pending.request.name} cancelled")
            await self._answer(query, "cancelled")
            await self.reply(pending.chat, f"/{pending.request.name} cancelled")
            return
        await self._answer(query, "confirmed")
        await self._execute(pending.request, who, pending.chat)

    # -- the control channel ----------------------------------------------------------------------
    def _request(self, req: Request, who: dict[str, Any]) -> dict[str, Any]:
        client = {"user": who["user"], "pid": os.getpid()}
        with ControlClient(self.dir, timeout=self.timeout) as c:
            if req.cmd == "status":
                return c.request("status")
            return c.request(req.cmd, req.args, client=client)

    async def _execute(self, req: Request, who: dict[str, Any], chat: int) -> None:
        try:
            answer = await asyncio.to_thread(self._request, req, who)
        except ConfigError as exc:  # the engine refused it (and logged that itself)
            self._record(req, who, "refused", f"/{req.name} refused by the session: {exc}")
            await self.reply(chat, f"/{req.name} refused: {exc}")
            return
        except StateError as exc:
            self._record(req, who, "error", f"/{req.name}: {exc}")
            await self.reply(chat, f"/{req.name} not sent: {exc}")
            return
        if req.cmd == "status":
            self._record(req, who, "answered", f"/{req.name} answered")
            text = status_text if req.name == "status" else positions_text
            await self.reply(chat, text(answer["status"]))
            return
        cid = answer["id"]
        self._record(req, who, "acknowledged", f"/{req.name} acknowledged as command {cid}", id=cid)
        await self.reply(
            chat, f"/{req.name}: command {cid} acknowledged; applies {answer['applies']}"
        )

    # -- records and answers ------------------------------------------------------------------------
    def refuse(self, who: dict[str, Any], text: str, reason: str) -> None:
        """Log a refusal as the control channel does (``command_refused``) and pass it on."""
        d = decision(None, "command_refused", reason, command=text.split()[0][:MAX_COMMAND] if text else "?",
                     who=who, received=wall_clock(), channel="telegram")  # fmt: skip
        self.log(d)
        if self.echo is not None:
            self.echo(d)

    def _record(self, req: Request, who: dict[str, Any], outcome: str, reason: str, **extra: Any):
        self.log(
            decision(
                None, "telegram_command", reason, command=req.name, control_command=req.cmd,
                args=req.args, who=who, outcome=outcome, received=wall_clock(), **extra,
            )
        )  # fmt: skip

    def _report(self, kind: str, text: str) -> None:
        """Polling trouble: logged once per distinct text."""
        if text not in self._told:
            self._told.add(text)
            self.log(decision(None, kind, text))

    async def _answer(self, query: Any, text: str) -> None:
        from telegram.error import TelegramError

        try:
            await query.answer(text=text or None)
        except TelegramError as exc:
            self._report("telegram_reply_failed", f"answerCallbackQuery: {exc}")

    async def reply(self, chat: int, text: str, markup: Any = None) -> None:
        """Send ``text`` to ``chat`` (a 429 is waited out once; other failures are logged)."""
        from telegram.error import RetryAfter, TelegramError

        for attempt in (1, 2):
            try:
                await self.bot.send_message(chat_id=chat, text=text, reply_markup=markup)
                return
            except RetryAfter as exc:
                if attempt == 2:
                    self._report("telegram_reply_failed", f"sendMessage: {exc}")
                    return
                await asyncio.sleep(retry_seconds(exc))
            except TelegramError as exc:
                self._report("telegram_reply_failed", f"sendMessage: {exc}")
                return
