"""Fixtures of the cTrader tests: one self-signed certificate per session, a fresh fake
server per test, and a client factory pointed at it."""

from __future__ import annotations

import pytest

from tests.ctrader.fake_server import (
    ACCESS_TOKEN,
    ACCOUNT,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    FakeCTrader,
    make_certificate,
)
from tradeforge.ctrader import ClientSettings, Credentials, CTraderClient


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(certificate):
    with FakeCTrader(*certificate) as fake:
        yield fake


def credentials(access: str = ACCESS_TOKEN, refresh: str = REFRESH_TOKEN) -> Credentials:
    return Credentials(CLIENT_ID, CLIENT_SECRET, access, refresh)


@pytest.fixture
def make_client(server):
    """``make_client(**settings)`` → an unconnected client for the fake server."""

    def make(creds: Credentials | None = None, on_token=None, **settings) -> CTraderClient:
        settings.setdefault("reconnect_delay", 0.02)
        options = ClientSettings(
            host=server.host, port=server.port, ca_file=str(server.cert_file), **settings
        )
        return CTraderClient(creds or credentials(), ACCOUNT, options, on_token=on_token)

    return make
