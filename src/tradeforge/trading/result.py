"""The backtest result contract consumed by analytics, plotting, research and the CLI.

Column schemas are fixed here so that every consumer (reports, charts, walk-forward,
consistency checks against dry-run trades) reads the same names.

Money columns are in the account currency: the instrument's quote currency unless the run
names an ``account_currency`` (``run.json`` config; see `tradeforge.trading.fx`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: One row per trade. Times are tz-aware UTC; ``side`` is "long"/"short"; ``exit_price`` is the
#: size-weighted average of the legs; ``exit_reason`` is the last leg's reason.
TRADE_COLUMNS: tuple[str, ...] = (
    "trade_id",  # int, 0.. in entry order (ties broken by symbol)
    "symbol",
    "tag",
    "side",  # "long" | "short"
    "signal_time",  # bar whose close produced the signal
    "entry_time",  # open time of the fill bar (signal bar + 1 for market entries)
    "entry_price",  # fill price incl. spread and slippage
    "exit_time",  # time of the last leg
    "exit_price",  # size-weighted average exit price
    "size",  # lots
    "initial_stop",  # price
    "risk",  # money at risk at entry: size * contract_size * |entry - initial_stop|
    "pnl",  # net money PnL incl. commission and swap
    "commission",  # total commission paid (positive number)
    "r_multiple",  # pnl / risk, both in quote currency (the same for any account currency)
    "exit_reason",  # stop | target | breakeven | trailing | time | signal | end
    "bars_held",  # bars from entry bar to exit bar
)

#: One row per exit leg (a partial close or the final close).
LEG_COLUMNS: tuple[str, ...] = (
    "trade_id",
    "symbol",
    "tag",
    "side",
    "time",  # bar open time of the bar in which the leg filled
    "price",
    "size",  # lots closed by this leg
    "pnl",  # net money PnL of this leg (commission of the leg included)
    "reason",
)

#: Equity curve: index = bar open times (UTC), marked to market at each bar's close.
EQUITY_COLUMNS: tuple[str, ...] = (
    "equity",  # balance + open PnL at the bar close
    "balance",  # realized: initial capital + closed PnL so far
    "open_positions",  # number of open trades at the bar close
)

#: Version of the run-folder layout (``run.json`` key ``schema_version``); bump on any change
#: to the files or their columns.
RUN_SCHEMA_VERSION = 1
RUN_FILES: tuple[str, ...] = ("trades.csv", "legs.csv", "equity.csv", "run.json")

EXIT_REASONS: tuple[str, ...] = ("stop", "target", "breakeven", "trailing", "time", "signal", "end")


@dataclass
class BacktestResult:
    """Everything a backtest produced, plus what is needed to reproduce it."""

    trades: pd.DataFrame
    legs: pd.DataFrame
    equity: pd.DataFrame
    initial_capital: float
    counters: dict[str, int] = field(
        default_factory=dict
    )  # signals, ignored_dedup, filled, expired
    config: dict[str, Any] = field(default_factory=dict)  # strategy, params, execution model, …
    checksums: dict[str, str] = field(default_factory=dict)  # data checksum per symbol/timeframe
    #: Signals table of each symbol, as the strategy produced them (kept for charts and analysis;
    #: not part of the run folder). Empty when the result was loaded from disk.
    signals: dict[str, Any] = field(default_factory=dict)
    #: How the run was executed (``backend``: serial / threads / dask, ``workers``,
    #: ``reason``); not part of the run folder, which is the same whichever backend ran.
    execution: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, cols in (("trades", TRADE_COLUMNS), ("legs", LEG_COLUMNS)):
            frame = getattr(self, name)
            missing = [c for c in cols if c not in frame.columns]
            if missing:
                raise ValueError(f"BacktestResult.{name} lacks columns {missing}")
        missing = [c for c in EQUITY_COLUMNS if c not in self.equity.columns]
        if missing:
            raise ValueError(f"BacktestResult.equity lacks columns {missing}")
