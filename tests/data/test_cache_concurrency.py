"""Concurrent writers of the same cache partitions: real processes, one lock per partition.

Four spawned processes merge overlapping H1 ranges (each spanning the 2023/2024 partition
boundary) into one store, several rounds each, released together by a barrier, while a fifth
process keeps loading the store without a lock (readers must never see a torn file). Every bar
carries its writer and round in ``volume``, so the final partitions can be checked bar by bar:
nothing lost (the index is the union of everything written) and newer-wins (each bar holds
some writer's *last* round covering it, since a writer's later round overrides its earlier one).
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pandas as pd

from tests.conftest import make_bars
from tradeforge.data.cache import ParquetStore

WRITERS = 4
ROUNDS = 5
BARS = 300
START = pd.Timestamp("2023-12-25 00:00", tz="UTC")


def _frame(writer: int, round_: int) -> pd.DataFrame:
    """Writer ``w``'s bars of round ``r``: overlapping windows, volume tags ``(w, r)``."""
    offset = pd.Timedelta(hours=37 * writer + 23 * round_)
    frame = make_bars(BARS, start=str(START + offset), freq="1h", seed=100 * writer + round_)
    return frame.assign(volume=float(1000 * writer + round_))


def _write_rounds(home: str, writer: int, barrier) -> None:
    store = ParquetStore(home)
    barrier.wait(timeout=120)
    for round_ in range(ROUNDS):
        store.write("EURUSD", "H1", _frame(writer, round_), source=f"w{writer}r{round_}")


def _read_until(home: str, barrier, stop, loads) -> None:
    """Load the store over and over while the writers run; any error fails the process."""
    store = ParquetStore(home)
    barrier.wait(timeout=120)
    while not stop.is_set():
        if store.has("EURUSD", "H1"):
            store.load("EURUSD", "H1")
            store.partitions("EURUSD")
            loads.value += 1


def test_concurrent_writers_lose_nothing_and_newer_wins(home):
    ctx = mp.get_context("spawn")
    barrier, stop, loads = ctx.Barrier(WRITERS + 1), ctx.Event(), ctx.Value("i", 0)
    reader = ctx.Process(target=_read_until, args=(str(home), barrier, stop, loads))
    procs = [
        ctx.Process(target=_write_rounds, args=(str(home), w, barrier)) for w in range(WRITERS)
    ]
    for p in [reader, *procs]:
        p.start()
    for p in procs:
        p.join(timeout=300)
    stop.set()
    reader.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    assert reader.exitcode == 0 and loads.value > 0

    store = ParquetStore(home)
    loaded = store.load("EURUSD", "H1")  # every partition readable
    union = pd.DatetimeIndex([])
    last_round: dict[tuple[pd.Timestamp, int], int] = {}
    for w in range(WRITERS):
        for r in range(ROUNDS):
            index = _frame(w, r).index
            union = union.union(index)
            last_round.update({(t, w): r for t in index})
    assert loaded.index.equals(union.rename("time"))
    tags = loaded["volume"].astype(int)
    bad = [t for t, tag in tags.items() if last_round.get((t, tag // 1000)) != tag % 1000]
    assert bad == []
    assert sorted(p.year for p in store.partitions("EURUSD")) == [2023, 2024]
    bars_dir = Path(home) / "bars" / "EURUSD" / "H1"
    assert not list(bars_dir.glob("*.tmp")) and not list(bars_dir.glob(".*.tmp"))
