"""The dispatcher against real servers on 127.0.0.1: bursts coalesced within Telegram's limits,
429 honoured, failures kept or dropped as they should be, drops counted and told, a full
queue refused without waiting, and the webhook's JSON."""

from __future__ import annotations

import threading

import pytest

from tests.notify.fake_telegram import TOKEN, FakeTelegram
from tests.notify.support import WebhookReceiver, wait_until
from tradeforge.notify.dispatch import Dispatcher
from tradeforge.notify.message import Level, Message
from tradeforge.notify.telegram import MAX_TEXT, TelegramNotifier, text_units
from tradeforge.notify.webhook import WebhookNotifier

LABEL = "test session"
# python-telegram-bot warns about its own RetryAfter.retry_after type change (v22.2)
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")


def _telegram(fake: FakeTelegram, chats, token: str = TOKEN, **kw) -> TelegramNotifier:
    routes = {Level(level): [str(c) for c in ids] for level, ids in chats.items()}
    return TelegramNotifier(token, routes, base_url=fake.base_url, label=LABEL, **kw)


def _lines(texts: list[str]) -> list[str]:
    """The message lines of some sendMessage texts (each starts with the label)."""
    out = []
    for text in texts:
        head, *lines = text.split("\n")
        assert head == LABEL
        out += lines
    return out


def _info(n: int, start: int = 0) -> list[Message]:
    return [Message(Level.INFO, "test", f"event {i}") for i in range(start, start + n)]


def test_a_burst_of_1000_is_coalesced_within_the_rate_limits():
    with FakeTelegram(chat_gap=0.9, overall_rate=30) as fake:
        tg = _telegram(fake, {"info": [42, 43, -100777]}, group_interval=1.0)
        reports: list[dict] = []
        d = Dispatcher([tg], report=reports.append).start()
        burst = _info(1000)
        for msg in burst:
            assert d.submit(msg)
        wait_until(lambda: d.stats.delivered == 3000)
        stats = d.close()
    assert fake.refused_429 == 0  # never over a limit: nothing had to be retried
    assert stats.retries == stats.dropped == stats.failed == 0 and reports == []
    for chat in ("42", "43", "-100777"):
        texts = fake.texts(chat)
        assert _lines(texts) == [m.line() for m in burst]  # all of them, in order
        assert all(text_units(t) <= MAX_TEXT for t in texts)
        assert len(texts) < 10  # ~18 KB of lines: a handful of full messages, not 1000
        sent = [s.at for s in fake.sent if s.chat_id == chat]
        assert all(b - a >= 0.9 for a, b in zip(sent, sent[1:], strict=False))
    assert stats.sends == len(fake.sent)


def test_429_retry_after_is_honoured_before_the_next_send():
    with FakeTelegram() as fake:
        fake.force_429(1, retry_after=1)
        d = Dispatcher([_telegram(fake, {"info": [42]})]).start()
        d.submit(Message(Level.INFO, "test", "after a flood wait"))
        wait_until(lambda: d.stats.delivered == 1)
        stats = d.close()
    sends = [(status, at) for method, status, at in fake.requests if method == "sendMessage"]
    assert [s for s, _ in sends] == [429, 200]
    assert sends[1][1] - sends[0][1] >= 1.0  # waited the retry_after the server asked for
    assert stats.retries == 1 and fake.texts(42) == [f"{LABEL}\n• after a flood wait"]


@pytest.mark.parametrize("token", ["987654321:AAwellFormedButUnknownToken_0123456789", "bad"])
def test_a_rejected_token_disables_the_channel_and_is_reported(token):
    with FakeTelegram() as fake:
        reports: list[dict] = []
        d = Dispatcher([_telegram(fake, {"info": [42]}, token=token)], report=reports.append)
        d.start()
        for msg in _info(5):
            d.submit(msg)
        wait_until(lambda: d.stats.failed == 5)
        stats = d.close()
    assert fake.sent == [] and stats.delivered == 0
    assert [r["kind"] for r in reports] == ["notify_failed"]
    assert "Telegram rejected the bot token" in reports[0]["error"]
    assert token not in str(reports)


def test_an_unknown_chat_fails_alone_the_others_still_get_their_messages():
    with FakeTelegram(chats={"42"}) as fake:
        reports: list[dict] = []
        d = Dispatcher([_telegram(fake, {"info": [42, 99]})], report=reports.append).start()
        for msg in _info(3):
            d.submit(msg)
        wait_until(lambda: d.stats.delivered == 3 and d.stats.failed == 3)
        d.close()
    assert _lines(fake.texts(42)) == [m.line() for m in _info(3)]
    assert reports == [
        {
            "kind": "notify_failed",
            "target": "telegram chat 99",
            "error": "Telegram: Chat not found",  # python-telegram-bot trims "Bad Request: "
            "dropped": 3,
        }
    ]


def test_an_outage_drops_the_oldest_and_says_so_when_delivery_resumes():
    with FakeTelegram() as fake:
        fake.set_mode("error")  # 502 Bad Gateway: transient, retried with backoff
        reports: list[dict] = []
        d = Dispatcher(
            [_telegram(fake, {"info": [42]})],
            queue_size=4,
            report=reports.append,
            backoff=(0.05, 0.1),
        ).start()
        for i, msg in enumerate(_info(10)):  # one by one: they overflow the outbox, not the inbox
            d.submit(msg)
            wait_until(lambda i=i: d.stats.routed == i + 1)
        wait_until(lambda: d.stats.retries >= 2)
        fake.set_mode("ok")
        wait_until(
            lambda: (
                d.stats.notes == 1
                and not d.stats.routed - d.stats.delivered - d.stats.dropped_outbox
            )
        )
        stats = d.close()
    assert stats.routed == 10 == stats.delivered + stats.dropped_outbox
    assert stats.dropped_outbox == 6  # the outbox keeps the 4 newest
    lines = _lines(fake.texts(42))
    assert lines[0] == "⚠️ 6 earlier notification(s) were dropped (delivery failing or queue full)"
    assert lines[1:] == [m.line() for m in _info(4, start=6)]
    kinds = [r["kind"] for r in reports]
    assert kinds == ["notify_failing", "notify_dropped", "notify_resumed"]
    assert reports[1]["dropped"] == 6


