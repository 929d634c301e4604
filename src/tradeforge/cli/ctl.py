"""``tradeforge ctl --state DIR ...``: runtime control of a running dry-run/live session over
its control channel (`tradeforge.live.control`). A command is acknowledged once the engine
has journaled it and applies at the next feed event; ``--wait`` waits for that. A refusal
prints the engine's one-line reason and exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tradeforge.cli.common import console, console_err, expand_user
from tradeforge.core.errors import ConfigError

app = typer.Typer(
    help="Control a running dry-run/live session (pause, blackouts, closes, kill, reload, "
    "notify-reload)."
)
blackout = typer.Typer(help="Blackout windows: no new entries inside them.")
app.add_typer(blackout, name="blackout")

WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Wait until the command has applied and print its outcome.")
]
StrategyOpt = Annotated[
    str | None, typer.Option("--strategy", help="The strategy (default: all of the session).")
]
NamedStrategy = Annotated[str, typer.Option("--strategy", help="The strategy.")]
YesOpt = Annotated[bool, typer.Option("--yes", help="Confirm (required).")]


@app.callback(invoke_without_command=True)
def _ctl(
    ctx: typer.Context,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state", help="State directory of the running session.", callback=expand_user
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(help="Token file (default: <state>/control.token).", callback=expand_user),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for an answer or, with --wait, for the apply.")
    ] = 30.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the engine's answers as JSON.")
    ] = False,
) -> None:
    """Control a running dry-run/live session (pause, blackouts, closes, kill, reload)."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()
    if state is None:
        raise ConfigError("ctl needs --state DIR (the running session's state directory)")
    ctx.obj = {"state": state, "token_file": token_file, "timeout": timeout, "json": as_json}


def _opts(ctx: typer.Context) -> dict[str, Any]:
    node: typer.Context | None = ctx
    while node is not None and not node.obj:
        node = node.parent
    assert node is not None
    return node.obj


def _show(ctx: typer.Context, answer: dict[str, Any], text: str) -> None:
    if _opts(ctx)["json"]:
        console.print(json.dumps(answer, sort_keys=True), highlight=False, soft_wrap=True)
    else:
        console.print(text, highlight=False, soft_wrap=True)


def _send(ctx: typer.Context, name: str, args: dict[str, Any], wait: bool) -> None:
    """Send command ``name``; print the acknowledgement (and, with ``wait``, the outcome)."""
    from tradeforge.live.control.client import ControlClient

    opts = _opts(ctx)
    client = ControlClient(opts["state"], token_file=opts["token_file"], timeout=opts["timeout"])
    with client:
        ack = client.request(name, args)
        _show(ctx, ack, f"command {ack['id']} acknowledged ({name}); applies {ack['applies']}")
        if not wait:
            return
        done = client.wait(ack["id"], opts["timeout"])
    if done["outcome"] == "pending":
        console_err.print(
            f"command {ack['id']} still pending after {opts['timeout']:g}s (no feed event yet)"
        )
        raise typer.Exit(1)
    _show(ctx, done, f"command {done['id']} {done['outcome']} at {done['time']}: {done['detail']}")
    if done["outcome"] != "applied":
        raise typer.Exit(2)


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Positions, P&L, guards and the control state (pauses, blackouts, commands waiting)."""
    from tradeforge.live.control.client import ControlClient

    opts = _opts(ctx)
    with ControlClient(opts["state"], token_file=opts["token_file"], timeout=opts["timeout"]) as c:
        answer = c.request("status")
    console.print_json(json.dumps(answer["status"], default=str))


@app.command("pause")
def pause(ctx: typer.Context, strategy: StrategyOpt = None, wait: WaitOpt = False) -> None:
    """No new entries (all strategies, or one); open positions are still managed."""
    _send(ctx, "pause", {"strategy": strategy}, wait)


@app.command("resume")
def resume(ctx: typer.Context, strategy: StrategyOpt = None, wait: WaitOpt = False) -> None:
    """Undo a pause (all strategies, or one)."""
    _send(ctx, "resume", {"strategy": strategy}, wait)


@app.command("enable")
def enable(ctx: typer.Context, strategy: NamedStrategy, wait: WaitOpt = False) -> None:
    """Switch a disabled (or killed) strategy back on."""
    _send(ctx, "enable", {"strategy": strategy}, wait)


@app.command("disable")
def disable(ctx: typer.Context, strategy: NamedStrategy, wait: WaitOpt = False) -> None:
    """Switch a strategy off: its entry orders are cancelled, no new entries; open positions
    are still managed (close them with ``close`` or ``kill``)."""
    _send(ctx, "disable", {"strategy": strategy}, wait)


@blackout.command("add")
def blackout_add(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help="One-off window start (ISO, UTC).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="One-off window end (ISO, UTC).")] = None,
    at: Annotated[str | None, typer.Option(help="Daily window start HH:MM (UTC).")] = None,
    minutes: Annotated[int | None, typer.Option(help="Daily window length.")] = None,
    flatten: Annotated[bool, typer.Option(help="Close positions before each window.")] = False,
    label: Annotated[str, typer.Option(help="A note shown in the list.")] = "",
    wait: WaitOpt = False,
) -> None:
    """A window without new entries: one-off (--from/--to) or daily (--at/--minutes); both
    ends belong to it."""
    if at is None and (start is None or end is None):
        raise ConfigError("blackout add needs --from and --to, or --at and --minutes")
    args = {"start": start, "end": end, "at": at, "minutes": minutes}
    _send(ctx, "blackout_add", {**args, "flatten": flatten, "label": label}, wait)


@blackout.command("list")
def blackout_list(ctx: typer.Context) -> None:
    """The session's blackout windows."""
    from tradeforge.live.control.client import ControlClient

    opts = _opts(ctx)
    with ControlClient(opts["state"], token_file=opts["token_file"], timeout=opts["timeout"]) as c:
        answer = c.request("status")
    windows = answer["status"]["control"]["blackouts"]
    if opts["json"]:
        console.print(json.dumps(windows, sort_keys=True), highlight=False, soft_wrap=True)
        return
    for w in windows:
        console.print(f"{w['id']:>8}  {w['window']}", highlight=False, soft_wrap=True)
    if not windows:
        console.print("no blackout windows")


