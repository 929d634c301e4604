"""Parallel symbols: threads equal serial exactly, the automatic choice, bars read from the
store per job, cancellation of running jobs."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from tradeforge.backtest import run_backtest
from tradeforge.backtest.parallel import (
    Cancelled,
    InProcessBackend,
    Shared,
    ThreadBackend,
    check_cancelled,
)
from tradeforge.backtest.runner import MIN_PARALLEL_BARS, plan_execution
from tradeforge.data.cache import ParquetStore, StoreSlice
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.strategy import create_strategy
from tradeforge.trading.execution import ExecutionModel, Sizing
from tradeforge.trading.spec import RunSpec

SYMBOLS = ("EURUSD", "GBPUSD", "AUDUSD")
SETTINGS = dict(
    execution=ExecutionModel(slippage="random", slippage_value=0.3, seed=2, commission=3.0),
    sizing=Sizing("risk", 1.0),
    timeframe="H1",
)


@pytest.fixture(scope="module")
def frames():
    return {
        s: generate_bars(s, "H1", "2022-01-01", "2023-01-01", seed=i) for i, s in enumerate(SYMBOLS)
    }


def _same(a, b) -> None:
    for part in ("trades", "legs", "equity"):
        pd.testing.assert_frame_equal(getattr(a, part), getattr(b, part), check_exact=True)
    assert a.counters == b.counters and a.checksums == b.checksums and a.config == b.config


@pytest.mark.parametrize("portfolio", ["shared", "sub-accounts"])
def test_two_threads_give_the_serial_frames_exactly(frames, portfolio):
    strategy = create_strategy("breakout")
    serial = run_backtest(strategy, frames, workers=1, portfolio=portfolio, **SETTINGS)
    threaded = run_backtest(
        strategy, frames, backend=ThreadBackend(2), portfolio=portfolio, **SETTINGS
    )
    assert len(serial.trades) > 20
    _same(serial, threaded)
    assert serial.execution == {"backend": "serial", "workers": 1, "reason": "1 worker asked"}
    assert threaded.execution["backend"] == "threads"


def test_small_work_runs_serially_and_says_so(frames):
    res = run_backtest(create_strategy("breakout"), frames, workers=2, **SETTINGS)
    assert res.execution["backend"] == "serial"
    assert "too little work" in res.execution["reason"]


def test_plan_execution_picks_threads_only_where_they_pay():
    big = MIN_PARALLEL_BARS * 4
    assert plan_execution(2, 4, big).backend == "threads"
    assert plan_execution(8, 4, big).workers == 4  # no more threads than symbols
    assert plan_execution(2, 4, big - 1).backend == "serial"
    assert plan_execution(2, 1, big).reason == "one symbol"
    assert plan_execution(1, 4, big).backend == "serial"
    assert plan_execution(2, 4, None).backend == "threads"  # bars in the store: large
    assert plan_execution(2, 4, 10, "tcp://h:8786").backend == "dask"


def test_bars_read_from_the_store_by_each_job_equal_frames(frames, tmp_path):
    store = ParquetStore(tmp_path)
    for s, f in frames.items():
        store.write(s, "H1", f, "test")
    strategy = create_strategy("breakout")
    spec = RunSpec.from_keywords(strategy, frames, None, portfolio="sub-accounts", **SETTINGS)
    from_store = run_backtest(
        strategy, StoreSlice(str(tmp_path), "H1"), spec, backend=ThreadBackend(2)
    )
    in_memory = run_backtest(strategy, frames, spec)
    _same(in_memory, from_store)
    # the signal tables (as large as the bars) are kept only for bars the caller holds
    assert sorted(in_memory.signals) == sorted(SYMBOLS) and from_store.signals == {}


def test_a_store_slice_needs_a_spec_naming_the_symbols(tmp_path):
    from tradeforge.core.errors import ConfigError

    with pytest.raises(ConfigError, match="spec naming the symbols"):
        run_backtest(create_strategy("breakout"), StoreSlice(str(tmp_path), "H1"))


def test_ctrl_c_cancels_queued_jobs_and_stops_running_ones():
    """An interrupt while waiting: jobs not started never start, a running job stops at its
    next `check_cancelled`, and map returns only after every job has stopped."""
    started, finished = [], []
    gate = threading.Event()

    def job(_state, item):
        started.append(item)
        if item == 0:
            return item  # finishes at once: its result triggers the interrupt
        gate.wait(5)
        for _ in range(200):  # a job polling between its stages
            check_cancelled()
            time.sleep(0.01)
        finished.append(item)
        return item

    def interrupt(i, _result):
        gate.set()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ThreadBackend(2).map(job, Shared(lambda: None), list(range(6)), on_result=interrupt)
    # the second thread may take item 2 before the interrupt; 3..5 never start
    assert set(started) <= {0, 1, 2} and finished == []


def test_check_cancelled_is_quiet_outside_a_cancellation():
    check_cancelled()
    assert InProcessBackend().map(lambda s, i: i * 2, Shared(lambda: None), [1, 2]) == [2, 4]
    with pytest.raises(Cancelled):
        from tradeforge.backtest import parallel

        parallel.cancelled.set()
        try:
            check_cancelled()
        finally:
            parallel.cancelled.clear()


def test_threads_start_the_longest_symbols_first_and_keep_the_symbol_order(frames):
    """Jobs are handed to the threads longest first (a long job started last would run
    alone at the end); the result is still in symbol order, equal to the serial one."""
    uneven = {
        "AUDUSD": frames["AUDUSD"].iloc[:2000],
        "EURUSD": frames["EURUSD"].iloc[:3000],
        "GBPUSD": frames["GBPUSD"],
    }
    strategy = create_strategy("breakout")
    started: list[str] = []

    def stage(symbol, name):
        if name == "features":
            started.append(symbol)

    serial = run_backtest(strategy, uneven, portfolio="sub-accounts", **SETTINGS)
    threaded = run_backtest(
        strategy, uneven, backend=ThreadBackend(1), portfolio="sub-accounts", stage=stage,
        **SETTINGS,
    )  # fmt: skip
    assert started == ["GBPUSD", "EURUSD", "AUDUSD"]
    _same(serial, threaded)
    assert sorted(threaded.trades["symbol"].unique()) == ["AUDUSD", "EURUSD", "GBPUSD"]
