"""The ``tradeforge`` command: a thin shell that parses options, calls the library and prints.

Errors derived from `TradeforgeError` are printed as one red line and exit with status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer

from tradeforge.cli import backtest, demo, features, live, report, research, strategies
from tradeforge.cli import data as data_cli
from tradeforge.cli.common import console_err
from tradeforge.core.errors import TradeforgeError

app = typer.Typer(
    name="tradeforge",
    help="End-to-end quantitative trading research and execution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_cli.app, name="data")
for _commands in (demo, features, strategies, backtest, report, live, research):
    _commands.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        app(args=argv, standalone_mode=False)
    except TradeforgeError as exc:
        console_err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        console_err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