@blackout.command("remove")
def blackout_remove(ctx: typer.Context, window_id: str, wait: WaitOpt = False) -> None:
    """Remove window ``WINDOW_ID`` (as ``blackout list`` shows it)."""
    _send(ctx, "blackout_remove", {"id": window_id}, wait)


@blackout.command("import")
def blackout_import(
    ctx: typer.Context,
    calendar: Annotated[Path, typer.Argument(help="CSV: time,currency,impact,event.")],
    minutes: Annotated[int, typer.Option(help="No entries within ± this many minutes.")],
    flatten: Annotated[bool, typer.Option(help="Close positions before each event.")] = False,
    wait: WaitOpt = False,
) -> None:
    """Economic-calendar events as blackout windows (no entries within ±N minutes)."""
    from tradeforge.live.control.blackout import parse_calendar

    try:
        text = calendar.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read calendar {calendar}: {exc}") from None
    events = parse_calendar(text, str(calendar))
    _send(ctx, "blackout_import", {"events": events, "minutes": minutes, "flatten": flatten}, wait)


@app.command("close")
def close(
    ctx: typer.Context,
    position: Annotated[str, typer.Argument(help="Position id or trade number (#7).")],
    lots: Annotated[float | None, typer.Option(help="Close only this much (partial).")] = None,
    wait: WaitOpt = False,
) -> None:
    """Close a position at market, fully or partly; booked like any exit."""
    _send(ctx, "close", {"position": position, "lots": lots}, wait)


@app.command("close-all")
def close_all(
    ctx: typer.Context, strategy: StrategyOpt = None, yes: YesOpt = False, wait: WaitOpt = False
) -> None:
    """Emergency: close every position at market and cancel entry orders (all strategies, or
    one); trading goes on."""
    if not yes:
        raise ConfigError("close-all closes every position at market: confirm with --yes")
    _send(ctx, "close_all", {"strategy": strategy, "confirm": True}, wait)


@app.command("reload")
def reload(
    ctx: typer.Context,
    strategy: NamedStrategy,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="New parameter k=v (repeatable).")
    ] = None,
    code: Annotated[
        Path | None,
        typer.Option(
            help="A file with the new source of the strategy's module.", callback=expand_user
        ),
    ] = None,
    reimport: Annotated[
        bool, typer.Option(help="Re-read the strategy's module from its file (new code).")
    ] = False,
    wait: WaitOpt = False,
) -> None:
    """New parameters and/or a new code version for one strategy instance without a restart:
    checked first (code that fails to import, a strategy that does not build, features that
    do not resolve or a window too short for the warm-up are refused and change nothing),
    applied at the next event; its open positions keep their stops, later signals use the
    new strategy, and a restart keeps it (the code is archived in the state directory)."""
    from tradeforge.strategy.registry import parse_params

    if not param and code is None and not reimport:
        raise ConfigError(
            "reload needs new parameters (-p key=value, repeatable) or new code "
            "(--code FILE or --reimport)"
        )
    args: dict[str, Any] = {"strategy": strategy, "params": parse_params(param or [])}
    if code is not None:
        args["code"] = str(code.resolve())
    if reimport:
        args["reimport"] = True
    _send(ctx, "reload", args, wait)


@app.command("notify-reload")
def notify_reload(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Option(
            "--file", help="The new notification config (as --notify).", callback=expand_user
        ),
    ],
    wait: WaitOpt = False,
) -> None:
    """New notification settings for a session started with --notify, without a restart:
    the file is validated as --notify validates it (here and again by the engine), and from
    the next event on the messages go to its chats and URLs with its levels, mutes and
    alert thresholds. Changes to telegram.commands or the monitor settings need a restart."""
    from tradeforge.core.config import read_config_file
    from tradeforge.notify.config import parse_notify_config

    doc = read_config_file(file, "notification config")
    parse_notify_config(doc, str(file))
    _send(ctx, "notify_reload", {"config": doc}, wait)


@app.command("kill")
def kill(
    ctx: typer.Context,
    strategy: StrategyOpt = None,
    yes: YesOpt = False,
    reason: Annotated[str, typer.Option(help="Recorded in the journal.")] = "operator",
    wait: WaitOpt = False,
) -> None:
    """Kill switch. Global: close everything and halt the session (writes the KILL file; remove
    it to trade again). --strategy: close that strategy's positions and disable it."""
    if not yes:
        raise ConfigError("kill closes positions at market: confirm with --yes")
    _send(ctx, "kill", {"strategy": strategy, "reason": reason, "confirm": True}, wait)


def register(root: typer.Typer) -> None:
    """Add the ``ctl`` group to the root app."""
    root.add_typer(app, name="ctl")
