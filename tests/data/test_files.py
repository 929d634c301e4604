"""File import: each layout against hand-computed frames, time zones, detection, bad rows."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_bars
from tradeforge.core.errors import ConfigError, DataError, DataValidationError
from tradeforge.core.timeframes import Timeframe
from tradeforge.data.resample import resample_ohlcv
from tradeforge.data.sources.base import DataSource
from tradeforge.data.sources.files import (
    FileSource,
    infer_timeframe,
    read_bars_file,
    resolve_tz,
    timeframes_in_name,
)
from tradeforge.data.sources.files_formats import detect_format

FIXTURES = Path(__file__).parent / "fixtures"
MT5_FILE = FIXTURES / "EURUSD_M5_202401020000_202401020010.csv"
MT4_FILE = FIXTURES / "EURUSD5.csv"
DUKA_FILE = FIXTURES / "EURUSD_Candlestick_5_M_BID_02.01.2024-02.01.2024.csv"
GENERIC_FILE = FIXTURES / "USDJPY_H1.csv"

MT5_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"


def utc(*stamps: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(stamps), utc=True), name="time")


def expected_eurusd(
    volume=(123.0, 50.0, 77.0), spread=None, start="2024-01-02 00:00"
) -> pd.DataFrame:
    """The three EURUSD M5 bars every EURUSD fixture holds."""
    index = pd.date_range(start, periods=3, freq="5min", tz="UTC", name="time")
    data = {
        "open": [1.10370, 1.10380, 1.10390],
        "high": [1.10400, 1.10410, 1.10395],
        "low": [1.10350, 1.10360, 1.10300],
        "close": [1.10380, 1.10390, 1.10310],
        "volume": list(volume),
    }
    if spread is not None:
        data["spread"] = list(spread)
    return pd.DataFrame(data, index=index)


def assert_bars_equal(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Frame equality regardless of the index's time unit (pandas 3 may use us or ns)."""
    left, right = left.copy(), right.copy()
    left.index = left.index.as_unit("ns")
    right.index = right.index.as_unit("ns")
    pd.testing.assert_frame_equal(left, right, check_freq=False)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


# --------------------------------------------------------------------------- MetaTrader 5


def test_mt5_export_converts_spread_points_to_price() -> None:
    frame = read_bars_file(MT5_FILE, symbol="EURUSD")
    # 12, 8 and 10 points of 0.00001
    assert_bars_equal(frame, expected_eurusd(spread=(0.00012, 0.00008, 0.0001)))


def test_mt5_export_uses_instrument_digits_for_the_point(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x.csv",
        MT5_HEADER + "2024.01.02\t00:00:00\t141.250\t141.300\t141.200\t141.280\t9\t0\t15\n",
    )
    frame = read_bars_file(path, symbol="USDJPY")  # 3 digits: 15 points = 0.015
    assert frame["spread"].iloc[0] == 0.015


def test_mt5_spread_needs_symbol_or_point() -> None:
    with pytest.raises(ConfigError, match="symbol="):
        read_bars_file(MT5_FILE)
    frame = read_bars_file(MT5_FILE, point=0.0001)
    assert frame["spread"].tolist() == [0.0012, 0.0008, 0.001]


def test_mt5_server_time_is_converted_to_utc() -> None:
    fixed = read_bars_file(MT5_FILE, symbol="EURUSD", tz="+02:00")
    # EET is UTC+2 in January
    named = read_bars_file(MT5_FILE, symbol="EURUSD", tz="EET")
    expected = expected_eurusd(spread=(0.00012, 0.00008, 0.0001), start="2024-01-01 22:00")
    assert_bars_equal(fixed, expected)
    assert_bars_equal(named, expected)


def test_mt5_summer_server_time(tmp_path: Path) -> None:
    path = write(
        tmp_path, "x.csv", MT5_HEADER + "2024.07.01\t00:00:00\t1.1\t1.2\t1.0\t1.1\t1\t0\t0\n"
    )
    frame = read_bars_file(path, symbol="EURUSD", tz="EET")  # UTC+3 in July
    assert frame.index[0] == pd.Timestamp("2024-06-30 21:00", tz="UTC")


