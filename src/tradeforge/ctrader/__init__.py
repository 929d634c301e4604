"""The cTrader Open API: an asyncio client (`CTraderClient`), its wire format and messages,
symbol lookup and historical trendbars. It imports only `tradeforge.core`, so both the data
source (`tradeforge.data.sources.ctrader`) and a broker adapter can build on it. Names load on
first use (`tradeforge._lazy`): reading settings (`config`) does not load protobuf."""

from tradeforge._lazy import lazy_exports

__all__ = [
    "DEMO_HOST",
    "LIVE_HOST",
    "PERIODS",
    "PROTOBUF_PORT",
    "RECONNECTED",
    "CTraderClient",
    "CTraderError",
    "ClientSettings",
    "ClientStats",
    "ConnectionLost",
    "Credentials",
    "RequestTimeout",
    "SymbolSpec",
    "TokenFile",
    "decode_trendbars",
    "get_trendbars",
    "parse_endpoint",
    "period_code",
    "resolve_symbol",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "tradeforge.ctrader.bars": ("PERIODS", "decode_trendbars", "get_trendbars", "period_code"),
        "tradeforge.ctrader.client": ("RECONNECTED", "CTraderClient", "ClientStats"),
        "tradeforge.ctrader.config": (
            "DEMO_HOST",
            "LIVE_HOST",
            "PROTOBUF_PORT",
            "ClientSettings",
            "Credentials",
            "parse_endpoint",
        ),
        "tradeforge.ctrader.errors": ("CTraderError", "ConnectionLost", "RequestTimeout"),
        "tradeforge.ctrader.symbols": ("SymbolSpec", "resolve_symbol"),
        "tradeforge.ctrader.tokens": ("TokenFile",),
    },
)
