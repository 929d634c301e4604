"""Every ``tradeforge ctl`` command through the installed console script, against a running
``tradeforge dry-run --pace 0.2`` subprocess, and the refusals (unknown strategy, bad token and
no confirmation through the script; bad window, unknown position and a missing token through
the protocol itself): one line, exit 2, nothing journaled, logged in ``decisions.jsonl``.
Independent commands run side by side to keep the test short."""

from __future__ import annotations

import json
import socket

from tests.live.control_support import (
    ctl,
    decisions,
    done,
    dry_run_args,
    run_ctl,
    start,
    state_of,
    wait_for,
)
from tradeforge.live import manager as M
from tradeforge.live.control.client import ControlClient
from tradeforge.live.control.server import SOCKET_FILE
from tradeforge.live.state import StateRepository


def _ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, out + err
    return out


def _refused(result: tuple[int, str, str], message: str) -> None:
    code, out, err = result
    assert code == 2, out + err
    assert message in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1  # one line


def _command_records(state):
    return [r for r in StateRepository(state).records() if r["kind"] == "command"]


def _missing_token(state) -> dict:
    """A raw client that speaks the protocol but sends no token."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(state / SOCKET_FILE))
        sock.sendall(b'{"cmd": "pause", "args": {}}\n')
        return json.loads(sock.makefile("rb").readline())


def test_every_command_and_refusal_through_the_console_script(tmp_path):
    state = tmp_path / "s"
    (tmp_path / "cal.csv").write_text(
        "time,currency,impact,event\n2024-01-09T13:30:00Z,USD,High,CPI\n"
        "2024-01-10T13:30:00Z,USD,High,PPI\n"
    )
    (tmp_path / "bad.token").write_text("0" * 64 + "\n")
    session = start(dry_run_args(tmp_path, state, pace=0.2, n_bars=1500))
    try:
        st = wait_for(lambda: (s := state_of(state)) is not None and s.positions and s)
        ((cid, pos),) = st.positions.items()
        commands_before = len(_command_records(state))
        group = {
            "status": ctl(state, "status"),
            "close": ctl(state, "close", f"#{pos.trade_id}", "--lots", "0.1", "--wait"),
            "add": ctl(state, "--json", "blackout", "add", "--at", "23:00", "--minutes", "30"),
            "import": ctl(
                state,
                "blackout",
                "import",
                str(tmp_path / "cal.csv"),
                "--minutes",
                "15",
                "--flatten",
                "--wait",
            ),  # fmt: skip
            "pause": ctl(state, "pause", "--wait"),  # before close-all: nothing reopens
            "strategy": ctl(state, "pause", "--strategy", "nope"),
            "token": ctl(state, "pause", token_file=tmp_path / "bad.token"),
            "confirm": ctl(state, "close-all"),
        }
        missing = _missing_token(state)
        with ControlClient(state) as client:  # the same refusals as ctl prints them
            window = client.send("blackout_add", {"start": "2030-01-02", "end": "2030-01-01"})
            position = client.send("close", {"position": "#999"})
        out = {k: done(p) for k, p in group.items()}
        status = json.loads(_ok(out["status"]))
        assert [p["id"] for p in status["positions"]] == [cid]
        assert status["control"]["strategies"] == {"sma_cross": {"paused": False, "disabled": None}}
        assert "applied" in _ok(out["close"]) and "closed 0.1 lots" in out["close"][1]
        added = json.loads(_ok(out["add"]))
        assert added["command"] == "blackout_add" and added["args"]["at"] == 23 * 60
        assert "2 calendar event(s) ±15 min, flatten before" in _ok(out["import"])
        assert "trading paused" in _ok(out["pause"])
        _refused(out["strategy"], "unknown strategy 'nope' (this session runs: sma_cross)")
        assert window["error"].startswith("bad window: end 2030-01-01T00:00:00+00:00 is not after")
        assert position == {
            "ok": False,
            "error": f"unknown position '#999' (open: #{pos.trade_id} {cid})",
        }
        _refused(out["token"], "bad token")
        _refused(out["confirm"], "confirm with --yes")
        assert missing == {"ok": False, "error": "missing token"}
        # four accepted by the engine, each journaled once; the refusals journaled nothing
        assert len(_command_records(state)) == commands_before + 4
        refused = [d["reason"] for d in decisions(state) if d["kind"] == "command_refused"]
        assert len(refused) == 5 and {"missing token"} < set(refused)
        wid = str(added["id"])
        after = wait_for(lambda: (s := state_of(state)) and wid in s.blackouts and s)
        lots_open = M.remaining(M.pf_from_json(after.positions[cid].pf)) * 0.01
        assert round(lots_open, 8) == round(M.remaining(M.pf_from_json(pos.pf)) * 0.01 - 0.1, 8)
        exits = [d for d in decisions(state) if d["kind"] == "exit" and d.get("lots") == 0.1]
        assert [d["position"] for d in exits] == [cid]
        labels = {w.label for w in after.blackouts.values()}
        assert {"USD High: CPI", "USD High: PPI"} <= labels

        group = {
            "close_all": ctl(state, "close-all", "--yes", "--wait"),
            "disable": ctl(state, "disable", "--strategy", "sma_cross", "--wait"),
            "remove": ctl(state, "blackout", "remove", wid, "--wait"),
        }
        out = {k: done(p) for k, p in group.items()}
        assert "closed 1 position(s)" in _ok(out["close_all"])
        assert "strategy sma_cross disabled" in _ok(out["disable"])
        assert f"blackout {wid} removed" in _ok(out["remove"])
        wait_for(lambda: any(d.get("control") == "paused" for d in decisions(state)))
        st = state_of(state)
        assert st.control.paused and st.control.strategies["sma_cross"].disabled
        assert cid not in st.positions and wid not in st.blackouts

        group = {
            "resume": ctl(state, "resume", "--wait"),
            "enable": ctl(state, "enable", "--strategy", "sma_cross", "--wait"),
            "list": ctl(state, "blackout", "list"),
        }
        out = {k: done(p) for k, p in group.items()}
        assert "trading resumed" in _ok(out["resume"])
        assert "strategy sma_cross enabled" in _ok(out["enable"])
        listed = _ok(out["list"]).splitlines()  # the daily window is gone
        assert [line.split()[0] for line in listed] == [w for w in sorted(st.blackouts)]
        assert "(USD High: CPI)" in listed[0] and "daily" not in "".join(listed)
        out = run_ctl(
            state, "kill", "--strategy", "sma_cross", "--yes", "--reason", "drill", "--wait"
        )
        assert "strategy sma_cross killed" in _ok(out)
        st = state_of(state)
        assert st.control.strategies["sma_cross"].disabled == "killed: drill" and not st.positions
        assert "killed: everything closed" in _ok(run_ctl(state, "kill", "--yes", "--wait"))
        code, _, err = done(session)
        assert code == 0, err
        assert (state / "KILL").exists() and state_of(state).risk.halted
        assert not (state / SOCKET_FILE).exists() and not (state / "control.token").exists()
    finally:
        session.kill()
        session.wait()
