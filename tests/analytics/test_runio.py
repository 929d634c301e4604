"""The run folder: round trip and clear errors."""

from __future__ import annotations

import json

import pytest

from tradeforge.analytics import RunFolderError, build_report, load_run
from tradeforge.analytics.sample import sample_result
from tradeforge.backtest import write_result
from tradeforge.core.errors import TradeforgeError


@pytest.fixture(scope="module")
def result():
    return sample_result(60, 3000, seed=2)[0]


def test_round_trip_gives_the_same_report(result, tmp_path):
    write_result(result, tmp_path / "run")
    loaded = load_run(tmp_path / "run")
    assert loaded.config == result.config and loaded.counters == result.counters
    assert len(loaded.equity) == len(result.equity)
    assert build_report(loaded).to_json() == build_report(result).to_json()


def test_missing_files_are_named(result, tmp_path):
    run = tmp_path / "run"
    write_result(result, run)
    (run / "legs.csv").unlink()
    (run / "run.json").unlink()
    with pytest.raises(RunFolderError, match=r"missing legs\.csv, run\.json"):
        load_run(run)


def test_missing_folder(tmp_path):
    with pytest.raises(TradeforgeError, match="does not exist"):
        load_run(tmp_path / "nope")


@pytest.mark.parametrize("version", [2, None, "1"])
def test_wrong_schema_version(result, tmp_path, version):
    run = tmp_path / "run"
    write_result(result, run)
    meta = json.loads((run / "run.json").read_text())
    if version is None:
        del meta["schema_version"]
    else:
        meta["schema_version"] = version
    (run / "run.json").write_text(json.dumps(meta))
    with pytest.raises(RunFolderError, match="schema_version"):
        load_run(run)


def test_missing_column_and_bad_time(result, tmp_path):
    run = tmp_path / "run"
    write_result(result, run)
    trades = (run / "trades.csv").read_text().replace("r_multiple", "r_mult", 1)
    (run / "trades.csv").write_text(trades)
    with pytest.raises(RunFolderError, match=r"trades\.csv lacks columns \['r_multiple'\]"):
        load_run(run)
    run2 = tmp_path / "run2"
    write_result(result, run2)
    lines = (run2 / "equity.csv").read_text().splitlines()
    lines[1] = "yesterday," + lines[1].split(",", 1)[1]
    (run2 / "equity.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RunFolderError, match="equity.csv.*time"):
        load_run(run2)


def test_empty_run_round_trip(tmp_path):
    from tests.analytics.helpers import make_result

    res = make_result([], equity=[100.0, 100.0], initial=100.0)
    write_result(res, tmp_path / "empty")
    loaded = load_run(tmp_path / "empty")
    assert len(loaded.trades) == 0
    assert build_report(loaded).no_trades


def test_round_trip_keeps_the_report(result, tmp_path):
    """What `write_result` writes, `load_run` reads back to the same report."""
    write_result(result, tmp_path / "bt")
    assert json.loads((tmp_path / "bt" / "run.json").read_text())["schema_version"] == 1
    loaded = load_run(tmp_path / "bt")
    assert build_report(loaded).to_json() == build_report(result).to_json()
