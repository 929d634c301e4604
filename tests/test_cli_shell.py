"""The command shell as a user meets it: the installed console script, run in a subprocess.

CliRunner never goes through ``main()``, so it hid a traceback shown on every usage mistake;
these tests run the real ``tradeforge`` executable and check exit code, message and that no
Python traceback reaches the terminal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tradeforge

SCRIPT = Path(sys.executable).with_name("tradeforge")
pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")


def tradeforge_cmd(*args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    """Run the console script; with ``home``, inside it (as cwd and data root)."""
    env = {**os.environ, "TRADEFORGE_HOME": str(home)} if home else None
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=180, env=env, cwd=home
    )


# (arguments, exit code, text expected in the output)
USAGE_MISTAKES = [
    (["backtst"], 2, "No such command 'backtst'. Did you mean 'backtest'?"),
    (["backtest", "--nope"], 2, "No such option: --nope"),
    (["data", "import", "bars.csv", "--symbol", "EURUSD"], 2, "Missing option '--timeframe'"),
    (["backtest", "--param", "fast", "5"], 2, "unexpected extra argument"),
    (["backtest", "--strategy", "sma_cross", "--param", "fast"], 2, "must look like name=value"),
    (
        ["data", "import", "no-such-file.csv", "-s", "EURUSD", "-t", "H1"],
        2,
        "'no-such-file.csv' does not exist",
    ),
    (["data", "synth", "-s", "EURUSX"], 2, "unknown symbol 'EURUSX'; did you mean EURUSD"),
    (["analyze", "r"], 2, "Missing option '--run'"),
    ([], 0, "Commands:"),
    (["data"], 0, "Commands:"),
    (["analyze"], 0, "consistency"),
    (["--help"], 0, "Usage: tradeforge"),
    (["--version"], 0, f"tradeforge {tradeforge.__version__}"),
]


@pytest.mark.parametrize(
    ("args", "code", "text"),
    USAGE_MISTAKES,
    ids=[" ".join(a) or "(bare)" for a, _, _ in USAGE_MISTAKES],
)
def test_usage_mistakes_get_a_short_message_and_an_exit_code(args, code, text, tmp_path):
    (tmp_path / "bars.csv").write_text("time,open,high,low,close\n")
    r = tradeforge_cmd(*args, home=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == code, out
    assert text in out
    assert "Traceback" not in out
    if code == 2:  # short: a usage line, a hint and the error; never a page of output
        assert len(r.stderr.splitlines()) <= 6, r.stderr


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    assert tradeforge.__version__ == version("tradeforge")


@pytest.mark.parametrize(("actual", "code", "verdict"), [("empty", 1, "FAIL"), ("same", 0, "PASS")])
def test_a_failed_consistency_check_exits_1(actual, code, verdict, tmp_path):
    header = "symbol,side,tag,entry_time,exit_time,entry_price,exit_price,size,pnl,r_multiple,exit_reason\n"
    trades = tmp_path / "trades.csv"
    trades.write_text(
        header + "EURUSD,1,x,2024-01-02T10:00:00Z,2024-01-02T12:00:00Z,1.1,1.101,1,100,1,target\n"
    )
    (tmp_path / "empty.csv").write_text(header)
    other = trades if actual == "same" else tmp_path / "empty.csv"
    r = tradeforge_cmd(
        "analyze", "consistency", "--expected", str(trades), "--actual", str(other),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert r.returncode == code, r.stdout + r.stderr
    assert verdict in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_ctrl_c_prints_a_message_and_exits_130(tmp_path):
    from tests.live.helpers import small_spec

    spec = small_spec(tmp_path)
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [str(SCRIPT), "dry-run", "--state", str(state), "--strategy", "sma_cross",
         "-p", "fast=3", "-p", "slow=12", "--symbol", "EURUSD", "--timeframe", "M5",
         "--replay", "2024-01-01T03:00..2025-01-01", "--bars", spec.live.bars_file,
         "--window", "36", "--pace", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (state / "journal.jsonl").exists() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3)  # well inside the paced replay
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    assert "Traceback" not in out + err


def test_the_command_needs_no_click_package():
    """typer 0.29 vendors click; `click` itself is not a dependency of ours (dask brings it in
    the test environment, a plain install has none)."""
    code = (
        "import sys; sys.modules['click'] = None\n"
        "from tradeforge.cli import main\n"
        "main(['backtest', '--capital', '-1', '--start', '2024-01-01'])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "--capital must be > 0" in r.stderr and "Traceback" not in r.stderr


def _compiled_call_interrupted(**_: object) -> None:
    """What a Ctrl-C inside a Numba-compiled call raises when it lands while Numba runs Python
    (compiling, loading its cache): a SystemError caused by the KeyboardInterrupt."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        raise SystemError("CPUDispatcher(f) returned a result with an exception set") from exc


def test_ctrl_c_inside_a_compiled_call_still_exits_130(monkeypatch):
    import tradeforge.cli as cli

    monkeypatch.setattr(cli, "app", _compiled_call_interrupted)
    with pytest.raises(SystemExit) as stop:
        cli.main(["backtest"])
    assert stop.value.code == 130


def test_a_system_error_of_another_cause_is_not_taken_for_ctrl_c(monkeypatch):
    import tradeforge.cli as cli

    def broken(**_: object) -> None:
        raise SystemError("a real bug")

    monkeypatch.setattr(cli, "app", broken)
    with pytest.raises(SystemError, match="a real bug"):
        cli.main(["backtest"])


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


#: a C-level exit handler that aborts, as pyarrow's thread pool can when it is destroyed at exit
_ABORTING_TEARDOWN = "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.on_exit(libc.abort, None)\n"


def test_the_console_script_ends_before_a_native_teardown_can_abort_it():
    """The console script (`tradeforge._console.run`) keeps the command's exit code and output
    when a native library's teardown would abort the process; the bare `main` shows that
    teardown does abort (exit -6) — the failure the entry point prevents."""
    args = "import sys\nsys.argv = ['tradeforge', 'backtest', '--capital', '-1']\n"
    guarded = _python(_ABORTING_TEARDOWN + args + "from tradeforge._console import run\nrun()\n")
    assert guarded.returncode == 2, guarded.stderr
    assert "--capital must be > 0" in guarded.stderr and "Traceback" not in guarded.stderr
    bare = _python(_ABORTING_TEARDOWN + args + "from tradeforge.cli import main\nmain()\n")
    assert bare.returncode == -signal.SIGABRT, bare.stderr


def test_the_console_script_runs_the_commands_exit_handlers_and_flushes_its_output():
    code = (
        _ABORTING_TEARDOWN
        + "import atexit\nimport tradeforge.cli as cli\n"
        + "def command():\n"
        + "    atexit.register(lambda: print('handler ran', end=''))\n"
        + "    print('a' * 100_000, end='|')\n"
        + "    raise SystemExit(3)\n"
        + "cli.main = command\n"
        + "from tradeforge._console import run\nrun()\n"
    )
    r = _python(code)
    assert r.returncode == 3, r.stderr
    assert r.stdout == "a" * 100_000 + "|handler ran"
