"""The session's state layout (schema 4): a one-strategy state (schema 3) migrates into a
session of one with every part in place, and a session of one started from the single-
strategy command line keeps its client ids and state layout."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tradeforge.live.migrations import (
    SCHEMA_VERSION,
    upgrade,
    v1_to_v2,
    v2_to_v3,
    v3_to_v4,
    v4_to_v5,
    v5_to_v6,
)
from tradeforge.live.schema import load_engine_state

FIXTURE = Path(__file__).parent / "fixtures" / "v1_session" / "state.json"
MOVED = ("positions", "pending", "queued", "atr", "signals")


def _v3() -> dict:
    v1 = json.loads(FIXTURE.read_text())["body"]
    return v2_to_v3(v1_to_v2(v1))


def test_v4_to_v5_records_that_every_strategy_trades_the_code_imported_at_start():
    v4 = v3_to_v4(_v3())
    v5 = v4_to_v5(copy.deepcopy(v4))
    assert v5["schema_version"] == 5
    (name,) = v4["strategies"]
    assert v5["strategies"][name] == {**v4["strategies"][name], "code": None}
    assert {k: v for k, v in v5.items() if k not in ("strategies", "schema_version")} == {
        k: v for k, v in v4.items() if k not in ("strategies", "schema_version")
    }
    assert load_engine_state(v5_to_v6(v5)).strategies[name].code is None


def test_v5_to_v6_starts_the_execution_guards_empty():
    v5 = v4_to_v5(v3_to_v4(_v3()))
    (name,) = v5["strategies"]
    v5["strategies"][name]["pending"] = {
        "x": {
            "signal": {},
            "signal_time": 1,
            "tag": "",
            "steps": 1,
            "lots": 0.01,
            "bars_left": None,
        }
    }
    v6 = v5_to_v6(copy.deepcopy(v5))
    assert v6["schema_version"] == 6 == SCHEMA_VERSION
    book, old = v6["strategies"][name], v5["strategies"][name]
    assert book["risk"] == {**old["risk"], "orders": [], "slips": []}
    assert book["pending"]["x"] == {**old["pending"]["x"], "ref": None}
    state = load_engine_state(v6)
    assert (
        state.strategies[name].risk.orders == [] and state.strategies[name].pending["x"].ref is None
    )
    assert v5_to_v6({"schema_version": 5, "strategies": {name: {"risk": 3}}})["schema_version"] == 6


def test_v3_to_v4_makes_the_one_strategy_a_session_of_one():
    v3 = _v3()
    assert v3["schema_version"] == 3 and v3["positions"]
    v4 = v3_to_v4(copy.deepcopy(v3))
    assert v4["schema_version"] == 4
    name = v3["identity"]["strategy"]
    assert list(v4["strategies"]) == [name] and "identity" not in v4
    book = v4["strategies"][name]
    assert book["identity"] == v3["identity"]
    for key in MOVED:  # moved unchanged from the top level into the strategy
        assert book[key] == v3[key] and key not in v4
    # its counters are the account's (which stay, as the totals); its own guard state waits
    # for the engine to fill in its capital, its parameters for the configuration's
    assert book["stats"] == {k: v3["stats"][k] for k in ("trades", "realized", "orders",
                                                          "expired")}  # fmt: skip
    assert v4["stats"] == v3["stats"]
    assert book["risk"] == {"capital": None, "day": None, "day_start": 0.0, "peak": 0.0}
    assert (book["params"], book["window"]) == (None, None)
    for key in ("daily", "risk", "control", "blackouts", "commands", "last_key"):
        assert v4[key] == v3[key]
    assert v4["last_symbol"] == v3["identity"]["symbol"]
    v5 = v4_to_v5(copy.deepcopy(v4))  # and schema 5 adds code versions
    v6 = v5_to_v6(copy.deepcopy(v5))  # and schema 6 the execution guards' state
    assert upgrade(v3) == v6  # the loader's path gives the same
    state = load_engine_state(v6)
    assert state.identity == state.strategies[name].identity  # a session of one
    assert state.positions == state.strategies[name].positions
    assert state.owner(next(iter(v3["positions"]))) == name


def test_v3_to_v4_leaves_a_malformed_body_to_the_validation():
    out = v3_to_v4({"schema_version": 3, "identity": 5, "stats": "x"})
    assert "strategies" not in out and out["schema_version"] == 4  # named by the validation
    out = v3_to_v4({"schema_version": 3, "last_key": None, "identity": {"strategy": "s"}})
    assert list(out["strategies"]) == ["s"] and out["last_symbol"] is None
