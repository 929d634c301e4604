"""Telegram commands as control-channel requests, and the texts of their answers.

Pure functions: a message text becomes a `Request` (the control channel's command and
arguments, `tradeforge.live.control.commands` judges them) or a `ConfigError` whose line is
the refusal; a ``status`` answer becomes the text of ``/status`` or ``/positions``. The
engine's checks stay the only ones that decide whether a command is valid (an unknown
position, a lot size that is not a multiple of the step): this module only reads the syntax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tradeforge.core.errors import ConfigError

#: Telegram command -> (arguments, what it does), as ``/help`` lists them.
COMMANDS = {
    "status": ("", "positions, P&L and the switches"),
    "positions": ("", "the open positions"),
    "pause": ("[strategy]", "no new entries (open positions are still managed)"),
    "resume": ("[strategy]", "new entries again"),
    "close": ("<position> [lots]", "close a position (its id or #trade), fully or partly"),
    "closeall": ("", "close every open position"),
    "kill": ("[strategy]", "close everything and stop trading"),
}
DESTRUCTIVE = ("close", "closeall", "kill")  # need a confirmation
CONTROL = {"closeall": "close_all"}  # Telegram name -> control command, where they differ


@dataclass(frozen=True)
class Request:
    """One command as the control channel takes it (``cmd``/``args``); ``name`` is the
    Telegram command. ``status`` and ``positions`` are the ``status`` query."""

    name: str
    cmd: str
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def destructive(self) -> bool:
        return self.name in DESTRUCTIVE

    def describe(self) -> str:
        """What the command will do, for its confirmation question."""
        a = self.args
        if self.name == "close":
            lots = "fully" if a.get("lots") is None else f"{a['lots']:g} lots of it"
            return f"close position {a['position']} {lots}"
        if self.name == "closeall":
            return "close every open position"
        if self.name == "kill":
            target = f"strategy {a['strategy']}" if a.get("strategy") else "the session"
            return f"kill {target}: close its positions and stop trading"
        return f"/{self.name}"


def help_text() -> str:
    lines = [f"/{name} {args}".rstrip() + f" — {what}" for name, (args, what) in COMMANDS.items()]
    return "commands:\n" + "\n".join(lines)


def parse(text: str, bot_username: str | None = None, who: str = "telegram") -> Request | None:
    """The request of a message ``text``; None when the command is for another bot of a group
    (``/cmd@otherbot``). `ConfigError`: plain text, or a command it cannot take."""
    words = text.split()
    if not words or not words[0].startswith("/"):
        raise ConfigError("not a command; send /help")
    head, _, bot = words[0][1:].partition("@")
    if bot and bot_username and bot.lower() != bot_username.lstrip("@").lower():
        return None
    name, rest = head.lower(), words[1:]
    if name in ("help", "start"):  # /start: what a Telegram client sends first
        return Request("help", "help")
    if name not in COMMANDS:
        raise ConfigError(f"unknown command /{name}; send /help")
    usage = f"usage: /{name} {COMMANDS[name][0]}".rstrip()
    most = {"status": 0, "positions": 0, "closeall": 0, "close": 2}.get(name, 1)
    if len(rest) > most or (name == "close" and not rest):
        raise ConfigError(usage)
    if name in ("status", "positions"):
        return Request(name, "status")
    if name in ("pause", "resume"):
        return Request(name, name, {"strategy": rest[0] if rest else None})
    if name == "closeall":
        return Request(name, CONTROL[name], {"confirm": True})
    if name == "kill":
        strategy = rest[0] if rest else None
        args = {"strategy": strategy, "reason": f"{who} via Telegram", "confirm": True}
        return Request(name, name, args)
    lots = None
    if len(rest) == 2:
        try:
            lots = float(rest[1])
        except ValueError:
            lots = math.nan
        if not (math.isfinite(lots) and lots > 0):
            raise ConfigError(f"lots must be a positive number, got {rest[1]!r}; {usage}")
    return Request(name, name, {"position": rest[0], "lots": lots})


def _money(value: Any) -> str:
    return f"{value:+,.2f}" if isinstance(value, (int, float)) else "?"


def status_text(status: dict[str, Any]) -> str:
    """``/status``: who runs, how far, positions and P&L, the operator's switches."""
    ident = status.get("identity") or {}
    stats, control = status.get("stats") or {}, status.get("control") or {}
    paused = [k for k, v in (control.get("strategies") or {}).items() if v.get("paused")]
    disabled = [k for k, v in (control.get("strategies") or {}).items() if v.get("disabled")]
    trading = (
        "halted: " + control["halted"]
        if control.get("halted")
        else ("paused" if control.get("paused") else "active")
    )
    lines = [
        f"{ident.get('strategy', '?')} {ident.get('symbol', '?')} {ident.get('timeframe', '?')}"
        f" — last event {status.get('last_event') or 'none yet'} (seq {status.get('seq')})",
        f"trading: {trading}"
        + (f"; paused: {', '.join(paused)}" if paused else "")
        + (f"; disabled: {', '.join(disabled)}" if disabled else ""),
        f"open positions: {len(status.get('positions') or [])}, pending orders: "
        f"{len(status.get('pending') or [])}",
        f"closed trades: {stats.get('trades', 0)}, realized {_money(stats.get('realized'))}",
    ]
    waiting = control.get("pending_commands") or []
    blackouts = control.get("blackouts") or []
    if waiting:
        lines.append(f"commands waiting: {', '.join(str(c['id']) for c in waiting)}")
    if blackouts:
        lines.append(f"blackout windows: {len(blackouts)}")
    return "\n".join(lines)


def positions_text(status: dict[str, Any]) -> str:
    """``/positions``: one line per open position, with the id ``/close`` takes."""
    rows = status.get("positions") or []
    if not rows:
        return "no open positions"
    symbol = (status.get("identity") or {}).get("symbol", "")
    lines = [f"{len(rows)} open position(s):"]
    for p in rows:
        stop = p.get("stop")
        lines.append(
            f"{p['id']}: {p['side']} {p['lots_open']:g} {symbol} at {p['entry_price']}, "
            f"stop {stop if stop is not None else 'none'} (tag {p['tag']})"
        )
    return "\n".join(lines)
