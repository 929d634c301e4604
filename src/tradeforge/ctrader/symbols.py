"""Symbol lookup: a tradeforge symbol name → the account's cTrader symbol id and its specs."""

from __future__ import annotations

from dataclasses import dataclass

from tradeforge.core.errors import ConfigError
from tradeforge.ctrader.client import CTraderClient
from tradeforge.ctrader.proto import openapi_pb2 as pb


@dataclass(frozen=True)
class SymbolSpec:
    """A cTrader symbol: price ``digits``, ``pip_position`` (pip = 10**-pip_position) and
    volumes in cents of a unit (``lot_size`` 10,000,000 = 100,000 units for FX)."""

    symbol_id: int
    name: str
    digits: int
    pip_position: int
    lot_size: int = 0
    min_volume: int = 0
    step_volume: int = 0
    max_volume: int = 0


def normalise(name: str) -> str:
    """Names compared without case and separators: ``EUR/USD`` and ``eurusd`` match."""
    return "".join(ch for ch in name.upper() if ch.isalnum())


async def resolve_symbol(client: CTraderClient, name: str) -> SymbolSpec:
    """Find ``name`` in the account's symbol list and fetch its full entity.

    `ConfigError` names close candidates when there is no exact (normalised) match."""
    listing = await client.request(pb.ProtoOASymbolsListReq(ctidTraderAccountId=client.account_id))
    wanted = normalise(name)
    matches = [s for s in listing.symbol if normalise(s.symbolName) == wanted]
    if not matches:
        near = sorted(s.symbolName for s in listing.symbol if wanted[:3] in normalise(s.symbolName))
        hint = f"; similar: {', '.join(near[:8])}" if near else ""
        raise ConfigError(f"cTrader account {client.account_id} has no symbol {name!r}{hint}")
    light = matches[0]
    res = await client.request(
        pb.ProtoOASymbolByIdReq(ctidTraderAccountId=client.account_id, symbolId=[light.symbolId])
    )
    if not res.symbol:
        raise ConfigError(f"cTrader returned no details for symbol {light.symbolName!r}")
    s = res.symbol[0]
    return SymbolSpec(
        symbol_id=s.symbolId,
        name=light.symbolName,
        digits=s.digits,
        pip_position=s.pipPosition,
        lot_size=s.lotSize,
        min_volume=s.minVolume,
        step_volume=s.stepVolume,
        max_volume=s.maxVolume,
    )


__all__ = ["SymbolSpec", "normalise", "resolve_symbol"]
