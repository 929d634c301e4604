"""Unreadable cache partitions: named with their repair command, quarantined by `data repair`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_bars
from tradeforge.core.errors import DataError
from tradeforge.data.cache import ParquetStore
from tradeforge.data.cache_repair import repair_partitions

CONSOLE_SCRIPT = Path(sys.executable).with_name("tradeforge")


def store_with_three_years(home: Path) -> tuple[ParquetStore, pd.DataFrame, Path]:
    store = ParquetStore(home)
    frame = make_bars(3 * 365, start="2021-01-01", freq="1D")
    store.write("EURUSD", "D1", frame, source="t")
    return store, frame, home / "bars" / "EURUSD" / "D1"


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_unreadable_partition_error_names_path_and_repair_command(home):
    store, _, folder = store_with_three_years(home)
    truncate(folder / "2022.parquet")
    repair = f"tradeforge data repair --symbol EURUSD --timeframe D1 --year 2022 --home {home}"
    for call in (
        lambda: store.load("EURUSD", "D1"),
        lambda: store.partitions("EURUSD"),
        lambda: store.write("EURUSD", "D1", make_bars(3, start="2022-05-01", freq="1D"), "x"),
    ):
        with pytest.raises(DataError) as info:
            call()
        assert str(folder / "2022.parquet") in str(info.value) and repair in str(info.value)


def test_repair_moves_only_unreadable_partitions_aside(home):
    store, frame, folder = store_with_three_years(home)
    (folder / "2022.parquet").write_bytes(b"garbage, not parquet")
    (folder / ".2021.parquet.0123abcd.tmp").write_bytes(b"left by a killed writer")
    report = repair_partitions(store, "eurusd", "D1")
    assert report.checked == 3 and report.stale_temp_files == 1
    (q,) = report.quarantined
    assert (q.year, q.path) == (2022, folder / "2022.parquet")
    assert q.moved_to.name.startswith("2022.parquet.corrupt-") and q.moved_to.exists()
    assert q.moved_to.read_bytes() == b"garbage, not parquet"  # kept, not deleted
    assert not (folder / "2022.parquet").exists()
    loaded = store.load("EURUSD", "D1")
    pd.testing.assert_frame_equal(loaded, frame[frame.index.year != 2022], check_freq=False)
    assert [p.year for p in store.partitions("EURUSD")] == [2021, 2023]
    again = repair_partitions(store, "EURUSD", "D1")
    assert (again.checked, again.quarantined) == (2, [])
    with pytest.raises(DataError, match="no cached D1 partitions of EURUSD for 2022"):
        repair_partitions(store, "EURUSD", "D1", year=2022)


def test_lock_files_are_not_partitions(home):
    store, frame, folder = store_with_three_years(home)
    assert sorted(p.name for p in folder.glob(".*.lock")) == [
        ".2021.parquet.lock",
        ".2022.parquet.lock",
        ".2023.parquet.lock",
    ]
    assert [p.year for p in store.partitions()] == [2021, 2022, 2023]
    assert store.summary()["rows"].tolist() == [len(frame)]
    pd.testing.assert_frame_equal(store.load("EURUSD", "D1"), frame, check_freq=False)


def tradeforge(*args: str, home: Path) -> subprocess.CompletedProcess:
    cmd = [str(CONSOLE_SCRIPT), *args, "--home", str(home)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_cli_reports_and_repairs_an_unreadable_partition(home):
    assert CONSOLE_SCRIPT.exists(), CONSOLE_SCRIPT
    _, _, folder = store_with_three_years(home)
    broken = folder / "2023.parquet"
    truncate(broken)
    for args in (["data", "show", "-s", "EURUSD", "-t", "D1"], ["data", "list"]):
        r = tradeforge(*args, home=home)
        assert r.returncode == 2, r.stdout + r.stderr
        assert str(broken) in r.stderr and "tradeforge data repair" in r.stderr
        assert "Traceback" not in r.stdout + r.stderr
    assert "EURUSD" in r.stdout  # `data list` still lists what reads (the other years)

    r = tradeforge("data", "repair", "--symbol", "EURUSD", "--timeframe", "D1", home=home)
    assert r.returncode == 0, r.stderr
    assert str(broken) in r.stdout and "re-import or re-download" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    assert not broken.exists() and len(list(folder.glob("2023.parquet.corrupt-*"))) == 1

    r = tradeforge("data", "list", home=home)
    assert r.returncode == 0 and "EURUSD" in r.stdout
    r = tradeforge("data", "repair", "-s", "EURUSD", "-t", "D1", "--year", "2021", home=home)
    assert r.returncode == 0 and "readable" in r.stdout
