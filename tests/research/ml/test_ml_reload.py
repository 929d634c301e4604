"""A new model for a running session through runtime control: ``tradeforge ctl reload
--strategy ml_filter -p model=NEW -p sha256=HASH`` against a paced ``tradeforge dry-run`` (the
real console scripts). The artifact is hash-checked when the command arrives: a model whose
hash differs from the one pinned or given, a tampered pickle or a missing folder is refused
in one line and nothing is journaled; the accepted model is journaled and the signals after
it are the new model's."""

from __future__ import annotations

import shutil
import subprocess

import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.tree import DecisionTreeClassifier

from tests.conftest import make_bars
from tests.live.control_support import TRADEFORGE, ctl, decisions, done, run_ctl, state_of, wait_for
from tradeforge.live.runner import trades_frame
from tradeforge.live.state import StateRepository
from tradeforge.research.featureset import build_dataset
from tradeforge.research.featureset.spec import FeatureSpec
from tradeforge.research.ml import ModelArtifact
from tradeforge.strategy import create_strategy

WHO = {"user": "tester", "uid": 0, "pid": 1}
PARAMS = {"fast": 3, "slow": 12, "stop_pips": 6, "target_pips": 8}
SPEC = FeatureSpec(("zscore(20)", "sessions"), ("zscore_20", "session_london"))


def _models(tmp, bars: pd.DataFrame) -> tuple[ModelArtifact, ModelArtifact, pd.Series]:
    """A: keeps every signal (threshold 0). B: scores every signal 0 (skips them all). And
    the signal times of the unfiltered strategy's trades."""
    inner = create_strategy("sma_cross", PARAMS)
    ds = build_dataset(inner, {"EURUSD": bars}, SPEC, timeframe="M5")
    meta = {"model": "tree", "target": "win", "strategy": inner.describe()}
    y = ds.labels(0.0)
    keep = DecisionTreeClassifier(max_depth=2, random_state=0).fit(ds.X, y)
    skip = DummyClassifier(strategy="constant", constant=0).fit(ds.X, y)
    return (ModelArtifact(keep, SPEC, 0.0, meta).save(tmp / "a"),
            ModelArtifact(skip, SPEC, 0.5, meta).save(tmp / "b"), ds.frame["signal_time"])  # fmt: skip


def _refused(result: tuple[int, str, str], message: str) -> None:
    code, out, err = result
    assert code == 2, out + err
    assert message in err and "Traceback" not in err + out, err
    assert len(err.strip().splitlines()) == 1


def _commands(state) -> int:
    return sum(r["kind"] == "command" for r in StateRepository(state).records())


def test_model_reload_is_hash_checked_journaled_and_used(tmp_path):
    bars = make_bars(500, seed=5)
    bars.to_parquet(tmp_path / "bars.parquet")
    a, b, unfiltered = _models(tmp_path, bars)
    tampered = tmp_path / "b_tampered"
    shutil.copytree(b.path, tampered)
    blob = (tampered / "model.pkl").read_bytes()
    (tampered / "model.pkl").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    state = tmp_path / "s"
    proc = subprocess.Popen(
        [TRADEFORGE, "dry-run", "--state", str(state), "--strategy", "ml_filter",
         "-p", f"model={a.path}", "--symbol", "EURUSD", "--timeframe", "M5",
         "--replay", "2024-01-01T03:00..2025-01-01", "--bars", str(tmp_path / "bars.parquet"),
         "--window", "60", "--commission", "3", "--pace", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        st = wait_for(lambda: (s := state_of(state)) is not None and s.stats.orders > 0 and s)
        # the filter pinned the hash of the model it loaded (none was given)
        assert st.strategies["ml_filter"].params["sha256"] == a.sha256
        before = _commands(state)
        group = {
            "unpinned": ctl(state, "reload", "--strategy", "ml_filter", "-p", f"model={b.path}"),
            "wrong": ctl(state, "reload", "--strategy", "ml_filter", "-p", f"model={b.path}",
                         "-p", "sha256=" + "0" * 64),
            "tampered": ctl(state, "reload", "--strategy", "ml_filter", "-p",
                            f"model={tampered}", "-p", f"sha256={b.sha256}"),
            "missing": ctl(state, "reload", "--strategy", "ml_filter", "-p",
                           f"model={tmp_path / 'nothing'}", "-p", f"sha256={b.sha256}"),
        }  # fmt: skip
        out = {k: done(p) for k, p in group.items()}
        _refused(out["unpinned"], f"expected {a.sha256[:12]}… (a different model)")
        _refused(out["wrong"], f"has hash {b.sha256[:12]}…, expected 000000000000…")
        _refused(out["tampered"], "model.pkl does not match the hash in model.json")
        _refused(out["missing"], "no model artifact in")
        assert _commands(state) == before  # nothing journaled
        assert state_of(state).strategies["ml_filter"].params["model"] == str(a.path)

        code, text, err = run_ctl(state, "reload", "--strategy", "ml_filter", "-p",
                                  f"model={b.path}", "-p", f"sha256={b.sha256}", "--wait")  # fmt: skip
        assert code == 0, text + err
        assert "applied" in text and f"sha256={b.sha256}" in text
        assert done(proc, timeout=300)[0] == 0  # the replay runs to its end
    finally:
        proc.kill()
        proc.wait()
    book = state_of(state).strategies["ml_filter"]
    assert book.params["model"] == str(b.path) and book.params["sha256"] == b.sha256
    (reloaded,) = [d for d in decisions(state) if d["kind"] == "reloaded"]
    assert reloaded["params"]["sha256"] == b.sha256
    (applied,) = [
        d for r in StateRepository(state).records() for d in r.get("decisions", [])
        if d["kind"] == "command"
    ]  # fmt: skip
    assert applied["outcome"] == "applied" and applied["command"] == "reload"
    # model B skips every signal: no trade was signalled after the reload took effect
    at = pd.Timestamp(reloaded["time"])
    trades = trades_frame(state)
    assert len(trades) > 0 and (pd.DatetimeIndex(trades["signal_time"]) < at).all()
    assert (unfiltered > at).sum() >= 5  # model A would have traded on


def test_a_model_changed_between_the_check_and_its_event_is_not_applied(tmp_path):
    """In process: the reload is checked and journaled, then the new model's pickle changes
    before the next event applies it — the command fails (logged), the session trades on
    with the old model."""
    from tests.live.helpers import small_spec
    from tradeforge.live.control.commands import check
    from tradeforge.live.runner import build_dry_run

    a, b, _ = _models(tmp_path, make_bars(200, seed=5))
    spec = small_spec(tmp_path, n_bars=200, seed=5, strategy="ml_filter", window=60,
                      params={"model": str(a.path)}, start="2024-01-01")  # fmt: skip
    engine = build_dry_run(tmp_path / "s", spec)
    engine.start()
    events = engine.feed.events(engine.resume_key())
    for _ in range(3):
        engine.handle(next(events))
    args = {"strategy": "ml_filter", "params": {"model": str(b.path), "sha256": b.sha256}}
    engine.acknowledge("reload", lambda st: check("reload", args, st, engine.ctx), WHO, "t")
    blob = (b.path / "model.pkl").read_bytes()
    (b.path / "model.pkl").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    engine.handle(next(events))
    (outcome,) = [d for d in decisions(tmp_path / "s") if d["kind"] == "command"]
    assert outcome["outcome"] == "failed" and "does not match the hash" in outcome["reason"]
    assert engine.current.strategies["ml_filter"].params["sha256"] == a.sha256
    for event in events:  # and it trades on to the end
        engine.handle(event)
    assert engine.current.stats.trades > 0
