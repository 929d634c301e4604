"""tradeforge's cTrader Open API schema (``openapi.proto``) and its generated messages."""

from tradeforge.ctrader.proto import openapi_pb2

__all__ = ["openapi_pb2"]
