"""A fake Telegram Bot API server: real HTTP on 127.0.0.1, the real URL shape and bodies.

* ``/bot<TOKEN>/<method>`` (method names case-insensitive), GET or POST, parameters from the
  query string, a form-encoded body (what python-telegram-bot sends) or a JSON body;
* ``getMe`` and ``sendMessage`` (``chat_id`` and ``text`` required, text 1..4096 UTF-16
  units), answering ``{"ok": true, "result": ...}`` with a User / a Message;
* a malformed token → 404 Not Found, a well-formed unknown token → 401 Unauthorized, an
  unknown method → 404, an unknown chat (when ``chats`` is given) → 400 chat not found;
* flood control as Telegram does it: a message to a chat less than ``chat_gap`` seconds after
  the previous one, or more than ``overall_rate`` a second, is refused with 429 and
  ``parameters.retry_after``; ``force_429(n, retry_after)`` refuses the next n sends;
* fault modes: ``slow`` (answer after ``delay`` seconds), ``hang`` (answer nothing until
  `release` or `stop`), ``error`` (502 Bad Gateway);
* ``getUpdates`` (``offset``, ``limit``, ``timeout``, ``allowed_updates``): the updates the
  test queued (`send_text` a user's message, `press` an inline button) with an ``update_id``
  from ``offset`` on, waiting up to ``timeout`` seconds for one (long polling); an offset
  confirms (forgets) every update below it, a negative one returns the last ``-offset``
  updates. ``keep_confirmed`` keeps them instead, as if the confirmation had been lost, so a
  client that asks with an old offset gets them again. Calls are logged with their offset
  (`polls`);
* ``answerCallbackQuery`` (``callback_query_id`` of a queued press, ``text``) — logged in
  `answers`; a ``reply_markup`` of ``sendMessage`` is kept with the message (`Sent.markup`).

Everything received is logged (`sent`, `requests`) for the tests to check.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "123456789:AAHfakeTokenForTestsOnly_0123456789abc"
BOT = {"id": 123456789, "is_bot": True, "first_name": "Fake", "username": "fake_tradeforge_bot"}
_TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]{30,}$")


@dataclass(frozen=True)
class Sent:
    chat_id: str
    text: str
    at: float  # time.monotonic() when received
    content_type: str
    markup: dict | None = None  # the inline keyboard, if any
    message_id: int = 0

    def buttons(self) -> dict[str, str]:
        """Button text -> callback data of the message's inline keyboard."""
        rows = (self.markup or {}).get("inline_keyboard", [])
        return {b["text"]: b["callback_data"] for row in rows for b in row}


