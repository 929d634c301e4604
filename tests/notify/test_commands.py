"""Telegram commands: the syntax (by hand), and a running dry-run commanded through the fake
Bot API — the confirmation of a destructive command: refused for another user, refused once
expired, cancelled, and finally confirmed (a ``/kill`` that ends the session)."""

from __future__ import annotations

import json
import re
import threading

import pytest

from tests.live.control_support import PARAMS, decisions, state_of, wait_for
from tests.live.helpers import small_spec
from tests.notify.fake_telegram import TOKEN, FakeTelegram
from tradeforge.core.errors import ConfigError
from tradeforge.live.runner import run_dry
from tradeforge.live.state import StateRepository
from tradeforge.notify.commands import Request, parse, positions_text, status_text
from tradeforge.notify.config import TOKEN_ENV, parse_notify_config
from tradeforge.notify.session import SessionNotifier

ANA, BOB, EVE = 1001, 1002, 6666  # two operators, one stranger


def test_syntax_by_hand():
    assert parse("/pause") == Request("pause", "pause", {"strategy": None})
    assert parse("/resume@fake_tradeforge_bot sma_cross", "@fake_tradeforge_bot") == Request(
        "resume", "resume", {"strategy": "sma_cross"}
    )
    assert parse("/pause@other_bot", "fake_tradeforge_bot") is None  # not for this bot
    assert parse("/close #3 0.5") == Request("close", "close", {"position": "#3", "lots": 0.5})
    assert parse("/CloseAll") == Request("closeall", "close_all", {"confirm": True})
    kill = parse("/kill", who="telegram:1")
    assert kill.args == {"strategy": None, "reason": "telegram:1 via Telegram", "confirm": True}
    assert kill.destructive and not parse("/status").destructive
    assert parse("/positions").cmd == "status" and parse("/start").name == "help"
    for text, error in [
        ("hello", "not a command; send /help"),
        ("/sell", "unknown command /sell; send /help"),
        ("/close", "usage: /close <position> [lots]"),
        ("/close #3 -1", "lots must be a positive number, got '-1'"),
        ("/close #3 nan", "lots must be a positive number, got 'nan'"),
        ("/status now", "usage: /status"),
    ]:
        with pytest.raises(ConfigError, match="^" + error.replace("[", r"\[").replace("]", r"\]")):
            parse(text)


