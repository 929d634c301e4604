"""Acknowledged commands take effect here, at an event boundary: `apply_commands` runs inside
`Engine.handle` before the event's own effects (and `apply_at_end` once more when the feed is
over, for the commands acknowledged after its last event), applies every command of the
state's inbox in id order (each logged as a ``command`` decision with its outcome), then
closes what the blackout windows due at this instant ask to flatten. Everything runs on the
engine's thread and lands in the event's own journal record, so a replay of the journal gives
the same state, and a crash before that record is written re-applies the same commands to the
same state (broker calls are idempotent by client id).

A command naming a strategy acts on that instance only (its entries, its positions); a
``reload`` swaps the instance's strategy object in the session's `Desk` at once, so the
event's own effects already use the new parameters (or code)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tradeforge.core.errors import ConfigError, StateError, TradeforgeError
from tradeforge.live import guards as G
from tradeforge.live import manager as M
from tradeforge.live.booking import close_at_market, execute_exit
from tradeforge.live.brokers.base import BrokerError
from tradeforge.live.context import EngineContext
from tradeforge.live.control.blackout import flattens_due, window_text
from tradeforge.live.control.commands import close_steps
from tradeforge.live.decisions import decision, iso
from tradeforge.live.kill import cancel_entries, flatten, flatten_all, kill
from tradeforge.live.model import Blackout, Command, EngineState, Json, StrategyState
from tradeforge.live.persist import state_io

Step = Callable[[EngineContext, EngineState, Command, int, list, list], str]


def _by(cmd: Command) -> str:
    return f"{cmd.who.get('user', '?')} (command {cmd.id})"


def _of(ctx: EngineContext, name: str) -> EngineContext:
    """The context of instance ``name`` of ``ctx``'s session."""
    return ctx.desk.contexts.get(name, ctx)


def _switch(
    ctx: EngineContext, cmd: Command, new: EngineState, decisions: list, now: int, kind: str
) -> str:
    """Pause or resume (all instances, or one). A pause also cancels the paused instances'
    entry orders — resting limit/stop orders at the broker and queued ones — since a paused
    instance opens nothing (`cancel_entries`); a resume does not bring them back (the
    strategy's next signals place new ones)."""
    name = cmd.args["strategy"]
    pause = kind == "paused"
    if name is None:
        new.control.paused = pause
        text = "trading paused: no new entries" if pause else "trading resumed"
    else:
        new.control.strategies[name].paused = pause
        text = f"strategy {name} {kind}" + (": no new entries" if pause else "")
    if pause:
        paused = [_of(ctx, name)] if name is not None else ctx.desk.contexts.values() or [ctx]
        orders = sum(c.book(new).entries() - len(c.book(new).positions) for c in paused)
        for target in paused:
            cancel_entries(target, new, now, f"{text}, by {_by(cmd)}", decisions)
        if orders:
            text += f", {orders} entry order(s) cancelled"
    decisions.append(decision(now, kind, f"{text}, by {_by(cmd)}", strategy=name))
    return text


def _pause(ctx, new, cmd, now, decisions, trades) -> str:
    return _switch(ctx, cmd, new, decisions, now, "paused")


def _resume(ctx, new, cmd, now, decisions, trades) -> str:
    return _switch(ctx, cmd, new, decisions, now, "resumed")


def _disable(ctx, new, cmd, now, decisions, trades) -> str:
    name = cmd.args["strategy"]
    new.control.strategies[name].disabled = f"by {_by(cmd)}"
    cancel_entries(_of(ctx, name), new, now, f"strategy {name} disabled", decisions)
    text = f"strategy {name} disabled: entry orders cancelled, no new entries"
    decisions.append(decision(now, "disabled", f"{text}, by {_by(cmd)}", strategy=name))
    return text


def _enable(ctx, new, cmd, now, decisions, trades) -> str:
    name = cmd.args["strategy"]
    was = new.control.strategies[name].disabled
    new.control.strategies[name].disabled = None
    text = f"strategy {name} enabled" + (f" (was disabled {was})" if was else "")
    decisions.append(decision(now, "enabled", f"{text}, by {_by(cmd)}", strategy=name))
    return text


def _add_window(new: EngineState, wid: str, args: Json) -> Blackout:
    w = Blackout(
        start=args.get("start"),
        end=args.get("end"),
        at=args.get("at"),
        minutes=args.get("minutes"),
        flatten=args["flatten"],
        label=args["label"],
        flattened=None,
    )
    new.blackouts[wid] = w
    return w


