"""Bars from the cTrader Open API (historical trendbars of one account's broker).

Trendbars are **bid** bars stamped with their open time in UTC minutes; their volume is the tick
count. They come without a spread column. Prices arrive as integers of 1/100000 and are rounded
to the symbol's ``digits`` as the server reports them. The transport (TLS, framing, pacing at
5 historical requests per second, ``hasMore`` paging) is `tradeforge.ctrader`; this module
turns its rows into validated frames.

cTrader serves M1, M2, M3, M4, M5, M10, M15, M30, H1, H4, H12 and D1 here; other timeframes are
refused (download a divisor and resample). `CTraderSource.fetch_ticks` downloads both sides of
the quote instead (`tradeforge.ctrader.ticks`) and pairs them into one tick stream
(`tick_frame`), from which bars with a spread column are built as Dukascopy's ticks are. Symbols are matched by name without case or
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
from tradeforge.ctrader.ticks import ASK, BID, get_ticks
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


def tick_frame(bid: np.ndarray, ask: np.ndarray, digits: int) -> pd.DataFrame:
    """The two sides' ticks (rows ``(ms, price)``, oldest first) as one time-sorted frame of
    quote events: a row per tick, its price in ``bid`` or ``ask`` and the other side NaN (bid
    first at a shared millisecond). `tradeforge.data.ticks.paired_quotes` pairs them."""
    times = np.concatenate([bid[:, 0], ask[:, 0]])
    order = np.argsort(times, kind="stable")
    prices = np.concatenate([bid[:, 1], ask[:, 1]]).astype(np.float64)[order] / PRICE_SCALE
    is_bid = (np.arange(len(times)) < len(bid))[order]
    return pd.DataFrame(
        {
            "bid": np.where(is_bid, prices, np.nan).round(digits),
            "ask": np.where(is_bid, np.nan, prices).round(digits),
        },
        index=pd.DatetimeIndex(times[order] * 1_000_000, tz="UTC", name="time"),
    )


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

    def fetch_ticks(
        self, symbol: str, start: pd.Timestamp | str, end: pd.Timestamp | str
    ) -> pd.DataFrame:
        """Quote events with time in ``[start, end)`` UTC (`tick_frame`)."""
        lo, hi = to_utc(start, "start"), to_utc(end, "end")
        if lo is None or hi is None:
            raise ConfigError("CTraderSource.fetch_ticks needs both start and end")
        name = self.broker_symbol(symbol)
        client = CTraderClient(
            self.credentials, self.account_id, self.settings, on_token=self.on_token
        )

        async def download() -> pd.DataFrame:
            async with client:
                spec = await resolve_symbol(client, name)
                bid = await get_ticks(client, spec.symbol_id, BID, lo, hi)
                ask = await get_ticks(client, spec.symbol_id, ASK, lo, hi)
                return tick_frame(bid, ask, spec.digits)

        async def bounded() -> pd.DataFrame:
            try:
                return await asyncio.wait_for(download(), self.time_limit)
            except asyncio.TimeoutError:
                raise DataError(
                    f"cTrader tick download of {name} did not finish within {self.time_limit:g} s"
                ) from None

        if hi <= lo:
            return tick_frame(np.empty((0, 2), np.int64), np.empty((0, 2), np.int64), 5)
        return asyncio.run(bounded())


__all__ = ["CTraderSource", "bars_frame", "tick_frame"]
