"""cTrader connection options shared by the commands that reach an account over the Open API.

Secrets never travel in argv: the application's id and secret and the access token come from
``CTRADER_CLIENT_ID``, ``CTRADER_CLIENT_SECRET`` and ``CTRADER_ACCESS_TOKEN``, or the token pair
from ``--token-file`` (which is also where a refreshed pair is kept: a refresh replaces the
refresh token, so without such a file tradeforge does not refresh).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradeforge.core.errors import ConfigError
from tradeforge.ctrader.config import (
    DEMO_HOST,
    PROTOBUF_PORT,
    ClientSettings,
    Credentials,
    parse_endpoint,
)

if TYPE_CHECKING:
    from tradeforge.live.brokers.ctrader import CTraderLogin

CTraderHostOption = Annotated[
    str,
    typer.Option(
        "--host",
        help="cTrader Open API endpoint HOST[:PORT] (protobuf, port 5035): demo.ctraderapi.com "
        "or live.ctraderapi.com.",
    ),
]
DEFAULT_HOST = f"{DEMO_HOST}:{PROTOBUF_PORT}"
AccountIdOption = Annotated[
    int | None,
    typer.Option(
        "--account-id",
        envvar="CTRADER_ACCOUNT_ID",
        help="ctidTraderAccountId of the trading account (or CTRADER_ACCOUNT_ID).",
        show_default=False,
    ),
]
CaFileOption = Annotated[
    Path | None,
    typer.Option(
        envvar="CTRADER_CA_FILE",
        help="Extra trusted CA certificate (PEM) for a private cTrader endpoint (or "
        "CTRADER_CA_FILE).",
    ),
]
TokenFileOption = Annotated[
    Path | None,
    typer.Option(
        help="JSON file with access_token and refresh_token: used instead of "
        "CTRADER_ACCESS_TOKEN, refreshed when refused and rewritten with the new pair."
    ),
]


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"set the environment variable {name} (cTrader application credentials)")
    return value


def ctrader_connection(
    host: str, account_id: int | None, ca_file: Path | None, token_file: Path | None
) -> tuple[Credentials, int, ClientSettings, Callable[[Credentials], None] | None]:
    """Credentials, account, settings and the ``on_token`` saver built from the options."""
    from tradeforge.ctrader.tokens import TokenFile

    if account_id is None:
        raise ConfigError("--account-id (or CTRADER_ACCOUNT_ID) is required for cTrader")
    hostname, port = parse_endpoint(host)
    if ca_file is not None and not ca_file.expanduser().is_file():
        raise ConfigError(f"--ca-file not found: {ca_file}")
    client_id, secret = _env("CTRADER_CLIENT_ID"), _env("CTRADER_CLIENT_SECRET")
    on_token = None
    if token_file is not None:
        tokens = TokenFile(token_file)
        access, refresh = tokens.load()
        on_token = tokens.save
    else:
        access, refresh = _env("CTRADER_ACCESS_TOKEN"), ""
    ca = str(ca_file.expanduser()) if ca_file is not None else None
    settings = ClientSettings(host=hostname, port=port, ca_file=ca)
    return Credentials(client_id, secret, access, refresh), account_id, settings, on_token


def ctrader_login(
    host: str,
    account_id: int | None,
    ca_file: Path | None,
    token_file: Path | None,
    symbol: str,
    broker_symbol: str | None = None,
) -> CTraderLogin:
    """The `CTraderLogin` of a live or live-fed paper session built from the options."""
    from tradeforge.live.brokers.ctrader import CTraderLogin

    credentials, account, settings, on_token = ctrader_connection(
        host, account_id, ca_file, token_file
    )
    symbols = {symbol: broker_symbol} if broker_symbol else {}
    return CTraderLogin(credentials, account, settings, on_token, symbols)


__all__ = [
    "DEFAULT_HOST",
    "AccountIdOption",
    "CTraderHostOption",
    "CaFileOption",
    "TokenFileOption",
    "ctrader_connection",
    "ctrader_login",
]
