"""The fake Bot API speaks the protocol (checked with plain HTTP), `TelegramNotifier` maps its
answers to retry decisions, a batch always fits one message, and ``tradeforge notify test``
through the console script: exit 0 when it sends, 2 with one clear line when it cannot."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notify.fake_telegram import BOT, TOKEN, FakeTelegram
from tradeforge.notify.channel import DeliveryError
from tradeforge.notify.config import TOKEN_ENV
from tradeforge.notify.message import Level, Message
from tradeforge.notify.telegram import MAX_TEXT, TelegramNotifier, clip, text_units

BIN = Path(sys.executable).with_name("tradeforge")
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")


@pytest.fixture(scope="module")
def fake():
    with FakeTelegram(chats={"42", "-1001234567890"}) as server:
        yield server


def test_the_fake_speaks_the_bot_api(fake):
    api = f"{fake.base_url}{TOKEN}"
    me = httpx.get(f"{api}/getMe").json()
    assert me == {"ok": True, "result": BOT}
    form = httpx.post(f"{api}/sendMessage", data={"chat_id": "42", "text": "form"}).json()
    as_json = httpx.post(f"{api}/SENDMESSAGE", json={"chat_id": 42, "text": "json"}).json()
    query = httpx.get(f"{api}/sendMessage", params={"chat_id": 42, "text": "query"}).json()
    for doc, text in ((form, "form"), (as_json, "json"), (query, "query")):
        assert doc["ok"] is True and doc["result"]["text"] == text
        assert doc["result"]["chat"] == {"id": 42, "type": "private"}
    assert [s.content_type for s in fake.sent[-3:]] == [
        "application/x-www-form-urlencoded",
        "application/json",
        "",
    ]
    bad = {
        f"{fake.base_url}nonsense/getMe": (404, "Not Found"),
        f"{fake.base_url}1:AAwellFormedButUnknownToken_012345678/getMe": (401, "Unauthorized"),
        f"{api}/sendSticker": (404, "Not Found"),
    }
    for url, (code, description) in bad.items():
        r = httpx.get(url)
        assert (r.status_code, r.json()["description"], r.json()["ok"]) == (
            code,
            description,
            False,
        )
    r = httpx.post(f"{api}/sendMessage", json={"chat_id": 42, "text": "x" * 4097})
    assert r.status_code == 400 and r.json()["description"] == "Bad Request: message is too long"
    fake.force_429(1, retry_after=7)
    r = httpx.post(f"{api}/sendMessage", json={"chat_id": 42, "text": "flood"})
    assert r.status_code == 429 and r.json()["parameters"] == {"retry_after": 7}


def _send(fake: FakeTelegram, chat: str = "42", token: str = TOKEN) -> None:
    tg = TelegramNotifier(token, {Level.INFO: [chat]}, base_url=fake.base_url, timeout=5)

    async def go():
        try:
            await tg.send(chat, [Message(Level.INFO, "test", "hello")])
        finally:
            await tg.close()

    asyncio.run(go())


def test_answers_become_retry_decisions(fake):
    fake.force_429(1, retry_after=3)
    with pytest.raises(DeliveryError) as flood:
        _send(fake)
    assert (flood.value.transient, flood.value.retry_in, flood.value.whole_channel) == (
        True,
        3,
        True,
    )
    with pytest.raises(DeliveryError) as chat:
        _send(fake, chat="777")
    assert not chat.value.transient and not chat.value.whole_channel
    assert str(chat.value) == "Telegram: Chat not found"
    token = "1:AAwellFormedButUnknownToken_012345678"
    with pytest.raises(DeliveryError) as auth:
        _send(fake, token=token)
    assert not auth.value.transient and auth.value.whole_channel
    assert token not in str(auth.value)
    fake.set_mode("error")
    try:
        with pytest.raises(DeliveryError) as gateway:
            _send(fake)
    finally:
        fake.set_mode("ok")
    assert gateway.value.transient and gateway.value.retry_in is None
    _send(fake, chat="-1001234567890")  # a supergroup: sent
    assert fake.sent[-1].chat_id == "-1001234567890"


def test_groups_and_channels_are_paced_as_groups():
    tg = TelegramNotifier(TOKEN, {}, chat_interval=1.0, group_interval=3.0, overall_rate=30)
    assert [tg.interval(c) for c in ("42", "-1001", "@news_channel")] == [1.0, 3.0, 3.0]
    assert tg.spacing() == pytest.approx(1 / 30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=5000), min_size=1, max_size=30), st.text(max_size=40))
def test_a_batch_is_as_many_messages_as_fit_one_telegram_message(texts, label):
    tg = TelegramNotifier(TOKEN, {}, label=label)
    pending = [Message(Level.WARNING, "test", t) for t in texts]
    n = tg.batch_size(pending)
    assert 1 <= n <= len(pending)
    text = tg.render(pending[:n])
    assert 1 <= text_units(text) <= MAX_TEXT
    whole = "\n".join(([label] if label else []) + [m.line() for m in pending[:n]])
    if n > 1 or text_units(whole) <= MAX_TEXT:
        assert text == whole  # nothing cut
    else:
        assert text == clip(whole, MAX_TEXT) and text.endswith("…")  # one oversized message
    if n < len(pending):  # maximal: one more would not fit
        assert text_units(whole + "\n" + pending[n].line()) > MAX_TEXT


def _notify_test(config: Path, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    return subprocess.run(
        [str(BIN), "notify", "test", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _config(tmp_path: Path, base_url: str, extra: str = "") -> Path:
    path = tmp_path / "notify.toml"
    path.write_text(
        f'[telegram]\nbase_url = "{base_url}"\n{extra}'
        "chats = { info = [42], critical = [42, -1001234567890] }\n"
    )
    return path


def test_notify_test_sends_one_message_per_chat(tmp_path, fake):
    before = len(fake.sent)
    proc = _notify_test(_config(tmp_path, fake.base_url))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "telegram: bot @fake_tradeforge_bot",
        "sent to telegram chat 42",
        "sent to telegram chat -1001234567890",
    ]
    assert [s.chat_id for s in fake.sent[before:]] == ["42", "-1001234567890"]
    assert (
        fake.sent[-1].text == "tradeforge\n• tradeforge test message: notifications reach this chat"
    )


@pytest.mark.parametrize(
    ("token", "extra", "message"),
    [
        (
            "1:AAwellFormedButUnknownToken_012345678",
            "",
            "error: telegram: Telegram rejected the bot token (Unauthorized / Not Found): check "
            "the token and the Bot API address",
        ),
        (
            TOKEN,
            'token = "123:abc"\n',
            "telegram.token: the bot token is never read from the config file",
        ),
    ],
)
def test_notify_test_refuses_with_one_clear_line(tmp_path, fake, token, extra, message):
    proc = _notify_test(_config(tmp_path, fake.base_url, extra), token=token)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert token not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("", f"error: no Telegram bot token: set the environment variable {TOKEN_ENV} or "),
        ("chat_interval = -1\n", "telegram.chat_interval: Input should be greater than"),
        (
            "chats = { info = [42], urgent = [1] }\n",
            "telegram.chats.urgent: Input should be 'info', 'warning' or 'critical'",
        ),
    ],
)
def test_config_mistakes_are_one_line_and_exit_2(
    tmp_path, fake, monkeypatch, capsys, extra, message
):
    """The same refusals in-process (`tradeforge.cli.main`, the console script's function)."""
    from tradeforge.cli import main

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    if extra:
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = tmp_path / "notify.toml"
    config.write_text(f'[telegram]\nbase_url = "{fake.base_url}"\n{extra}')
    if "chats" not in extra:
        config.write_text(config.read_text() + "chats = { info = [42] }\n")
    with pytest.raises(SystemExit) as exit_:
        main(["notify", "test", "--config", str(config)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_notify_test_names_an_unreachable_api(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = _config(tmp_path, f"http://127.0.0.1:{port}/bot", "timeout = 3\n")
    proc = _notify_test(config)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: telegram: Telegram: ") and "Traceback" not in proc.stderr


def test_the_fake_serves_updates_and_buttons_as_the_bot_api_does():
    import json
    import time

    with FakeTelegram() as fake:
        api = f"{fake.base_url}{TOKEN}"

        def ids(**params):
            doc = httpx.post(f"{api}/getUpdates", json=params, timeout=10).json()
            assert doc["ok"] is True
            return [u["update_id"] for u in doc["result"]]

        a, b = fake.send_text(1, "/status"), fake.send_text(2, "hello")
        first = httpx.get(f"{api}/getUpdates").json()["result"][0]["message"]
        assert first["entities"] == [{"type": "bot_command", "offset": 0, "length": 7}]
        assert ids() == [a, b] and ids(offset=-1) == [b]
        assert ids(offset=b) == [b]  # confirms a
        assert ids() == [b] and ids(offset=a) == [b]  # a is gone for good
        started = time.monotonic()
        assert ids(offset=b + 1, timeout=1) == []  # held open for the timeout, then empty
        assert time.monotonic() - started >= 0.9
        keyboard = {"inline_keyboard": [[{"text": "Confirm", "callback_data": "yes:x"}]]}
        form = {"chat_id": 1, "text": "sure?", "reply_markup": json.dumps(keyboard)}
        assert httpx.post(f"{api}/sendMessage", data=form).json()["ok"] is True
        question = fake.sent[-1]
        assert question.buttons() == {"Confirm": "yes:x"}
        c = fake.press(1, question, "yes:x")
        doc = httpx.post(f"{api}/getUpdates", json={"offset": c}).json()["result"][0]
        query = doc["callback_query"]
        assert (query["data"], query["from"]["id"], query["message"]["text"]) == (
            "yes:x",
            1,
            "sure?",
        )
        answer = {"callback_query_id": query["id"], "text": "done"}
        assert httpx.post(f"{api}/answerCallbackQuery", data=answer).json() == {
            "ok": True,
            "result": True,
        }
        assert fake.answers == [(query["id"], "done")]
        r = httpx.post(f"{api}/answerCallbackQuery", data={"callback_query_id": "nope"})
        assert r.status_code == 400
