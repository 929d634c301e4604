"""The conversion bars a run in an account currency needs, from the bar cache."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.data.cache import ParquetStore
from tradeforge.trading.fx import plan_conversion
from tradeforge.trading.spec import RunSpec


def load_conversion(spec: RunSpec, home: str | Path) -> tuple[RunSpec, dict[str, pd.DataFrame]]:
    """For every symbol of ``spec`` whose money needs a third currency and has no constant
    rate in ``spec.conversion``: the bars of ``{QUOTE}{ACCOUNT}`` (or ``{ACCOUNT}{QUOTE}``)
    on the spec's timeframe in the bar store at ``home`` (a path or an fsspec URL, as
    `ParquetStore`: the store the run reads its bars from) — their close, all a rate reads —
    from a little before ``start`` so the first traded bar has a completed conversion bar.
    Returns the spec recording them as ``"bars"`` and the bars by conversion symbol."""
    if spec.account_currency is None or spec.timeframe is None:
        return spec, {}
    account, tf = spec.account_currency, spec.timeframe
    store = ParquetStore(home)
    first = to_utc(spec.start, "start")
    if first is not None:
        first = first - max(pd.Timedelta(days=7), 3 * Timeframe.parse(tf).delta)
    known: dict[str, float | str] = dict(spec.conversion)
    bars: dict[str, pd.DataFrame] = {}
    for sym in spec.symbols:
        plan = plan_conversion(spec.instrument(sym), account, known)
        if plan.symbol is None or plan.symbol in known:
            continue
        inverse = plan.symbol[3:] + plan.symbol[:3]
        for name in (plan.symbol, inverse):
            try:
                bars[name] = store.load(name, tf, first, spec.end, columns=["close"])
            except DataError:
                continue
            known[name] = "bars"
            break
        else:
            raise ConfigError(
                f"{sym} with a {account} account needs {plan.symbol} (or {inverse}) bars on "
                f"{tf}: download them into the cache, or give a constant with "
                f"--fx-rate {plan.symbol}=RATE"
            )
    return replace(spec, conversion=known), bars
