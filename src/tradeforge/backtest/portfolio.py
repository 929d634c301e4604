"""A shared-cash portfolio: several symbols trading one balance (`portfolio_kernel`).

`run_portfolio` hands the symbols' prepared arrays (`engine.prepare_symbol`) to the compiled
loop where they are (`portfolio_kernel.address_table`), runs it once and returns each
symbol's trades and legs (`SymbolRun`, trade ids local to the symbol, as from
`simulate_symbol`) with the account's one equity curve on the union of bar times, starting at the one initial capital.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tradeforge.backtest import kernel as K
from tradeforge.backtest import precompile
from tradeforge.backtest.engine import SymbolInputs, SymbolRun, bar_times, symbol_run
from tradeforge.backtest.portfolio_kernel import (
    END,
    address_table,
    simulate_portfolio,
    start_cursor,
)
from tradeforge.core.errors import ConfigError
from tradeforge.strategy.signals import pack_signals
from tradeforge.trading.result import EQUITY_COLUMNS
from tradeforge.trading.spec import RunSpec


def check_shared_money(spec: RunSpec) -> None:
    """Refuse one balance holding several currencies: without an account currency each
    symbol's money is in its quote currency, and a sum of dollars and yen sizes nothing."""
    if spec.portfolio != "shared" or spec.account_currency is not None:
        return
    quotes = {s: spec.instrument(s).quote_currency for s in spec.symbols}
    if len(set(quotes.values())) > 1:
        listed = ", ".join(f"{s} ({q})" for s, q in sorted(quotes.items()))
        raise ConfigError(
            f"a shared portfolio keeps one balance, but {listed} have money in different "
            "currencies: give an account currency (--account-currency USD) or run them as "
            "sub-accounts (--portfolio sub-accounts)"
        )


#: the kernel's per-symbol outputs (`kernel.allocate`), read back by `symbol_run`
_OUTPUTS = ("trades_i", "trades_f", "legs_i", "legs_f", "counters")
_WRITTEN_FIRST = ("trades_i", "trades_f", "legs_i", "legs_f")


def run_portfolio(
    inputs: Sequence[SymbolInputs], capital: float
) -> tuple[list[SymbolRun], pd.DataFrame]:
    """Simulate ``inputs`` on one balance of ``capital`` (same-time events in symbol-name
    order); returns the symbols' runs, sorted by symbol, and the account's equity curve."""
    inputs = sorted(inputs, key=lambda x: x.symbol)
    m = len(inputs)
    packed = [pack_signals(x.signals) for x in inputs]
    n_signals = max(len(x.signals) for x in inputs)
    n_slots = max(x.n_slots for x in inputs)
    # outputs share one shape; a padded slot stays EMPTY
    scratch = K.allocate(max(x.n_bars for x in inputs), n_signals, n_slots)
    # trade and leg rows are written before they are read: no initial values to copy
    arrays = {
        name: np.empty((m, *scratch[name].shape), dtype=scratch[name].dtype)
        if name in _WRITTEN_FIRST
        else np.stack([scratch[name]] * m)
        for name in (*_OUTPUTS, "work_i", "work_f", "pf")
    }
    # what the loop reads in place: held here until it returns (the int64 times are those the
    # jobs computed, `prepare_symbol`, not a fresh conversion of each index)
    held = [
        {**{name: getattr(x, name) for name in BAR_ARRAYS}, "times": bar_times(x.index)[0],
         **p._asdict()}
        for x, p in zip(inputs, packed, strict=True)
    ]  # fmt: skip
    addresses, sizes = address_table(held)
    n_union = sum(x.n_bars for x in inputs)  # at most
    eq_times = np.empty(n_union, dtype=np.int64)
    equity = np.empty((n_union, 3))
    scratch["acct"][0] = capital
    precompile.ready("portfolio")
    n_rows = simulate_portfolio(
        np.array([x.n_bars for x in inputs], dtype=np.int64), addresses, sizes,
        np.stack([p.int_at for p in packed]), np.stack([p.float_at for p in packed]),
        inputs[0].per_tag, np.stack([x.fparams for x in inputs]), END,
        *(arrays[name] for name in (*_OUTPUTS, "work_i", "work_f", "pf")),
        scratch["out"], scratch["acct"], start_cursor(m), eq_times, equity,
    )  # fmt: skip
    del held  # the loop has returned
    runs = [
        symbol_run(x, {name: arrays[name][k] for name in _OUTPUTS}, None)
        for k, x in enumerate(inputs)
    ]
    curve = pd.DataFrame(
        {
            EQUITY_COLUMNS[0]: equity[:n_rows, 0],
            EQUITY_COLUMNS[1]: equity[:n_rows, 1],
            EQUITY_COLUMNS[2]: equity[:n_rows, 2].astype(np.int64),
        },
        index=pd.DatetimeIndex(eq_times[:n_rows].view("datetime64[ns]")).tz_localize("UTC"),
    )
    return runs, curve


#: the per-bar arrays of `SymbolInputs`
BAR_ARRAYS = ("o", "h", "lo", "c", "spread", "slip", "day", "fx")
