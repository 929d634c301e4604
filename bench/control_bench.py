"""Runtime-control latency: how long a ``tradeforge ctl`` command takes from the request to
its acknowledgement (checked and journaled, fsync'd) and from the acknowledgement to its
application at the next feed event boundary.

A real ``tradeforge dry-run`` subprocess replays M5 bars; the bench speaks the control
protocol (`tradeforge.live.control.client`) over the session's Unix socket and alternates
``pause`` / ``resume``, waiting for each to apply. Two feeds: full speed (``--pace 0``: an
event boundary follows as soon as the current event is committed) and ``--pace 0.05`` (the
replay sleeps 50 ms after every bar, so a command waits for the next bar's first tick, as it
would wait for the next quote live). Results go to ``bench/results/control.json``.

    python bench/control_bench.py [--commands 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results")
sys.path.insert(0, str(ROOT))  # the session helpers live with the tests

from tests.live.control_support import dry_run_args, start, state_of, wait_for  # noqa: E402

from tradeforge.live.control.client import ControlClient  # noqa: E402


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "median_ms": round(statistics.median(values) * 1e3, 3),
        "p95_ms": round(values[int(0.95 * (len(values) - 1))] * 1e3, 3),
        "max_ms": round(values[-1] * 1e3, 3),
    }


def measure(pace: float, commands: int, bars: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "s"
        session = start(dry_run_args(Path(tmp), state, pace=pace, n_bars=bars))
        try:
            wait_for(lambda: (s := state_of(state)) is not None and s.last_key is not None, 300)
            ack_times, apply_times = [], []
            with ControlClient(state) as client:
                for k in range(commands):
                    t0 = time.perf_counter()
                    ack = client.request("pause" if k % 2 == 0 else "resume")
                    t1 = time.perf_counter()
                    done = client.wait(ack["id"], 60)
                    t2 = time.perf_counter()
                    assert done["outcome"] == "applied", done
                    ack_times.append(t1 - t0)
                    apply_times.append(t2 - t1)
        finally:
            session.kill()
            session.wait()
    return {
        "pace_s_per_bar": pace,
        "commands": commands,
        "request_to_ack": _ms(ack_times),
        "ack_to_applied": _ms(apply_times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=100)
    args = parser.parse_args()
    # full speed needs enough bars to outlast the commands; paced, a few hundred do
    runs = [measure(0.0, args.commands, 60_000), measure(0.05, args.commands, 2_000)]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "control.json").write_text(json.dumps(runs, indent=2) + "\n")
    for r in runs:
        print(
            f"pace {r['pace_s_per_bar']:g}s/bar, {r['commands']} commands: request→ack median "
            f"{r['request_to_ack']['median_ms']} ms (p95 {r['request_to_ack']['p95_ms']}), "
            f"ack→applied median {r['ack_to_applied']['median_ms']} ms "
            f"(p95 {r['ack_to_applied']['p95_ms']})"
        )


if __name__ == "__main__":
    main()