def test_mt5_daily_export_without_time_column(tmp_path: Path) -> None:
    text = (
        "<DATE>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
        "2024.01.02\t1.1\t1.2\t1.0\t1.15\t1000\t0\t5\n"
        "2024.01.03\t1.15\t1.25\t1.1\t1.2\t900\t0\t6\n"
    )
    frame = read_bars_file(write(tmp_path, "d1.csv", text), symbol="EURUSD")
    assert list(frame.index) == list(utc("2024-01-02", "2024-01-03"))
    assert frame["volume"].tolist() == [1000.0, 900.0]
    assert frame["spread"].tolist() == [0.00005, 0.00006]


def test_mt5_utf16_export(tmp_path: Path) -> None:
    path = write(tmp_path, "u16.csv", MT5_FILE.read_text(), encoding="utf-16")
    assert path.read_bytes()[:2] == b"\xff\xfe"
    frame = read_bars_file(path, symbol="EURUSD")
    assert_bars_equal(frame, expected_eurusd(spread=(0.00012, 0.00008, 0.0001)))


def test_mt5_tick_export_is_refused(tmp_path: Path) -> None:
    text = "<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>\n2024.01.02\t00:00:00.123\t1.1\t1.1\t\t\t6\n"
    with pytest.raises(ConfigError, match="tick export"):
        read_bars_file(write(tmp_path, "ticks.csv", text))


# --------------------------------------------------------------------------- MetaTrader 4


def test_mt4_headerless_export() -> None:
    assert_bars_equal(read_bars_file(MT4_FILE), expected_eurusd())


def test_mt4_export_with_header(tmp_path: Path) -> None:
    text = "Date,Time,Open,High,Low,Close,Volume\n" + MT4_FILE.read_text()
    path = write(tmp_path, "mt4.csv", text)
    assert detect_format(path) == "mt4"
    assert_bars_equal(read_bars_file(path), expected_eurusd())


def test_mt4_semicolon_and_decimal_comma(tmp_path: Path) -> None:
    text = MT4_FILE.read_text().replace(",", ";").replace(".1", ",1").replace("2024,", "2024.")
    text = text.replace("01,02", "01.02")
    path = write(tmp_path, "eu.csv", text)
    assert (
        path.read_text().splitlines()[0] == "2024.01.02;00:00;1,10370;1,10400;1,10350;1,10380;123"
    )
    assert_bars_equal(read_bars_file(path), expected_eurusd())


def test_gzip_compressed_file(tmp_path: Path) -> None:
    path = tmp_path / "EURUSD5.csv.gz"
    path.write_bytes(gzip.compress(MT4_FILE.read_bytes()))
    assert_bars_equal(read_bars_file(path), expected_eurusd())


# --------------------------------------------------------------------------- Dukascopy


def test_dukascopy_gmt_time_export() -> None:
    expected = expected_eurusd(volume=(123.45, 50.5, 77.0))
    assert_bars_equal(read_bars_file(DUKA_FILE), expected)


def test_dukascopy_gmt_time_ignores_tz() -> None:
    # the header says GMT, so a tz meant for naive files must not shift it
    assert_bars_equal(read_bars_file(DUKA_FILE, tz="EET"), read_bars_file(DUKA_FILE))


def test_dukascopy_local_time_offsets_across_dst(tmp_path: Path) -> None:
    text = (
        "Local time,Open,High,Low,Close,Volume\n"
        "02.01.2024 00:00:00.000 GMT+0200,1.1,1.2,1.0,1.15,1\n"
        "02.07.2024 00:00:00.000 GMT+0300,1.1,1.2,1.0,1.15,2\n"
        "03.07.2024 09:30:00.000 GMT-0430,1.1,1.2,1.0,1.15,3\n"
    )
    frame = read_bars_file(write(tmp_path, "local.csv", text))
    assert list(frame.index) == list(
        utc("2024-01-01 22:00", "2024-07-01 21:00", "2024-07-03 14:00")
    )


