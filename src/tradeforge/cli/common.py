"""Options and helpers shared by CLI commands."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

from tradeforge.core.errors import ConfigError
from tradeforge.core.names import validate_symbol
from tradeforge.core.paths import resolve_home, user_path
from tradeforge.core.timeutil import parse_time

if TYPE_CHECKING:
    import pandas as pd

    from tradeforge.trading.spec import RunSpec

console = Console()
console_err = Console(stderr=True)


def iso_time(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """Option callback: ``value`` unchanged when it is ISO 8601 text, else `ConfigError`
    naming the option (one date syntax on the whole command line; see `parse_time`)."""
    if value is not None:
        parse_time(value, _option_name(param))
    return value


def positive(ctx: typer.Context, param: typer.CallbackParam, value: float | None) -> float | None:
    """Option callback: refuse a value that is not > 0 (capital, leverage) before any work."""
    if value is not None and not value > 0:
        raise ConfigError(f"{_option_name(param)} must be > 0, got {value:g}")
    return value


def _option_name(param: typer.CallbackParam) -> str:
    return param.opts[0] if param.opts else str(param.name)


def symbol_names(value: Any) -> Any:
    """Option callback: a symbol (or list of them) upper-cased and checked before any file
    access (`validate_symbol`)."""
    if isinstance(value, (list, tuple)):
        return [validate_symbol(v) for v in value]
    return None if value is None else validate_symbol(value)


def expand_user(value: Path | None) -> Path | None:
    """Option callback: a path with its leading ``~`` expanded (``--out=~/runs`` too)."""
    return None if value is None else user_path(value)


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

# The run settings shared by backtest, optimize, walkforward and dry-run (see `run_options`).
SpreadOption = Annotated[str, typer.Option(help="'data' (the data's spread column) or fixed pips.")]
SlippageOption = Annotated[
    str | None, typer.Option(help="Pips, 'fixed:0.2', 'atr:0.05' or 'random:0.5'.")
]
CommissionOption = Annotated[float, typer.Option(help="Money per lot per side.")]
SwapLongOption = Annotated[float, typer.Option(help="Money per lot per night (long).")]
SwapShortOption = Annotated[float, typer.Option(help="Money per lot per night (short).")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of random slippage.")]
#: Where ``--seed`` already means the search's seed (optimize, walkforward).
SlippageSeedOption = Annotated[
    int, typer.Option("--slippage-seed", help="Seed of random slippage.")
]
SizingOption = Annotated[str, typer.Option(help="Lots ('0.1', 'fixed:0.1') or 'risk:1' (%).")]
PositionModeOption = Annotated[
    str, typer.Option(help="'symbol' (one position per symbol) or 'tag' (one per tag).")
]
CapitalOption = Annotated[
    float,
    typer.Option(
        help="Initial capital (per symbol with --portfolio sub-accounts; a dry-run's paper "
        "balance).",
        callback=positive,
    ),
]
PortfolioOption = Annotated[
    str,
    typer.Option(
        help="Several symbols: 'shared' (one balance; risk sizing on it) or 'sub-accounts' "
        "(each symbol its own capital, results summed)."
    ),
]
AccountCurrencyOption = Annotated[
    str | None,
    typer.Option(
        help="Account currency of capital, PnL and sizing (default: each symbol's quote "
        "currency), e.g. USD."
    ),
]
FxRateOption = Annotated[
    list[str],
    typer.Option(
        "--fx-rate",
        help="Constant conversion rate SYMBOL=RATE, e.g. GBPUSD=1.27 (repeat); else the "
        "conversion symbol's cached bars are used.",
    ),
]

# MetaTrader 5 credentials shared by ``data mt5`` and ``live``: the password never in argv.
LoginOption = Annotated[
    int | None, typer.Option(envvar="MT5_LOGIN", help="MT5 account number (or MT5_LOGIN).")
]
ServerOption = Annotated[
    str | None, typer.Option(envvar="MT5_SERVER", help="MT5 broker server name (or MT5_SERVER).")
]
PasswordEnvOption = Annotated[
    str, typer.Option(help="Environment variable holding the MT5 password.")
]
PasswordFileOption = Annotated[
    Path | None, typer.Option(help="File whose first line is the MT5 password.")
]


#: Where ``--broker-symbol`` comes from when it is not given, per broker (or live feed).
BROKER_SYMBOL_ENV = {"mt5": "MT5_BROKER_SYMBOL", "ctrader": "CTRADER_BROKER_SYMBOL"}
BrokerSymbolAnyOption = Annotated[
    str | None,
    typer.Option(
        "--broker-symbol",
        help="The broker's name of the symbol (MT5 also takes a pattern like {symbol}.r); "
        "default: CTRADER_BROKER_SYMBOL or MT5_BROKER_SYMBOL, as the broker, else the plain "
        "name.",
        show_default=False,
    ),
]


def broker_symbol(broker: str, given: str | None) -> str | None:
    """``--broker-symbol`` as given, else the broker's own environment variable
    (`BROKER_SYMBOL_ENV`): one broker's setting never leaks into a session of the other."""
    if given:
        return given
    return os.environ.get(BROKER_SYMBOL_ENV[broker]) or None