class FakeTelegram:
    def __init__(
        self,
        tokens: tuple[str, ...] = (TOKEN,),
        *,
        chats: set[str] | None = None,
        chat_gap: float | None = None,
        overall_rate: float | None = None,
        keep_confirmed: bool = False,
    ) -> None:
        self.tokens = set(tokens)
        self.keep_confirmed = keep_confirmed
        self.updates: list[dict[str, Any]] = []  # queued, not confirmed yet
        self.next_update_id = 500_000
        self.polls: list[int | None] = []  # the offset of every getUpdates call
        self.answers: list[tuple[str, str | None]] = []  # (callback_query_id, text)
        self.query_ids: set[str] = set()  # every callback query ever queued
        self._new_update = threading.Condition()
        self.chats = chats
        self.chat_gap = chat_gap
        self.overall_rate = overall_rate
        self.mode = "ok"
        self.delay = 0.0
        self.sent: list[Sent] = []
        self.requests: list[tuple[str, int, float]] = []  # (method, status, monotonic time)
        self.refused_429 = 0
        self._forced: list[int] = []  # retry_after of the next forced 429s
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._last: dict[str, float] = {}
        self._recent: list[float] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- control ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """What ``Bot(base_url=...)`` takes: the token and method follow."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    def start(self) -> FakeTelegram:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def set_mode(self, mode: str, delay: float = 0.0) -> None:
        assert mode in ("ok", "slow", "hang", "error")
        self.mode, self.delay = mode, delay
        if mode == "hang":
            self._released.clear()

    def release(self) -> None:
        """End the hang: waiting requests are answered (normally)."""
        self.mode = "ok"
        self._released.set()

    def force_429(self, n: int, retry_after: int = 1) -> None:
        with self._lock:
            self._forced += [retry_after] * n

    def texts(self, chat: str | int | None = None) -> list[str]:
        return [s.text for s in self.sent if chat is None or s.chat_id == str(chat)]

    def _queue(self, kind: str, body: dict[str, Any]) -> int:
        with self._new_update:
            uid = self.next_update_id
            self.next_update_id += 1
            self.updates.append({"update_id": uid, kind: body})
            self._new_update.notify_all()
        return uid

    def send_text(
        self, user: int, text: str, *, chat: int | None = None, age: float = 0.0,
        username: str | None = None,
    ) -> int:  # fmt: skip
        """Queue a message from ``user`` (in their private chat unless ``chat``) sent ``age``
        seconds ago; returns its update id."""
        chat = user if chat is None else chat
        sender = {"id": user, "is_bot": False, "first_name": f"user{user}"}
        if username:
            sender["username"] = username
        message = {
            "message_id": len(self.sent) + len(self.updates) + 1,
            "date": int(time.time() - age),
            "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"},
            "from": sender,
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._queue("message", message)

    def press(self, user: int, sent: Sent, data: str) -> int:
        """Queue ``user`` pressing the button with ``data`` under the bot's message ``sent``."""
        query = {
            "id": f"cq{self.next_update_id}",
            "from": {"id": user, "is_bot": False, "first_name": f"user{user}"},
            "chat_instance": "42",
            "data": data,
            "message": {
                "message_id": sent.message_id,
                "date": int(time.time()),
                "chat": {"id": int(sent.chat_id), "type": "private"},
                "from": BOT,
                "text": sent.text,
            },
        }
        self.query_ids.add(query["id"])
        return self._queue("callback_query", query)

    def with_buttons(self, chat: int | str) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == str(chat) and s.markup]

    def _get_updates(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        offset = params.get("offset")
        offset = None if offset in (None, "") else int(offset)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        self.polls.append(offset)
        end = time.monotonic() + timeout
        with self._new_update:
            while True:
                if offset is not None and offset >= 0 and not self.keep_confirmed:
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if offset is None:
                    found = list(self.updates)
                elif offset < 0:
                    found = self.updates[offset:]
                else:
                    found = [u for u in self.updates if u["update_id"] >= offset]
                if allowed:
                    found = [u for u in found if any(k in u for k in allowed)]
                left = end - time.monotonic()
                if found or left <= 0:
                    return 200, {"ok": True, "result": found[:limit]}
                self._new_update.wait(min(left, 0.1))

    def _answer_callback(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        qid = params.get("callback_query_id")
        if not qid:
            return 400, _bad("Bad Request: callback_query_id is empty")
        if qid not in self.query_ids:
            return 400, _bad("Bad Request: query is too old and response timeout expired")
        self.answers.append((str(qid), params.get("text")))
        return 200, {"ok": True, "result": True}

    # -- protocol -----------------------------------------------------------------------------
    def _answer(self, token: str, method: str, params: dict[str, Any], ctype: str):
        if not _TOKEN_SHAPE.match(token):
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        if token not in self.tokens:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = method.lower()
        if method == "getme":
            return 200, {"ok": True, "result": BOT}
        if method == "getupdates":
            return self._get_updates(params)
        if method == "answercallbackquery":
            return self._answer_callback(params)
        if method != "sendmessage":
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        chat, text = params.get("chat_id"), params.get("text")
        if chat in (None, ""):
            return 400, _bad("Bad Request: chat_id is empty")
        if not text:
            return 400, _bad("Bad Request: message text is empty")
        if len(str(text).encode("utf-16-le")) // 2 > 4096:
            return 400, _bad("Bad Request: message is too long")
        chat = str(chat)
        if self.chats is not None and chat not in self.chats:
            return 400, _bad("Bad Request: chat not found")
        now = time.monotonic()
        with self._lock:
            wait = self._flood_wait(chat, now)
            if wait:
                self.refused_429 += 1
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {wait}",
                    "parameters": {"retry_after": wait},
                }
            self._last[chat] = now
            self._recent.append(now)
            markup = params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            message_id = len(self.sent) + 1
            self.sent.append(Sent(chat, str(text), now, ctype, markup, message_id))
        kind = "private" if not chat.startswith(("-", "@")) else "supergroup"
        result = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {
                "id": int(chat) if kind == "private" or chat[1:].isdigit() else 0,
                "type": kind,
            },
            "from": BOT,
            "text": str(text),
        }
        return 200, {"ok": True, "result": result}

    def _flood_wait(self, chat: str, now: float) -> int:
        """Seconds a 429 asks to wait (0: accepted)."""
        if self._forced:
            return self._forced.pop(0)
        last = self._last.get(chat)
        if self.chat_gap is not None and last is not None and now - last < self.chat_gap:
            return 1
        if self.overall_rate is not None:
            self._recent = [t for t in self._recent if now - t < 1.0]
            if len(self._recent) >= self.overall_rate:
                return 1
        return 0

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._serve(self.rfile.read(length))

            def _serve(self, body: bytes) -> None:
                parts = urlsplit(self.path)
                m = re.match(r"^/bot([^/]+)/([A-Za-z]+)$", parts.path)
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if ctype == "application/json" and body:
                    params.update(json.loads(body))
                elif ctype == "application/x-www-form-urlencoded":
                    params.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
                if fake.mode == "hang":
                    fake._released.wait()
                elif fake.mode == "slow":
                    time.sleep(fake.delay)
                if fake.mode == "error":
                    status, doc = (
                        502,
                        {"ok": False, "error_code": 502, "description": "Bad Gateway"},
                    )
                elif m is None:
                    status, doc = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
                else:
                    status, doc = fake._answer(m.group(1), m.group(2), params, ctype)
                fake.requests.append((m.group(2) if m else parts.path, status, time.monotonic()))
                data = json.dumps(doc).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout) meanwhile
                    pass

        return Handler


def _bad(description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": 400, "description": description}
