"""The command vocabulary and its checks: a request's arguments, judged against the committed
state when the command arrives, become the normalised arguments that are journaled (times as
nanoseconds, a position as its client id, lots as lot steps) — or a `ConfigError` whose one
line is the refusal. Application (`tradeforge.live.control.apply`) re-checks what may have
changed in between (a position closed by its stop, a window removed).

A strategy named by a command is one instance of the session (by its name in the session
file; the registered strategy's name for a session of one). ``reload`` is validated in full
here — new code imported, the strategy built with the new parameters, its features resolved
and its warm-up fitted into a window — so a reload that would fail is refused and changes
nothing. ``notify_reload`` carries a whole notification config document, validated by the
notification config loader; the document itself is journaled, so a replay applies the same.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.core.timeutil import parse_time
from tradeforge.live import manager as M
from tradeforge.live.context import EngineContext
from tradeforge.live.control.blackout import MINUTE
from tradeforge.live.decisions import iso
from tradeforge.live.model import EngineState, Json, Position, StrategyState

#: Commands that change the session (journaled, applied at the next event boundary).
COMMANDS = (
    "pause",
    "resume",
    "enable",
    "disable",
    "blackout_add",
    "blackout_remove",
    "blackout_import",
    "close",
    "close_all",
    "kill",
    "reload",
    "notify_reload",
)
#: Requests that only read (answered at once, nothing journaled).
QUERIES = ("status", "wait")

_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_MAX_LABEL = 200


def _arg(args: Json, key: str, kind: type | tuple[type, ...], required: bool = False) -> Any:
    value = args.get(key)
    if value is None:
        if required:
            raise ConfigError(f"missing argument {key!r}")
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"argument {key!r} has the wrong type ({type(value).__name__})")
    return value


def strategy_of(args: Json, state: EngineState, required: bool = False) -> str | None:
    """The strategy a command names (None: all), refused unless the session runs it."""
    name = _arg(args, "strategy", str, required)
    if name is not None and name not in state.control.strategies:
        runs = ", ".join(sorted(state.control.strategies))
        raise ConfigError(f"unknown strategy {name!r} (this session runs: {runs})")
    return name


def _minutes(args: Json, key: str = "minutes") -> int:
    value = _arg(args, key, int, required=True)
    if not 1 <= value <= 1440:
        raise ConfigError(f"bad window: {key} must be 1..1440, got {value}")
    return value


def _flags(args: Json) -> tuple[bool, str]:
    flatten = bool(_arg(args, "flatten", bool))
    label = _arg(args, "label", str) or ""
    if len(label) > _MAX_LABEL:
        raise ConfigError(f"label longer than {_MAX_LABEL} characters")
    return flatten, label


def _session_time(state: EngineState) -> int | None:
    return state.last_key[0] if state.last_key else None


def _not_over(end: int, state: EngineState, what: str) -> None:
    now = _session_time(state)
    if now is not None and end < now:
        raise ConfigError(
            f"bad window: {what} ends at {iso(end)}, before the session's time {iso(now)}"
        )


def _blackout_add(args: Json, state: EngineState) -> Json:
    flatten, label = _flags(args)
    if args.get("at") is not None:
        at = _arg(args, "at", str)
        match = _HHMM.fullmatch(at)
        if not match or args.get("start") is not None or args.get("end") is not None:
            raise ConfigError(f"bad window: --at must be HH:MM (UTC, 00:00..23:59), got {at!r}")
        minute = int(match[1]) * 60 + int(match[2])
        return {"at": minute, "minutes": _minutes(args), "flatten": flatten, "label": label}
    start_text = _arg(args, "start", str, required=True)
    end_text = _arg(args, "end", str, required=True)
    start = parse_time(start_text, "window start").value
    end = parse_time(end_text, "window end").value
    if end <= start:
        raise ConfigError(f"bad window: end {iso(end)} is not after start {iso(start)}")
    _not_over(end, state, "the window")
    return {"start": start, "end": end, "flatten": flatten, "label": label}


def _blackout_import(args: Json, state: EngineState) -> Json:
    minutes = _minutes(args)
    flatten = bool(_arg(args, "flatten", bool))
    events = _arg(args, "events", list, required=True)
    now = _session_time(state)
    windows, past = [], 0
    for n, event in enumerate(events, start=1):
        if not isinstance(event, dict) or not all(
            isinstance(event.get(k), str) for k in ("time", "currency", "impact", "event")
        ):
            raise ConfigError(f"calendar event {n} is not time/currency/impact/event text")
        t = parse_time(event["time"], f"time of calendar event {n}").value
        start, end = t - minutes * MINUTE, t + minutes * MINUTE
        if now is not None and end < now:
            past += 1
            continue
        label = f"{event['currency']} {event['impact']}: {event['event']}"[:_MAX_LABEL]
        windows.append({"start": start, "end": end, "flatten": flatten, "label": label})
    if not windows:
        raise ConfigError(f"bad window: all {past} calendar event(s) are before the session's time")
    return {"windows": windows, "minutes": minutes, "flatten": flatten, "past": past}


def find_position(state: EngineState, ref: str) -> Position:
    """A position of any instance by its id (the entry's client id) or trade number (``7`` or
    ``#7``; trade numbers are the session's)."""
    positions = state.positions
    if ref in positions:
        return positions[ref]
    number = ref.removeprefix("#")
    if number.isdigit():
        for pos in positions.values():
            if pos.trade_id == int(number):
                return pos
    raise ConfigError(f"unknown position {ref!r} (open: {', '.join(_open(state)) or 'none'})")


def _open(state: EngineState) -> list[str]:
    return [f"#{p.trade_id} {cid}" for cid, p in sorted(state.positions.items())]


def close_steps(pos: Position, steps: int | None, lot_step: float) -> int:
    """The lot steps a close takes from ``pos`` (None: all that is open); `ConfigError` when
    more than is open."""
    open_steps = M.remaining(M.pf_from_json(pos.pf))
    if steps is None:
        return open_steps
    if steps > open_steps:
        raise ConfigError(
            f"cannot close {steps * lot_step:g} lots of #{pos.trade_id}: "
            f"{open_steps * lot_step:g} open"
        )
    return steps


def _close(args: Json, state: EngineState, ctx: EngineContext) -> Json:
    pos = find_position(state, _arg(args, "position", str, required=True))
    owner = state.owner(pos.cid)
    inst = ctx.desk.contexts[owner].inst if owner in ctx.desk.contexts else ctx.inst
    lots = _arg(args, "lots", (int, float))
    steps = None
    if lots is not None:
        step = inst.lot_step
        steps = round(lots / step)
        if not lots > 0 or steps < 1 or abs(steps * step - lots) > 1e-9 * max(1.0, lots):
            raise ConfigError(f"--lots must be a positive multiple of the lot step {step:g}")
        close_steps(pos, steps, step)
    return {"position": pos.cid, "steps": steps}


def _new_code(args: Json, name: str, book: StrategyState, cls: type) -> tuple:
    """``(class, version, source)`` of a reload's new code, or ``(cls, None, None)`` without
    one: ``code`` a file with the module's new source, ``reimport`` the module's own file
    read again (the file the instance's current version came from)."""
    from tradeforge.strategy import code as C

    path, reimport = _arg(args, "code", str), bool(_arg(args, "reimport", bool))
    if path is None and not reimport:
        return cls, None, None
    if path is not None and reimport:
        raise ConfigError(f"reload of {name}: give --code FILE or --reimport, not both")
    current = None if book.code is None else C.CodeVersion.from_json(book.code)
    if path is None:
        path = current.origin if current is not None else str(C.source_file(cls))
    source = C.read_source(path)
    module = current.module if current is not None else cls.__module__
    version = C.CodeVersion(module, C.sha256_text(source), str(Path(path).resolve()))
    built = C.build_class(source, module, version.origin, book.identity.strategy)
    return built, version, source


def _reload(args: Json, state: EngineState, ctx: EngineContext) -> Json:
    """New parameters and/or a new code version for one instance, validated in full: the
    code imports and defines the strategy, the strategy builds with the parameters (merged
    over its current ones), its features resolve and its warm-up fits the window
    (`RunSpec.resolve_window`: the instance's explicit window must hold it, else it is
    derived). New code is archived (`tradeforge.strategy.code.archive`) before the command is
    journaled, so applying it — now or in a replay after a crash — rebuilds the same class."""
    from tradeforge.strategy import code as C
    from tradeforge.trading.spec import LiveSettings, RunSpec

    name = strategy_of(args, state, required=True)
    assert name is not None
    given = _arg(args, "params", dict) or {}
    if not given and args.get("code") is None and not args.get("reimport"):
        raise ConfigError(
            f"reload of {name} needs new parameters (-p key=value) or new code "
            "(--code FILE or --reimport)"
        )
    book = state.strategies[name]
    target = ctx.desk.contexts.get(name, ctx)
    current = book.params if book.params is not None else target.strategy.describe()["params"]
    try:
        cls, version, source = _new_code(args, name, book, type(target.strategy))
        strategy = cls({**current, **given})
        params = strategy.describe()["params"]
        spec = RunSpec(
            strategy=book.identity.strategy, params=params, symbols=(book.identity.symbol,),
            timeframe=book.identity.timeframe,
            live=LiveSettings(window=ctx.desk.windows.get(name, target.cfg.window)),
        )  # fmt: skip
        window = spec.resolve_window(strategy)
    except TradeforgeError as exc:
        raise ConfigError(f"reload of {name} refused: {exc}") from None
    changed = {k: params[k] for k in sorted(given) if params[k] != current.get(k)}
    same_code = version is None or (book.code is not None and book.code == version.to_json())
    if not changed and same_code:
        what = "parameters are" if version is None else "code and parameters are"
        raise ConfigError(f"reload of {name} refused: the {what} unchanged")
    out = {"strategy": name, "params": params, "window": window, "changed": changed}
    if version is not None:
        C.archive(ctx.dir, source)
        out["code"] = version.to_json()
    return out


def _notify_reload(args: Json, ctx: EngineContext) -> Json:
    """New notification settings (a config document, as ``--notify`` files hold), validated
    as a ``--notify`` file is; refused when the session runs without notifications or when
    they change what a running session cannot (`SessionNotifier.check_reload`)."""
    from tradeforge.notify.config import parse_notify_config

    notifier = ctx.desk.notifier
    if notifier is None:
        raise ConfigError(
            "notify reload refused: this session runs without notifications "
            "(restart it with --notify FILE)"
        )
    doc = _arg(args, "config", dict, required=True)
    notifier.check_reload(parse_notify_config(doc, "notify reload"))
    return {"config": doc}


def _confirmed(args: Json, name: str) -> None:
    if args.get("confirm") is not True:
        raise ConfigError(f"{name} needs confirmation (--yes)")


def check(name: str, args: Any, state: EngineState, ctx: EngineContext) -> Json:
    """The normalised arguments of command ``name``; `ConfigError` (the refusal) otherwise."""
    if name not in COMMANDS:
        raise ConfigError(f"unknown command {name!r}")
    if not isinstance(args, dict):
        raise ConfigError("arguments must be a JSON object")
    if name in ("pause", "resume"):
        return {"strategy": strategy_of(args, state)}
    if name in ("enable", "disable"):
        return {"strategy": strategy_of(args, state, required=True)}
    if name == "blackout_add":
        return _blackout_add(args, state)
    if name == "blackout_remove":
        wid = _arg(args, "id", str, required=True)
        if wid not in state.blackouts:
            raise ConfigError(f"unknown blackout window {wid!r}")
        return {"id": wid}
    if name == "blackout_import":
        return _blackout_import(args, state)
    if name == "close":
        return _close(args, state, ctx)
    if name == "reload":
        return _reload(args, state, ctx)
    if name == "notify_reload":
        return _notify_reload(args, ctx)
    _confirmed(args, name.replace("_", "-"))
    if name == "close_all":
        return {"strategy": strategy_of(args, state)}
    reason = _arg(args, "reason", str) or "operator"
    return {"strategy": strategy_of(args, state), "reason": reason[:_MAX_LABEL]}
