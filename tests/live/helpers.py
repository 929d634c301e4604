"""Shared helpers for live tests: a small replay spec and result extraction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import make_bars
from tradeforge.live.brokers.paper import PAPER_FILE
from tradeforge.live.persist import read_document
from tradeforge.live.runner import DryRunSpec
from tradeforge.live.state import StateRepository

AUDIT_KINDS = ("start", "reconcile")  # records that legitimately differ between runs


def small_spec(tmp: Path, n_bars: int = 200, seed: int = 5, **overrides: Any) -> DryRunSpec:
    bars_file = tmp / f"bars_{n_bars}_{seed}.parquet"
    if not bars_file.exists():
        make_bars(n_bars, seed=seed).to_parquet(bars_file)
    values: dict[str, Any] = dict(
        strategy="sma_cross",
        symbol="EURUSD",
        timeframe="M5",
        start="2024-01-01 03:00",
        end="2025-01-01",
        params={"fast": 3, "slow": 12, "stop_pips": 6, "target_pips": 8},
        bars_file=str(bars_file),
        window=36,
        close_at_end=True,
        commission=3.0,
        slippage="0.2",
    )
    values.update(overrides)
    return DryRunSpec(**values)


def outcome(state_dir: Path) -> dict[str, Any]:
    """Everything that must not depend on crashes: state, broker, trades, trading journal."""
    state, _ = StateRepository(state_dir).load()
    state.pop("seq")
    broker = read_document(state_dir / PAPER_FILE)
    records = [
        {k: r.get(k) for k in ("kind", "event", "patch", "decisions", "trades")}
        for r in StateRepository(state_dir).records()
        if r.get("kind") not in AUDIT_KINDS
    ]
    return {"state": state, "broker": broker, "journal": records}


def write_spec(path: Path, spec: DryRunSpec) -> Path:
    path.write_text(json.dumps(spec.to_dict()))
    return path
