"""A scripted live cTrader session for the tests: M1 bars (history + live minutes) on the fake
server, the spot events of each live minute (open, then low/high or high/low, as the replay
feed's path), and a `Driver` that pushes them in lockstep with the engine.

Lockstep: the next spot goes out only when the engine has finished the previous one (the
health file's ``handled`` key), so the fake server fills every order at the quote of the event
that caused it — which makes an interrupted session comparable with an uninterrupted one.
After a kill the driver resumes from the state on disk: the fake's quote and clock go back to
the last spot the committed state had seen (the quote a new subscription starts with) and the
spots after it are pushed again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.conftest import make_bars
from tests.ctrader.fake_server import ACCESS_TOKEN, ACCOUNT, CLIENT_ID, CLIENT_SECRET
from tradeforge.live.state import StateRepository

SCRIPT = Path(sys.executable).with_name("tradeforge")
HISTORY = 320  # bars before the live minutes (the engine's window is 300)
NS_MIN = 60 * 1_000_000_000
SPREAD = 8  # 1/100000: 0.8 pips
STRATEGY = ["--strategy", "sma_cross", "-p", "fast=3", "-p", "slow=12", "-p", "stop_pips=6",
            "-p", "target_pips=8"]  # fmt: skip


@dataclass(frozen=True)
class Spot:
    ms: int
    bid: int
    bar: tuple[int, int, int, int, int, int]  # the forming live bar as last seen

    @property
    def key(self) -> tuple[int, int]:
        return (self.ms * 1_000_000, 1)  # the tick this spot becomes


@dataclass(frozen=True)
class Script:
    rows: np.ndarray  # (minute, open, high, low, close, volume), 1/100000
    spots: list[Spot]
    first_live: int  # minute

    @property
    def opening(self) -> Spot:
        """The quote before the first live minute (what a first subscription starts with)."""
        close = int(self.rows[HISTORY - 1, 4])
        bar = tuple(int(x) for x in self.rows[HISTORY - 1])
        return Spot(self.first_live * 60_000 - 1_000, close, bar)  # type: ignore[arg-type]


def make_script(
    n_live: int = 30, seed: int = 11, first_live: int | None = None, offset_ms: int = 0
) -> Script:
    """History ending just before the current minute (or ``first_live``), then ``n_live``
    live minutes; each minute's spots ``offset_ms`` after its 0, 20 and 40 s."""
    frame = make_bars(HISTORY + n_live, freq="1min", seed=seed)
    prices = np.rint(frame[["open", "high", "low", "close"]].to_numpy() * 100_000).astype(np.int64)
    first_live = int(time.time() // 60) if first_live is None else first_live
    minutes = np.arange(first_live - HISTORY, first_live + n_live, dtype=np.int64)
    rows = np.column_stack([minutes, prices, np.full(len(minutes), 10, np.int64)])
    spots = []
    for row in rows[HISTORY:]:
        minute, o, h, lo, c, _ = (int(x) for x in row)
        path = (o, lo, h) if c >= o else (o, h, lo)
        seen_hi = seen_lo = o
        for k, price in enumerate(path):
            seen_hi, seen_lo = max(seen_hi, price), min(seen_lo, price)
            bar = (minute, o, seen_hi, seen_lo, price, k + 1)
            spots.append(Spot(minute * 60_000 + k * 20_000 + offset_ms, price, bar))
    return Script(rows, spots, first_live)


def environment(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CTRADER_CLIENT_ID": CLIENT_ID,
        "CTRADER_CLIENT_SECRET": CLIENT_SECRET,
        "CTRADER_ACCESS_TOKEN": ACCESS_TOKEN,
        "COLUMNS": "200",
        **extra,
    }


def live_args(server, state: Path, *extra: str) -> list[str]:
    """``tradeforge live --broker ctrader`` arguments (without the program) for the fake."""
    return [
        "live", "--broker", "ctrader", "--host", server.endpoint, "--ca-file",
        str(server.cert_file), "--account-id", str(ACCOUNT), "--state", str(state),
        *STRATEGY, "--symbol", "EURUSD", "--timeframe", "M1", "--sizing", "risk:1",
        "--health", "skew=off", "--health-interval", "0.05", *extra,
    ]  # fmt: skip


def handled(state: Path) -> tuple[int, int] | None:
    try:
        key = json.loads((state / "health.json").read_text()).get("handled")
    except (OSError, ValueError):
        return None
    return tuple(key) if key else None


def committed_key(state: Path) -> tuple[int, int] | None:
    repo = StateRepository(state)
    if not repo.exists():
        return None
    body, _ = repo.load(heal=False)
    key = body.get("last_key")
    return tuple(key) if key else None


class Driver:
    """Pushes the spots of ``scripts`` (by the fake's symbol id; one script: symbol 1) to
    ``server`` in time order, for the session in ``state``; ``spots``: ``(symbol id, spot)``."""

    def __init__(self, server, scripts: Script | dict[int, Script], state: Path) -> None:
        self.scripts = scripts if isinstance(scripts, dict) else {1: scripts}
        self.server, self.state = server, state
        for sid, script in self.scripts.items():
            server.set_bars(sid, 1, script.rows)
        self.spots = sorted(
            ((sid, spot) for sid, s in self.scripts.items() for spot in s.spots),
            key=lambda x: x[1].ms,
        )
        server.heartbeat_interval = 1.0

    def _quote(self, sid: int, spot: Spot) -> None:
        self.server.clock_ms = max(self.server.clock_ms or 0, spot.ms)
        self.server.set_quote(sid, spot.bid, spot.bid + SPREAD)

    def prepare(self) -> int:
        """Before a (re)start, with no process running: the fake's quotes and clock set to
        the last spots the committed state has seen; the index of the first spot to push."""
        last = committed_key(self.state)
        first = 0 if last is None else next(
            (i for i, (_, s) in enumerate(self.spots) if s.key > last), len(self.spots)
        )  # fmt: skip
        self.server.clock_ms = None
        for sid, script in self.scripts.items():
            seen = [s for k, s in self.spots[:first] if k == sid]
            self._quote(sid, seen[-1] if seen else script.opening)
        self.subscriptions = self.server.live_subscriptions
        return first

    def wait_subscribed(self, alive, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.server.live_subscriptions < self.subscriptions + len(self.scripts):
            if not alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def push(self, i: int) -> None:
        sid, spot = self.spots[i]
        self.server.clock_ms = spot.ms
        self.server.push_spot(sid, spot.bid, spot.bid + SPREAD, bar=spot.bar, period=1)

    def wait_handled(self, i: int, alive, timeout: float = 60.0) -> bool:
        """Until the engine has finished spot ``i`` (False: the process died first)."""
        key = self.spots[i][1].key
        deadline = time.monotonic() + timeout
        while True:
            done = handled(self.state)
            if done is not None and done >= key:
                return True
            if not alive():
                return False
            assert time.monotonic() < deadline, f"spot {i} never handled"
            time.sleep(0.005)

    def finish(self, alive) -> None:
        """Kill switch, then one more quote: the engine flattens, halts and exits."""
        (self.state / "KILL").write_text("end of script\n")
        sid, last = self.spots[-1]
        self.server.clock_ms = last.ms + 10_000
        self.server.push_spot(sid, last.bid, last.bid + SPREAD)


def run_scripted(
    server,
    script: Script | dict[int, Script],
    state: Path,
    args: list[str],
    pauses: dict[int, float] | None = None,
) -> str:
    """Run ``tradeforge *args`` through the console script while the driver pushes every spot
    of ``script`` (or of several symbols' scripts, see `Driver`), each after the session
    handled the previous one (and ``pauses[i]`` seconds after spot ``i``: a quiet feed);
    returns its stdout after checking it ended with exit code 0 and no traceback."""
    driver = Driver(server, script, state)
    first = driver.prepare()
    proc = subprocess.Popen(
        [str(SCRIPT), *args],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    alive = lambda: proc.poll() is None  # noqa: E731
    try:
        assert driver.wait_subscribed(alive), proc.communicate()[1][-3000:]
        for i in range(first, len(driver.spots)):
            driver.push(i)
            assert driver.wait_handled(i, alive), proc.communicate()[1][-3000:]
            time.sleep((pauses or {}).get(i, 0.0))
        driver.finish(alive)
        out, err = proc.communicate(timeout=180)  # a loaded machine: the end drains slowly
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    return out