def test_dukascopy_etc_utc_iso_export(tmp_path: Path) -> None:
    text = (
        "Etc/UTC,Open,High,Low,Close,Volume\n"
        "2024-01-02T00:00:00+00:00,1.1037,1.104,1.1035,1.1038,123\n"
        "2024-01-02T00:05:00+00:00,1.1038,1.1041,1.1036,1.1039,50\n"
        "2024-01-02T00:10:00+00:00,1.1039,1.10395,1.103,1.1031,77\n"
    )
    path = write(tmp_path, "iso.csv", text)
    assert detect_format(path) == "dukascopy"
    assert_bars_equal(read_bars_file(path), expected_eurusd())


# --------------------------------------------------------------------------- generic


def test_generic_iso_with_offset_and_spread_in_price() -> None:
    frame = read_bars_file(GENERIC_FILE)
    expected = pd.DataFrame(
        {
            "open": [141.25, 141.28],
            "high": [141.3, 141.4],
            "low": [141.2, 141.27],
            "close": [141.28, 141.39],
            "volume": [10.0, 20.0],
            "spread": [0.012, 0.015],
        },
        index=utc("2024-01-02 00:00", "2024-01-02 01:00"),
    )
    assert_bars_equal(frame, expected)


def test_generic_naive_times_in_configured_zone(tmp_path: Path) -> None:
    text = "time,open,high,low,close,volume\n2024-01-02 09:30:00,1,2,0.5,1.5,10\n2024-07-02 09:30:00,1,2,0.5,1.5,10\n"
    path = write(tmp_path, "ny.csv", text)
    frame = read_bars_file(path, tz="America/New_York")
    assert list(frame.index) == list(utc("2024-01-02 14:30", "2024-07-02 13:30"))
    assert list(read_bars_file(path).index) == list(utc("2024-01-02 09:30", "2024-07-02 09:30"))


@pytest.mark.parametrize("scale", [1, 1000])
def test_generic_epoch_seconds_and_milliseconds(tmp_path: Path, scale: int) -> None:
    t0 = 1704153600  # 2024-01-02 00:00 UTC
    rows = "".join(
        f"{(t0 + 300 * i) * scale},{o},{h},{lo},{c},{v}\n"
        for i, (o, h, lo, c, v) in enumerate(
            [
                (1.10370, 1.10400, 1.10350, 1.10380, 123),
                (1.10380, 1.10410, 1.10360, 1.10390, 50),
                (1.10390, 1.10395, 1.10300, 1.10310, 77),
            ]
        )
    )
    path = write(tmp_path, "epoch.csv", "timestamp,open,high,low,close,volume\n" + rows)
    assert_bars_equal(read_bars_file(path), expected_eurusd())


def test_generic_headerless_needs_explicit_format(tmp_path: Path) -> None:
    path = write(tmp_path, "nohdr.csv", "2024-01-02T00:00:00,1,2,0.5,1.5,10\n")
    with pytest.raises(ConfigError, match="ambiguous") as err:
        read_bars_file(path)
    assert "format=" in str(err.value) and "mt5" in str(err.value)
    frame = read_bars_file(path, format="generic")
    assert frame.index[0] == pd.Timestamp("2024-01-02", tz="UTC")
    assert frame["close"].iloc[0] == 1.5


def test_generic_missing_volume_column(tmp_path: Path) -> None:
    path = write(tmp_path, "novol.csv", "time,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n")
    with pytest.raises(DataError, match="volume"):
        read_bars_file(path)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(1, 60), seed=st.integers(0, 10_000), epoch=st.booleans())
def test_generic_round_trip_is_exact(tmp_path: Path, n: int, seed: int, epoch: bool) -> None:
    bars = make_bars(n=n, seed=seed)
    table = bars.reset_index()
    if epoch:
        table["time"] = bars.index.as_unit("s").asi8
    path = tmp_path / f"rt_{n}_{seed}_{epoch}.csv"
    table.to_csv(path, index=False)  # repr floats: exact round trip
    assert_bars_equal(read_bars_file(path), bars)


# --------------------------------------------------------------------------- Parquet


def test_parquet_with_utc_index(tmp_path: Path) -> None:
    bars = make_bars(20)
    path = tmp_path / "bars.parquet"
    bars.to_parquet(path)
    assert detect_format(path) == "parquet"
    assert_bars_equal(read_bars_file(path), bars)


