"""Reload of a new code version (``ctl reload --code FILE`` / ``--reimport``): the strategy of
an instance, defined in a user's file (a session file's ``code = ...``), is re-imported,
validated and swapped at the event boundary; its open position keeps its stop, later entries
follow the new code; code that fails to import or validate is refused and nothing changes;
the version (SHA-256 of the source) is journaled and archived, so a restart — even after the
file on disk changed again — and a replay after a crash install the same code."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess

import pytest

from tests.live.control_support import TRADEFORGE, ctl, done, run_ctl, state_of, wait_for
from tests.live.session_support import bars_file
from tradeforge.core.errors import ConfigError
from tradeforge.live import manager as M
from tradeforge.live.control.client import ControlClient
from tradeforge.live.control.commands import check
from tradeforge.live.feeds import Tick
from tradeforge.live.runner import trades_frame
from tradeforge.live.session import load_session
from tradeforge.live.session_runner import build_session_dry_run
from tradeforge.live.state import StateRepository
from tradeforge.strategy import code as C

WHO = {"user": "tester", "uid": 0, "pid": 1}
CYCLING = "fast = 3, slow = 12, stop_pips = 6, target_pips = 8"
PIP = 0.0001

# the user's strategy: sma_cross whose stop is STOP_FACTOR times stop_pips
STRATEGY = """\
from tradeforge.strategy.builtin.sma_cross import SmaCross
from tradeforge.strategy.registry import register_strategy

STOP_FACTOR = {factor}


@register_strategy
class Reloadable(SmaCross):
    name = "reloadable"
{extra}
    def signals(self, frame, instrument=None):
        params = {{**self.params.model_dump(), "stop_pips": self.params.stop_pips * STOP_FACTOR}}
        return SmaCross(params).signals(frame, instrument)
"""
SYNTAX_ERROR = "def broken(:\n"
IMPORT_ERROR = "import no_such_module_for_tradeforge\n"
# builds, but asks for a feature that does not exist
BAD_FEATURE = "\n    def features(self):\n        return ['no_such_feature(3)']\n"


@pytest.fixture(autouse=True)
def _unregistered():
    """Each test's strategy file is another module registering the same name: forget it."""
    from tradeforge.strategy import registry

    yield
    registry._REGISTRY.pop("reloadable", None)


def strategy_source(factor: int, extra: str = "") -> str:
    return STRATEGY.format(factor=factor, extra=extra)


def _session(tmp, pace: float, n_bars: int, params: str, end: str = "2025-01-01") -> object:
    (tmp / "mystrat.py").write_text(strategy_source(1))
    bars = bars_file(tmp, "EURUSD", n_bars)
    text = (
        f'capital = 100000\nstart = "2024-01-01T03:00"\nend = "{end}"\npace = {pace}\n'
        f'[execution]\ncommission = 3.0\n[bars]\nEURUSD = "{bars.name}"\n'
        f'[[strategies]]\nname = "rel"\nstrategy = "reloadable"\ncode = "mystrat.py"\n'
        f'symbol = "EURUSD"\ntimeframe = "M5"\nwindow = 36\nsizing = "fixed:0.5"\n'
        f"params = {{ {params} }}\n"
    )
    path = tmp / "session.toml"
    path.write_text(text)
    return path


def _refused(result: tuple[int, str, str], message: str) -> None:
    code, out, err = result
    assert code == 2, out + err
    assert message in err and "Traceback" not in err + out, err
    assert len(err.strip().splitlines()) == 1


def _commands(state) -> int:
    return sum(r["kind"] == "command" for r in StateRepository(state).records())


