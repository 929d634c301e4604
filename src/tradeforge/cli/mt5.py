"""MetaTrader 5 terminal options shared by ``data mt5`` and ``live``, and the terminal they
describe. Each option can also come from an environment variable (``MT5_LOGIN``,
``MT5_SERVER``, ``MT5_PATH``, ``MT5_SERVER_TIME``, ``MT5_BROKER_SYMBOL``); the password from
``--password-env`` (default ``MT5_PASSWORD``) or ``--password-file``, never from argv."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tradeforge.data.sources.mt5_terminal import MT5Terminal

TerminalPathOption = Annotated[
    str | None,
    typer.Option(
        "--terminal-path",
        envvar="MT5_PATH",
        help="Path to the terminal's terminal64.exe (or MT5_PATH); default: the running one.",
    ),
]
ServerTimeOption = Annotated[
    str,
    typer.Option(
        "--server-time",
        envvar="MT5_SERVER_TIME",
        help="The broker server's clock: auto (detected from the last tick), ny (UTC+2, "
        "UTC+3 in New York summer: most FX brokers), utc, a fixed offset like +2, or an IANA "
        "zone like Europe/Athens (or MT5_SERVER_TIME).",
    ),
]
BrokerSymbolOption = Annotated[
    str | None,
    typer.Option(
        "--broker-symbol",
        envvar="MT5_BROKER_SYMBOL",
        help="The broker's name of the symbol (EURUSD.r) or a pattern ({symbol}.r, "
        "{symbol}m); default: the plain name, else the one decorated name the terminal lists.",
    ),
]


def mt5_terminal(
    symbol: str,
    *,
    login: int | None,
    password: str | None,
    server: str | None,
    path: str | None,
    server_time: str,
    broker_symbol: str | None,
) -> MT5Terminal:
    """The terminal the options describe (the package itself is imported on first use)."""
    from tradeforge.data.sources.mt5_terminal import MT5Terminal

    pattern = broker_symbol if broker_symbol and "{symbol}" in broker_symbol else None
    names = {symbol: broker_symbol} if broker_symbol and pattern is None else None
    return MT5Terminal(
        path=path, login=login, password=password, server=server, server_time=server_time,
        symbols=names, symbol_pattern=pattern,
    )  # fmt: skip
