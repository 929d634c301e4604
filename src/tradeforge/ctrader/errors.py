"""Errors of the cTrader client: a refusal by the server, a lost connection, a timeout."""

from __future__ import annotations

from tradeforge.core.errors import TradeforgeError


class CTraderError(TradeforgeError):
    """The server refused a request (``code`` is its error code name) or the link failed."""

    def __init__(self, message: str, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class ConnectionLost(CTraderError):
    """The connection dropped before the reply came (the request may or may not have acted)."""


class RequestTimeout(CTraderError):
    """No reply within the request timeout."""


__all__ = ["CTraderError", "ConnectionLost", "RequestTimeout"]
