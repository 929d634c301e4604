import pandas as pd
import pytest

from tests.conftest import make_bars
from tradeforge.core.errors import DataError, DataValidationError
from tradeforge.data.cache import ParquetStore
from tradeforge.data.checksum import frame_checksum


def test_round_trip_is_exact_and_partitioned_by_year(home):
    frame = make_bars(600, start="2023-12-31 00:00", freq="5min")
    store = ParquetStore(home)
    assert store.write("EURUSD", "M5", frame, source="test") == 2
    names = sorted(p.name for p in (home / "bars" / "EURUSD" / "M5").iterdir())
    assert [n for n in names if not n.startswith(".")] == ["2023.parquet", "2024.parquet"]
    assert [n for n in names if n.startswith(".")] == [".2023.parquet.lock", ".2024.parquet.lock"]
    loaded = store.load("EURUSD", "M5")
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False)
    assert frame_checksum(loaded) == frame_checksum(frame)
    parts = store.partitions("EURUSD")
    assert [p.year for p in parts] == [2023, 2024]
    assert sum(p.rows for p in parts) == 600
    assert parts[0].source == "test"


def test_range_load_reads_only_needed_years(home):
    store = ParquetStore(home)
    frame = make_bars(3 * 365, start="2021-01-01", freq="1D")
    store.write("EURUSD", "D1", frame, source="t")
    (home / "bars" / "EURUSD" / "D1" / "2021.parquet").write_bytes(b"corrupt")
    out = store.load("EURUSD", "D1", "2022-03-01", "2022-03-05")  # 2021 is not touched
    assert list(out.index.day) == [1, 2, 3, 4]
    with pytest.raises(DataError, match="cannot read cache"):
        store.load("EURUSD", "D1", "2021-06-01", "2022-01-05")


def test_merge_without_duplicates_newer_wins(home):
    store = ParquetStore(home)
    first = make_bars(100, seed=1)
    second = make_bars(100, start=str(first.index[50]), seed=2)
    store.write("EURUSD", "M5", first, source="a")
    store.write("EURUSD", "M5", second, source="b")
    loaded = store.load("EURUSD", "M5")
    assert len(loaded) == 150 and loaded.index.is_unique and loaded.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(loaded.iloc[50:], second, check_freq=False)
    pd.testing.assert_frame_equal(loaded.iloc[:50], first.iloc[:50], check_freq=False)


def test_write_validates_and_leaves_store_untouched(home):
    store = ParquetStore(home)
    good = make_bars(10)
    store.write("EURUSD", "M5", good, source="a")
    bad = good.copy()
    bad.iloc[3, bad.columns.get_loc("high")] = 0.5
    with pytest.raises(DataValidationError, match="row 3"):
        store.write("EURUSD", "M5", bad, source="b")
    pd.testing.assert_frame_equal(store.load("EURUSD", "M5"), good, check_freq=False)
    assert not list((home / "bars").rglob("*.tmp"))


def test_has_tells_stored_symbol_and_timeframe_apart(home):
    store = ParquetStore(home)
    assert not store.has("EURUSD", "H1")
    store.write("EURUSD", "H1", make_bars(24, freq="1h"), source="x")
    assert store.has("eurusd", "H1") and not store.has("EURUSD", "M5")
    assert not store.has("GBPUSD", "H1")


def test_missing_data_error(home):
    with pytest.raises(DataError, match="no cached M5 bars for EURUSD"):
        ParquetStore(home).load("EURUSD", "M5")


def test_summary(home):
    store = ParquetStore(home)
    store.write("EURUSD", "H1", make_bars(48, freq="1h"), source="x")
    store.write("GBPUSD", "H1", make_bars(24, freq="1h"), source="y")
    s = store.summary()
    assert list(s["symbol"]) == ["EURUSD", "GBPUSD"]
    assert list(s["rows"]) == [48, 24]
