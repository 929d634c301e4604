"""``tradeforge data download --source ctrader`` through the installed console script, in a
subprocess, against the fake server over TLS on 127.0.0.1."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.ctrader.fake_server import ACCOUNT, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN
from tradeforge.data.cache import ParquetStore

SCRIPT = Path(sys.executable).with_name("tradeforge")
pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
T0 = 28_401_120  # 2024-01-01 00:00 UTC in minutes


def download(server, home, *args, env=None, account=True):
    environ = {
        **os.environ,
        "CTRADER_CLIENT_ID": CLIENT_ID,
        "CTRADER_CLIENT_SECRET": CLIENT_SECRET,
        "CTRADER_ACCESS_TOKEN": "token-1",
        **(env or {}),
    }
    environ = {k: v for k, v in environ.items() if v is not None}
    cmd = [
        str(SCRIPT),
        "data",
        "download",
        "--source",
        "ctrader",
        "--host",
        server.endpoint,
        "--ca-file",
        str(server.cert_file),
        "--home",
        str(home),
        *args,
    ]
    if account:
        cmd += ["--account-id", str(ACCOUNT)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=environ)


def m15_rows(n):
    """``n`` M15 bars from 2024-01-01 00:00: hand-checkable prices (1/100000)."""
    minutes = T0 + 15 * np.arange(n)
    low = 110_000 + 10 * np.arange(n)
    return np.column_stack([minutes, low + 4, low + 30, low, low + 20, 100 + np.arange(n)])


def test_download_pages_into_the_parquet_cache(server, tmp_path):
    server.set_bars(1, 7, m15_rows(96 * 3))  # three days of M15
    server.page_size = 50
    home = tmp_path / "home"
    r = download(
        server, home, "-s", "EURUSD", "-t", "M15", "--start", "2024-01-01", "--end", "2024-01-03"
    )
    assert r.returncode == 0, r.stderr
    assert "cached 192 M15 bars of EURUSD from cTrader" in r.stdout
    frame = ParquetStore(home).load("EURUSD", "M15")
    assert len(frame) == 192
    assert frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2024-01-02 23:45", tz="UTC")
    first, last = frame.iloc[0], frame.iloc[-1]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        1.10004,
        1.1003,
        1.1,
        1.1002,
        100.0,
    )
    assert (last.low, last.close) == (1.1191, 1.1193)  # bar 191: low 110000 + 1910
    assert [pt for pt, _ in server.requests].count(2137) >= 4  # 192 bars in pages of 50
    # a second, overlapping download merges into the cache
    r = download(
        server, home, "-s", "EURUSD", "-t", "M15", "--start", "2024-01-02", "--end", "2024-01-04"
    )
    assert r.returncode == 0, r.stderr
    assert len(ParquetStore(home).load("EURUSD", "M15")) == 288


def test_token_file_is_refreshed_and_rewritten(server, tmp_path):
    server.set_bars(1, 12, np.array([[T0, 110_000, 110_500, 109_500, 110_200, 9000]]))
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"access_token": "expired", "refresh_token": REFRESH_TOKEN}))
    r = download(
        server,
        tmp_path / "home",
        "-s",
        "EURUSD",
        "-t",
        "D1",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-02",
        "--token-file",
        str(tokens),
        env={"CTRADER_ACCESS_TOKEN": None},
    )
    assert r.returncode == 0, r.stderr
    saved = json.loads(tokens.read_text())
    assert (
        saved["access_token"] in server.tokens and saved["refresh_token"] in server.refresh_tokens
    )
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "args, env, message",
    [
        ([], {"CTRADER_CLIENT_SECRET": None}, "set the environment variable CTRADER_CLIENT_SECRET"),
        ([], {"CTRADER_CLIENT_SECRET": "wrong"}, "CH_CLIENT_AUTH_FAILURE"),
        (["-t", "W1"], {}, "cTrader serves M1, M2"),
        (["-s", "GBPUSD"], {}, "has no symbol 'GBPUSD'"),
    ],
)
def test_bad_input_is_one_line_exit_2(server, tmp_path, args, env, message):
    base = ["-s", "EURUSD", "-t", "H1", "--start", "2024-01-01", "--end", "2024-01-02"]
    r = download(server, tmp_path / "home", *base, *args, env=env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_unreachable_endpoint(server, tmp_path):
    port = server.port
    server.stop()
    r = subprocess.run(
        [
            str(SCRIPT),
            "data",
            "download",
            "--source",
            "ctrader",
            "-s",
            "EURUSD",
            "-t",
            "H1",
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-02",
            "--host",
            f"127.0.0.1:{port}",
            "--account-id",
            "1",
            "--home",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "CTRADER_CLIENT_ID": "a",
            "CTRADER_CLIENT_SECRET": "b",
            "CTRADER_ACCESS_TOKEN": "c",
        },
    )
    assert r.returncode == 2
    assert f"cannot connect to cTrader at 127.0.0.1:{port}" in r.stderr
    assert "Traceback" not in r.stderr


# The other refusals of the options, checked in-process (each would cost a subprocess start).


@pytest.mark.parametrize(
    "kwargs, env, message",
    [
        ({"account_id": None}, {}, "--account-id (or CTRADER_ACCOUNT_ID) is required"),
        ({"host": "127.0.0.1:http"}, {}, "HOST or HOST:PORT"),
        ({"ca_file": Path("/nonexistent.pem")}, {}, "--ca-file not found"),
        ({"token_file": Path("/nonexistent/t.json")}, {}, "cTrader token file not found"),
        ({}, {"CTRADER_ACCESS_TOKEN": ""}, "set the environment variable CTRADER_ACCESS_TOKEN"),
    ],
)
def test_connection_options_are_checked(monkeypatch, kwargs, env, message):
    from tradeforge.cli.ctrader import ctrader_connection
    from tradeforge.core.errors import ConfigError

    for name, value in {
        "CTRADER_CLIENT_ID": "a",
        "CTRADER_CLIENT_SECRET": "b",
        "CTRADER_ACCESS_TOKEN": "c",
        **env,
    }.items():
        monkeypatch.setenv(name, value)
    options = {"host": "127.0.0.1:5035", "account_id": 7, "ca_file": None, "token_file": None}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ctrader_connection(**{**options, **kwargs})


def test_token_file_contents_are_checked(tmp_path):
    from tradeforge.core.errors import ConfigError
    from tradeforge.ctrader import TokenFile

    path = tmp_path / "t.json"
    for body in ("[]", "{", '{"access_token": ""}', '{"access_token": "a", "refresh_token": 3}'):
        path.write_text(body)
        with pytest.raises(ConfigError, match=str(path)):
            TokenFile(path).load()
    path.write_text('{"access_token": "a"}')
    assert TokenFile(path).load() == ("a", "")
