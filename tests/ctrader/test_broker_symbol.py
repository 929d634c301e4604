"""``--broker-symbol`` per broker: cTrader reads ``CTRADER_BROKER_SYMBOL``, MetaTrader 5 keeps
``MT5_BROKER_SYMBOL``, and neither broker's variable reaches a session of the other."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.ctrader.test_cli_download import SCRIPT, T0, download
from tradeforge.cli import app
from tradeforge.data.cache import ParquetStore
from tradeforge.data.sources.mt5_terminal import MT5Terminal

LIVE = ["--strategy", "sma_cross", "-s", "EURUSD", "-t", "M5"]


@pytest.fixture
def captured(monkeypatch):
    """What ``live`` hands to `run_live` (nothing connects)."""
    seen: dict = {}
    monkeypatch.setattr("tradeforge.live.runner.run_live", lambda *a, **kw: seen.update(kw))
    for name, value in {"CTRADER_CLIENT_ID": "a", "CTRADER_CLIENT_SECRET": "b",
                        "CTRADER_ACCESS_TOKEN": "c", "CTRADER_ACCOUNT_ID": "7"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    for name in ("MT5_BROKER_SYMBOL", "CTRADER_BROKER_SYMBOL"):
        monkeypatch.delenv(name, raising=False)
    return seen


def _live(tmp_path, *args):
    result = CliRunner().invoke(app, ["live", "--state", str(tmp_path / "s"), *LIVE, *args])
    assert result.exit_code == 0, result.output


def test_ctrader_reads_its_own_variable_and_ignores_mt5s(captured, tmp_path, monkeypatch):
    monkeypatch.setenv("MT5_BROKER_SYMBOL", "{symbol}.r")
    _live(tmp_path, "--broker", "ctrader")
    assert dict(captured["ctrader"].symbols) == {}  # the MT5 pattern is not a cTrader name
    monkeypatch.setenv("CTRADER_BROKER_SYMBOL", "EURUSD.c")
    _live(tmp_path, "--broker", "ctrader")
    assert dict(captured["ctrader"].symbols) == {"EURUSD": "EURUSD.c"}
    _live(tmp_path, "--broker", "ctrader", "--broker-symbol", "EURUSDx")  # the option wins
    assert dict(captured["ctrader"].symbols) == {"EURUSD": "EURUSDx"}


def test_mt5_still_reads_mt5_broker_symbol_and_not_ctraders(captured, tmp_path, monkeypatch):
    monkeypatch.setenv("CTRADER_BROKER_SYMBOL", "EURUSD.c")
    _live(tmp_path, "--broker", "mt5", "--server-time", "ny")
    term = captured["mt5"]
    assert isinstance(term, MT5Terminal) and term.symbols == {} and term.symbol_pattern is None
    monkeypatch.setenv("MT5_BROKER_SYMBOL", "{symbol}.r")
    _live(tmp_path, "--broker", "mt5", "--server-time", "ny")
    assert captured["mt5"].broker_symbol("EURUSD") == "EURUSD.r"


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
def test_download_takes_the_ctrader_name_from_the_environment(server, tmp_path):
    server.symbols[1].name = "EURUSD.c"
    server.set_bars(1, 12, np.array([[T0, 110_000, 110_500, 109_500, 110_200, 9000]]))
    base = ["-s", "EURUSD", "-t", "D1", "--start", "2024-01-01", "--end", "2024-01-02"]
    home = tmp_path / "home"
    r = download(server, home, *base, env={"MT5_BROKER_SYMBOL": "EURUSD.c"})
    assert r.returncode == 2 and "has no symbol 'EURUSD'" in r.stderr, r.stderr
    r = download(server, home, *base, env={"CTRADER_BROKER_SYMBOL": "EURUSD.c"})
    assert r.returncode == 0, r.stderr
    assert ParquetStore(home).load("EURUSD", "D1")["close"].tolist() == [1.102]
