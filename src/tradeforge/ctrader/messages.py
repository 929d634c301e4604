"""The wire format: ``ProtoMessage`` envelopes behind a 4-byte big-endian length.

Every message type of ``proto/openapi.proto`` declares its payload type as the default of its
``payloadType`` field; the registry here is built from those defaults, so the schema is the one
place that pairs a number with a message.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message

from tradeforge.ctrader.errors import CTraderError
from tradeforge.ctrader.proto import openapi_pb2 as pb

MAX_FRAME = 16 * 1024 * 1024  # larger than any real reply; a bigger length means a broken stream
_LENGTH = struct.Struct("!I")

ERROR_RES = 50
HEARTBEAT = 51
OA_ERROR_RES = 2142
ORDER_ERROR_EVENT = 2132
EXECUTION_EVENT = 2126
SPOT_EVENT = 2131
TOKEN_INVALIDATED_EVENT = 2147
CLIENT_DISCONNECT_EVENT = 2148
ACCOUNT_DISCONNECT_EVENT = 2164

#: Requests counted against the per-connection historical-data limit.
HISTORICAL = frozenset({2133, 2137, 2145})  # deal list, trendbars, tick data
#: Messages the server pushes on its own; listeners see them even when they answer a request.
EVENTS = frozenset(
    {
        EXECUTION_EVENT,
        SPOT_EVENT,
        ORDER_ERROR_EVENT,
        TOKEN_INVALIDATED_EVENT,
        CLIENT_DISCONNECT_EVENT,
        ACCOUNT_DISCONNECT_EVENT,
    }
)
#: Replies that mean "refused": turned into `CTraderError` for the requester.
ERRORS = frozenset({ERROR_RES, OA_ERROR_RES, ORDER_ERROR_EVENT})


def _registry() -> dict[int, type[Message]]:
    types: dict[int, type[Message]] = {}
    for name, desc in pb.DESCRIPTOR.message_types_by_name.items():
        field = desc.fields_by_name.get("payloadType")
        if field is not None and field.has_default_value:
            types[int(field.default_value)] = getattr(pb, name)
    return types


MESSAGE_TYPES: dict[int, type[Message]] = _registry()


def payload_type(message: Message) -> int:
    """The payload type a message travels under."""
    return int(message.DESCRIPTOR.fields_by_name["payloadType"].default_value)


@dataclass(frozen=True)
class Envelope:
    """One received frame: its payload type, the decoded message (None for a type this schema
    does not describe) and the echoed ``clientMsgId`` ("" when absent)."""

    payload_type: int
    message: Any
    client_msg_id: str


def encode(message: Message, client_msg_id: str | None = None) -> bytes:
    """A whole frame (length prefix included) carrying ``message``."""
    envelope = pb.ProtoMessage(payloadType=payload_type(message))
    envelope.payload = message.SerializeToString()
    if client_msg_id:
        envelope.clientMsgId = client_msg_id
    body = envelope.SerializeToString()
    return _LENGTH.pack(len(body)) + body


def decode(body: bytes) -> Envelope:
    """Parse a frame's body (without its length prefix)."""
    try:
        envelope = pb.ProtoMessage.FromString(body)
        cls = MESSAGE_TYPES.get(envelope.payloadType)
        message = cls.FromString(envelope.payload) if cls is not None else None
    except DecodeError as exc:
        raise CTraderError(f"cTrader sent an undecodable frame: {exc}") from None
    return Envelope(envelope.payloadType, message, envelope.clientMsgId)


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """The next frame body; `asyncio.IncompleteReadError` at end of stream."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_FRAME:
        raise CTraderError(f"cTrader frame of {length} bytes exceeds {MAX_FRAME}")
    return await reader.readexactly(length)


def error_text(envelope: Envelope) -> tuple[str, str, float | None]:
    """``(code, description, retry_after)`` of an error reply (``ERRORS`` payload types)."""
    msg = envelope.message
    has_retry = "retryAfter" in msg.DESCRIPTOR.fields_by_name and msg.HasField("retryAfter")
    return msg.errorCode, msg.description, float(msg.retryAfter) if has_retry else None


__all__ = [
    "ACCOUNT_DISCONNECT_EVENT",
    "CLIENT_DISCONNECT_EVENT",
    "ERRORS",
    "ERROR_RES",
    "EVENTS",
    "EXECUTION_EVENT",
    "Envelope",
    "HEARTBEAT",
    "HISTORICAL",
    "MAX_FRAME",
    "MESSAGE_TYPES",
    "OA_ERROR_RES",
    "ORDER_ERROR_EVENT",
    "SPOT_EVENT",
    "TOKEN_INVALIDATED_EVENT",
    "decode",
    "encode",
    "error_text",
    "payload_type",
    "read_frame",
]
