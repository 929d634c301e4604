"""``tradeforge ctl notify-reload`` through the installed console script against running
``tradeforge dry-run`` subprocesses: new notification settings reach a running session (its
messages go to the new webhook URL, a real HTTP receiver on 127.0.0.1), journaled as a
command; refused in one line with exit 2 — a bad file (by the same loader as ``--notify``),
a change a running session cannot take, a session without notifications."""

from __future__ import annotations

import signal

from tests.live.control_support import decisions, dry_run_args, run_ctl, start, wait_for
from tests.notify.support import WebhookReceiver
from tradeforge.live.state import StateRepository


def _config(path, url: str, extra: str = "") -> str:
    path.write_text(
        f'[webhook]\nurls = {{ info = ["{url}"], warning = ["{url}"], critical = ["{url}"] }}\n'
        + extra
    )
    return str(path)


def _texts(receiver: WebhookReceiver, path: str) -> list[str]:
    return [m["text"] for p, body in list(receiver.bodies) if p == path for m in body["messages"]]


def _refused(result: tuple[int, str, str], message: str) -> None:
    code, out, err = result
    assert code == 2, out + err
    assert message in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_notify_reload_reaches_a_running_session(tmp_path):
    receiver = WebhookReceiver()
    plain, noted = tmp_path / "plain", tmp_path / "noted"
    first = _config(tmp_path / "first.toml", receiver.url("/first"))
    second = _config(tmp_path / "second.toml", receiver.url("/second"))
    bad = _config(tmp_path / "bad.toml", "ftp://127.0.0.1/x")
    monitor = _config(tmp_path / "monitor.toml", receiver.url("/m"), "[monitor]\nevery_bars = 5\n")
    procs = [
        start(dry_run_args(tmp_path, plain, 0.2, 600)),
        start([*dry_run_args(tmp_path, noted, 0.2, 600), "--notify", first]),
    ]
    try:
        for state in (plain, noted):
            wait_for(lambda s=state: run_ctl(s, "--json", "status")[0] == 0)
        wait_for(lambda: any("session started" in t for t in _texts(receiver, "/first")))

        _refused(
            run_ctl(plain, "notify-reload", "--file", second),
            "this session runs without notifications",
        )
        _refused(run_ctl(noted, "notify-reload", "--file", bad), "is not an http(s) URL")
        _refused(
            run_ctl(noted, "notify-reload", "--file", monitor),
            "monitor settings changes need a restart",
        )
        code, out, err = run_ctl(noted, "notify-reload", "--file", second, "--wait")
        assert code == 0, out + err
        assert "applied" in out and "notification settings reloaded: 1 target(s)" in out

        wait_for(lambda: any("settings reloaded" in t for t in _texts(receiver, "/second")))
        # its last message too, once stopped: at the new URL only
        procs[1].send_signal(signal.SIGTERM)
        procs[1].communicate(timeout=120)
        before, after = _texts(receiver, "/first"), _texts(receiver, "/second")
        assert any(t.startswith("session stopped (interrupted)") for t in after), (before, after)
        assert not any("settings reloaded" in t or "session stopped" in t for t in before)
        assert _texts(receiver, "/m") == []

        # journaled once, with the settings themselves (a replay applies the same)
        records = [r for r in StateRepository(noted).records() if r["kind"] == "command"]
        assert len(records) == 1
        (acked,) = [d for d in decisions(noted) if d["kind"] == "command_received"]
        assert acked["command"] == "notify_reload"
        assert acked["args"]["config"]["webhook"]["urls"]["info"] == [receiver.url("/second")]
        assert not [r for r in StateRepository(plain).records() if r["kind"] == "command"]
        refusals = [d for d in decisions(noted) if d["kind"] == "command_refused"]
        assert len(refusals) == 1 and "monitor settings" in refusals[0]["reason"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=120)
        receiver.stop()