def test_close_gives_up_on_a_hanging_server_and_counts_what_is_left():
    with FakeTelegram() as fake:
        fake.set_mode("hang")
        d = Dispatcher([_telegram(fake, {"info": [42]}, timeout=30)]).start()
        for msg in _info(3):
            d.submit(msg)
        wait_until(lambda: any(m == "sendMessage" for m, _, _ in fake.requests) or True)
        stats = d.close(timeout=0.3)
        assert not d.submit(Message(Level.INFO, "test", "too late"))  # closed: refused, counted
        fake.release()
    assert stats.delivered == 0 and stats.undelivered == 3
    assert d.stats.dropped_queue == 1


def test_a_full_queue_refuses_without_waiting_and_the_drops_are_told():
    """While the delivery thread is busy (here: a producer blocked on purpose) ``submit``
    keeps returning at once; beyond the queue's size items are dropped and counted."""
    with FakeTelegram() as fake:
        d = Dispatcher([_telegram(fake, {"info": [42]})], queue_size=5).start()
        entered, release = threading.Event(), threading.Event()

        def blocked():
            entered.set()
            release.wait()
            return []

        d.submit(blocked)
        entered.wait(10)
        accepted = [d.submit(msg) for msg in _info(8)]
        assert accepted == [True] * 5 + [False] * 3
        release.set()
        wait_until(lambda: d.stats.delivered == 5 and d.stats.notes == 1)
        stats = d.close()
    assert stats.submitted == 9 and stats.dropped_queue == 3
    lines = _lines(fake.texts(42))
    note = "⚠️ 3 earlier notification(s) were dropped (delivery failing or queue full)"
    assert lines.count(note) == 1  # told with the next send after they were dropped
    assert [x for x in lines if x != note] == [m.line() for m in _info(5)]


def test_the_webhook_posts_json_per_level_and_retries_server_errors():
    rx = WebhookReceiver(statuses=[503])
    try:
        hook = WebhookNotifier(
            {Level.INFO: [rx.url("/all")], Level.CRITICAL: [rx.url("/all"), rx.url("/pager")]},
            label=LABEL,
            max_batch=2,
        )
        d = Dispatcher([hook], backoff=(0.05, 0.1)).start()
        msgs = [
            Message(
                Level.INFO, "opened", "opened #0", "2024-01-01T00:05:00+00:00", {"trade_id": 0}
            ),
            Message(Level.CRITICAL, "kill", "kill switch: lunch; trading halted"),
            Message(Level.INFO, "closed", "closed #0", None, {"pnl": -12.5}),
        ]
        for m in msgs:
            d.submit(m)
        wait_until(lambda: d.stats.delivered == 4)
        stats = d.close()
    finally:
        rx.stop()
    assert rx.codes[0] == 503 and stats.retries == 1
    by_path: dict[str, list] = {}
    for path, body in rx.bodies:
        assert body["source"] == "tradeforge" and body["session"] == LABEL
        assert len(body["messages"]) <= 2
        by_path.setdefault(path, []).extend(body["messages"])
    assert by_path["/all"] == [m.to_json() for m in msgs]
    assert by_path["/pager"] == [
        {"level": "critical", "kind": "kill", "time": None, "text": msgs[1].text, "data": {}}
    ]


def test_the_webhook_drops_a_refused_batch():
    rx = WebhookReceiver(statuses=[404])
    reports: list[dict] = []
    try:
        hook = WebhookNotifier({Level.WARNING: [rx.url("/secret-path")]})
        d = Dispatcher([hook], report=reports.append).start()
        d.submit(Message(Level.WARNING, "error", "order rejected"))
        wait_until(lambda: d.stats.failed == 1)
        d.close()
    finally:
        rx.stop()
    assert reports[0]["error"].endswith("HTTP 404 Not Found")
    assert "secret-path" not in str(reports)  # webhook URLs often embed a secret


def test_reroute_sends_later_messages_to_the_new_channels_only():
    """Messages submitted before `reroute` reach the old URL, every later one the new URL;
    the old target still delivers what it held, and the counters stay whole."""
    hook = WebhookReceiver()
    try:
        old = WebhookNotifier({Level.INFO: [hook.url("/old")]}, label=LABEL)
        new = WebhookNotifier({Level.INFO: [hook.url("/new")]}, label=LABEL)
        d = Dispatcher([old]).start()
        first, second = _info(5), _info(7, start=5)
        for msg in first:
            d.submit(msg)
        d.reroute([new])
        for msg in second:
            d.submit(msg)
        wait_until(lambda: d.stats.delivered == 12)
        stats = d.close()
    finally:
        hook.stop()
    got = {
        path: [m["text"] for p, body in hook.bodies if p == path for m in body["messages"]]
        for path in ("/old", "/new")
    }
    assert got == {"/old": [m.text for m in first], "/new": [m.text for m in second]}
    assert stats.routed == stats.delivered == 12 and stats.undelivered == 0