def mt5_password(env: str, file: Path | None, argv_password: str | None = None) -> str | None:
    """The MT5 password: ``--password`` (warned about), else ``--password-file``, else the
    ``--password-env`` variable (`read_secret`), else None (the terminal's saved login)."""
    if argv_password is not None:
        console_err.print(
            "[yellow]warning:[/] --password is visible to other users in the process list; "
            f"use --password-file or the {env} environment variable",
            highlight=False,
        )
        return argv_password
    from tradeforge.core.secrets import read_secret

    return read_secret(env, file, "MT5 password")


def option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    """One option of a shared declaration list (see `with_options`)."""
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def with_options(
    head: list[inspect.Parameter], tail: list[inspect.Parameter]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command ``fn(own options..., **kw)`` the shared options ``head`` and ``tail``
    around its own: typer reads the signature, so options shared by several commands are
    declared once and arrive in ``kw``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in inspect.signature(fn, eval_str=True).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        fn.__signature__ = inspect.Signature([*head, *own, *tail])  # type: ignore[attr-defined]
        return fn

    return decorate


def run_options(
    *, sizing: str = "1", seed: Any = SeedOption, account: bool = True, portfolio: bool = True
) -> list[inspect.Parameter]:
    """The run-setting options (execution costs, sizing, position mode, capital and, with
    ``account``, the account currency; with ``portfolio``, how several symbols share money),
    read back by `run_spec`. ``sizing`` is the default sizing; ``seed`` the slippage-seed
    declaration (`SlippageSeedOption` where ``--seed`` is taken)."""
    params = [
        option("spread", SpreadOption, "data"),
        option("slippage", SlippageOption, None),
        option("commission", CommissionOption, 0.0),
        option("swap_long", SwapLongOption, 0.0),
        option("swap_short", SwapShortOption, 0.0),
        option("slippage_seed", seed, 0),
        option("sizing", SizingOption, sizing),
        option("position_mode", PositionModeOption, "symbol"),
        option("capital", CapitalOption, 100_000.0),
    ]
    if portfolio:
        params.append(option("portfolio", PortfolioOption, "shared"))
    if account:
        params += [
            option("account_currency", AccountCurrencyOption, None),
            option("fx_rate", FxRateOption, []),
        ]
    return params


def run_spec(kw: dict[str, Any], strategy: Any, **values: Any) -> RunSpec:
    """The `RunSpec` of the `run_options` in ``kw``, for ``strategy`` (an instance with its
    parameters, or a name: a search's parameters come per trial) and the other fields in
    ``values``."""
    from tradeforge.trading.execution import ExecutionModel, Sizing
    from tradeforge.trading.fx import parse_rates
    from tradeforge.trading.spec import RunSpec

    if kw.get("fx_rate") and not kw.get("account_currency"):
        raise ConfigError("--fx-rate needs --account-currency (money is in quote currency)")
    execution = ExecutionModel(
        spread=kw["spread"],
        commission=kw["commission"],
        swap_long=kw["swap_long"],
        swap_short=kw["swap_short"],
        seed=kw["slippage_seed"],
        **ExecutionModel.parse_slippage(kw["slippage"]),
    )
    values.update(
        execution=execution,
        sizing=Sizing.parse(kw["sizing"]),
        position_mode=kw["position_mode"],
        initial_capital=kw["capital"],
        account_currency=kw.get("account_currency"),
        conversion=parse_rates(kw.get("fx_rate") or []),
    )
    if "portfolio" in kw:
        values["portfolio"] = kw["portfolio"]
    if isinstance(strategy, str):
        return RunSpec(strategy=strategy, **values)
    return RunSpec.for_strategy(strategy, **values)


def command_group(help: str) -> typer.Typer:
    """A sub-command group that prints its help when called bare (exit 0, like bare ``tradeforge``)."""
    group = typer.Typer(help=help)
    group.callback(invoke_without_command=True)(show_help_if_bare)
    return group


def show_help_if_bare(ctx: typer.Context) -> None:
    """Group callback: called without a sub-command, print the help and exit 0."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


def home_dir(home: Path | None) -> Path:
    return resolve_home(home)


def load_frames(
    home: Path, symbols: list[str], timeframe: str, start: str | None, end: str | None
) -> dict[str, pd.DataFrame]:
    """Cached bars of each symbol, keyed by upper-case symbol."""
    from tradeforge.data.cache import ParquetStore

    store = ParquetStore(home)
    return {validate_symbol(s): store.load(s, timeframe, start, end) for s in symbols}


def load_instruments(path: Path | None) -> None:
    """Install a user instrument file into the default registry."""
    if path is None:
        return
    from tradeforge.core.instruments import InstrumentRegistry, set_default_registry

    set_default_registry(InstrumentRegistry.builtin().load_file(path))


# -- progress -------------------------------------------------------------------------------
# One facility for every long command: a bar (`progress_bar`) when the work has a count, a
# spinner naming the running stage (`stages`) otherwise, and `info` lines. All of it goes to
# stderr, so stdout carries only results (identical with and without ``-q``); the root
# ``-q/--quiet`` option (`set_quiet`) silences it, errors excepted. Bars and spinners are
# drawn only on a terminal (``FORCE_COLOR=1`` forces one, e.g. in CI logs).
_quiet = False


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) progress and info output for this process (``tradeforge -q``)."""
    global _quiet
    _quiet = bool(quiet)


def info(message: str) -> None:
    """An informational line on stderr (not shown with ``-q``)."""
    if not _quiet:
        console_err.print(message, highlight=False, soft_wrap=True)


def _drawn() -> bool:
    """Whether progress is drawn: not with ``-q``, and only on a terminal (piped or
    redirected stderr stays clean, and a per-bar callback costs nothing there)."""
    return not _quiet and console_err.is_terminal


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator:
    """A rich progress bar on stderr (nothing with ``-q`` or off a terminal); yields
    ``advance(n=1, total=None, *, completed=None, description=None)``: ``completed`` sets
    the count instead of advancing it; a new ``description`` (the running stage) is drawn
    at once, so a short stage is seen too."""
    if not _drawn():
        yield lambda n=1, total=None, **_kw: None
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    # results printed on stdout while the bar runs (a dry-run's decisions) go above the bar
    # when both share the terminal, and stay on stdout when it is piped
    with Progress(
        *columns, console=console_err, transient=True, redirect_stdout=sys.stdout.isatty()
    ) as progress:
        task = progress.add_task(description, total=total)

        def advance(
            n: int = 1,
            total: int | None = None,
            *,
            completed: int | None = None,
            description: str | None = None,
        ) -> None:
            progress.update(
                task,
                total=total,
                completed=completed,
                advance=None if completed is not None else n,
                description=description,
                refresh=description is not None,
            )

        yield advance


@contextmanager
def stages(description: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr showing ``description`` and the stage running (nothing with
    ``-q`` or off a terminal); yields ``stage(name)`` to call as each stage starts."""
    if not _drawn():
        yield lambda _name: None
        return
    from rich.live import Live
    from rich.spinner import Spinner

    spinner = Spinner("dots", description)
    with Live(
        spinner, console=console_err, transient=True, redirect_stdout=sys.stdout.isatty()
    ) as live:

        def stage(name: str) -> None:  # drawn at once: a short stage is seen too
            live.update(Spinner("dots", f"{description}: {name}"), refresh=True)

        yield stage
