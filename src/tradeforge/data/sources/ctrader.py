"""Bars from the cTrader Open API (historical trendbars of one account's broker).

Trendbars are **bid** bars stamped with their open time in UTC minutes; their volume is the tick
count. They come without a spread column. Prices arrive as integers of 1/100000 and are rounded
to the symbol's ``digits`` as the server reports them. The transport (TLS, framing, pacing at
5 historical requests per second, ``hasMore`` paging) is `tradeforge.ctrader`; this module
turns its rows into validated frames.

cTrader serves M1, M2, M3, M4, M5, M10, M15, M30, H1, H4, H12 and D1 here; other timeframes are
refused (download a divisor and resample). Symbols are matched by name without case or
separators (``EUR/USD`` = ``EURUSD``); ``symbols`` maps a tradeforge symbol to another broker
name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.ctrader.bars import PRICE_SCALE, get_trendbars, period_code
from tradeforge.ctrader.client import CTraderClient
from tradeforge.ctrader.config import ClientSettings, Credentials
from tradeforge.ctrader.symbols import SymbolSpec, resolve_symbol
from tradeforge.data.validate import empty_ohlcv, validate_ohlcv

_MINUTE_NS = 60 * 10**9


def bars_frame(raw: np.ndarray, digits: int, source: str) -> pd.DataFrame:
    """Validated OHLCV bars from decoded trendbar rows ``(minute, open, high, low, close,
    volume)``: prices / 100000 rounded to ``digits``, sorted, one row per minute (the first)."""
    if not len(raw):
        return empty_ohlcv()
    _, first = np.unique(raw[:, 0], return_index=True)
    raw = raw[np.sort(first)]
    raw = raw[np.argsort(raw[:, 0], kind="stable")]
    index = pd.DatetimeIndex(raw[:, 0] * _MINUTE_NS, tz="UTC", name="time")
    columns = {
        name: np.round(raw[:, i] / PRICE_SCALE, digits)
        for i, name in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))
    }
    columns["volume"] = raw[:, 5].astype("float64")
    return validate_ohlcv(pd.DataFrame(columns, index=index), source=source)


class CTraderSource:
    """`DataSource` over an account's cTrader Open API connection (one connection per
    `fetch`). ``time_limit`` bounds a whole fetch in seconds; ``on_token`` receives refreshed
    credentials (see `tradeforge.ctrader.tokens.TokenFile`)."""

    name = "ctrader"

    def __init__(
        self,
        credentials: Credentials,
        account_id: int,
        settings: ClientSettings | None = None,
        *,
        symbols: Mapping[str, str] | None = None,
        time_limit: float | None = None,
        on_token: Callable[[Credentials], None] | None = None,
    ) -> None:
        if time_limit is not None and not time_limit > 0:
            raise ConfigError(f"time_limit must be > 0 seconds, got {time_limit}")
        self.credentials = credentials
        self.account_id = account_id
        self.settings = settings or ClientSettings()
        self.symbols = {k.upper(): v for k, v in (symbols or {}).items()}
        self.time_limit = time_limit
        self.on_token = on_token

    def broker_symbol(self, symbol: str) -> str:
        return self.symbols.get(symbol.upper(), symbol.upper())

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: pd.Timestamp | str,
        end: pd.Timestamp | str,
    ) -> pd.DataFrame:
        """Bid bars with open time in ``[start, end)`` UTC (runs its own event loop)."""
        tf = Timeframe.parse(timeframe)
        period_code(tf)  # refuse an unserved timeframe before connecting
        lo, hi = to_utc(start, "start"), to_utc(end, "end")
        if lo is None or hi is None:
            raise ConfigError("CTraderSource.fetch needs both start and end")
        if hi <= lo:
            return empty_ohlcv()
        return asyncio.run(self._fetch(self.broker_symbol(symbol), tf, lo, hi))

    async def _fetch(
        self, name: str, tf: Timeframe, lo: pd.Timestamp, hi: pd.Timestamp
    ) -> pd.DataFrame:
        client = CTraderClient(
            self.credentials, self.account_id, self.settings, on_token=self.on_token
        )

        async def download() -> tuple[np.ndarray, SymbolSpec]:
            async with client:
                spec = await resolve_symbol(client, name)
                return await get_trendbars(client, spec.symbol_id, tf, lo, hi), spec

        try:
            raw, spec = await asyncio.wait_for(download(), self.time_limit)
        except asyncio.TimeoutError:
            raise DataError(
                f"cTrader download of {name} {tf} did not finish within {self.time_limit:g} s"
            ) from None
        return bars_frame(raw, spec.digits, source=f"ctrader {spec.name} {tf} {lo} .. {hi}")


__all__ = ["CTraderSource", "bars_frame"]