def test_code_reload_through_the_console_script_keeps_the_position_and_refuses_bad_code(
    tmp_path,
):
    far = "fast = 3, slow = 12, stop_pips = 300, target_pips = 300, exit_on_opposite = false"
    session_file = _session(tmp_path, pace=0.2, n_bars=1500, params=far)
    state = tmp_path / "s"
    (tmp_path / "syntax.py").write_text(SYNTAX_ERROR)
    (tmp_path / "imports.py").write_text(IMPORT_ERROR)
    (tmp_path / "feature.py").write_text(strategy_source(1, BAD_FEATURE))
    (tmp_path / "noclass.py").write_text("X = 1\n")
    proc = subprocess.Popen(
        [TRADEFORGE, "dry-run", "--session", str(session_file), "--state", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        st = wait_for(lambda: (s := state_of(state)) is not None and s.positions and s)
        ((cid, pos),) = st.positions.items()
        stop = M.stop_of(M.pf_from_json(pos.pf))
        before = _commands(state)
        group = {
            name: ctl(state, "reload", "--strategy", "rel", "--code", str(tmp_path / file))
            for name, file in [("syntax", "syntax.py"), ("imports", "imports.py"),
                               ("feature", "feature.py"), ("noclass", "noclass.py"),
                               ("missing", "missing.py")]
        }  # fmt: skip
        group["unchanged"] = ctl(state, "reload", "--strategy", "rel", "-p", "fast=3")
        out = {k: done(p) for k, p in group.items()}
        _refused(out["syntax"], "reload of rel refused: SyntaxError: invalid syntax (syntax.py")
        _refused(
            out["imports"],
            "reload of rel refused: ModuleNotFoundError: No module named "
            "'no_such_module_for_tradeforge'",
        )
        _refused(out["feature"], "reload of rel refused: ")
        assert "no_such_feature" in out["feature"][2]
        _refused(out["noclass"], "defines no strategy class(es) named 'reloadable'")
        _refused(out["missing"], "cannot read strategy code")
        _refused(out["unchanged"], "the parameters are unchanged")
        assert _commands(state) == before  # nothing journaled
        assert state_of(state).strategies["rel"].code is None
        assert not (state / C.CODE_DIR).exists()

        # the user edits the file: --reimport reads the new version
        v2 = strategy_source(2)
        (tmp_path / "mystrat.py").write_text(v2)
        code, text, err = run_ctl(state, "reload", "--strategy", "rel", "--reimport", "--wait")
        assert code == 0, text + err
        sha = hashlib.sha256(v2.encode()).hexdigest()
        assert "applied" in text and f"code {sha[:12]} (mystrat.py)" in text
        assert "1 open position(s) kept with their stops" in text
        book = state_of(state).strategies["rel"]
        assert book.code == {
            "module": C.module_name_for((tmp_path / "mystrat.py").resolve()),
            "sha256": sha,
            "origin": str((tmp_path / "mystrat.py").resolve()),
        }
        assert (state / C.CODE_DIR / f"{sha}.py").read_text() == v2
        assert M.stop_of(M.pf_from_json(book.positions[cid].pf)) == stop
        # the same code again, with no new parameters: nothing to do
        _refused(
            run_ctl(state, "reload", "--strategy", "rel", "--reimport"),
            "the code and parameters are unchanged",
        )
    finally:
        proc.kill()
        proc.wait()


def test_a_code_reload_acknowledged_then_sigkilled_applies_the_archived_code_on_restart(
    tmp_path,
):
    """Real processes: the session (``--pace 2``) sleeps after its first bar; in that pause the
    reload is acknowledged and the session SIGKILLed at once. The user's file changes again
    before the restart: the restart still installs the version that was acknowledged."""
    session_file = _session(tmp_path, pace=2.0, n_bars=80, params=CYCLING, end="2024-01-01T03:15")
    state = tmp_path / "s"
    (tmp_path / "v2.py").write_text(strategy_source(2))
    args = [TRADEFORGE, "dry-run", "--session", str(session_file), "--state", str(state)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (s := state_of(state)) is not None and s.last_key is not None)
        with ControlClient(state) as client:
            ack = client.request("reload", {"strategy": "rel", "code": str(tmp_path / "v2.py")})
            os.kill(proc.pid, signal.SIGKILL)  # acknowledged, not applied
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
    crashed = state_of(state)
    assert str(ack["id"]) in crashed.commands and crashed.strategies["rel"].code is None
    sha = C.sha256_text(strategy_source(2))
    assert ack["args"]["code"]["sha256"] == sha and (state / C.CODE_DIR / f"{sha}.py").exists()
    (tmp_path / "v2.py").write_text(strategy_source(7))
    (tmp_path / "mystrat.py").write_text(strategy_source(5))
    code, out, err = done(subprocess.Popen(
        [TRADEFORGE, "dry-run", "--state", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ))  # fmt: skip
    assert code == 0, out + err
    final = state_of(state)
    assert final.strategies["rel"].code["sha256"] == sha and not final.commands
    (applied,) = [
        d for r in StateRepository(state).records() for d in r.get("decisions", [])
        if d["kind"] == "command"
    ]  # fmt: skip
    assert applied["id"] == ack["id"] and applied["outcome"] == "applied"
    assert f"code {sha[:12]} (v2.py)" in applied["reason"]


def _send(engine, args: dict) -> None:
    engine.acknowledge("reload", lambda st: check("reload", args, st, engine.ctx), WHO, "t")


def _run_to(engine, until) -> object:
    for event in engine.feed.events(engine.resume_key()):
        engine.handle(event)
        if until(event):
            return event
    raise AssertionError("the condition never held")


def _stop_pips(pos) -> float:
    return round(abs(pos.entry_price - pos.initial_stop) / PIP, 6)


def test_later_entries_follow_the_new_code_and_a_restart_rebuilds_it_from_the_archive(
    tmp_path,
):
    session = load_session(_session(tmp_path, pace=0.0, n_bars=400, params=CYCLING))
    engine = build_session_dry_run(tmp_path / "s", session)
    engine.start()
    _run_to(engine, lambda e: isinstance(e, Tick) and engine.current.strategies["rel"].positions)
    first = next(iter(engine.current.strategies["rel"].positions.values()))
    assert _stop_pips(first) == 6.0  # version 1: the stop is stop_pips
    (tmp_path / "v2.py").write_text(strategy_source(2))
    _send(engine, {"strategy": "rel", "code": str(tmp_path / "v2.py"), "params": {}})
    _run_to(engine, lambda e: True)  # the next event applies it
    seen = set(engine.current.strategies["rel"].positions)
    _run_to(engine, lambda e: set(engine.current.strategies["rel"].positions) - seen)
    (new,) = set(engine.current.strategies["rel"].positions) - seen
    assert _stop_pips(engine.current.strategies["rel"].positions[new]) == 12.0  # version 2

    # the user's file changes again; a restart still trades the archived version 2
    (tmp_path / "v2.py").write_text(SYNTAX_ERROR)
    (tmp_path / "mystrat.py").write_text(strategy_source(5))
    C._BUILT.clear()  # as in a new process
    restarted = build_session_dry_run(tmp_path / "s")
    restarted.start()
    seen = set(restarted.current.strategies["rel"].positions)
    _run_to(restarted, lambda e: set(restarted.current.strategies["rel"].positions) - seen)
    (new,) = set(restarted.current.strategies["rel"].positions) - seen
    assert _stop_pips(restarted.current.strategies["rel"].positions[new]) == 12.0


def test_a_code_reload_acknowledged_before_a_crash_replays_to_the_same_state(tmp_path):
    session = load_session(_session(tmp_path, pace=0.0, n_bars=300, params=CYCLING))
    (tmp_path / "v2.py").write_text(strategy_source(2))
    reload_args = {"strategy": "rel", "code": str(tmp_path / "v2.py")}
    finals = {}
    for run in ("straight", "crashed"):
        state = tmp_path / run
        engine = build_session_dry_run(state, session)
        engine.start()
        _run_to(engine, lambda e, engine=engine: engine.current.stats.trades >= 2)
        _send(engine, reload_args)
        if run == "crashed":  # acknowledged, never applied by this engine
            assert engine.current.commands
            C._BUILT.clear()
            engine = build_session_dry_run(state)
            engine.start()
        engine.run()
        assert engine.current.strategies["rel"].code["sha256"] == C.sha256_text(strategy_source(2))
        finals[run] = engine.current.to_json()
    assert finals["straight"] == finals["crashed"]
    assert trades_frame(tmp_path / "straight").equals(trades_frame(tmp_path / "crashed"))


def test_a_code_reload_refused_in_process_leaves_the_registry_and_state_alone(tmp_path):
    from tradeforge.strategy.registry import get_strategy

    session = load_session(_session(tmp_path, pace=0.0, n_bars=200, params=CYCLING))
    engine = build_session_dry_run(tmp_path / "s", session)
    engine.start()
    registered = get_strategy("reloadable")
    before = StateRepository(tmp_path / "s").records()
    (tmp_path / "bad.py").write_text(strategy_source(3, BAD_FEATURE))
    with pytest.raises(ConfigError, match="reload of rel refused: "):
        _send(engine, {"strategy": "rel", "code": str(tmp_path / "bad.py")})
    with pytest.raises(ConfigError, match="not both"):
        _send(engine, {"strategy": "rel", "code": str(tmp_path / "bad.py"), "reimport": True})
    assert StateRepository(tmp_path / "s").records() == before
    # a good version validated for one instance does not replace the registered class
    (tmp_path / "v2.py").write_text(strategy_source(2))
    _send(engine, {"strategy": "rel", "code": str(tmp_path / "v2.py")})
    assert get_strategy("reloadable") is registered
