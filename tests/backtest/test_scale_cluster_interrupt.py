"""Ctrl-C while tasks run on a LocalCluster: the tasks already running stop at their next
check (the map's stop event) before the map re-raises, so the workers are idle at once; the
command exits 130 and leaves the run folder untouched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tradeforge.backtest.parallel import DaskBackend, Shared, check_cancelled
from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.synthetic import generate_bars

distributed = pytest.importorskip("distributed")
TRADEFORGE = str(Path(sys.executable).with_name("tradeforge"))
SYMBOLS = ("EURUSD", "GBPUSD", "AUDUSD", "NZDUSD")


def _executing(client) -> int:
    counts = client.run(lambda dask_worker: dask_worker.state.executing_count)
    return sum(counts.values())


def _cluster():
    return distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, protocol="tcp", host="127.0.0.1",
        dashboard_address=":0",
    )  # fmt: skip


def test_an_interrupted_map_stops_the_tasks_already_running():
    def job(_state, item):  # a closure: shipped to the workers by value
        if item == 0:
            return 0
        end = time.monotonic() + 90  # a task that would run 90 s unless told to stop
        while time.monotonic() < end:
            check_cancelled()
            time.sleep(0.05)
        return item

    def interrupt(_index, _result):
        raise KeyboardInterrupt

    with _cluster() as cluster, distributed.Client(cluster) as client:
        backend = DaskBackend(cluster.scheduler_address)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            backend.map(job, Shared(int), [0, 1, 2], on_result=interrupt)
        assert time.monotonic() - started < 60
        assert _executing(client) == 0
        backend.close()


def test_sigint_stops_the_running_tasks_on_the_cluster(tmp_path):
    store = ParquetStore(tmp_path / "home")
    for i, s in enumerate(SYMBOLS):  # a symbol's features take seconds: tasks are long
        store.write(s, "M5", generate_bars(s, "M5", "2022-01-01", "2024-01-01", seed=i), "test")
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("previous run\n")
    with (
        _cluster() as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        proc = subprocess.Popen(
            [TRADEFORGE, "backtest", "--home", str(tmp_path / "home"), "--strategy",
             "structure", "-t", "M5", *(a for s in SYMBOLS for a in ("-s", s)),
             "--position-mode", "tag", "--out", str(out),
             "--scheduler", cluster.scheduler_address],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while _executing(client) < 2:  # both workers are running a symbol
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, (stdout, stderr)
        assert "Traceback" not in stderr
        assert _executing(client) == 0  # stopped before the command exited
        assert not client.processing() or not any(client.processing().values())
    assert [p.name for p in out.iterdir()] == ["run.json"]  # the old folder, as it was
    assert (out / "run.json").read_text() == "previous run\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run")] == []