def test_config_refusals_name_the_setting():
    base = {"telegram": {"chats": {"info": [42]}}}
    for commands, error in [
        ({"users": []}, "telegram.commands.users: List should have at least 1 item"),
        ({"users": [1], "confirm": 3}, "telegram.commands.confirm: unknown setting"),
        ({"users": ["ana"]}, "telegram.commands.users.0: Input should be a valid integer"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(error)):
            parse_notify_config({"telegram": {**base["telegram"], "commands": commands}})
    with pytest.raises(ConfigError, match=re.escape("monitor.tolerance: Value error, 'soon'")):
        parse_notify_config({**base, "monitor": {"tolerance": "soon"}})
    only_commands = parse_notify_config({"telegram": {"commands": {"users": [7]}}})
    assert only_commands.commands().users == [7] and not only_commands.channels_declared()


def test_status_and_positions_texts():
    status = {
        "identity": {"strategy": "sma_cross", "symbol": "EURUSD", "timeframe": "M5"},
        "seq": 41,
        "last_event": "2024-01-01T05:00:00+00:00",
        "positions": [
            {
                "id": "tfabc",
                "side": "long",
                "lots_open": 0.30000000000000004,
                "entry_price": 1.1,
                "stop": 1.09,
                "tag": "x",
            }
        ],  # fmt: skip
        "pending": [],
        "stats": {"trades": 2, "realized": -12.5},
        "control": {
            "paused": True,
            "strategies": {"sma_cross": {"paused": False}},
            "blackouts": [],
            "pending_commands": [{"id": 40}],
            "halted": None,
        },  # fmt: skip
    }
    assert status_text(status) == (
        "sma_cross EURUSD M5 — last event 2024-01-01T05:00:00+00:00 (seq 41)\n"
        "trading: paused\nopen positions: 1, pending orders: 0\n"
        "closed trades: 2, realized -12.50\ncommands waiting: 40"
    )
    assert positions_text(status) == (
        "1 open position(s):\ntfabc: long 0.3 EURUSD at 1.1, stop 1.09 (tag x)"
    )
    assert positions_text({"positions": []}) == "no open positions"


def _refused(state) -> list[dict]:
    return [d for d in decisions(state) if d["kind"] == "command_refused"]


def _tg(state, outcome: str | None = None) -> list[dict]:
    return [
        d for d in decisions(state)
        if d["kind"] == "telegram_command" and outcome in (None, d["outcome"])
    ]  # fmt: skip


def test_destructive_commands_need_their_users_confirmation_in_time(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    params = dict(p.split("=") for p in PARAMS)  # a position that stays open
    params = {k: (v == "true" if v in ("true", "false") else int(v)) for k, v in params.items()}
    spec = small_spec(tmp_path, n_bars=1500, params=params, pace=0.05, close_at_end=False)
    state = tmp_path / "s"
    with FakeTelegram() as fake:
        config = parse_notify_config(
            {
                "telegram": {
                    "base_url": fake.base_url,
                    "commands": {"users": [ANA, BOB], "confirm_seconds": 1.0, "poll_timeout": 1},
                }
            }
        )
        session = threading.Thread(
            target=run_dry, args=(state, spec), kwargs={"observer": SessionNotifier(config)}
        )
        session.start()
        try:
            st = wait_for(lambda: (s := state_of(state)) is not None and s.positions and s)
            ((cid, pos),) = st.positions.items()

            def ask(text: str) -> object:
                before = len(fake.with_buttons(ANA))
                fake.send_text(ANA, text)
                return wait_for(lambda: fake.with_buttons(ANA)[before:])[0]

            question = ask(f"/close {cid}")
            assert question.text == f"close position {cid} fully? Confirm within 1 s."
            assert set(question.buttons()) == {"Confirm", "Cancel"}
            confirm = question.buttons()["Confirm"]
            fake.press(BOB, question, confirm)  # not Bob's question
            wait_for(lambda: len(_refused(state)) == 1)
            wait_for(lambda: len(fake.answers) == 1)
            threading.Event().wait(1.2)  # past the confirmation window
            fake.press(ANA, question, confirm)
            wait_for(lambda: len(_refused(state)) == 2)
            bob, late = _refused(state)
            assert bob["reason"] == "the confirmation of /close is not this user's"
            assert bob["who"]["user"] == f"telegram:{BOB}" and bob["channel"] == "telegram"
            assert late["reason"] == "/close: confirmation expired (after 1 s)"
            wait_for(lambda: len(fake.answers) == 2)
            assert [a[1] for a in fake.answers] == [
                "only the user who asked may confirm", "expired; send /close again",
            ]  # fmt: skip
            assert cid in state_of(state).positions  # nothing was closed

            question = ask("/closeall")
            fake.press(ANA, question, question.buttons()["Cancel"])
            wait_for(lambda: _tg(state, "cancelled"))
            assert cid in state_of(state).positions

            question = ask("/kill")
            assert question.text == (
                "kill the session: close its positions and stop trading? Confirm within 1 s."
            )
            fake.press(ANA, question, question.buttons()["Confirm"])
            session.join(120)  # the kill ends the replay
            assert not session.is_alive()
        finally:
            if session.is_alive():  # stop it the operator's way
                (state / "KILL").write_text("test cleanup\n")
                session.join(120)
    (acked,) = _tg(state, "acknowledged")
    assert acked["command"] == "kill" and acked["who"]["user"] == f"telegram:{ANA}"
    commands = [r for r in StateRepository(state).records() if r["kind"] == "command"]
    assert len(commands) == 1 and commands[0]["seq"] == acked["id"]
    final = state_of(state)
    assert final.risk.halted and not final.positions
    assert [d["outcome"] for d in _tg(state)] == ["asked", "asked", "cancelled", "asked",
                                                   "acknowledged"]  # fmt: skip
    assert f"/kill: command {acked['id']} acknowledged" in "\n".join(fake.texts(ANA))
    assert json.loads((state / "telegram_offset.json").read_text())  # the offset is kept
