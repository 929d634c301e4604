"""Telegram commands through the installed console script: ``tradeforge dry-run --notify``
with ``[telegram.commands]`` against the fake Bot API. An operator's ``/pause`` pauses the
session (seen by ``tradeforge ctl status``), a stranger's is refused and logged, ``/status``
is answered; after a SIGKILL and a restart the handled ``/pause`` is not run again although
the server still holds it (its confirmation "lost"), while the ``/resume`` sent meanwhile is
run once."""

from __future__ import annotations

import json
import os
import signal

from tests.live.control_support import decisions, dry_run_args, run_ctl, start, state_of, wait_for
from tests.notify.fake_telegram import BOT, TOKEN, FakeTelegram
from tradeforge.live.persist import read_document
from tradeforge.live.state import StateRepository
from tradeforge.notify.config import TOKEN_ENV
from tradeforge.notify.updates import OFFSET_FILE

ANA, EVE = 1001, 6666


def _tg(state, outcome: str) -> list[dict]:
    return [
        d for d in decisions(state)
        if d["kind"] == "telegram_command" and d["outcome"] == outcome
    ]  # fmt: skip


def test_pause_by_an_operator_stranger_refused_no_duplicate_after_restart(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    state = tmp_path / "s"
    with FakeTelegram(keep_confirmed=True) as fake:
        config = tmp_path / "notify.toml"
        config.write_text(
            f'[telegram]\nbase_url = "{fake.base_url}"\n'
            f"[telegram.commands]\nusers = [{ANA}]\npoll_timeout = 1\n"
        )
        args = [*dry_run_args(tmp_path, state, pace=0.05, n_bars=3000), "--notify", str(config)]
        first = start(args)
        try:
            stranger = fake.send_text(EVE, "/pause")
            pause = fake.send_text(ANA, "/pause")
            wait_for(lambda: (s := state_of(state)) is not None and s.control.paused)
            code, out, err = run_ctl(state, "status")
            assert code == 0, out + err
            assert json.loads(out)["control"]["paused"] is True
            fake.send_text(ANA, "/status")
            wait_for(lambda: any("trading: paused" in t for t in fake.texts(ANA)))
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.communicate(timeout=60)
        assert fake.texts(EVE) == []  # strangers get no answer
        (refused,) = [d for d in decisions(state) if d["kind"] == "command_refused"]
        assert refused["who"]["user"] == f"telegram:{EVE}" and refused["command"] == "/pause"
        assert refused["reason"] == f"Telegram user {EVE} may not command"
        (acked,) = _tg(state, "acknowledged")
        assert (acked["command"], acked["who"]["telegram_user"]) == ("pause", ANA)
        assert {stranger, pause} <= {u["update_id"] for u in fake.updates}  # still held

        resume = fake.send_text(ANA, "/resume")  # sent while the session is down
        polls = len(fake.polls)
        second = start(args)
        try:
            wait_for(lambda: len(_tg(state, "acknowledged")) == 2)
            wait_for(lambda: not state_of(state).control.paused)
        finally:
            os.kill(second.pid, signal.SIGKILL)
            second.communicate(timeout=60)
    assert fake.polls[polls] == resume  # the first update not handled yet, not before
    assert [d["command"] for d in _tg(state, "acknowledged")] == ["pause", "resume"]
    journaled = [r for r in StateRepository(state).records() if r["kind"] == "command"]
    assert [c["seq"] for c in journaled] == [d["id"] for d in _tg(state, "acknowledged")]
    assert len([d for d in decisions(state) if d["kind"] == "command_refused"]) == 1
    assert read_document(state / OFFSET_FILE) == {"bot": BOT["id"], "offset": resume + 1}
