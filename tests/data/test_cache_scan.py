"""`ParquetStore.load` scans only what it is asked for: the year files of the range, in them
the month row groups the range overlaps, and the requested columns. Proved by damaging what a
load must not read (a load that touched it would fail) and by comparing every load with the
plain slice of the frame that was written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_bars
from tradeforge.core.errors import DataError
from tradeforge.data.cache import ParquetStore

FRAME = make_bars(24 * 250, start="2023-10-01", freq="1h")  # Oct 2023 .. early Jun 2024


def _store(home: Path) -> ParquetStore:
    store = ParquetStore(home)
    store.write("EURUSD", "H1", FRAME, source="test")
    return store


def _part(home: Path, year: int) -> Path:
    return home / "bars" / "EURUSD" / "H1" / f"{year}.parquet"


def _damage(path: Path, row_group: int, column: str) -> None:
    """Overwrite one column chunk of one row group with garbage (its pages cannot parse)."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    chunk = meta.row_group(row_group).column(names.index(column))
    offset = chunk.dictionary_page_offset or chunk.data_page_offset
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * chunk.total_compressed_size)


def _slice(start: str | None, end: str | None) -> pd.DataFrame:
    lo = None if start is None else pd.Timestamp(start, tz="UTC")
    hi = None if end is None else pd.Timestamp(end, tz="UTC")
    keep = (FRAME.index >= (lo or FRAME.index[0])) & (FRAME.index < hi if hi is not None else True)
    return FRAME[keep]


def test_a_partition_holds_one_row_group_per_month(home) -> None:
    _store(home)
    assert pq.ParquetFile(_part(home, 2023)).metadata.num_row_groups == 3  # Oct, Nov, Dec
    meta = pq.ParquetFile(_part(home, 2024)).metadata
    assert meta.num_row_groups == 6  # Jan .. Jun
    assert [meta.row_group(i).num_rows for i in range(3)] == [31 * 24, 29 * 24, 31 * 24]


def test_a_range_load_reads_only_the_months_it_overlaps(home) -> None:
    store = _store(home)
    _damage(_part(home, 2024), 0, "close")  # January 2024
    _damage(_part(home, 2023), 1, "open")  # November 2023
    march = store.load("EURUSD", "H1", "2024-03-05", "2024-03-07 12:00")
    pd.testing.assert_frame_equal(march, _slice("2024-03-05", "2024-03-07 12:00"), check_freq=False)
    december = store.load("EURUSD", "H1", "2023-12-01", "2023-12-31 23:00")
    assert len(december) == 30 * 24 + 23
    with pytest.raises(DataError, match=r"cannot read cache partition .*2024\.parquet"):
        store.load("EURUSD", "H1", "2024-01-20", "2024-02-02")


def test_a_column_load_reads_only_those_columns(home) -> None:
    store = _store(home)
    for year, groups in ((2023, 3), (2024, 6)):
        for group in range(groups):
            _damage(_part(home, year), group, "volume")
    closes = store.load("EURUSD", "H1", columns=["close", "high"])
    pd.testing.assert_frame_equal(closes, FRAME[["close", "high"]], check_freq=False)
    with pytest.raises(DataError, match="cannot read cache partition"):
        store.load("EURUSD", "H1", "2024-02-01", "2024-02-02")  # every column: volume too


def test_an_unknown_column_is_named(home) -> None:
    store = _store(home)
    with pytest.raises(DataError, match=r"has no column 'bid'; it stores open, high"):
        store.load("EURUSD", "H1", columns=["close", "bid"])


def test_partitions_written_whole_still_load(home) -> None:
    """A year file of one row group (written before month groups) reads as before."""
    _store(home)
    path = _part(home, 2024)
    pq.write_table(pq.read_table(path), path, compression="lz4")
    assert pq.ParquetFile(path).metadata.num_row_groups == 1
    out = ParquetStore(home).load("EURUSD", "H1", "2024-02-29", "2024-03-02")
    pd.testing.assert_frame_equal(out, _slice("2024-02-29", "2024-03-02"), check_freq=False)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory) -> ParquetStore:
    return _store(tmp_path_factory.mktemp("scan") / "home")


_HOURS = st.integers(min_value=-48, max_value=len(FRAME) + 48)


@settings(max_examples=60, deadline=None)
@given(
    a=st.one_of(st.none(), _HOURS),
    b=st.one_of(st.none(), _HOURS),
    columns=st.one_of(
        st.none(), st.lists(st.sampled_from(list(FRAME.columns)), min_size=1, unique=True)
    ),
)
def test_every_load_is_the_slice_of_what_was_written(shared_store, a, b, columns) -> None:
    first = FRAME.index[0]
    start = None if a is None else str(first + pd.Timedelta(hours=a))
    end = None if b is None else str(first + pd.Timedelta(hours=b))
    want = _slice(start, end)
    if columns is not None:
        want = want[columns]
    if want.empty:
        with pytest.raises(DataError, match="no cached H1 bars for EURUSD"):
            shared_store.load("EURUSD", "H1", start, end, columns=columns)
        return
    got = shared_store.load("EURUSD", "H1", start, end, columns=columns)
    pd.testing.assert_frame_equal(got, want, check_freq=False)