def test_parquet_with_naive_time_column_in_zone(tmp_path: Path) -> None:
    bars = make_bars(5, start="2024-01-02 10:00")
    table = bars.reset_index().rename(columns={"time": "Timestamp"})
    table["Timestamp"] = table["Timestamp"].dt.tz_localize(None)
    path = tmp_path / "naive.data"  # no suffix: detected by its magic bytes
    table.to_parquet(path)
    frame = read_bars_file(path, tz="+01:00")
    assert frame.index[0] == pd.Timestamp("2024-01-02 09:00", tz="UTC")
    np.testing.assert_array_equal(frame["close"].to_numpy(), bars["close"].to_numpy())


def test_parquet_with_epoch_millisecond_column(tmp_path: Path) -> None:
    bars = make_bars(5)
    table = bars.reset_index()
    table["time"] = bars.index.as_unit("ms").asi8
    path = tmp_path / "epoch.parquet"
    table.to_parquet(path)
    assert_bars_equal(read_bars_file(path), bars)


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("path", "name"),
    [(MT5_FILE, "mt5"), (MT4_FILE, "mt4"), (DUKA_FILE, "dukascopy"), (GENERIC_FILE, "generic")],
)
def test_detect_format(path: Path, name: str) -> None:
    assert detect_format(path) == name


