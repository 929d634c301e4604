"""The model and queue scenario, run in a process of its own per database/queue backend
(Django settings are per process): ``python tests/web/scenario.py`` with the backend in the
environment (see test_queue.py). Workers are real ``tradeforge web worker`` processes."""

from __future__ import annotations

import csv
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.web.support import SPEC, TRADEFORGE, wait_for  # noqa: E402
from tradeforge.web import setup  # noqa: E402

setup()

from django.core.management import call_command  # noqa: E402

from tradeforge.core.errors import ConfigError  # noqa: E402
from tradeforge.web import jobs  # noqa: E402
from tradeforge.web.models import Backtest, BreakdownRow, Report, Strategy, Trade  # noqa: E402


def worker() -> subprocess.Popen:
    return subprocess.Popen([str(TRADEFORGE), "web", "worker", "--concurrency", "1"])


def status(pk: int) -> Backtest:
    return Backtest.objects.get(pk=pk)


def main() -> None:
    call_command("migrate", interactive=False, verbosity=0)
    names = {s.name for s in jobs.sync_strategies()}
    assert "sma_cross" in names and Strategy.objects.count() == len(names)

    # bad specifications are refused before anything is queued
    for bad, words in (
        ({**SPEC, "strategy": {"name": "nope", "params": {}}}, "nope"),
        ({**SPEC, "strategy": {"name": "sma_cross", "params": {"fast": "x"}}}, "fast"),
        ({**SPEC, "symbols": []}, "symbol"),
        ({**SPEC, "start": "2024-03-01", "end": "2024-01-01"}, "before"),
    ):
        try:
            jobs.submit(bad)
        except ConfigError as exc:
            assert words in str(exc), (words, str(exc))
        else:
            raise AssertionError(f"accepted {bad}")
    assert Backtest.objects.count() == 0

    # persisted in the queue before any worker exists (as after a restart of the web process)
    good = jobs.submit(SPEC)
    missing = jobs.submit({**SPEC, "symbols": ["GBPUSD"]})
    doomed = jobs.submit(SPEC)
    assert jobs.cancel(doomed) == "cancelled"
    assert status(doomed.pk).status == Backtest.CANCELLED

    first = worker()
    running = wait_for(
        lambda: status(good.pk).status == Backtest.RUNNING and status(good.pk),
        120,
        "the first job to start",
        every=0.2,
    )
    assert running.worker.endswith(f":{first.pid}")
    # the worker dies mid-job: SIGKILL, no chance to clean up
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert status(good.pk).status == Backtest.RUNNING  # still marked as its dead worker's

    second = worker()
    try:
        max_running = 0
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            states = [status(good.pk).status, status(missing.pk).status]
            max_running = max(max_running, states.count(Backtest.RUNNING))
            if all(s in Backtest.FINISHED for s in states):
                break
            time.sleep(0.2)
        assert max_running <= 1, "concurrency 1 ran two jobs at once"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)

    done = status(good.pk)
    assert done.status == Backtest.DONE, (done.status, done.error)
    assert done.attempts == 2 and done.progress == 1.0 and done.worker.endswith(f":{second.pid}")
    assert done.started and done.finished and done.finished >= done.started
    failed = status(missing.pk)
    assert failed.status == Backtest.FAILED and "GBPUSD" in failed.error, failed.error

    # the imported rows agree with the run folder
    run = Path(done.run_dir)
    with open(run / "trades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    doc = json.loads((run / "report.json").read_text())
    report = Report.objects.get(backtest=done)
    trades = Trade.objects.filter(backtest=done)
    assert trades.count() == len(rows) == report.trades == doc["summary"]["trades"]["trades"] > 0
    pnl = sum(float(r["pnl"]) for r in rows)
    assert math.isclose(sum(t.pnl for t in trades), pnl, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(report.net_profit, doc["summary"]["returns"]["net_profit"], abs_tol=1e-6)
    # queryable: breakdown by side sums to the trade count; JSON lookups work on the backend
    sides = BreakdownRow.objects.filter(report=report, name="side")
    assert sum(r.trades for r in sides) == report.trades
    longs = trades.filter(side="long").count()
    assert sides.get(group="long").trades == longs
    assert Report.objects.filter(summary__trades__trades=report.trades).count() == 1
    try:
        jobs.cancel(done)
    except ConfigError as exc:
        assert "already finished" in str(exc)
    else:
        raise AssertionError("cancelled a finished job")
    print("scenario ok")


if __name__ == "__main__":
    main()
