"""``tradeforge dry-run / status / kill / live`` through the real CLI app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.live.helpers import small_spec
from tradeforge.cli import app

runner = CliRunner()


def test_dry_run_status_kill(tmp_path):
    spec = small_spec(tmp_path)
    state = tmp_path / "state"
    args = [
        "dry-run", "--state", str(state), "--strategy", "sma_cross",
        "-p", "fast=3", "-p", "slow=12", "-p", "stop_pips=6", "-p", "target_pips=8",
        "--symbol", "EURUSD", "--timeframe", "M5", "--replay", "2024-01-01T03:00..2025-01-01",
        "--bars", spec.live.bars_file, "--window", "36", "--close-at-end", "--commission", "3",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "closed trade(s)" in result.output
    # running again with only --state resumes (nothing left to do) with the stored settings
    again = runner.invoke(app, ["dry-run", "--state", str(state)])
    assert again.exit_code == 0, again.output
    status = runner.invoke(app, ["status", "--state", str(state)])
    assert status.exit_code == 0 and '"trades"' in status.output
    # status is a read-only observer: with a torn snapshot and a torn journal tail it reports
    # the recovered state but writes nothing into the (possibly running) session's directory
    (state / "state.json").write_bytes((state / "state.json").read_bytes()[:40])
    with open(state / "journal.jsonl", "ab") as fh:
        fh.write(b'{"seq": 99999, "torn')
    before = {p.name: p.read_bytes() for p in state.iterdir()}
    status = runner.invoke(app, ["status", "--state", str(state)])
    assert status.exit_code == 0, status.output
    assert "state.json.prev" in status.output and "not repaired" in status.output
    assert {p.name: p.read_bytes() for p in state.iterdir()} == before
    kill = runner.invoke(app, ["kill", "--state", str(state), "--reason", "lunch"])
    assert kill.exit_code == 0 and (state / "KILL").read_text().strip() == "lunch"
    log = [json.loads(x) for x in (state / "decisions.jsonl").read_text().splitlines()]
    assert {"start", "order", "filled", "exit"} <= {d["kind"] for d in log}


def test_dry_run_needs_a_replay_range(tmp_path):
    result = runner.invoke(
        app, ["dry-run", "--state", str(tmp_path / "s"), "--strategy", "sma_cross",
              "--symbol", "EURUSD", "--timeframe", "M5"],
    )  # fmt: skip
    assert result.exit_code != 0


def test_live_without_the_mt5_package_says_so(tmp_path):
    result = runner.invoke(
        app, ["live", "--state", str(tmp_path / "s"), "--strategy", "sma_cross",
              "--symbol", "EURUSD", "--timeframe", "M5"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "MetaTrader5 package is not installed" in str(result.exception) + result.output
