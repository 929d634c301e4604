"""The MT5 password comes from a file or an environment variable, never needed in argv
(``data mt5`` and ``live``), against the package stand-in (tests/support/fake_mt5.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.support.fake_mt5 import FakeMT5, make_rates
from tradeforge.cli import app
from tradeforge.core.errors import ConfigError
from tradeforge.core.secrets import read_secret
from tradeforge.live.brokers.mt5 import MT5Broker

T0 = 1704153600  # 2024-01-02 00:00:00 UTC
ROWS = [(T0 + 300 * i, 1.1, 1.1002, 1.0998, 1.1001, 10, 12, 0) for i in range(3)]
LOGIN = 12345678
runner = CliRunner()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeMT5:
    mt5 = FakeMT5(login=LOGIN)
    mt5.add_symbol("EURUSD", digits=5)
    mt5.add_rates("EURUSD", mt5.TIMEFRAME_M5, make_rates(ROWS))
    monkeypatch.setitem(sys.modules, "MetaTrader5", mt5)
    monkeypatch.delenv("MT5_PASSWORD", raising=False)
    monkeypatch.setenv("MT5_SERVER_TIME", "utc")  # the option's environment variable
    return mt5


def _data_mt5(tmp_path: Path, *extra: str) -> Any:
    args = ["data", "mt5", "-s", "EURUSD", "-t", "M5", "--start", "2024-01-02",
            "--end", "2024-01-03", "--login", str(LOGIN), "--home", str(tmp_path / "home"),
            *extra]  # fmt: skip
    return runner.invoke(app, args)


def test_data_mt5_password_from_the_default_environment_variable(
    tmp_path: Path, fake: FakeMT5, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MT5_PASSWORD", "from-env")
    result = _data_mt5(tmp_path)
    assert result.exit_code == 0, result.output
    assert fake.init_kwargs["password"] == "from-env"
    assert fake.init_kwargs["login"] == LOGIN


def test_data_mt5_password_from_a_named_variable_or_a_file(
    tmp_path: Path, fake: FakeMT5, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_PW", "named")
    assert _data_mt5(tmp_path, "--password-env", "BROKER_PW").exit_code == 0
    assert fake.init_kwargs["password"] == "named"
    secret = tmp_path / "pw.txt"
    secret.write_text("from-file\n", encoding="utf-8")
    result = _data_mt5(tmp_path, "--password-file", str(secret))
    assert result.exit_code == 0, result.output
    assert fake.init_kwargs["password"] == "from-file"


def test_data_mt5_without_a_password_uses_the_terminal_login(tmp_path: Path, fake: FakeMT5):
    assert _data_mt5(tmp_path).exit_code == 0
    assert fake.init_kwargs["password"] is None


def test_data_mt5_argv_password_still_works_with_a_warning(tmp_path: Path, fake: FakeMT5):
    result = _data_mt5(tmp_path, "--password", "argv")
    assert result.exit_code == 0, result.output
    assert fake.init_kwargs["password"] == "argv"
    assert "visible to other users in the process list" in result.output


def test_missing_password_file_is_a_clear_error(tmp_path: Path, fake: FakeMT5) -> None:
    result = _data_mt5(tmp_path, "--password-file", str(tmp_path / "nope.txt"))
    assert isinstance(result.exception, ConfigError)
    assert "MT5 password file not found" in str(result.exception)
    assert not fake.calls  # nothing was attempted with a missing secret


def test_read_secret_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", "env")
    empty = tmp_path / "empty"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="is empty"):
        read_secret("PW", empty)
    assert read_secret("PW", None) == "env"
    monkeypatch.setenv("PW", "")
    assert read_secret("PW", None) is None


def test_live_passes_credentials_from_a_file_to_the_terminal(
    tmp_path: Path, fake: FakeMT5, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured: dict[str, Any] = {}
    monkeypatch.setattr("tradeforge.live.runner.run_live", lambda *a, **kw: captured.update(kw))
    secret = tmp_path / "pw.txt"
    secret.write_text("s3cret\n", encoding="utf-8")
    result = runner.invoke(app, [
        "live", "--state", str(tmp_path / "state"), "--strategy", "sma_cross", "-s", "EURUSD",
        "-t", "M5", "--login", str(LOGIN), "--server", "Fake-Demo", "--password-file", str(secret),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert captured["login"] == {"login": LOGIN, "server": "Fake-Demo", "password": "s3cret"}
    MT5Broker(fake, **captured["login"])  # what run_live does with it
    assert fake.init_kwargs["password"] == "s3cret"


def test_live_missing_password_file_is_refused(tmp_path: Path, fake: FakeMT5) -> None:
    result = runner.invoke(app, [
        "live", "--state", str(tmp_path / "state"), "--strategy", "sma_cross", "-s", "EURUSD",
        "-t", "M5", "--password-file", str(tmp_path / "missing"),
    ])  # fmt: skip
    assert isinstance(result.exception, ConfigError)
    assert "MT5 password file not found" in str(result.exception)
