"""Shared helpers for live tests: a small replay spec, result extraction, and a test strategy
with limit/stop entries (``test_pending_cross``, registered on import so the crash tests' fork
server can run it too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from tests.conftest import make_bars
from tradeforge.core.instruments import Instrument
from tradeforge.live.brokers.paper import PAPER_FILE
from tradeforge.live.persist import read_document
from tradeforge.live.state import StateRepository
from tradeforge.strategy.base import Strategy, StrategyParams
from tradeforge.strategy.registry import register_strategy
from tradeforge.strategy.signals import Signals, Target, make_signals
from tradeforge.trading.execution import ExecutionModel, Sizing
from tradeforge.trading.spec import LiveSettings, RunSpec

AUDIT_KINDS = ("start", "reconcile")  # records that legitimately differ between runs


_EXECUTION = ("spread", "slippage", "commission", "swap_long", "swap_short", "seed")


def small_spec(tmp: Path, n_bars: int = 200, seed: int = 5, **overrides: Any) -> RunSpec:
    """A dry-run spec on ``n_bars`` test bars; ``overrides`` name fields of `RunSpec`,
    `LiveSettings` or the execution model (``slippage`` as text, ``sizing`` as text too)."""
    bars_file = tmp / f"bars_{n_bars}_{seed}.parquet"
    if not bars_file.exists():
        make_bars(n_bars, seed=seed).to_parquet(bars_file)
    execution: dict[str, Any] = {"commission": 3.0, "slippage": "0.2"}
    live: dict[str, Any] = {"bars_file": str(bars_file), "window": 36, "close_at_end": True}
    values: dict[str, Any] = dict(
        strategy="sma_cross",
        symbols=("EURUSD",),
        timeframe="M5",
        start="2024-01-01 03:00",
        end="2025-01-01",
        params={"fast": 3, "slow": 12, "stop_pips": 6, "target_pips": 8},
        sizing="risk:1",
    )
    if "slippage_seed" in overrides:  # the former DryRunSpec's name of the seed
        overrides["seed"] = overrides.pop("slippage_seed")
    for key, value in overrides.items():
        target = live if key in LiveSettings.__dataclass_fields__ else values
        (execution if key in _EXECUTION else target)[key] = value
    slippage = ExecutionModel.parse_slippage(execution.pop("slippage"))
    values["execution"] = ExecutionModel(**execution, **slippage)
    values["sizing"] = Sizing.parse(values["sizing"])
    return RunSpec(**values, live=LiveSettings(**live))


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


def write_spec(path: Path, spec: RunSpec) -> Path:
    path.write_text(json.dumps(spec.to_dict()))
    return path


class PendingCrossParams(StrategyParams):
    fast: int = Field(4, ge=1)
    slow: int = Field(15, ge=2)
    entry: str = "limit"  # limit: a pullback of offset_pips; stop: a push of offset_pips
    offset_pips: float = Field(1.5, gt=0)
    expiry: int = Field(3, ge=1)
    stop_pips: float = Field(8.0, gt=0)
    target_pips: float = Field(10.0, gt=0)
    exit_on_opposite: bool = False


@register_strategy
class PendingCross(Strategy):
    """Test strategy: on an SMA cross, a limit (or stop) entry ``offset_pips`` from the close,
    live for ``expiry`` bars; tags ``long`` / ``short``."""

    name = "test_pending_cross"
    Params = PendingCrossParams
    params: PendingCrossParams

    def features(self) -> list[str]:
        return [f"sma({self.params.fast})", f"sma({self.params.slow})"]

    def signals(self, frame: pd.DataFrame, instrument: Instrument | str | None = None) -> Signals:
        p = self.params
        inst = self.resolve_instrument(frame, instrument)
        fast = self.column(frame, f"sma_{p.fast}")
        slow = self.column(frame, f"sma_{p.slow}")
        close = self.column(frame, "close")
        above = fast > slow
        below = fast < slow
        up = np.zeros(len(frame), dtype=bool)
        down = np.zeros(len(frame), dtype=bool)
        up[1:] = above[1:] & ~above[:-1] & np.isfinite(slow[:-1])
        down[1:] = below[1:] & ~below[:-1] & np.isfinite(slow[:-1])
        bars = np.flatnonzero(up | down)
        side = np.where(up[bars], 1, -1)
        towards = -1 if p.entry == "limit" else 1  # limit: better price; stop: worse
        price = close[bars] + side * towards * p.offset_pips * inst.pip_size
        return make_signals(
            len(frame),
            bars,
            side,
            tag=(side < 0).astype(np.int64),
            tag_names=("long", "short"),
            entry=p.entry,
            entry_price=price,
            expiry=p.expiry,
            stop_distance=p.stop_pips * inst.pip_size,
            targets=[Target(p.target_pips * inst.pip_size, 1.0, "distance")],
            exit_opposite=p.exit_on_opposite,
        )


def backtest_of(spec: RunSpec, bars: pd.DataFrame):
    """The backtest of a dry-run's own settings on the same bars (what the dry-run must give)."""
    from tradeforge.backtest.runner import run_backtest

    return run_backtest(spec.create_strategy(), {spec.symbols[0]: bars}, spec)


def positions_of(state: dict[str, Any]) -> dict[str, Any]:
    """Every strategy's open positions (stored form) of a stored state, by client id."""
    return {k: v for b in state["strategies"].values() for k, v in b["positions"].items()}
