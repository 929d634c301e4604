"""Connection settings of the cTrader client: endpoint, credentials, timeouts and limits.

Kept apart from the client so that reading options (the CLI) does not load protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradeforge.core.errors import ConfigError

DEMO_HOST = "demo.ctraderapi.com"
LIVE_HOST = "live.ctraderapi.com"
PROTOBUF_PORT = 5035


@dataclass(frozen=True)
class Credentials:
    """The application's id and secret and the account's OAuth tokens (never printed)."""

    client_id: str
    client_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class ClientSettings:
    """Where to connect and how patiently. ``ca_file`` adds a trusted certificate (a private
    server); the system's trust store is used otherwise. Times are seconds."""

    host: str = DEMO_HOST
    port: int = PROTOBUF_PORT
    ca_file: str | None = None
    request_timeout: float = 10.0
    ready_timeout: float = 60.0  # how long a request waits for a reconnection
    heartbeat_interval: float = 10.0  # send one when nothing was sent for this long
    idle_timeout: float = 30.0  # nothing received for this long: the link is dead
    reconnect_delay: float = 0.5  # first wait, doubled per failed attempt ...
    reconnect_delay_max: float = 30.0  # ... up to this
    reconnect_attempts: int = 10  # consecutive failed attempts before giving up
    rate: int = 50  # requests per second on one connection
    historical_rate: int = 5  # historical-data requests per second
    # the limits' window: a little over a second, so that network jitter between our clock and
    # the server's cannot make two of our windows fall into one of its
    rate_window: float = 1.05
    blocked_retries: int = 5  # BLOCKED_PAYLOAD_TYPE refusals waited out per request

    def __post_init__(self) -> None:
        if not self.host or not 0 < self.port < 65536:
            raise ConfigError(f"bad cTrader endpoint {self.host!r}:{self.port}")
        times = (self.request_timeout, self.ready_timeout, self.heartbeat_interval)
        if min(*times, self.idle_timeout, self.reconnect_delay_max, self.rate_window) <= 0:
            raise ConfigError("cTrader client timeouts and intervals must be > 0")
        if self.reconnect_attempts < 1 or self.rate < 1 or self.historical_rate < 1:
            raise ConfigError("reconnect attempts and request rates must be >= 1")

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def parse_endpoint(text: str, default_port: int = PROTOBUF_PORT) -> tuple[str, int]:
    """``host[:port]`` as ``(host, port)``; `ConfigError` when the port is not a number."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = text.strip(), str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"cTrader endpoint must be HOST or HOST:PORT, got {text!r}")
    return host, int(port)


__all__ = [
    "DEMO_HOST",
    "LIVE_HOST",
    "PROTOBUF_PORT",
    "ClientSettings",
    "Credentials",
    "parse_endpoint",
]
