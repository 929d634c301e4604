"""Execution health and fail-safes: rules, the monitor's measurements, the health file as judged
from outside, and a live cTrader session (console script, fake server) whose connection drops
and whose orders are rejected: entries halt, the session flattens when the link returns, every
step is a decision, ``tradeforge health`` says down meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.ctrader.conftest import certificate, server  # noqa: F401  (fixtures)
from tests.ctrader.live_script import SCRIPT, Driver, environment, live_args, make_script
from tradeforge.core.errors import ConfigError
from tradeforge.live.brokers.base import OrderRejected
from tradeforge.live.health import (
    DEFAULT_RULES,
    HEALTH_FILE,
    HealthMonitor,
    HealthRule,
    health_rules,
    read_health,
)


def test_rules_parse_replace_and_refuse():
    assert HealthRule.parse("link=30:flatten") == HealthRule("link", 30.0, "flatten")
    assert HealthRule.parse("skew=2") == HealthRule("skew", 2.0, "warn")
    rules = health_rules(["link=5:halt", "skew=off"])
    assert [r for r in rules if r.condition == "link"] == [HealthRule("link", 5.0, "halt")]
    assert not [r for r in rules if r.condition == "skew"]
    assert health_rules(None) == DEFAULT_RULES
    for bad, message in [
        ("feed", "CONDITION=NUMBER"),
        ("feed=soon", "CONDITION=NUMBER"),
        ("weather=3", "unknown health condition 'weather'"),
        ("feed=3:panic", "unknown health action 'panic'"),
        ("feed=3:exit", "loop watchdog only"),
    ]:
        with pytest.raises(ConfigError, match=message):
            health_rules([bad])


def test_rules_parse_hysteresis():
    assert HealthRule.parse("link=30:halt@3/5") == HealthRule("link", 30.0, "halt", 3, 5)
    assert HealthRule.parse("skew=2@3") == HealthRule("skew", 2.0, "warn", 3, 3)
    assert HealthRule.parse("link=30:halt@3/5").key == "link>30:halt@3/5"
    assert HealthRule.parse("link=30:halt").key == "link>30:halt"  # 1/1: as before
    for bad, message in [
        ("feed=3@x", "CONDITION=NUMBER"),
        ("feed=3:halt@2/y", "CONDITION=NUMBER"),
        ("feed=3@0", "whole number >= 1"),
        ("feed=3@2/0", "whole number >= 1"),
    ]:
        with pytest.raises(ConfigError, match=message):
            health_rules([bad])


def test_a_rule_fires_after_n_checks_and_clears_after_m(tmp_path):
    clock = Clock()
    monitor = HealthMonitor(tmp_path, (HealthRule("link", 5, "warn", after=2, clear=3),),
                            clock=clock, wall=lambda: 50.0)  # fmt: skip
    broker = monitor.watch_broker(Link())
    silent = lambda s: broker._broker.state.update(silent_seconds=s)  # noqa: E731
    rule = lambda snap: snap["conditions"]["link"]["rules"][0]  # noqa: E731
    steps = [  # (silent seconds, status after the check, streak)
        (6, "healthy", 1), (1, "healthy", 0),  # one odd reading: nothing
        (6, "healthy", 1), (7, "degraded", 0),  # the second in a row: active
        (1, "degraded", 1), (1, "degraded", 2), (9, "degraded", 0),  # not 3 in a row yet
        (1, "degraded", 1), (1, "degraded", 2), (1, "healthy", 0),  # 3 in a row: cleared
    ]  # fmt: skip
    for seconds, status, streak in steps:
        silent(seconds)
        snap = monitor.check()
        assert (snap["status"], rule(snap)["streak"]) == (status, streak), (seconds, snap)
    assert rule(snap)["after"] == 2 and rule(snap)["clear"] == 3
    assert [r.key for r in DEFAULT_RULES if (r.after, r.clear) != (1, 1)] == [
        "feed>300:halt@1/5", "link>30:halt@1/5", "skew>10:warn@3/3",
    ]  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Link:
    def __init__(self) -> None:
        self.state = {"connected": True, "silent_seconds": 0.5}

    def link(self):
        return self.state


def test_monitor_measures_and_writes_the_file(tmp_path):
    clock = Clock()
    exits = []
    rules = (
        HealthRule("feed", 10, "warn"),
        HealthRule("link", 5, "halt"),
        HealthRule("rejects", 1, "halt"),
        HealthRule("latency", 2, "warn"),
        HealthRule("loop", 30, "exit"),
    )
    monitor = HealthMonitor(tmp_path, rules, clock=clock, wall=time.time, exit_process=exits.append)
    broker = monitor.watch_broker(Link())
    feed = monitor.watch_feed(type("F", (), {"events": lambda self, after: iter([])})())
    assert monitor.check()["status"] == "healthy"
    clock.t += 11  # no feed event for 11 s
    snap = monitor.check()
    assert snap["status"] == "degraded" and snap["conditions"]["feed"]["value"] == 11.0
    monitor.event_started(type("E", (), {"key": (5, 1)})())
    monitor.event_done()
    assert monitor.check()["status"] == "healthy" and monitor.check()["handled"] == [5, 1]
    broker._broker.state = {"connected": False, "failure": None}  # the link drops
    monitor.check()
    clock.t += 6
    snap = monitor.check()
    assert snap["conditions"]["link"]["value"] == 6.0 and snap["status"] == "degraded"
    broker._broker.state = {"connected": True, "silent_seconds": 0.1}
    assert monitor.check()["status"] == "healthy"

    def refuse():
        raise OrderRejected("NOT_ENOUGH_MONEY")

    broker._broker.place = refuse
    for _ in range(2):
        with pytest.raises(OrderRejected):
            broker.place()
    snap = monitor.check()
    assert (
        snap["conditions"]["rejects"]["value"] == 2.0 and "NOT_ENOUGH_MONEY" in snap["last_error"]
    )
    clock.t += 601  # out of the window
    assert monitor.check()["conditions"]["rejects"]["value"] == 0.0
    monitor.event_started(type("E", (), {"key": (6, 1)})())  # the engine wedges on an event
    clock.t += 31
    monitor.check()
    assert exits == [75]  # the loop watchdog asks for a restart
    assert read_health(tmp_path)[0] == "down"
    assert feed is not None


def test_a_recovery_is_one_decision_when_the_conditions_last_rule_clears(tmp_path):
    clock, told = Clock(), []
    rules = (HealthRule("link", 2, "warn"), HealthRule("link", 5, "warn"))
    monitor = HealthMonitor(tmp_path, rules, clock=clock, wall=time.time)
    monitor.engine = type("E", (), {"state": {"seq": 1}, "echo": staticmethod(told.append)})()
    broker = monitor.watch_broker(Link())
    broker._broker.state = {"connected": False, "failure": None}
    monitor.check()
    clock.t += 6  # down for 6 s: both rules fire
    monitor.check()
    assert [d["rule"] for d in told if d["kind"] == "warning"] == ["link>2:warn", "link>5:warn"]
    told.clear()
    broker._broker.state = {"connected": True, "silent_seconds": 3.0}  # below 5, above 2
    monitor.check()
    (eased,) = told
    assert eased["kind"] == "health" and "recovered" not in eased
    assert eased["rules"] == ["link>5:warn"] and "still past link>2:warn" in eased["reason"]
    told.clear()
    broker._broker.state = {"connected": True, "silent_seconds": 0.1}
    monitor.check()
    monitor.check()  # nothing clears twice
    (recovery,) = told
    assert recovery["recovered"] is True and recovery["reason"] == "link recovered (0.1 s)"
    assert recovery["rules"] == ["link>2:warn"]
    logged = [json.loads(x) for x in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert [d.get("recovered") for d in logged if d["kind"] == "health"] == [None, True]


def test_read_health_judges_the_file_from_outside(tmp_path):
    assert read_health(tmp_path) == ("down", read_health(tmp_path)[1])
    assert "no session has run here" in read_health(tmp_path)[1]["reason"]
    monitor = HealthMonitor(tmp_path, DEFAULT_RULES)
    monitor.write(monitor.snapshot())
    assert read_health(tmp_path)[0] == "healthy"
    doc = json.loads((tmp_path / HEALTH_FILE).read_text())
    assert read_health(tmp_path, now=doc["updated"] + 14)[0] == "down"  # 3 intervals + 10 s
    (tmp_path / HEALTH_FILE).write_text(json.dumps({**doc, "pid": 2**22 + 12345}))
    verdict, info = read_health(tmp_path)
    assert verdict == "down" and "is gone" in info["reason"]
    (tmp_path / HEALTH_FILE).write_text("{torn")
    assert read_health(tmp_path)[0] == "down"


def _health(state):
    r = subprocess.run([str(SCRIPT), "health", "--state", str(state)], capture_output=True,
                       text=True)  # fmt: skip
    return r.returncode, json.loads(r.stdout)


def _decisions(state):
    return [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
def test_lost_connection_halts_entries_and_flattens_when_it_returns(server, tmp_path):  # noqa: F811
    script = make_script(n_live=12, seed=11)
    state = tmp_path / "state"
    driver = Driver(server, script, state)
    # heartbeats well inside the 1.5 s link threshold: a loaded machine must not make the
    # connected link look silent before the drop (the halt would fire twice)
    server.heartbeat_interval = 0.25
    first = driver.prepare()
    rules = ["--health", "link=1.5:halt", "--health", "link=3:flatten", "--health", "feed=off"]
    proc = subprocess.Popen([str(SCRIPT), *live_args(server, state, *rules)], env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    alive = lambda: proc.poll() is None  # noqa: E731
    try:
        assert driver.wait_subscribed(alive)
        i = first
        while not server.positions:  # trade until a position is open
            driver.push(i)
            assert driver.wait_handled(i, alive), proc.stderr.read()[-3000:]
            i += 1
        assert _health(state)[0] == 0
        server.refuse_connections = 10**6
        server.drop_connections()
        _wait(lambda: _health(state)[0] == 2)  # down: the flatten rule fired
        code, doc = _health(state)
        assert doc["link"]["connected"] is False and doc["holds"]["kill"] is not None
        assert doc["holds"]["pause"] is not None
        warnings = [d for d in _decisions(state) if d["kind"] == "warning"]
        assert [w["rule"] for w in warnings] == ["link>1.5:halt", "link>3:flatten"]
        assert server.positions  # nothing can reach the broker: the kill waits for the link
        subscribed = server.live_subscriptions
        server.refuse_connections = 0  # the link returns
        _wait(lambda: server.live_subscriptions > subscribed)
        # the monitor's next check sees the link back; only then the event that ends the
        # session (pushed earlier, the process can stop before any check has run since)
        _wait(lambda: any(d["kind"] == "health" and d.get("recovered")
                          for d in _decisions(state)))  # fmt: skip
        driver.push(i)  # the next event applies the pause and the kill: flatten and halt
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert server.positions == {}
    kinds = [d["kind"] for d in _decisions(state)]
    assert "paused" in kinds and "kill" in kinds
    assert any(d["kind"] == "health" and "recovered" in d["reason"] for d in _decisions(state))


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
def test_rejected_orders_halt_new_entries(server, tmp_path):  # noqa: F811
    script = make_script(n_live=12, seed=11)
    state = tmp_path / "state"
    driver = Driver(server, script, state)
    first = driver.prepare()
    server.order_errors.extend(["NOT_ENOUGH_MONEY"] * 50)
    proc = subprocess.Popen(
        [str(SCRIPT), *live_args(server, state, "--health", "rejects=0:halt")],
        env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    alive = lambda: proc.poll() is None  # noqa: E731
    try:
        assert driver.wait_subscribed(alive)
        for i in range(first, len(script.spots)):
            driver.push(i)
            assert driver.wait_handled(i, alive)
            if any(d["kind"] == "paused" for d in _decisions(state)):
                break
        else:
            pytest.fail("no rejection halted entries")
        code, doc = _health(state)
        assert code == 1 and doc["status"] == "degraded"
        assert "NOT_ENOUGH_MONEY" in doc["last_error"] and doc["guards"]["paused"] is True
        driver.finish(alive)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rejected = [d for d in _decisions(state) if d["kind"] == "rejected"]
    assert (
        rejected
        and server.positions == {}
        and not [o for o in server.order_history.values() if o.orderStatus == 2]
    )
    assert os.path.exists(state / HEALTH_FILE)
