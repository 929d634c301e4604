"""The same backtest, optimisation and walk-forward on a Dask cluster (a `LocalCluster` on
127.0.0.1 with two worker processes) as serially; the workers read the bars from the store
path, nothing large goes through the scheduler."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tradeforge.backtest import run_backtest, write_result
from tradeforge.backtest.stream import run_streamed
from tradeforge.data.cache import ParquetStore, StoreSlice
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.research.backends import DaskBackend
from tradeforge.research.optimize import optimize, prepare
from tradeforge.research.space import ParameterSpace
from tradeforge.research.walkforward import WalkForwardConfig, walk_forward
from tradeforge.strategy import create_strategy, get_strategy
from tradeforge.trading.spec import RunSpec

distributed = pytest.importorskip("distributed")
SYMBOLS = ("EURUSD", "GBPUSD")
TRADEFORGE = str(Path(sys.executable).with_name("tradeforge"))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("store")
    store = ParquetStore(home)
    for i, s in enumerate(SYMBOLS):
        store.write(s, "H1", generate_bars(s, "H1", "2022-01-01", "2023-01-01", seed=i), "test")
    return home


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=":0",
        memory_limit="1GiB",
    ) as cluster:
        yield cluster


def _frames(home):
    store = ParquetStore(home)
    return {s: store.load(s, "H1") for s in SYMBOLS}


def test_backtest_on_the_cluster_equals_serial(home, cluster):
    strategy = create_strategy("breakout")
    frames = _frames(home)
    for portfolio in ("shared",):  # sub-accounts: the same jobs (threads test)
        spec = RunSpec.from_keywords(strategy, frames, None, timeframe="H1", portfolio=portfolio)
        serial = run_backtest(strategy, frames, spec)
        remote = run_backtest(
            strategy, StoreSlice(str(home), "H1"), spec, scheduler=cluster.scheduler_address
        )
        assert remote.execution["backend"] == "dask"
        assert len(serial.trades) > 10
        for part in ("trades", "legs", "equity"):
            pd.testing.assert_frame_equal(getattr(serial, part), getattr(remote, part))
        assert serial.counters == remote.counters and serial.checksums == remote.checksums


def test_workers_read_the_bars_from_a_url_and_stream_a_portfolio(home, cluster, tmp_path):
    """A ``file://`` URL (fsspec) as the store the workers read, for the in-memory run and
    for the streamed portfolio (its inputs spilled by the workers into the run folder)."""
    strategy = create_strategy("breakout")
    frames = _frames(home)
    spec = RunSpec.from_keywords(strategy, frames, None, timeframe="H1")
    serial = run_backtest(strategy, frames, spec)
    url = StoreSlice(Path(home).as_uri(), "H1")
    assert url.home.startswith("file:///")
    remote = run_backtest(strategy, url, spec, scheduler=cluster.scheduler_address)
    for part in ("trades", "legs", "equity"):
        pd.testing.assert_frame_equal(getattr(serial, part), getattr(remote, part))
    write_result(serial, tmp_path / "a")
    run_streamed(strategy, url, spec, tmp_path / "b", scheduler=cluster.scheduler_address)
    for name in ("trades.csv", "legs.csv", "equity.csv", "run.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_optimise_and_walk_forward_on_the_cluster_equal_serial(home, cluster):
    sma = get_strategy("sma_cross")
    space = ParameterSpace.from_specs(sma, ["fast=5,10", "slow=30,40"])
    frames = _frames(home)
    spec = RunSpec.from_keywords(None, frames, None, timeframe="H1")
    source = StoreSlice(str(home), "H1")
    _, shared = prepare(sma, source, space, spec=spec)
    assert len(pickle.dumps(shared)) < 20_000  # a store reference, not bars or features
    serial = optimize(sma, frames, space, spec=spec)
    wf_config = WalkForwardConfig.build("120D", "60D")
    wf_serial = walk_forward(sma, frames, space, wf_config, spec=spec)
    with (
        distributed.Client(cluster, set_as_default=False) as client,
        DaskBackend(client=client) as backend,
    ):
        assert backend.workers == 2
        remote = optimize(sma, source, space, spec=spec, backend=backend)
        wf_remote = walk_forward(sma, source, space, wf_config, spec=spec, backend=backend)
    pd.testing.assert_frame_equal(serial.trials, remote.trials)
    pd.testing.assert_frame_equal(wf_serial.folds, wf_remote.folds)


def test_the_backtest_command_on_the_cluster_writes_the_serial_folder(home, cluster, tmp_path):
    """Through the installed console script: ``--scheduler`` writes the serial run's files."""
    strategy = create_strategy("breakout")
    frames = _frames(home)
    spec = RunSpec.from_keywords(strategy, frames, None, timeframe="H1")
    write_result(run_backtest(strategy, frames, spec), tmp_path / "a")
    remote = subprocess.run(
        [TRADEFORGE, "backtest", "--home", str(home), "--strategy", "breakout", "-t", "H1",
         "-s", "EURUSD", "-s", "GBPUSD", "--out", str(tmp_path / "b"),
         "--scheduler", cluster.scheduler_address],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert remote.returncode == 0, remote.stderr
    assert "executed: dask" in " ".join(remote.stdout.split())
    for name in ("trades.csv", "legs.csv", "equity.csv", "run.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