def test_unknown_header_lists_formats(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.csv", "when,price,size\n2024-01-02,1.1,3\n")
    with pytest.raises(ConfigError) as err:
        read_bars_file(path)
    message = str(err.value)
    assert "unrecognised header" in message and "format=" in message
    for name in ("mt5", "mt4", "dukascopy", "generic", "parquet"):
        assert name in message


def test_forced_format_that_does_not_fit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not fit format 'mt5'"):
        read_bars_file(GENERIC_FILE, format="mt5")
    with pytest.raises(ConfigError, match="unknown format"):
        read_bars_file(GENERIC_FILE, format="excel")


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty"):
        read_bars_file(write(tmp_path, "empty.csv", ""))
    with pytest.raises(DataError, match="not found"):
        read_bars_file(tmp_path / "missing.csv")


def test_resolve_tz() -> None:
    assert resolve_tz("UTC+2").utcoffset(None) == pd.Timedelta(hours=2)
    assert resolve_tz("-05:30").utcoffset(None) == -pd.Timedelta(hours=5, minutes=30)
    with pytest.raises(ConfigError, match="unknown time zone"):
        resolve_tz("Mars/Olympus")


# --------------------------------------------------------------------------- bad rows


def _mt4_with(tmp_path: Path, replace_line: int, new: str) -> Path:
    lines = MT4_FILE.read_text().splitlines()
    lines[replace_line - 1] = new
    return write(tmp_path, "bad.csv", "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("line", "content", "rule"),
    [
        (2, "2024.01.02,00:05,1.10380,,1.10360,1.10390,50", "high is NaN"),
        (3, "2024.01.02,00:10,1.10390,1.10300,1.10395,1.10310,77", "high < low"),
        (3, "2024.01.02,00:05,1.10390,1.10395,1.10300,1.10310,77", "duplicate timestamp"),
        (3, "2024.01.01,00:10,1.10390,1.10395,1.10300,1.10310,77", "not sorted"),
    ],
)
def test_bad_rows_name_file_row_and_line(
    tmp_path: Path, line: int, content: str, rule: str
) -> None:
    path = _mt4_with(tmp_path, line, content)
    with pytest.raises(DataValidationError) as err:
        read_bars_file(path)
    message = str(err.value)
    assert str(path) in message and rule in message
    assert f"row {line - 1}" in message and f"file line {line}" in message


def test_short_row_is_a_nan_named_by_line(tmp_path: Path) -> None:
    path = _mt4_with(tmp_path, 2, "2024.01.02,00:05,1.10380,1.10410,1.10360,1.10390")
    with pytest.raises(DataValidationError, match=r"row 1 .*volume is NaN.*file line 2"):
        read_bars_file(path)


def test_bad_rows_with_header_count_the_header_line(tmp_path: Path) -> None:
    text = MT5_FILE.read_text().replace("1.10395\t1.10300", "1.10295\t1.10300")
    with pytest.raises(DataValidationError, match=r"row 2 .*file line 4"):
        read_bars_file(write(tmp_path, "x.csv", text), symbol="EURUSD")


def test_non_number_is_named_with_its_line(tmp_path: Path) -> None:
    path = _mt4_with(tmp_path, 2, "2024.01.02,00:05,1.10380,abc,1.10360,1.10390,50")
    with pytest.raises(DataError, match=r"line 2: high is not a number: 'abc'") as err:
        read_bars_file(path)
    assert str(path) in str(err.value)


def test_unparseable_time_is_named_with_its_line(tmp_path: Path) -> None:
    path = _mt4_with(tmp_path, 3, "2024.13.02,00:10,1.10390,1.10395,1.10300,1.10310,77")
    with pytest.raises(DataError, match=r"line 3: cannot parse time '2024.13.02 00:10'"):
        read_bars_file(path)
    path = _mt4_with(tmp_path, 2, "2024.02.30,00:05,1.10380,1.10410,1.10360,1.10390,50")
    with pytest.raises(DataError, match=r"line 2: cannot parse time '2024.02.30 00:05'"):
        read_bars_file(path)  # no silent roll-over into March
    path = _mt4_with(tmp_path, 2, "2024.01.02,24:05,1.10380,1.10410,1.10360,1.10390,50")
    with pytest.raises(DataError, match=r"line 2: cannot parse time"):
        read_bars_file(path)
    text = DUKA_FILE.read_text().replace("02.01.2024 00:05:00.000", "02.01.2024 00:05:00.000 XYZ")
    with pytest.raises(DataError, match="line 3: cannot parse time"):
        read_bars_file(write(tmp_path, "d.csv", text))


def test_nonexistent_local_time_is_an_error(tmp_path: Path) -> None:
    # 2024-03-31 03:30 does not exist in EET (clocks jump from 03:00 to 04:00)
    path = write(
        tmp_path, "x.csv", MT5_HEADER + "2024.03.31\t03:30:00\t1.1\t1.2\t1.0\t1.1\t1\t0\t0\n"
    )
    with pytest.raises(DataError, match="time zone"):
        read_bars_file(path, symbol="EURUSD", tz="EET")


# --------------------------------------------------------------------------- FileSource


def test_file_source_is_a_data_source_and_slices_half_open() -> None:
    source = FileSource(MT5_FILE)
    assert isinstance(source, DataSource)
    frame = source.fetch(
        "EURUSD", "M5", pd.Timestamp("2024-01-02 00:05", tz="UTC"), "2024-01-02 00:10"
    )
    assert list(frame.index) == list(utc("2024-01-02 00:05"))
    assert frame["spread"].iloc[0] == 0.00008


def test_file_source_folder_picks_files_by_name(tmp_path: Path) -> None:
    shutil.copy(MT5_FILE, tmp_path / MT5_FILE.name)
    shutil.copy(GENERIC_FILE, tmp_path / GENERIC_FILE.name)
    write(tmp_path, "EURUSD_H1.csv", "junk that must not be read\n")
    write(tmp_path, "EURUSD_Candlestick_5_M_ASK_x.csv", "junk that must not be read\n")
    source = FileSource(tmp_path)
    assert source.files_for("EURUSD", "M5") == [tmp_path / MT5_FILE.name]
    assert len(source.fetch("EURUSD", "M5", "2024-01-01", "2024-01-03")) == 3
    jpy = source.fetch("USDJPY", Timeframe.parse("H1"), "2024-01-01", "2024-01-03")
    assert jpy["close"].tolist() == [141.28, 141.39]
    with pytest.raises(DataError, match="no GBPUSD M5 bar file"):
        source.fetch("GBPUSD", "M5", "2024-01-01", "2024-01-03")


def test_file_source_concatenates_yearly_files_and_rejects_overlap(tmp_path: Path) -> None:
    bars = make_bars(40, start="2023-12-31 22:00", freq="5min")
    bars.iloc[:24].reset_index().to_csv(tmp_path / "EURUSD_M5_2023.csv", index=False)
    bars.iloc[24:].reset_index().to_csv(tmp_path / "EURUSD_M5_2024.csv", index=False)
    frame = FileSource(tmp_path).fetch("EURUSD", "M5", "2023-01-01", "2025-01-01")
    assert_bars_equal(frame, bars)
    bars.iloc[20:30].reset_index().to_csv(tmp_path / "EURUSD_M5_overlap.csv", index=False)
    with pytest.raises(DataValidationError, match="EURUSD_M5_overlap.csv .* overlaps"):
        FileSource(tmp_path).fetch("EURUSD", "M5", "2023-01-01", "2025-01-01")


def test_file_source_resamples_finer_bars_and_refuses_coarser(tmp_path: Path) -> None:
    bars = make_bars(120, start="2024-01-02", freq="1min")
    path = tmp_path / "EURUSD_M1.csv"
    bars.reset_index().to_csv(path, index=False)
    source = FileSource(path)
    m5 = source.fetch("EURUSD", "M5", "2024-01-01", "2024-01-03")
    assert_bars_equal(m5, resample_ohlcv(bars, Timeframe.parse("M5")))
    with pytest.raises(DataError, match="cannot serve M1"):
        FileSource(MT5_FILE).fetch("EURUSD", "M1", "2024-01-01", "2024-01-03")


def test_file_source_rereads_changed_files(tmp_path: Path) -> None:
    path = tmp_path / "EURUSD5.csv"
    shutil.copy(MT4_FILE, path)
    source = FileSource(path)
    assert len(source.fetch("EURUSD", "M5", "2024-01-01", "2024-01-03")) == 3
    path.write_text("\n".join(MT4_FILE.read_text().splitlines()[:2]) + "\n")
    assert len(source.fetch("EURUSD", "M5", "2024-01-01", "2024-01-03")) == 2


@pytest.mark.parametrize(
    ("stem", "found"),
    [
        ("EURUSD_M5_202401020000_202412312355", {"M5"}),
        ("EURUSD5", {"M5"}),
        ("EURUSD60", {"H1"}),
        ("EURUSD1440", {"D1"}),
        ("EURUSD_Candlestick_1_Hour_BID_01.01.2024-31.12.2024", {"H1"}),
        ("EURUSD_Candlestick_15_M_BID_01.01.2024-31.12.2024", {"M15"}),
        ("EURUSD-h4", {"H4"}),
        ("EURUSD", set()),
    ],
)
def test_timeframes_in_name(stem: str, found: set[str]) -> None:
    assert timeframes_in_name(stem, "EURUSD") == found


def test_infer_timeframe() -> None:
    assert infer_timeframe(make_bars(10, freq="15min").index) == Timeframe.parse("M15")
    assert infer_timeframe(make_bars(10, freq="4h").index) == Timeframe.parse("H4")
    assert infer_timeframe(make_bars(1).index) is None
    assert infer_timeframe(make_bars(3, freq="90s").index) is None


def test_cli_import_resamples_finer_file_and_refuses_coarser(tmp_path):
    """`tradeforge data import` stores bars at the requested timeframe."""
    import subprocess
    import sys
    from pathlib import Path

    from tradeforge.data.cache import ParquetStore

    fixture = Path(__file__).parent / "fixtures" / "EURUSD_M5_202401020000_202401020010.csv"
    home = tmp_path / "home"
    base = [sys.executable, "-c", "from tradeforge.cli import main; main()", "data", "import"]
    r = subprocess.run([*base, str(fixture), "-s", "EURUSD", "-t", "M15", "--home", str(home)],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    m5 = read_bars_file(fixture, symbol="EURUSD")
    m15 = ParquetStore(home).load("EURUSD", "M15")
    assert len(m15) == 1
    assert m15["high"].iloc[0] == m5["high"].max() and m15["close"].iloc[0] == m5["close"].iloc[-1]
    r = subprocess.run([*base, str(fixture), "-s", "EURUSD", "-t", "M1", "--home", str(home)],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