def _blackout_add(ctx, new, cmd, now, decisions, trades) -> str:
    w = _add_window(new, str(cmd.id), cmd.args)
    text = f"blackout {cmd.id} added: {window_text(w)}"
    decisions.append(decision(now, "blackout", f"{text}, by {_by(cmd)}", window=str(cmd.id)))
    return text


def _blackout_import(ctx, new, cmd, now, decisions, trades) -> str:
    windows = cmd.args["windows"]
    for k, args in enumerate(windows, start=1):
        _add_window(new, f"{cmd.id}-{k}", args)
    ids = f"{cmd.id}-1" + (f"..{cmd.id}-{len(windows)}" if len(windows) > 1 else "")
    text = (
        f"blackout {ids} imported: {len(windows)} calendar event(s) ±{cmd.args['minutes']} min"
        + (", flatten before" if cmd.args["flatten"] else "")
    )
    if cmd.args["past"]:
        text += f" ({cmd.args['past']} past event(s) left out)"
    decisions.append(decision(now, "blackout", f"{text}, by {_by(cmd)}"))
    return text


def _blackout_remove(ctx, new, cmd, now, decisions, trades) -> str:
    wid = cmd.args["id"]
    if wid not in new.blackouts:
        raise ConfigError(f"unknown blackout window {wid!r} (removed meanwhile)")
    w = new.blackouts.pop(wid)
    text = f"blackout {wid} removed: {window_text(w)}"
    decisions.append(decision(now, "blackout", f"{text}, by {_by(cmd)}", window=wid))
    return text


def _close(ctx, new, cmd, now, decisions, trades) -> str:
    cid = cmd.args["position"]
    owner = new.owner(cid)
    if owner is None or cid not in new.strategies[owner].positions:
        raise ConfigError(f"position {cid} is no longer open")
    ctx = _of(ctx, owner)
    pos = ctx.book(new).positions[cid]
    open_steps = M.remaining(M.pf_from_json(pos.pf))
    steps = close_steps(pos, cmd.args["steps"], ctx.inst.lot_step)
    why = f"manual close by {_by(cmd)}"
    action = f"leg{pos.legs + 1}"
    if steps == open_steps:
        trade = close_at_market(ctx, new, pos, "signal", now, action=action)
    else:
        pf = M.pf_from_json(pos.pf)
        pf[M.rules.F_REMAINING] = open_steps - steps
        leg = M.Leg(float("nan"), steps, "signal")
        trade = execute_exit(ctx, new, pos, pf, leg, ctx.bar_of(now), market=True, action=action)
    decisions.append(decision(now, "exit", why, position=cid, lots=ctx.lots(steps)))
    if trade:
        trades.append(trade)
    left = "" if steps == open_steps else f", {ctx.lots(open_steps - steps):g} left open"
    return f"closed {ctx.lots(steps):g} lots of #{pos.trade_id}{left}"


def _close_all(ctx, new, cmd, now, decisions, trades) -> str:
    name = cmd.args.get("strategy")
    why = f"close-all by {_by(cmd)}"
    if name is None:
        count = len(new.positions)
        flatten_all(ctx, new, now, why, decisions, trades, action=None)
        return f"closed {count} position(s), entry orders cancelled"
    count = len(new.strategies[name].positions)
    flatten(_of(ctx, name), new, now, why, decisions, trades, action=None)
    return f"closed {count} position(s) of strategy {name}, its entry orders cancelled"


def _kill(ctx, new, cmd, now, decisions, trades) -> str:
    name, reason = cmd.args["strategy"], cmd.args["reason"]
    if name is None:
        path = ctx.dir / G.KILL_FILE  # sticky like `tradeforge kill`: cleared by removing it
        with state_io(path, "write"):
            path.write_text(reason + "\n", encoding="utf-8")
        kill(ctx, new, now, decisions, trades, reason=f"{reason} ({_by(cmd)})")
        return "killed: everything closed, trading halted"
    text = f"strategy {name} killed: {reason} ({_by(cmd)}); closing its positions"
    decisions.append(decision(now, "kill", text, strategy=name))
    flatten(_of(ctx, name), new, now, f"strategy {name} killed", decisions, trades)
    new.control.strategies[name].disabled = f"killed: {reason}"
    return f"strategy {name} killed: its positions closed, disabled until enabled"


