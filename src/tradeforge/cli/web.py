"""``tradeforge web``: the Django control plane (serve, worker, users, Django management)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tradeforge.cli.common import HomeOption, console_err, expand_user
from tradeforge.core.errors import ConfigError

ROLES = ("viewer", "operator", "admin")

app = typer.Typer(
    help="The web control plane: dashboard, background backtests, operations.",
    no_args_is_help=False,
)


def _setup(home: Path | None) -> None:
    """Django configured for ``home``; a missing extra or bad setting is one line, exit 2."""
    try:
        import django  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the web control plane needs the web extra: pip install 'tradeforge[web]'"
        ) from None
    from django.core.exceptions import ImproperlyConfigured

    from tradeforge.web import setup

    try:
        setup(home)
    except ImproperlyConfigured as exc:
        raise ConfigError(f"web settings: {exc}") from None


@app.callback(invoke_without_command=True)
def web(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).", min=0, max=65535)] = 8000,
    worker: Annotated[
        bool, typer.Option(help="Start a local worker beside the server (embedded default).")
    ] = True,
    concurrency: Annotated[
        int, typer.Option(help="Backtests the local worker runs at once.", min=1)
    ] = 2,
    home: HomeOption = None,
) -> None:
    """Serve the control plane (migrates the database first); stops on SIGTERM or Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"home": expand_user(home) if home else None}
        return
    _setup(expand_user(home) if home else None)
    from tradeforge.web.server import serve

    serve(host, port, worker=worker, concurrency=concurrency, echo=typer.echo)


def _home(ctx: typer.Context) -> Path | None:
    return (ctx.obj or {}).get("home")


@app.command("worker")
def worker_command(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(help="Backtests run at once.", min=1)] = 2,
) -> None:
    """Run the backtest worker (production: one or more beside ``tradeforge web --no-worker``)."""
    _setup(_home(ctx))
    from tradeforge.web.jobs import run_worker

    def ready(slots: int) -> None:  # on stderr: stdout is the server's when it started us
        console_err.print(f"worker ready ({slots} slot(s))", highlight=False)

    run_worker(concurrency, on_ready=ready)


@app.command("user")
def user_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
) -> None:
    """Create or update a user; the password comes from $TRADEFORGE_WEB_PASSWORD or a prompt."""
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    password = os.environ.get("TRADEFORGE_WEB_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    _setup(_home(ctx))
    from tradeforge.web.server import prepare
    from tradeforge.web.users import set_user

    prepare()
    set_user(name, password, role)
    typer.echo(f"user {name}: {role}")


@app.command("token")
def token_command(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user the token acts as (and its role).")],
    name: Annotated[str, typer.Option(help="Token name (a new one replaces it).")] = "api",
) -> None:
    """Make a JSON API token (``Authorization: Bearer TOKEN``); printed once, stored hashed."""
    _setup(_home(ctx))
    from tradeforge.web.server import prepare
    from tradeforge.web.tokens import make_token

    prepare()
    typer.echo(make_token(user, name))


@app.command("manage", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def manage_command(ctx: typer.Context) -> None:
    """Django's management commands, e.g. ``tradeforge web manage migrate``."""
    _setup(_home(ctx))
    from django.core.management import execute_from_command_line

    execute_from_command_line(["tradeforge web manage", *ctx.args])


def register(root: typer.Typer) -> None:
    """Add the ``web`` group to the root app."""
    root.add_typer(app, name="web")
