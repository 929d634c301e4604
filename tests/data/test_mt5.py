"""MetaTrader 5 source against the package stand-in (tests/support/fake_mt5.py)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from tests.support.fake_mt5 import RATES_DTYPE, FakeMT5, make_rates
from tradeforge.core.errors import ConfigError, DataError, DataValidationError
from tradeforge.core.timeframes import Timeframe
from tradeforge.data.sources.base import DataSource
from tradeforge.data.sources.mt5 import MT5Source, rates_to_frame, timeframe_constant

T0 = 1704153600  # 2024-01-02 00:00:00 UTC
M5 = Timeframe.parse("M5")
START, END = pd.Timestamp("2024-01-02", tz="UTC"), pd.Timestamp("2024-01-03", tz="UTC")

ROWS = [
    # time, open, high, low, close, tick_volume, spread (points), real_volume
    (T0, 1.10370, 1.10400, 1.10350, 1.10380, 123, 12, 0),
    (T0 + 300, 1.10380, 1.10410, 1.10360, 1.10390, 50, 8, 0),
    (T0 + 600, 1.10390, 1.10395, 1.10300, 1.10310, 77, 10, 5),
]


@pytest.fixture
def mt5() -> FakeMT5:
    fake = FakeMT5()
    fake.add_symbol("EURUSD", digits=5)
    fake.add_rates("EURUSD", fake.TIMEFRAME_M5, make_rates(ROWS))
    return fake


def expected(start: str = "2024-01-02 00:00") -> pd.DataFrame:
    index = pd.date_range(start, periods=3, freq="5min", tz="UTC", name="time").as_unit("ns")
    return pd.DataFrame(
        {
            "open": [1.10370, 1.10380, 1.10390],
            "high": [1.10400, 1.10410, 1.10395],
            "low": [1.10350, 1.10360, 1.10300],
            "close": [1.10380, 1.10390, 1.10310],
            "volume": [123.0, 50.0, 77.0],
            "spread": [0.00012, 0.00008, 0.0001],
        },
        index=index,
    )


def assert_bars_equal(left: pd.DataFrame, right: pd.DataFrame) -> None:
    left = left.set_axis(left.index.as_unit("ns"))
    pd.testing.assert_frame_equal(left, right, check_freq=False)


def test_fetch_values_dtypes_and_spread_conversion(mt5: FakeMT5) -> None:
    source = MT5Source(module=mt5, server_time="utc")
    assert isinstance(source, DataSource)
    frame = source.fetch("EURUSD", M5, START, END)
    assert_bars_equal(frame, expected())
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert str(frame.index.tz) == "UTC" and frame.index.name == "time"


def test_fetch_initializes_and_always_shuts_down(mt5: FakeMT5) -> None:
    MT5Source(
        login=12345678, password="pw", server="Fake-Demo", module=mt5, server_time="utc"
    ).fetch("EURUSD", M5, START, END)
    names = [name for name, _ in mt5.calls]
    assert names[0] == "initialize" and names[-1] == "shutdown"
    assert mt5.init_kwargs is not None
    assert (mt5.init_kwargs["login"], mt5.init_kwargs["server"]) == (12345678, "Fake-Demo")
    assert not mt5.initialized

    mt5.fail("copy_rates_range", mt5.RES_E_INTERNAL_FAIL_TIMEOUT, "Terminal: timeout")
    with pytest.raises(DataError, match=r"copy_rates_range.*-10005.*timeout"):
        MT5Source(module=mt5, server_time="utc").fetch("EURUSD", M5, START, END)
    assert mt5.calls[-1][0] == "shutdown" and not mt5.initialized


def test_requested_range_is_half_open(mt5: FakeMT5) -> None:
    frame = MT5Source(module=mt5, server_time="utc").fetch(
        "EURUSD", "M5", "2024-01-02 00:05", pd.Timestamp("2024-01-02 00:10", tz="UTC")
    )
    assert list(frame.index) == [pd.Timestamp("2024-01-02 00:05", tz="UTC")]
    _, args = next(c for c in mt5.calls if c[0] == "copy_rates_range")
    assert args[1] == mt5.TIMEFRAME_M5


def test_server_time_offset_converts_to_utc(mt5: FakeMT5) -> None:
    # the broker stamps 00:00 server time (UTC+2): that bar opened at 22:00 UTC the day before
    source = MT5Source(module=mt5, server_time="+2")
    frame = source.fetch("EURUSD", M5, "2024-01-01 22:00", "2024-01-01 22:15")
    assert_bars_equal(frame, expected(start="2024-01-01 22:00"))
    _, args = next(c for c in mt5.calls if c[0] == "copy_rates_range")
    assert args[2] == pd.Timestamp("2024-01-02 00:00", tz="UTC").to_pydatetime()


def test_real_volume_option(mt5: FakeMT5) -> None:
    frame = MT5Source(module=mt5, volume="real", server_time="utc").fetch("EURUSD", M5, START, END)
    assert frame["volume"].tolist() == [0.0, 0.0, 5.0]


def test_symbol_map_and_hidden_symbol_is_selected(mt5: FakeMT5) -> None:
    mt5.add_symbol("EURUSD.raw", digits=5, visible=False)
    mt5.add_rates("EURUSD.raw", mt5.TIMEFRAME_M5, make_rates(ROWS))
    source = MT5Source(module=mt5, symbols={"eurusd": "EURUSD.raw"}, server_time="utc")
    frame = source.fetch("EURUSD", M5, START, END)
    assert len(frame) == 3
    assert ("symbol_select", ("EURUSD.raw", True)) in mt5.calls


def test_spread_uses_the_broker_point(mt5: FakeMT5) -> None:
    mt5.add_symbol("XAUUSD", digits=2)
    mt5.add_rates(
        "XAUUSD", mt5.TIMEFRAME_H1, make_rates([(T0, 2050.0, 2051.5, 2049.0, 2050.5, 9, 35, 0)])
    )
    frame = MT5Source(module=mt5, server_time="utc").fetch("XAUUSD", "H1", START, END)
    assert frame["spread"].tolist() == [0.35]


def test_empty_result_is_an_empty_valid_frame(mt5: FakeMT5) -> None:
    frame = MT5Source(module=mt5, server_time="utc").fetch("EURUSD", "H1", START, END)
    assert frame.empty and list(frame.columns) == [
        "open",
        "high",
        "low",
        "close",
        "volume",
        "spread",
    ]
    assert str(frame.index.tz) == "UTC"
    assert MT5Source(module=mt5, server_time="utc").fetch("EURUSD", M5, END, START).empty


def test_initialize_failure_reports_last_error(mt5: FakeMT5) -> None:
    mt5.fail("initialize", mt5.RES_E_INTERNAL_FAIL_INIT, "IPC initialize failed")
    with pytest.raises(DataError, match=r"initialize\(\) failed.*-10003.*IPC initialize failed"):
        MT5Source(module=mt5, server_time="utc").fetch("EURUSD", M5, START, END)
    assert "shutdown" not in [name for name, _ in mt5.calls]


def test_wrong_login_fails_initialize(mt5: FakeMT5) -> None:
    with pytest.raises(DataError, match="Authorization failed"):
        MT5Source(login=1, password="x", server="Fake-Demo", module=mt5, server_time="utc").fetch(
            "EURUSD", M5, START, END
        )


def test_unknown_symbol_reports_last_error(mt5: FakeMT5) -> None:
    with pytest.raises(DataError, match=r"does not know symbol 'GBPUSD'.*-4"):
        MT5Source(module=mt5, server_time="utc").fetch("GBPUSD", M5, START, END)
    assert mt5.calls[-1][0] == "shutdown"


def test_none_return_reports_last_error(mt5: FakeMT5) -> None:
    def broken(*args, **kwargs):
        mt5._error(mt5.RES_E_FAIL, "Terminal: Call failed")
        return None

    mt5.copy_rates_range = broken  # type: ignore[method-assign]
    with pytest.raises(DataError, match=r"\(-1, 'Terminal: Call failed'\)"):
        MT5Source(module=mt5, server_time="utc").fetch("EURUSD", M5, START, END)


def test_bad_bars_from_the_terminal_are_validation_errors(mt5: FakeMT5) -> None:
    bad = [*ROWS[:2], (T0 + 600, 1.1039, 1.1030, 1.1040, 1.1031, 77, 10, 0)]  # high < low
    mt5.add_rates("EURUSD", mt5.TIMEFRAME_M5, make_rates(bad))
    with pytest.raises(DataValidationError, match=r"mt5:EURUSD: row 2 .*high < low"):
        MT5Source(module=mt5, server_time="utc").fetch("EURUSD", M5, START, END)


def test_manage_connection_false_leaves_the_connection_alone(mt5: FakeMT5) -> None:
    assert mt5.initialize()
    frame = MT5Source(module=mt5, manage_connection=False, server_time="utc").fetch(
        "EURUSD", M5, START, END
    )
    assert len(frame) == 3 and mt5.initialized
    assert [n for n, _ in mt5.calls].count("initialize") == 1


def test_missing_package_says_windows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "MetaTrader5", None)  # makes `import` raise ImportError
    source = MT5Source()  # constructing is fine; the import happens on use
    with pytest.raises(ConfigError, match=r"Windows only.*module=") as err:
        source.fetch("EURUSD", M5, START, END)
    assert "pip install MetaTrader5" in str(err.value)


def test_package_is_imported_lazily(monkeypatch: pytest.MonkeyPatch, mt5: FakeMT5) -> None:
    monkeypatch.setitem(sys.modules, "MetaTrader5", mt5)
    assert len(MT5Source(server_time="utc").fetch("EURUSD", M5, START, END)) == 3


@pytest.mark.parametrize(
    ("name", "constant"),
    [
        ("M1", 1),
        ("M5", 5),
        ("M15", 15),
        ("M30", 30),
        ("H1", 16385),
        ("H4", 16388),
        ("D1", 16408),
        ("W1", 32769),
    ],
)
def test_timeframe_constants(name: str, constant: int) -> None:
    assert timeframe_constant(FakeMT5(), name) == constant


def test_timeframe_without_constant() -> None:
    class Bare:
        TIMEFRAME_M1 = 1

    with pytest.raises(ConfigError, match="no H1 timeframe"):
        timeframe_constant(Bare(), "H1")


def test_invalid_options() -> None:
    with pytest.raises(ConfigError, match="whole minutes"):
        MT5Source(module=FakeMT5(), server_time="+30")
    with pytest.raises(ConfigError, match="volume"):
        MT5Source(module=FakeMT5(), volume="ticks")  # type: ignore[arg-type]


def test_rates_to_frame_checks_fields() -> None:
    wrong = np.zeros(1, dtype=[("time", "<i8"), ("open", "<f8")])
    with pytest.raises(DataError, match="lacks fields"):
        rates_to_frame(wrong, 0.00001)
    assert rates_to_frame(np.empty(0, dtype=RATES_DTYPE), 0.00001).empty


def test_fake_follows_the_package_shapes(mt5: FakeMT5) -> None:
    assert mt5.copy_rates_range("EURUSD", mt5.TIMEFRAME_M5, T0, T0 + 600) is None  # not initialized
    assert mt5.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_INIT
    assert mt5.initialize()
    rates = mt5.copy_rates_range("EURUSD", mt5.TIMEFRAME_M5, T0, T0 + 300)
    assert rates.dtype == RATES_DTYPE and len(rates) == 2  # both ends inclusive
    last_two = mt5.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_M5, 0, 2)
    assert last_two["time"].tolist() == [T0 + 300, T0 + 600]  # oldest first
    info = mt5.symbol_info("EURUSD")
    assert (info.point, info.digits, info.visible) == (0.00001, 5, True)
    tick = mt5.symbol_info_tick("EURUSD")
    assert tick.ask > tick.bid
    assert mt5.account_info().currency == "USD"
    assert mt5.copy_rates_range("EURUSD", 7, T0, T0) is None  # no such timeframe
    assert mt5.last_error()[0] == mt5.RES_E_INVALID_PARAMS