def _reload(ctx, new, cmd, now, decisions, trades) -> str:
    """New parameters and/or code (checked when acknowledged) for one instance: its positions,
    their stops and its orders stay; its signals from this event on come from the new
    strategy, over the window its warm-up needs. New code is rebuilt from the archive the
    check wrote, so a replay after a crash installs the same class."""
    name, params, window = cmd.args["strategy"], cmd.args["params"], cmd.args["window"]
    target = _of(ctx, name)
    book = target.book(new)
    code = cmd.args.get("code")
    cls = type(target.strategy) if code is None else strategy_class(ctx.dir, name, book, code)
    try:
        strategy = cls(params)
    except TradeforgeError as exc:  # e.g. a model file replaced since the check (its hash)
        raise ConfigError(f"reload of {name}: {exc}") from None
    book.params, book.window = dict(params), window
    if code is not None:
        book.code = dict(code)
    ctx.desk.contexts[name] = replace(
        target, strategy=strategy, cfg=replace(target.cfg, window=window)
    )
    what = [f"{k}={v}" for k, v in sorted(cmd.args["changed"].items())]
    if code is not None:
        what.insert(0, f"code {code['sha256'][:12]} ({Path(code['origin']).name})")
    text = (
        f"strategy {name} reloaded: {', '.join(what)}; window {window} bars; "
        f"{len(book.positions)} open position(s) kept with their stops"
    )
    decisions.append(decision(now, "reloaded", f"{text}, by {_by(cmd)}", strategy=name,
                              params=dict(params), window=window, code=code))  # fmt: skip
    return text


def _notify_reload(ctx, new, cmd, now, decisions, trades) -> str:
    """The notification settings checked on arrival, handed to the session's notifier: the
    messages from this commit on go to the new channels and levels."""
    from tradeforge.notify.config import parse_notify_config

    notifier = ctx.desk.notifier
    if notifier is None:  # a replay after a restart without --notify
        raise ConfigError("notify reload: this session runs without notifications")
    text = notifier.reload(parse_notify_config(cmd.args["config"], "notify reload"))
    decisions.append(decision(now, "notify_reloaded", f"{text}, by {_by(cmd)}"))
    return text


def strategy_class(state_dir: Path, name: str, book: StrategyState, code: Json) -> type:
    """The class of code version ``code`` of instance ``name``, from the state's archive."""
    from tradeforge.strategy.code import CodeVersion, archived_class

    try:
        return archived_class(state_dir, CodeVersion.from_json(code), book.identity.strategy)
    except StateError as exc:
        raise ConfigError(str(exc)) from None


STEPS: dict[str, Step] = {
    "pause": _pause,
    "resume": _resume,
    "enable": _enable,
    "disable": _disable,
    "blackout_add": _blackout_add,
    "blackout_remove": _blackout_remove,
    "blackout_import": _blackout_import,
    "close": _close,
    "close_all": _close_all,
    "kill": _kill,
    "reload": _reload,
    "notify_reload": _notify_reload,
}


def apply_commands(
    ctx: EngineContext, new: EngineState, now: int, decisions: list, trades: list
) -> list[Json]:
    """Apply the inbox (in id order) and due blackout flattens at ``now``; the outcomes."""
    outcomes = []
    for key in sorted(new.commands, key=int):
        cmd = new.commands.pop(key)
        try:
            detail, ok = STEPS[cmd.name](ctx, new, cmd, now, decisions, trades), True
        except (ConfigError, BrokerError) as exc:
            detail, ok = f"not applied: {exc}", False
        outcomes.append(_outcome(cmd, now, detail, ok, decisions))
    for hit in flattens_due(new, now, ctx.step_ns):
        why = f"flatten for {hit.describe()}"
        decisions.append(decision(now, "flatten", why, window=hit.id))
        flatten_all(ctx, new, now, why, decisions, trades, action=None)
        new.blackouts[hit.id].flattened = hit.start
    return outcomes


def _outcome(cmd: Command, now: int | None, detail: str, ok: bool, decisions: list) -> Json:
    """Log command ``cmd``'s outcome as a ``command`` decision; the outcome as JSON."""
    outcome = "applied" if ok else "failed"
    decisions.append(
        decision(now, "command", detail, id=cmd.id, command=cmd.name, outcome=outcome,
                 who=cmd.who)
    )  # fmt: skip
    return {"id": cmd.id, "command": cmd.name, "outcome": outcome, "detail": detail,
            "time": None if now is None else iso(now)}  # fmt: skip


def apply_at_end(
    ctx: EngineContext, new: EngineState, now: int | None, decisions: list, trades: list
) -> list[Json]:
    """The session's last boundary, once its feed is over: the inbox applied at ``now``, the
    instant of the last event (its quotes are the last known), or — before any event, ``now``
    None — failed."""
    if now is not None:
        return apply_commands(ctx, new, now, decisions, trades)
    return [
        _outcome(new.commands.pop(key), None, "not applied: the session ended before its "
                 "first feed event", False, decisions)
        for key in sorted(new.commands, key=int)
    ]  # fmt: skip
