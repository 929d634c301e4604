"""Several strategy instances in one engine (a session file): each instance trades exactly as
its own backtest when sizing is fixed, the account's P&L is the sum of the instances', and
commands naming an instance (pause, reload) act on it alone."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.live.control_support import TRADEFORGE
from tests.live.helpers import backtest_of
from tests.live.session_support import bars_of, make_session, write_session
from tradeforge.cli import app
from tradeforge.core.errors import ConfigError
from tradeforge.live import manager as M
from tradeforge.live.control.commands import check
from tradeforge.live.feeds import Bar, Tick
from tradeforge.live.session import load_session
from tradeforge.live.session_runner import build_session_dry_run, strategy_trades
from tradeforge.live.state import StateRepository

WHO = {"user": "tester", "uid": 0, "pid": 1}
PIP = 0.0001


def _same_trades(live: pd.DataFrame, bt: pd.DataFrame) -> None:
    """Every column but the trade number (the session numbers its trades across instances)."""
    bt = bt.reset_index(drop=True)
    assert len(live) == len(bt) > 0
    for col in bt.columns:
        if col == "trade_id":
            continue
        a, b = live[col], bt[col]
        if b.dtype.kind == "f":
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=1e-9)
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), col


def _send(engine, name: str, args: dict) -> None:
    engine.acknowledge(name, lambda st: check(name, args, st, engine.ctx), WHO, "t")


def test_session_through_the_console_script_trades_each_instance_as_its_backtest(tmp_path):
    session_file = write_session(tmp_path)
    state = tmp_path / "state"
    run = subprocess.run(
        [TRADEFORGE, "dry-run", "--session", str(session_file), "--state", str(state)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "session of 3 strategies" in run.stdout
    session = load_session(session_file)
    own = strategy_trades(state)
    assert sorted(own) == ["fast", "gbp", "slow"]
    for name, spec in session.specs.items():
        _same_trades(own[name], backtest_of(spec, bars_of(tmp_path, spec.symbol)).trades)
        written = pd.read_csv(state / f"trades-{name}.csv")
        assert len(written) == len(own[name])
    # hand-checkable: everything closed at the end, so the account's P&L (balance less the
    # capital) is the sum of the instances' P&L, and each instance's counters are its trades'
    status = subprocess.run(
        [TRADEFORGE, "status", "--state", str(state)], capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout[status.stdout.index("{") :])
    books = summary["strategies"]
    broker = json.loads((state / "paper_broker.json").read_text())["body"]
    per_strategy = [books[n]["stats"]["realized"] for n in sorted(books)]
    assert broker["balance"] - 100_000 == pytest.approx(sum(per_strategy), abs=1e-6)
    assert summary["stats"]["realized"] == pytest.approx(sum(per_strategy), abs=1e-6)
    for name, book in books.items():
        assert book["stats"]["trades"] == len(own[name])
        assert book["stats"]["realized"] == pytest.approx(own[name]["pnl"].sum(), abs=1e-6)
        assert (book["strategy"], book["symbol"]) == ("sma_cross", session.specs[name].symbol)
    assert summary["stats"]["trades"] == sum(len(t) for t in own.values())
    # another session file on this state directory is refused
    other = write_session(tmp_path, "other.toml", names=("fast", "gbp"))
    refused = subprocess.run(
        [TRADEFORGE, "dry-run", "--state", str(state), "--session", str(other)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2 and "holds a session with other settings" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def _run_to(engine, until) -> object:
    """Feed ``engine`` events until ``until(event)``; the event it stopped after."""
    for event in engine.feed.events(engine.resume_key()):
        engine.handle(event)
        if until(event):
            return event
    raise AssertionError("the condition never held")


def test_pause_of_one_instance_leaves_the_others_trading(tmp_path):
    session = make_session(tmp_path, n_bars=120)
    ref = build_session_dry_run(tmp_path / "ref", session)
    ref.run()
    reference = strategy_trades(tmp_path / "ref")

    engine = build_session_dry_run(tmp_path / "s", session)
    engine.start()
    first = _run_to(engine, lambda e: isinstance(e, Bar) and e.index == 50)
    _send(engine, "pause", {"strategy": "fast"})
    engine.run()
    own = strategy_trades(tmp_path / "s")
    for name in ("slow", "gbp"):  # untouched by the pause: the uninterrupted run's trades
        _same_trades(own[name], reference[name])
    cutoff = pd.Timestamp(first.close_time, tz="UTC")
    assert (reference["fast"].signal_time > cutoff).any()  # it would have traded on
    assert not (own["fast"].signal_time > cutoff).any()  # paused: no new entry
    skipped = [
        d
        for r in StateRepository(tmp_path / "s").records()
        for d in r.get("decisions", [])
        if d["kind"] == "skip" and d.get("control") == "paused"
    ]
    assert skipped and all(d["strategy"] == "fast" for d in skipped)
    assert engine.current.control.strategies["fast"].paused
    assert not engine.current.control.paused and not engine.current.control.strategies["gbp"].paused


def test_reload_keeps_the_open_position_and_its_stop_and_later_signals_use_new_params(tmp_path):
    session = make_session(tmp_path, names=("fast", "gbp"))
    engine = build_session_dry_run(tmp_path / "s", session)
    engine.start()
    _run_to(engine, lambda e: isinstance(e, Tick) and engine.current.strategies["fast"].positions)
    (cid, pos) = next(iter(engine.current.strategies["fast"].positions.items()))
    stop = M.stop_of(M.pf_from_json(pos.pf))
    assert abs(pos.entry_price - pos.initial_stop) == pytest.approx(6 * PIP, abs=1e-9)
    gbp_before = engine.current.strategies["gbp"].to_json()

    _send(engine, "reload", {"strategy": "fast", "params": {"stop_pips": "20", "fast": "4"}})
    held = engine.current.strategies["fast"]
    assert held.params["stop_pips"] == 6.0  # acknowledged, not applied yet
    _run_to(engine, lambda e: True)  # the next event applies it
    book = engine.current.strategies["fast"]
    assert book.params == {**held.params, "stop_pips": 20.0, "fast": 4}
    assert engine.contexts["fast"].strategy.params.stop_pips == 20.0
    assert book.window == 36  # the explicit window still holds the new warm-up
    if cid in book.positions:  # kept, with its stop (unless the event itself closed it)
        assert M.stop_of(M.pf_from_json(book.positions[cid].pf)) == stop
        assert book.positions[cid].initial_stop == pos.initial_stop
    assert engine.current.strategies["gbp"].to_json()["params"] == gbp_before["params"]
    reloaded = [
        d for r in StateRepository(tmp_path / "s").records() for d in r.get("decisions", [])
        if d["kind"] == "reloaded"
    ]  # fmt: skip
    assert len(reloaded) == 1 and reloaded[0]["strategy"] == "fast"

    # later entries of the instance are sized on the new stop distance
    seen = set(engine.current.strategies["fast"].positions) | {cid}
    _run_to(engine, lambda e: set(engine.current.strategies["fast"].positions) - seen)
    (new_cid,) = set(engine.current.strategies["fast"].positions) - seen
    later = engine.current.strategies["fast"].positions[new_cid]
    assert abs(later.entry_price - later.initial_stop) == pytest.approx(20 * PIP, abs=1e-9)

    # a restart trades with the reloaded parameters (recorded in the state)
    restarted = build_session_dry_run(tmp_path / "s")
    restarted.start()
    assert restarted.contexts["fast"].strategy.params.stop_pips == 20.0
    assert restarted.contexts["fast"].strategy.params.fast == 4
    assert restarted.contexts["gbp"].strategy.params.stop_pips == 8.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"strategy": "nope", "params": {"fast": "4"}}, "unknown strategy 'nope'"),
        ({"strategy": "fast", "params": {"fast": "0"}}, "reload of fast refused: "),
        ({"strategy": "fast", "params": {"colour": "red"}}, "unknown parameter"),
        ({"strategy": "fast", "params": {"fast": "3"}}, "the parameters are unchanged"),
        ({"strategy": "fast", "params": {}}, "needs new parameters"),
        # the explicit window (36 bars) cannot hold a 60-bar average's warm-up
        ({"strategy": "fast", "params": {"slow": "60"}}, "shorter than"),
    ],
)
def test_reload_refusals_change_nothing(tmp_path, args, message):
    engine = build_session_dry_run(tmp_path / "s", make_session(tmp_path, names=("fast", "gbp")))
    engine.start()
    before = StateRepository(tmp_path / "s").records()
    with pytest.raises(ConfigError, match=message):
        _send(engine, "reload", args)
    assert StateRepository(tmp_path / "s").records() == before
    assert not engine.current.commands


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "strategies: at least one"),
        ("colour = 1", "colour: unknown key"),
        ('[[strategies]]\nname = "a"', "strategies[1].strategy: required"),
        (
            '[[strategies]]\nname = "../x"\nstrategy = "sma_cross"\nsymbol = "EURUSD"\n'
            'timeframe = "M5"',
            "strategies[1].name: invalid strategy name",
        ),
        (
            '[[strategies]]\nname = "a"\nstrategy = "sma_cross"\nsymbol = "EUR/USD"\n'
            'timeframe = "M5"',
            "strategies[1] (a).symbol: invalid symbol",
        ),
        (
            '[[strategies]]\nname = "a"\nstrategy = "sma_cross"\nsymbol = "EURUSD"\n'
            'timeframe = "M5"\nparams = { fast = -1 }',
            "strategies[1] (a).params: ",
        ),
        (
            '[[strategies]]\nname = "a"\nstrategy = "sma_cross"\nsymbol = "EURUSD"\n'
            'timeframe = "M5"\nlimits = { max_loss = 1 }',
            "strategies[1] (a).limits.max_loss: unknown guard",
        ),
        (
            '[[strategies]]\nname = "a"\nstrategy = "sma_cross"\nsymbol = "EURUSD"\n'
            'timeframe = "M5"\n[[strategies]]\nname = "a"\nstrategy = "sma_cross"\n'
            'symbol = "GBPUSD"\ntimeframe = "M5"',
            "strategies[2].name: 'a' is used twice",
        ),
        (
            '[[strategies]]\nname = "a"\nstrategy = "sma_cross"\nsymbol = "EURUSD"\n'
            'timeframe = "M5"\n[[strategies]]\nname = "b"\nstrategy = "sma_cross"\n'
            'symbol = "EURUSD"\ntimeframe = "H1"',
            "EURUSD is traded on M5 by a",
        ),
    ],
)
def test_bad_session_files_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_session(path)
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_bad_session_file_through_the_console_script_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("strategies:\n  - name: a\n    strategy: nosuch\n    symbol: EURUSD\n"
                    "    timeframe: M5\n")  # fmt: skip
    mixed = CliRunner().invoke(
        app, ["dry-run", "--session", str(path), "--state", str(tmp_path / "s"), "-s", "EURUSD"]
    )
    assert "--session takes its settings from the file; drop --symbol" in str(mixed.exception)
    run = subprocess.run(
        [TRADEFORGE, "dry-run", "--session", str(path), "--state", str(tmp_path / "s")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert f"{path}: strategies[1] (a).strategy: " in line and "nosuch" in line
    assert not (tmp_path / "s").exists()


def _decisions(state_dir, kind: str) -> list[dict]:
    return [
        d for r in StateRepository(state_dir).records() for d in r.get("decisions", [])
        if d["kind"] == kind
    ]  # fmt: skip


def test_an_instances_own_guard_blocks_that_instance_alone(tmp_path):
    names = ("fast", "gbp")
    build_session_dry_run(tmp_path / "ref", make_session(tmp_path, names=names, n_bars=120)).run()
    reference = strategy_trades(tmp_path / "ref")
    # 0.01 % of its 100,000 capital: its first losing trade stops its entries
    own_guard = {"fast": "limits = { max_drawdown = 0.01 }"}
    session = make_session(
        tmp_path, "guarded.toml", names=names, n_bars=120, instance_extra=own_guard
    )
    assert session.specs["fast"].live.limits == {"max_drawdown_pct": 0.01}
    assert session.limits == {}  # not the account's
    build_session_dry_run(tmp_path / "s", session).run()
    own = strategy_trades(tmp_path / "s")
    _same_trades(own["gbp"], reference["gbp"])
    assert 0 < len(own["fast"]) < len(reference["fast"])
    _same_trades(own["fast"], reference["fast"].iloc[: len(own["fast"])])
    assert (own["fast"]["pnl"] < 0).any()
    blocked = _decisions(tmp_path / "s", "guard")
    assert blocked and {(d["strategy"], d["scope"], d["guard"]) for d in blocked} == {
        ("fast", "strategy", "drawdown")
    }


def test_an_mt5_session_of_two_instances_on_one_symbol_trades_and_is_watched(tmp_path):
    """`run_live_session` through MetaTrader 5 (the trading stand-in; the session's bars
    replayed as the feed): both instances send orders under their own client ids, the
    health monitor watches the session and says it stopped at the end."""
    from tests.support.fake_mt5_trading import FakeMT5Trading
    from tradeforge.data.sources.mt5_terminal import MT5Terminal
    from tradeforge.live.feeds import ReplayFeed
    from tradeforge.live.health import read_health
    from tradeforge.live.session_runner import run_live_session

    session = make_session(tmp_path, names=("fast", "slow"))
    bars = bars_of(tmp_path, "EURUSD")
    fake = FakeMT5Trading()
    fake.add_symbol("EURUSD", bid=float(bars["close"].iloc[40]), spread=10)
    replay = ReplayFeed(bars, "EURUSD", "M5", play_from=bars.index[40])
    feed = type("Live", (), {  # a live feed's interface: no length, no end of its own
        "symbol": "EURUSD", "timeframe": replay.timeframe, "events": lambda _, a: replay.events(a),
        "window": lambda _, t, n: replay.window(t, n),
    })()  # fmt: skip
    engine = run_live_session(
        tmp_path / "live", session, broker="mt5", mt5=MT5Terminal(fake, server_time="utc"),
        feed=feed, health_interval=0.05,
    )  # fmt: skip
    sent = [args[0] for name, args in fake.calls if name == "order_send"]
    assert sent
    state = engine.current
    assert state is not None and state.last_key is not None
    for name in ("fast", "slow"):  # each instance traded on its own book
        book = state.strategies[name]
        assert book.stats.trades + len(book.positions) >= 1, name
    verdict, doc = read_health(tmp_path / "live")
    assert verdict == "down" and doc["stopped"] and doc["broker"] == "mt5"


def test_replay_progress_counts_the_bars_of_every_symbol(tmp_path):
    seen: list[tuple[int, int]] = []
    session = make_session(tmp_path, n_bars=120)
    engine = build_session_dry_run(
        tmp_path / "s", session, progress=lambda d, t: seen.append((d, t))
    )
    engine.run()
    # the session starts before the bars: every bar of both symbols is played, each counted once
    total = sum(len(bars_of(tmp_path, s, 120)) for s in ("EURUSD", "GBPUSD"))
    assert total == 240 and seen[-1] == (total, total)
    assert [d for d, _ in seen] == list(range(1, total + 1)) and {t for _, t in seen} == {total}
