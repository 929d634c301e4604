"""Crash safety of a live cTrader session with real processes: ``tradeforge live --broker
ctrader`` SIGKILLed at random points (30+ times: 0-250 ms after a random spot was pushed, or
during start-up and reconciliation), restarted each time, against one fake server
that keeps the account across the kills. Nothing may be lost or doubled: the fake's own record
(every entry order sent once under its client id, every closing deal booked once) and the
session's trades equal those of an uninterrupted session on the same script.

Most runs are forked from a warm zygote (`tests/ctrader/live_forkserver.py`, each child runs
the ``tradeforge`` command line); a few are cold starts of the installed console script.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.ctrader.fake_server import FakeCTrader
from tests.ctrader.live_script import SCRIPT, Driver, environment, live_args, make_script
from tests.support.forkserver import ForkServer
from tradeforge.live.runner import journal_trades
from tradeforge.live.state import StateRepository

ROOT = Path(__file__).resolve().parents[2]
FORK_KILLS = 30
COLD_KILLS = 2
N_LIVE = 16  # live minutes (3 spots each)


def _zombie_or_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def session(server, script, state: Path, rng: random.Random | None, zygote: ForkServer | None):
    """Run the script to its end, killing the engine ``FORK_KILLS`` + ``COLD_KILLS`` times
    at random spots (none when ``rng`` is None); returns the number of kills."""
    driver = Driver(server, script, state)
    log = state.parent / f"{state.name}.log"
    kills = starts = 0
    wanted = 0 if rng is None else FORK_KILLS + COLD_KILLS
    while True:
        first = driver.prepare()
        starts += 1
        argv = live_args(server, state)
        cold = zygote is None or (rng is not None and kills >= FORK_KILLS)
        if cold:
            with open(log, "a") as out:
                proc = subprocess.Popen([str(SCRIPT), *argv], env=environment(), stdout=out,
                                        stderr=subprocess.STDOUT)  # fmt: skip
            pid = proc.pid
            alive = lambda proc=proc: proc.poll() is None  # noqa: E731
        else:
            pid = int(zygote.ask("RUN " + json.dumps({"argv": argv, "log": str(log)})).split()[1])
            alive = lambda pid=pid: not _zombie_or_gone(pid)  # noqa: E731
        kill_at = None
        if kills < wanted:  # a random spot of the rest, or during start-up
            kill_at = rng.randrange(first - 1, min(len(script.spots), first + 8))
        killed = False
        if kill_at is not None and kill_at < first:  # during start-up / reconciliation
            driver.wait_subscribed(alive) if rng.random() < 0.5 else None
            time.sleep(rng.uniform(0, 0.3))
            killed = True
        elif driver.wait_subscribed(alive):
            for i in range(first, len(script.spots)):
                driver.push(i)
                if i == kill_at:
                    time.sleep(rng.uniform(0.0, 0.25))  # somewhere inside its handling
                    killed = True
                    break
                if not driver.wait_handled(i, alive):
                    break
        if killed:
            os.kill(pid, signal.SIGKILL)
            kills += 1
        else:
            driver.finish(alive)
        if cold:
            proc.wait(timeout=60)
            status = proc.returncode
            ok = -signal.SIGKILL if killed else 0
        else:
            status = int(zygote.ask(f"WAIT {pid}").split()[1])
            ok = signal.SIGKILL if killed else 0
        assert status == ok, log.read_text()[-4000:]
        if not killed:
            return kills, starts


def record(server, state: Path) -> dict:
    """What must not depend on crashes: the server's orders and deals, the session's trades
    and final state."""
    orders = sorted(
        (o.tradeData.label, o.closingOrder, o.executedVolume, o.executionPrice, o.orderStatus)
        for o in server.order_history.values()
    )
    deals = [
        (d.positionId, d.volume, d.executionPrice, d.closePositionDetail.grossProfit)
        for d in server.deals
    ]
    body, _ = StateRepository(state).load(heal=False)
    body = {k: v for k, v in body.items() if k not in ("seq", "last_key", "commands")}
    return {
        "orders": orders,
        "deals": deals,
        "balance": server.balance,
        "positions": sorted(server.positions),
        "trades": journal_trades(state),
        "state": body,
    }


@pytest.mark.slow
def test_sigkill_a_live_ctrader_session_loses_and_duplicates_nothing(certificate, tmp_path, capsys):
    script = make_script(n_live=N_LIVE, seed=11)
    with FakeCTrader(*certificate) as server:
        session(server, script, tmp_path / "reference", None, None)
        expected = record(server, tmp_path / "reference")
    assert len(expected["trades"]) >= 2 and expected["positions"] == []
    env = {**environment(), "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    zygote = ForkServer(ROOT / "tests/ctrader/live_forkserver.py", env=env)
    try:
        with FakeCTrader(*certificate) as server:
            kills, starts = session(
                server, script, tmp_path / "crash", random.Random(20240601), zygote
            )
            got = record(server, tmp_path / "crash")
    finally:
        zygote.close()
    with capsys.disabled():
        print(
            f"\ncTrader crash test: {kills} SIGKILLs over {starts} starts, "
            f"{len(expected['trades'])} trades, {len(expected['orders'])} server orders: "
            "0 lost, 0 duplicated"
        )
    assert kills >= FORK_KILLS + COLD_KILLS
    labels = [o[0] for o in got["orders"] if not o[1]]
    assert len(labels) == len(set(labels))  # no entry order sent twice
    assert got == expected
