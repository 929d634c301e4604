"""The report document: schema, JSON safety, determinism, the "no trades" case."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tests.analytics.helpers import make_result, seven_trades
from tradeforge.analytics import SCHEMA_VERSION, build_report, render_text
from tradeforge.analytics.sample import sample_result
from tradeforge.analytics.schema import (
    BREAKDOWN_FIELDS,
    BREAKDOWN_NAMES,
    PERIOD_NAMES,
    RUN_FIELDS,
    STABILITY_FIELDS,
    SUMMARY_FIELDS,
    TOP_LEVEL,
)


def _strict_loads(text: str):
    def bad(token):
        raise AssertionError(f"non-JSON constant {token}")

    return json.loads(text, parse_constant=bad)


@pytest.fixture(scope="module")
def sample():
    return sample_result(120, 4000, seed=5)[0]


def test_document_follows_the_schema(sample):
    doc = _strict_loads(build_report(sample).to_json())
    assert tuple(doc) == TOP_LEVEL
    assert doc["schema_version"] == SCHEMA_VERSION and doc["status"] == "ok"
    assert tuple(doc["run"]) == tuple(RUN_FIELDS)
    for section, fields in SUMMARY_FIELDS.items():
        assert tuple(doc["summary"][section]) == tuple(fields), section
    assert tuple(doc["breakdowns"]) == BREAKDOWN_NAMES
    for name, rows in doc["breakdowns"].items():
        assert rows and tuple(rows[0]) == (name, *BREAKDOWN_FIELDS)
    assert tuple(doc["periods"]) == PERIOD_NAMES
    for stab in doc["stability"].values():
        assert tuple(stab) == tuple(STABILITY_FIELDS)
    assert tuple(doc["series"]["daily"]) == ("date", "equity", "drawdown_pct")


def test_times_are_iso_utc(sample):
    doc = build_report(sample).to_dict()
    assert doc["run"]["start"].endswith("Z") and "T" in doc["run"]["start"]
    assert doc["summary"]["drawdown"]["trough_time"].endswith("Z")
    assert doc["stability"]["equal"]["table"][0]["start"].endswith("Z")


def test_json_is_deterministic(sample):
    assert build_report(sample).to_json() == build_report(sample).to_json()


def test_trade_order_does_not_change_the_report(sample):
    order = np.random.default_rng(0).permutation(len(sample.trades))
    shuffled = dataclasses.replace(sample, trades=sample.trades.iloc[order])
    assert build_report(shuffled).to_json() == build_report(sample).to_json()


def test_nan_values_become_null():
    rows = seven_trades()
    doc = _strict_loads(build_report(make_result(rows)).to_json())
    target = next(r for r in doc["breakdowns"]["exit_reason"] if r["exit_reason"] == "target")
    assert target["profit_factor"] is None


@pytest.mark.parametrize("with_equity", [True, False])
def test_no_trades_report(with_equity):
    equity = [10_000.0, 10_000.0, 10_000.0] if with_equity else None
    report = build_report(make_result([], equity=equity))
    assert report.no_trades and report.status == "no trades"
    doc = _strict_loads(report.to_json())
    assert doc["status"] == "no trades"
    assert doc["summary"]["trades"]["trades"] == 0
    assert all(rows == [] for rows in doc["breakdowns"].values())
    text = render_text(report)
    assert "no trades" in text


def test_text_report_is_plain_and_fixed_width(sample):
    text = render_text(build_report(sample))
    assert "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 110
    for needle in ("Net profit", "By tag", "By month", "Monthly returns", "Stability"):
        assert needle in text
