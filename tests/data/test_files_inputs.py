"""Bad bar files are one clear `DataError` naming the file and line; ``date_format`` reads
files whose dates are not year-first (data/sources/files.py, files_times.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tradeforge.core.errors import DataError
from tradeforge.data.sources.files import FileSource, read_bars_file

HEADER = "timestamp,open,high,low,close,volume\n"
ROW = ",1.1,1.2,1.0,1.15,10\n"
TRADEFORGE = Path(sys.executable).with_name("tradeforge")


def _generic(tmp_path: Path, *times: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(t + ROW for t in times), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("times", "problem"),
    [
        (("2024-01-01T00:00:00", "2024-01-01T00:05:00+00:00"), "has a UTC offset, unlike the"),
        (("2024-01-01T00:00:00Z", "2024-01-01T00:05:00"), "has no UTC offset, unlike the"),
    ],
)
def test_mixed_naive_and_aware_times_are_refused(tmp_path: Path, times, problem) -> None:
    with pytest.raises(DataError) as err:
        read_bars_file(_generic(tmp_path, *times))
    assert "bars.csv: line 3: time" in str(err.value) and problem in str(err.value)


@pytest.mark.parametrize("year", ["1677", "2300", "9999"])
def test_years_outside_the_nanosecond_range_are_refused(tmp_path: Path, year: str) -> None:
    path = _generic(tmp_path, f"{year}-01-01T00:00:00", f"{year}-01-01T00:05:00")
    with pytest.raises(DataError, match=r"bars.csv: line 2: time .* outside the supported range"):
        read_bars_file(path)


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("Date,Time,Open,High,Low,Close,Volume\n", "2300.01.01,00:00,1,1,1,1,1\n"),
        ("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n",
         "1600.01.01\t00:00\t1\t1\t1\t1\t1\t0\t0\n"),
        ("Gmt time,Open,High,Low,Close,Volume\n", "01.01.2300 00:00:00.000,1,1,1,1,1\n"),
    ],
)  # fmt: skip
def test_out_of_range_dates_in_date_columns_are_refused(tmp_path: Path, header, row) -> None:
    path = tmp_path / "old.csv"
    path.write_text(header + row, encoding="utf-8")
    with pytest.raises(DataError, match=r"old.csv: line 2: time .* outside the supported range"):
        read_bars_file(path, symbol="EURUSD")


def test_a_time_just_past_the_range_does_not_wrap_around(tmp_path: Path) -> None:
    path = tmp_path / "edge.csv"
    path.write_text("Date,Time,Open,High,Low,Close,Volume\n2262.04.11,23:59,1,1,1,1,1\n")
    with pytest.raises(DataError, match="outside the supported range"):
        read_bars_file(path)


@pytest.mark.parametrize("body", [bytes(3000), os.urandom(3000), b"2024-01-01,1,1,1,1,1\n\x00\x01"])
def test_binary_data_after_the_header_is_refused(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(HEADER.encode() + body)
    with pytest.raises(DataError, match=r"junk.csv: line \d+ holds binary data"):
        read_bars_file(path)


def test_date_format_reads_day_first_dates(tmp_path: Path) -> None:
    path = _generic(tmp_path, "05.01.2024 10:00", "05.01.2024 10:05")
    with pytest.raises(DataError, match="cannot parse time '05.01.2024 10:00'.*--date-format"):
        read_bars_file(path)
    frame = read_bars_file(path, date_format="%d.%m.%Y %H:%M")
    assert frame.index[0] == pd.Timestamp("2024-01-05 10:00", tz="UTC")
    source = FileSource(path, date_format="%d.%m.%Y %H:%M")
    assert source.fetch("EURUSD", "M5").index[-1] == pd.Timestamp("2024-01-05 10:05", tz="UTC")


def test_date_format_applies_to_the_date_column(tmp_path: Path) -> None:
    path = tmp_path / "mt4.csv"
    path.write_text("Date,Time,Open,High,Low,Close,Volume\n13/01/2024,10:00,1,1,1,1,1\n")
    frame = read_bars_file(path, date_format="%d/%m/%Y")
    assert frame.index[0] == pd.Timestamp("2024-01-13 10:00", tz="UTC")


def test_date_format_with_an_offset_is_converted_to_utc(tmp_path: Path) -> None:
    path = _generic(tmp_path, "05.01.2024 10:00 +0200")
    frame = read_bars_file(path, date_format="%d.%m.%Y %H:%M %z")
    assert frame.index[0] == pd.Timestamp("2024-01-05 08:00", tz="UTC")


def test_parquet_time_text_is_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    frame = pd.DataFrame(
        {"time": ["05/01/2024 00:00"], "open": [1.0], "high": [1.0], "low": [1.0],
         "close": [1.0], "volume": [1.0]}
    )  # fmt: skip
    frame.to_parquet(path)
    with pytest.raises(DataError, match="cannot parse column 'time'"):
        read_bars_file(path)
    got = read_bars_file(path, date_format="%d/%m/%Y %H:%M")
    assert got.index[0] == pd.Timestamp("2024-01-05", tz="UTC")


def _import(path: Path, home: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [str(TRADEFORGE), "data", "import", str(path), "-s", "EURUSD", "-t", "M5",
           "--home", str(home), *extra]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (HEADER.encode() + bytes(500) + os.urandom(500), "holds binary data"),
        ((HEADER + "2024-01-01T00:00:00" + ROW + "2024-01-01T00:05:00Z" + ROW).encode(),
         "has a UTC offset"),
        ((HEADER + "2300-01-01T00:00:00" + ROW).encode(), "outside the supported range"),
    ],
)  # fmt: skip
def test_console_script_reports_bad_files_in_one_line(tmp_path: Path, content, problem) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    r = _import(path, tmp_path / "home")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "bad.csv" in r.stderr and problem in r.stderr


def test_console_script_date_format(tmp_path: Path) -> None:
    path = _generic(tmp_path, "13.01.2024 10:00", "13.01.2024 10:05")
    r = _import(path, tmp_path / "home", "--date-format", "%d.%m.%Y %H:%M")
    assert r.returncode == 0, r.stderr
    assert "imported 2 M5 bars" in r.stdout
