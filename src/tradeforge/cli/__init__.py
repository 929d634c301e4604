"""The ``tradeforge`` command: a thin shell that parses options, calls the library and prints.

Exit codes (the contract scripts and CI gates rely on):

- 0: success (bare ``tradeforge`` prints the help and exits 0 too);
- 1: the command ran and a check it performs failed (``analyze consistency`` FAIL);
- 2: a usage mistake (unknown command or option, missing or malformed value: a short usage
  message) or an error of the library's own kind (`TradeforgeError`: one line);
- 130: interrupted with Ctrl-C.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tradeforge.cli import (
    backtest,
    ctl,
    data,
    demo,
    features,
    live,
    notify,
    report,
    research,
    strategies,
    web,
)
from tradeforge.cli.common import console_err, set_quiet, show_help_if_bare
from tradeforge.core.errors import TradeforgeError

__all__ = ["app", "main"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="tradeforge",
    help="End-to-end quantitative trading research and execution.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Every command module adds its commands and groups the same way: ``register(app)``.
for _commands in (
    data,
    demo,
    features,
    strategies,
    backtest,
    report,
    live,
    ctl,
    notify,
    research,
    web,
):
    _commands.register(app)


def _print_version(value: bool) -> None:
    if value:
        from tradeforge import __version__

        typer.echo(f"tradeforge {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No progress or info output (results and errors still print)."
        ),
    ] = False,
) -> None:
    """End-to-end quantitative trading research and execution."""
    set_quiet(quiet)
    show_help_if_bare(ctx)


def _interrupted() -> None:
    console_err.print("interrupted (Ctrl-C)")
    sys.exit(EXIT_INTERRUPTED)


def _caused_by_ctrl_c(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a Ctrl-C or was raised by one: a KeyboardInterrupt that lands while a
    compiled function runs Python inside (Numba compiling, or loading its cache) surfaces as a
    SystemError ("returned a result with an exception set") caused by it."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and map every outcome to an exit code."""
    try:
        code = app(args=argv, prog_name="tradeforge", standalone_mode=False)
    except TradeforgeError as exc:
        console_err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except typer.TyperException as exc:  # usage errors: unknown command/option, bad value
        show = getattr(exc, "show", None)
        if show is None:
            console_err.print(f"error: {exc}", highlight=False, soft_wrap=True)
        else:
            show()
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE)
    except (KeyboardInterrupt, typer.Abort):
        _interrupted()
    except SystemError as exc:
        if not _caused_by_ctrl_c(exc):
            raise
        _interrupted()
    # Without standalone mode, typer returns the code of `typer.Exit` and turns Ctrl-C inside a
    # command into Exit(130); both must reach the shell.
    if code == EXIT_INTERRUPTED:
        _interrupted()
    if isinstance(code, int) and code:
        sys.exit(code)
