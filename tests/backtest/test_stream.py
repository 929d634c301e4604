"""The streamed shared portfolio writes the in-memory run's folder byte for byte, whatever
its time window — windows ending inside open trades and pending orders included."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.backtest import run_backtest, stream_accounts, write_result
from tradeforge.backtest.parallel import InProcessBackend, ThreadBackend
from tradeforge.backtest.stream import run_streamed
from tradeforge.core.errors import ConfigError
from tradeforge.data.cache import ParquetStore, StoreSlice
from tradeforge.data.sources.synthetic import generate_bars
from tradeforge.strategy import create_strategy
from tradeforge.trading.execution import ExecutionModel, Sizing
from tradeforge.trading.spec import RunSpec

TRADEFORGE = str(Path(sys.executable).with_name("tradeforge"))
SYMBOLS = ("EURUSD", "GBPUSD", "AUDUSD")
FILES = ("trades.csv", "legs.csv", "equity.csv", "run.json")


@pytest.fixture(scope="module")
def frames():
    # AUDUSD starts a month late: the symbols' bar times differ, padding is exercised
    ranges = {"EURUSD": "2022-01-01", "GBPUSD": "2022-01-01", "AUDUSD": "2022-02-01"}
    return {
        s: generate_bars(s, "H1", ranges[s], "2022-07-01", seed=i) for i, s in enumerate(SYMBOLS)
    }


@pytest.fixture(scope="module")
def strategy():
    return create_strategy("breakout")


@pytest.fixture(scope="module")
def spec(strategy, frames):
    return RunSpec.from_keywords(
        strategy,
        frames,
        None,
        execution=ExecutionModel(
            slippage="random",
            slippage_value=0.3,
            seed=2,
            commission=3.0,
            swap_long=-5.0,
            swap_short=2.0,
        ),  # fmt: skip
        sizing=Sizing("risk", 1.0),
        timeframe="H1",
        position_mode="tag",
    )


@pytest.fixture(scope="module")
def reference(strategy, frames, spec, tmp_path_factory):
    result = run_backtest(strategy, frames, spec)
    out = tmp_path_factory.mktemp("reference")
    write_result(result, out)
    return result, {name: (out / name).read_bytes() for name in FILES}


def _assert_same_folder(folder, expected) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)  # the scratch is gone
    for name in FILES:
        assert (folder / name).read_bytes() == expected[name], name


def _boundaries(frames, hours: int) -> pd.DatetimeIndex:
    first = min(f.index[0] for f in frames.values())
    last = max(f.index[-1] for f in frames.values())
    return pd.date_range(first, last, freq=pd.Timedelta(hours=hours))[1:]


def test_window_edges_fall_inside_open_trades_and_pending_orders(
    strategy, frames, spec, reference, tmp_path
):
    result, expected = reference
    trades = result.trades
    edges = _boundaries(frames, 5)
    inside_trade = [((trades.entry_time < e) & (trades.exit_time >= e)).any() for e in edges]
    pending = [((trades.signal_time < e) & (trades.entry_time >= e)).any() for e in edges]
    assert len(trades) > 100 and sum(inside_trade) > 50 and sum(pending) > 20
    run = run_streamed(strategy, frames, spec, tmp_path, chunk=pd.Timedelta(hours=5))
    _assert_same_folder(tmp_path, expected)
    assert run.counters == result.counters and run.checksums == result.checksums
    assert run.summary["trades"] == len(trades)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(hours=st.integers(min_value=1, max_value=24 * 200))
def test_any_window_gives_the_same_bytes(strategy, frames, spec, reference, tmp_path, hours):
    out = tmp_path / f"w{hours}"
    run_streamed(strategy, frames, spec, out, chunk=pd.Timedelta(hours=hours))
    _assert_same_folder(out, reference[1])


def test_threads_and_store_reads_give_the_same_bytes(strategy, frames, spec, reference, tmp_path):
    store = ParquetStore(tmp_path / "home")
    for s, f in frames.items():
        store.write(s, "H1", f, "synthetic")
    out = tmp_path / "run"
    run = run_streamed(
        strategy, StoreSlice(str(tmp_path / "home"), "H1"), spec, out, backend=ThreadBackend(2)
    )
    assert run.execution["backend"] == "threads"
    _assert_same_folder(out, reference[1])


def test_refuses_what_it_cannot_stream(strategy, frames, spec, tmp_path):
    one = {"EURUSD": frames["EURUSD"]}
    with pytest.raises(ConfigError, match="several symbols"):
        run_streamed(strategy, one, replace(spec, symbols=("EURUSD",)), tmp_path)
    with pytest.raises(ConfigError, match="must be positive"):
        run_streamed(strategy, frames, spec, tmp_path, chunk=pd.Timedelta(0))


@pytest.fixture(scope="module")
def accounts(spec):
    return replace(spec, portfolio="sub-accounts")


@pytest.fixture(scope="module")
def accounts_reference(strategy, frames, accounts, tmp_path_factory):
    result = run_backtest(strategy, frames, accounts)
    out = tmp_path_factory.mktemp("accounts")
    write_result(result, out)
    return result, {name: (out / name).read_bytes() for name in FILES}


@pytest.mark.parametrize("hours", [1, 5, 24 * 9, 24 * 400])
def test_sub_accounts_stream_into_the_in_memory_folder(
    strategy, frames, accounts, accounts_reference, tmp_path, monkeypatch, hours
):
    """Sub-accounts stream too (each symbol's run spilled, merged per window): the same
    bytes for windows shorter than a bar, inside trades, and longer than the run. AUDUSD
    starts a month late, so its curve is held flat before its first bar and carried between
    its bars (the others cover every bar time of the run and are summed as they are)."""
    monkeypatch.setattr(stream_accounts, "STEP_ROWS", 0)  # every window a step of its own
    result, expected = accounts_reference
    assert len(result.trades) > 100
    out = tmp_path / "run"
    run = run_streamed(strategy, frames, accounts, out, chunk=pd.Timedelta(hours=hours))
    _assert_same_folder(out, expected)
    assert run.counters == result.counters and run.checksums == result.checksums
    assert run.initial_capital == result.initial_capital == 3 * accounts.initial_capital


def test_sub_accounts_missing_different_bars(strategy, frames, accounts, tmp_path):
    """No symbol has every bar time of the run (each misses other bars): a step's bar times
    are the union of theirs, every curve held over the bars it lacks."""
    gaps = {s: f.drop(f.index[k::7]) for k, (s, f) in enumerate(frames.items())}
    times = gaps["EURUSD"].index.union(gaps["GBPUSD"].index).union(gaps["AUDUSD"].index)
    assert all(len(f) < len(times) for f in gaps.values())
    write_result(run_backtest(strategy, gaps, accounts), tmp_path / "memory")
    expected = {name: (tmp_path / "memory" / name).read_bytes() for name in FILES}
    run_streamed(strategy, gaps, accounts, tmp_path / "run", chunk=pd.Timedelta(days=3))
    _assert_same_folder(tmp_path / "run", expected)


def test_small_windows_merge_in_steps_of_several(
    strategy, frames, accounts, accounts_reference, tmp_path, monkeypatch
):
    """Windows holding fewer than `STEP_ROWS` bar rows together are merged a few at a time
    (a step's cost is mostly fixed): steps of uneven length ending anywhere, the same bytes."""
    monkeypatch.setattr(stream_accounts, "STEP_ROWS", 500)
    steps = []
    equity = stream_accounts._Merge._equity
    monkeypatch.setattr(
        stream_accounts._Merge, "_equity", lambda merge, w: (steps.append(w), equity(merge, w))
    )
    out = tmp_path / "run"
    run_streamed(strategy, frames, accounts, out, chunk=pd.Timedelta(hours=1))
    _assert_same_folder(out, accounts_reference[1])
    bars = sum(len(f) for f in frames.values())
    assert bars // 500 - 1 <= len(steps) <= bars // 500 + 1  # not the ~4,300 hourly windows


def test_sub_accounts_streamed_from_the_store_on_threads(
    strategy, frames, accounts, accounts_reference, tmp_path
):
    store = ParquetStore(tmp_path / "home")
    for s, f in frames.items():
        store.write(s, "H1", f, "synthetic")
    out = tmp_path / "run"
    run = run_streamed(
        strategy, StoreSlice(str(tmp_path / "home"), "H1"), accounts, out,
        backend=ThreadBackend(2), chunk=pd.Timedelta(days=7),
    )  # fmt: skip
    assert run.execution["backend"] == "threads"
    _assert_same_folder(out, accounts_reference[1])


def test_the_command_streams_into_the_in_memory_folder(frames, tmp_path):
    """``tradeforge backtest --stream DAYS`` (the installed console script, here reading the
    bars from a ``file://`` store URL) writes the files of the same command without either,
    for a shared portfolio and for sub-accounts, and refuses one symbol and an unknown URL
    scheme with one line."""
    home = tmp_path / "home"
    store = ParquetStore(home)
    for s, f in frames.items():
        store.write(s, "H1", f, "synthetic")
    command = [
        TRADEFORGE, "backtest", "--home", str(home), "--strategy", "breakout", "-t", "H1",
        "--position-mode", "tag", "--sizing", "risk:1", "--commission", "3",
    ]  # fmt: skip
    base = [*command, *(a for s in SYMBOLS for a in ("-s", s))]
    url = ["--store-url", home.as_uri()]
    for portfolio in ("shared", "sub-accounts"):
        runs = {}
        for name, extra in (("memory", []), ("stream", ["--stream", "9", *url])):
            out = tmp_path / f"{portfolio}-{name}"
            done = subprocess.run(
                [*base, "--portfolio", portfolio, *extra, "--out", str(out)],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            runs[name] = out
        for name in ("trades.csv", "legs.csv", "equity.csv"):
            assert (runs["stream"] / name).read_bytes() == (runs["memory"] / name).read_bytes()
        assert len((runs["stream"] / "trades.csv").read_text().splitlines()) > 100
        assert (runs["stream"] / "report.json").exists()
    refused = subprocess.run(
        [*command, "-s", "EURUSD", "--stream", "9", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert refused.returncode == 2 and "--stream runs several symbols" in refused.stderr
    assert "Traceback" not in refused.stderr
    unknown = subprocess.run(
        [*base, "--store-url", "nosuch://bars", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert unknown.returncode != 0 and "cannot open the bar store nosuch://bars" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_bars_from_a_memory_url(strategy, frames, spec, reference, tmp_path):
    """An fsspec ``memory://`` store (read-only here) feeds the threads' jobs."""
    fsspec = pytest.importorskip("fsspec")
    store = ParquetStore(tmp_path / "home")
    for s, f in frames.items():
        store.write(s, "H1", f, "synthetic")
    memory = fsspec.filesystem("memory")
    memory.put(str(tmp_path / "home" / "bars"), "/stream-test/bars", recursive=True)
    try:
        url = StoreSlice("memory://stream-test", "H1")
        out = tmp_path / "run"
        run_streamed(strategy, url, spec, out, backend=ThreadBackend(2))
        _assert_same_folder(out, reference[1])
        with pytest.raises(ConfigError, match="needs a local path"):
            ParquetStore("memory://stream-test").write("EURUSD", "H1", frames["EURUSD"], "x")
    finally:
        memory.rm("/stream-test", recursive=True)


class _OtherRunMeanwhile(InProcessBackend):
    """Runs the jobs, then — before handing their spilled records back — a whole second
    streamed run into the same folder: what a second process (two benches on one home) or
    a second thread does while the first is still spilling."""

    def __init__(self, other) -> None:
        self.other = other

    def map(self, fn, shared, items, progress=None, on_result=None):
        out = super().map(fn, shared, items, progress, on_result)
        self.other()
        return out


def test_a_second_run_into_the_same_folder_leaves_the_first_runs_scratch_alone(
    strategy, frames, spec, reference, tmp_path
):
    """Each run spills into a scratch folder of its own: a run that ends (and cleans up)
    while another one into the same folder is between its jobs and its stacking does not
    delete the other's spilled inputs (that was a FileNotFoundError on a ``.spill`` file)."""
    out = tmp_path / "run"

    def other() -> None:
        run_streamed(strategy, frames, spec, out)

    run_streamed(strategy, frames, spec, out, backend=_OtherRunMeanwhile(other))
    _assert_same_folder(out, reference[1])


class _Died(Exception):
    """The worker of a re-executed job dying mid-write."""


class _JobRunAgain(InProcessBackend):
    """Runs the jobs, then runs the first one again as Dask re-executes a task (its result
    lost with a worker) — and that attempt's worker dies halfway through its first spill
    file: the first attempt's files must stay whole for the merge."""

    def __init__(self, monkeypatch, out: Path) -> None:
        self.monkeypatch, self.out = monkeypatch, out

    def map(self, fn, shared, items, progress=None, on_result=None):
        results = super().map(fn, shared, items, progress, on_result)
        write_array = np.lib.format.write_array

        def torn(f, array, **kwargs):
            whole = io.BytesIO()
            write_array(whole, array, **kwargs)
            f.write(whole.getvalue()[: len(whole.getvalue()) // 2])
            raise _Died

        with self.monkeypatch.context() as patch:
            patch.setattr(np.lib.format, "write_array", torn)
            with pytest.raises(_Died):
                super().map(fn, shared, items[:1])
        (scratch,) = self.out.glob(".spill-*")
        assert not list(scratch.glob(".*.tmp"))  # the dead attempt's temporary file is gone
        return results


@pytest.mark.parametrize("portfolio", ["shared", "sub-accounts"])
def test_a_job_run_again_dying_mid_write_leaves_the_spilled_files_whole(
    strategy, frames, spec, reference, accounts_reference, tmp_path, monkeypatch, portfolio
):
    """Spill files are written to a temporary name and renamed over the old one: a second
    attempt of a job cannot leave its first attempt's file torn (it used to rewrite it in
    place, and the merge then read half a file)."""
    expected = (reference if portfolio == "shared" else accounts_reference)[1]
    out = tmp_path / "run"
    backend = _JobRunAgain(monkeypatch, out)
    run_streamed(strategy, frames, replace(spec, portfolio=portfolio), out, backend=backend)
    _assert_same_folder(out, expected)
