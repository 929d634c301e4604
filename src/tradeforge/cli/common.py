"""Options and helpers shared by CLI commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tradeforge.core.paths import resolve_home

if TYPE_CHECKING:
    import pandas as pd

console = Console()
console_err = Console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Data root (default: $TRADEFORGE_HOME or the per-user data directory).",
        show_default=False,
    ),
]
InstrumentsOption = Annotated[
    Path | None,
    typer.Option("--instruments", help="TOML/YAML file adding or overriding instrument specs."),
]

# Execution-cost options shared by backtest, dry-run and research commands.
SpreadOption = Annotated[str, typer.Option(help="'data' (the data's spread column) or fixed pips.")]
SlippageOption = Annotated[
    str | None, typer.Option(help="Pips, 'fixed:0.2', 'atr:0.05' or 'random:0.5'.")
]
CommissionOption = Annotated[float, typer.Option(help="Money per lot per side.")]
SwapLongOption = Annotated[float, typer.Option(help="Money per lot per night (long).")]
SwapShortOption = Annotated[float, typer.Option(help="Money per lot per night (short).")]
SeedOption = Annotated[int, typer.Option(help="Seed of random slippage.")]


def command_group(help: str) -> typer.Typer:
    """A sub-command group that prints its help when called bare (exit 0, like bare ``tradeforge``)."""
    group = typer.Typer(help=help)

    @group.callback(invoke_without_command=True)
    def _show_help_when_bare(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            typer.echo(ctx.get_help())
            raise typer.Exit()

    return group


def home_dir(home: Path | None) -> Path:
    return resolve_home(home)


def load_frames(
    home: Path, symbols: list[str], timeframe: str, start: str | None, end: str | None
) -> dict[str, pd.DataFrame]:
    """Cached bars of each symbol, keyed by upper-case symbol."""
    from tradeforge.data.cache import ParquetStore

    store = ParquetStore(home)
    return {s.upper(): store.load(s, timeframe, start, end) for s in symbols}


def load_instruments(path: Path | None) -> None:
    """Install a user instrument file into the default registry."""
    if path is None:
        return
    from tradeforge.core.instruments import InstrumentRegistry, set_default_registry

    set_default_registry(InstrumentRegistry.builtin().load_file(path))


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator:
    """A rich progress bar; yields ``advance(n=1)``."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console_err, transient=True) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1, total: int | None = None) -> None:
            if total is not None:
                progress.update(task, total=total)
            progress.advance(task, n)

        yield advance
