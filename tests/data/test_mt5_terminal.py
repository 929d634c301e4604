"""Broker symbol names and metadata (`MT5Terminal`), and ``tradeforge data mt5`` through the
installed console script with a stand-in ``MetaTrader5`` module, across a DST switch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.support.fake_mt5 import FakeMT5
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.mt5_terminal import MT5Terminal, SymbolSpec

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("tradeforge")


def fake_with(*names: str) -> FakeMT5:
    mt5 = FakeMT5()
    for name in names:
        mt5.add_symbol(name)
    mt5.initialize()
    return mt5


@pytest.mark.parametrize("name", ["EURUSD.r", "EURUSDm", "m.EURUSD", "EURUSD.raw"])
def test_a_decorated_broker_name_is_found(name: str) -> None:
    term = MT5Terminal(fake_with(name, "GBPUSD.r", "EURUSDTX2000"), server_time="utc")
    assert term.broker_symbol("eurusd") == name
    assert term.tradeforge_symbol(name) == "EURUSD"


def test_the_plain_name_wins_and_several_candidates_are_an_error() -> None:
    assert MT5Terminal(fake_with("EURUSD", "EURUSD.r")).broker_symbol("EURUSD") == "EURUSD"
    with pytest.raises(ConfigError, match=r"EURUSD\.r, EURUSDm; name one with --broker-symbol"):
        MT5Terminal(fake_with("EURUSD.r", "EURUSDm")).broker_symbol("EURUSD")
    with pytest.raises(DataError, match="does not know symbol 'USDJPY'"):
        MT5Terminal(fake_with("EURUSD.r")).broker_symbol("USDJPY")


def test_explicit_names_and_patterns() -> None:
    mt5 = fake_with("EURUSD.r", "EURUSDm")
    assert MT5Terminal(mt5, symbols={"eurusd": "EURUSDm"}).broker_symbol("EURUSD") == "EURUSDm"
    assert MT5Terminal(mt5, symbol_pattern="{symbol}.r").broker_symbol("EURUSD") == "EURUSD.r"
    with pytest.raises(ConfigError, match="must contain"):
        MT5Terminal(mt5, symbol_pattern=".r")


def test_metadata_comes_from_symbol_info() -> None:
    mt5 = FakeMT5()
    mt5.add_symbol("XAUUSD.r", digits=2, contract_size=100.0, filling_mode=2, volume_min=0.1,
                   volume_step=0.1, volume_max=50.0, stops_level=30, freeze_level=10,
                   expiration_mode=5, visible=False)  # fmt: skip
    mt5.initialize()
    spec = MT5Terminal(mt5).spec("XAUUSD")
    assert spec == SymbolSpec("XAUUSD.r", 2, 0.01, 100.0, 0.1, 0.1, 50.0, 2, 30, 10, 5)
    assert ("symbol_select", ("XAUUSD.r", True)) in mt5.calls  # hidden: put in Market Watch


SHIM = """
import sys
from tests.support.fake_mt5 import FakeMT5, make_rates

S = 1710028800  # 2024-03-10 00:00 UTC
fake = FakeMT5(login=5550001)
fake.add_symbol("EURUSDm", digits=5)
stamps = [S + 7 * 3600, S + 8 * 3600, S + 10 * 3600, S + 11 * 3600]  # server clock, NY close
fake.add_rates("EURUSDm", fake.TIMEFRAME_H1, make_rates(
    [(t, 1.1, 1.1003, 1.0998, 1.1001, 10, 12, 0) for t in stamps]))
sys.modules[__name__] = fake
"""


def run_script(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "MetaTrader5.py").write_text(SHIM, encoding="utf-8")
    environ = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}", **env}
    environ.pop("MT5_SERVER_TIME", None)
    return subprocess.run([str(SCRIPT), "data", "mt5", *args], capture_output=True, text=True,
                          env={**environ, **env}, timeout=120)  # fmt: skip


def test_data_mt5_console_script_across_the_spring_switch(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run_script(
        tmp_path, "-s", "EURUSD", "-t", "H1", "--start", "2024-03-10T05:00",
        "--end", "2024-03-10T09:00", "--server-time", "ny", "--home", str(home),
        MT5_LOGIN="5550001", MT5_BROKER_SYMBOL="{symbol}m",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    frame = ParquetStore(home).load("EURUSD", "H1")
    hours = ["2024-03-10 05:00", "2024-03-10 06:00", "2024-03-10 07:00", "2024-03-10 08:00"]
    assert list(frame.index) == [pd.Timestamp(h, tz="UTC") for h in hours]


def test_data_mt5_bad_server_time_is_one_line_exit_2(tmp_path: Path) -> None:
    done = run_script(
        tmp_path, "-s", "EURUSD", "-t", "H1", "--start", "2024-03-10", "--end", "2024-03-11",
        "--server-time", "Mars/Olympus", "--home", str(tmp_path / "home"),
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown server time 'Mars/Olympus'" in done.stderr and "Traceback" not in done.stderr


def test_live_options_build_the_session_terminal(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from tradeforge.cli import app

    captured: dict = {}
    monkeypatch.setattr("tradeforge.live.runner.run_live", lambda *a, **kw: captured.update(kw))
    monkeypatch.setenv("MT5_PATH", r"C:\MT5\terminal64.exe")
    monkeypatch.setenv("MT5_LOGIN", "5550001")
    result = CliRunner().invoke(app, [
        "live", "--state", str(tmp_path / "s"), "--strategy", "sma_cross", "-s", "EURUSD",
        "-t", "M5", "--server-time", "ny", "--broker-symbol", "{symbol}.r",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    term = captured["mt5"]
    assert isinstance(term, MT5Terminal) and term.credentials["path"] == r"C:\MT5\terminal64.exe"
    assert term.clock("EURUSD").label == "ny" and term.broker_symbol("EURUSD") == "EURUSD.r"
    assert captured["login"] == {"login": 5550001}
