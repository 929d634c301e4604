"""`SessionNotifier`: a dry-run/live session's notifications, following the engine's
decisions through the runner's observer hook (`tradeforge.live.runner.SessionObserver`).

On the engine's thread it only queues the decision with the commit's ``seq`` and the
committed state (an object the engine replaces, never changes): no formatting, no I/O, no
waiting, so a slow or unreachable Telegram cannot slow trading. In the delivery thread each
decision becomes messages (`tradeforge.notify.events`); a decision that closed a position
reads that commit's trades back from the journal (`tradeforge.notify.records`) for their
P&L and R. Delivery trouble (a channel failing, resuming, dropped messages) and the final
counters go to the session's ``decisions.jsonl`` as ``notify_*`` records.

With ``[telegram.commands]`` in the config the delivery thread's loop also runs the
session's Telegram commands (`tradeforge.notify.operator`); with ``[monitor]`` a
`DivergenceMonitor` follows each strategy instance of the session too and its alerts are
delivered like any message. In a session of several instances a message about a position,
an order or a trade prints with its own instance's symbol, digits and currency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.live.decisions import append_decisions, decision
from tradeforge.live.model import EngineState
from tradeforge.notify import events
from tradeforge.notify.config import NotifyConfig
from tradeforge.notify.dispatch import Dispatcher, DispatchStats
from tradeforge.notify.message import Message
from tradeforge.notify.records import commit_trades
from tradeforge.notify.risk import RiskWatch, utc_day

if TYPE_CHECKING:
    from tradeforge.live.engine import Engine
    from tradeforge.notify.monitor import DivergenceMonitor
    from tradeforge.notify.operator import TelegramOperator

Decision = dict[str, Any]

#: ``report`` events of the dispatcher as decisions-log reasons.
REPORTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "notify_failing": lambda e: f"delivery to {e['target']} failing: {e['error']}",
    "notify_resumed": lambda e: f"delivery to {e['target']} resumed",
    "notify_dropped": lambda e: (
        f"{e['dropped']} notification(s) for {e['target']} were dropped; told on resuming"
    ),
    "notify_failed": lambda e: f"{e['target']}: {e['error']}",
    "notify_error": lambda e: f"a notification could not be formatted: {e['error']}",
}


class SessionNotifier:
    """Notifications of one session (see the module doc). ``warn`` receives one line per
    delivery problem worth telling the operator at once (the CLI prints it)."""

    def __init__(self, config: NotifyConfig, *, warn: Callable[[str], None] | None = None) -> None:
        config.check_secrets()  # a missing token fails before the session starts
        self.config = config
        self.warn = warn
        self.muted = set(config.mute)
        self.engine: Engine | None = None
        self.dispatcher: Dispatcher | None = None
        self.risk: RiskWatch | None = None
        self.fmt: events.Formats | None = None  # the first instance's (the session's totals)
        self.fmts: dict[str, events.Formats] = {}  # each instance's, by name
        self.operator: TelegramOperator | None = None
        self.monitors: list[DivergenceMonitor] = []  # one per instance
        self.label = ""  # the session's label, unless the config names one
        self._trades_seq = -1  # the last commit whose closed trades were notified
        self._guards: set[tuple[str, int | None]] = set()  # (guard, day) already told

    # -- the runner's SessionObserver -----------------------------------------------------------
    def attach(self, engine: Engine) -> Callable[[Decision], None]:
        """Start delivering for ``engine``; returns the per-decision callback."""
        cfg = engine.cfg
        self.label = ", ".join(
            f"{name} {c.symbol} {c.cfg.timeframe}" for name, c in engine.contexts.items()
        )
        channels = self.config.channels(self.config.label or self.label)
        self.engine = engine
        engine.desk.notifier = self  # a notify_reload command reaches us there
        self.fmts = {name: events.Formats.of(c.inst) for name, c in engine.contexts.items()}
        self.fmt = events.Formats.of(engine.inst)
        risk = self.config.risk
        self.risk = RiskWatch(cfg.limits, risk.daily_loss_pct, risk.drawdown_guard_fraction)
        delivery = self.config.delivery
        commands, tg = self.config.commands(), self.config.telegram
        if commands is not None and tg is not None:
            from tradeforge.notify.operator import TelegramOperator

            self.operator = TelegramOperator(
                commands, token=tg.token(), base_url=tg.base_url, state_dir=engine.dir,
                log=self._append, echo=self._echo, timeout=tg.timeout,
            )  # fmt: skip
        self.dispatcher = Dispatcher(
            channels,
            queue_size=delivery.queue_size,
            report=self._report,
            backoff=delivery.retry_seconds,
            tasks=[self.operator.run] if self.operator is not None else [],
        ).start()
        if self.config.monitor is not None:
            from tradeforge.notify.monitor import DivergenceMonitor

            for name in engine.contexts:
                monitor = DivergenceMonitor(self.config.monitor, alert=self._alert, instance=name)
                monitor.attach(engine)
                self.monitors.append(monitor)
        return self.on_decision

    def check_reload(self, config: NotifyConfig) -> None:
        """Refuse (`ConfigError`) settings a running session cannot take: a missing secret,
        and changed Telegram commands or divergence monitor (they keep theirs until a
        restart)."""
        config.check_secrets()
        if config.commands() != self.config.commands():
            raise ConfigError("notify reload refused: telegram.commands changes need a restart")
        if config.monitor != self.config.monitor:
            raise ConfigError("notify reload refused: monitor settings changes need a restart")

    def reload(self, config: NotifyConfig) -> str:
        """New settings while the session runs (the engine's thread; never waits): the
        messages from now on go to the new chats and URLs with their levels, mutes, label
        and alert thresholds; what the old channels hold is still delivered. The delivery
        limits (queue size, retries) stay as they started. Returns what it did, in words."""
        assert self.dispatcher is not None and self.risk is not None
        self.check_reload(config)
        self.config, self.muted = config, set(config.mute)
        self.risk.daily_thresholds = sorted(config.risk.daily_loss_pct)
        self.risk.fractions = sorted(config.risk.drawdown_guard_fraction)
        channels = config.channels(config.label or self.label)
        self.dispatcher.reroute(channels)
        targets = sorted({t for ch in channels for ts in ch.routes().values() for t in ts})
        return f"notification settings reloaded: {len(targets)} target(s)"

    @property
    def monitor(self) -> DivergenceMonitor | None:
        """The first instance's monitor (a session of one has only that one)."""
        return self.monitors[0] if self.monitors else None

    def on_decision(self, d: Decision) -> None:
        """The engine's thread, right after a commit: queue and return."""
        engine, dispatcher = self.engine, self.dispatcher
        assert engine is not None and dispatcher is not None
        dispatcher.submit(partial(self.messages, d, engine.state["seq"], engine.current))
        for monitor in self.monitors:
            monitor.on_decision(d)

    def finish(self, engine: Engine, error: BaseException | None) -> DispatchStats:
        """The session ended (``error``: why it stopped): send the closing message, deliver
        what is queued within ``delivery.drain_seconds``, log the counters."""
        assert self.dispatcher is not None and self.fmt is not None
        for monitor in self.monitors:
            monitor.finish(engine, error)  # its last comparison, delivered below
        if "end" not in self.muted:
            self.dispatcher.submit(events.ended(engine.current, self.fmt, error))
        stats = self.dispatcher.close(self.config.delivery.drain_seconds)
        counts = stats.to_dict()
        reason = (
            f"notifications: {counts['delivered']} delivered, {counts['dropped']} dropped, "
            f"{counts['failed']} failed, {counts['undelivered']} undelivered"
        )
        try:
            self._log("notify_summary", reason, counts)
        except StateError as exc:  # the session's own error (if any) is the one to report
            if self.warn is not None:
                self.warn(f"cannot log the notification counters: {exc}")
        return stats

    @property
    def stats(self) -> DispatchStats:
        assert self.dispatcher is not None
        return self.dispatcher.stats

    # -- the delivery thread --------------------------------------------------------------------
    def messages(self, d: Decision, seq: int, state: EngineState) -> Iterable[Message]:
        """The messages of decision ``d`` of commit ``seq`` (``state``: after that commit)."""
        return [m for m in self._describe(d, seq, state) if m.kind not in self.muted]

    def _format_of(self, d: Decision, state: EngineState) -> events.Formats:
        """How to print decision ``d``: its instance's formats (named by the decision, or the
        owner of its order or position), else the first instance's."""
        name = d.get("strategy") or state.owner(d.get("order") or d.get("position") or "")
        fmt = self.fmts.get(name) if isinstance(name, str) else None
        assert self.fmt is not None
        return fmt or self.fmt

    def _describe(self, d: Decision, seq: int, state: EngineState) -> list[Message]:
        risk = self.risk
        assert risk is not None
        fmt = self._format_of(d, state)
        kind = d["kind"]
        if kind == "start":
            return [events.started(d, state)]
        if kind == "kill_cleared":
            return [events.kill_cleared(d)]
        if kind == "filled":
            return [events.opened(d, state, fmt)]
        if kind == "stop":
            return [events.stop_moved(d, state, fmt)]
        if kind in events.ERRORS:
            return [events.error(d)]
        if kind == "health" and d.get("recovered"):
            return [events.recovered(d)]
        if kind == "kill":
            return [events.killed(d)]
        if kind in events.CONTROL_LEVELS:
            return [events.switched(d)]
        if kind == "command_refused" or (kind == "command" and d.get("outcome") == "failed"):
            return [events.refused(d)]
        if kind == "guard":
            day = utc_day(d["time"]) if d.get("time") else None
            if (d["guard"], day) in self._guards:
                return []  # once a day per guard: it blocks every signal while it holds
            self._guards.add((d["guard"], day))
            return [events.guard(d)]
        out = [events.reconciled(d)] if kind == "reconcile" else []
        if kind == "exit" and d["position"] in state.positions:
            out.append(events.partial(d, state, fmt))
        elif kind in ("exit", "reconcile") and seq != self._trades_seq:
            self._trades_seq = seq  # every trade the commit closed, once
            assert self.engine is not None
            for trade in commit_trades(self.engine.repo.journal.path, seq):
                own = self.fmts.get(str(trade.get("strategy")), fmt)
                out.append(events.closed(trade, own, d.get("time")))
                out += risk.on_trade(trade, state)
        return out

    def _report(self, event: dict[str, Any]) -> None:
        """A delivery event: into the decisions log, and to the operator when it matters."""
        event = dict(event)
        kind = event.pop("kind")
        reason = REPORTS[kind]({**event, "kind": kind})
        self._log(kind, reason, event)
        if self.warn is not None and kind in ("notify_failing", "notify_failed", "notify_error"):
            self.warn(reason)

    def _log(self, kind: str, reason: str, data: dict[str, Any]) -> None:
        self._append(decision(None, kind, reason, **data))

    def _append(self, d: Decision) -> None:
        """One record into the session's decisions log (any thread)."""
        engine = self.engine
        assert engine is not None
        seq = engine.state.get("seq", 0) if engine.state else 0
        append_decisions(engine.dir, seq, [d])

    def _echo(self, d: Decision) -> None:
        """A decision made outside the engine (a refused Telegram command) passed on as the
        control channel passes its refusals: to the engine's echo, which reaches us too."""
        engine = self.engine
        if engine is not None and engine.echo is not None:
            engine.echo(d)

    def _alert(self, msg: Message) -> None:
        if msg.kind not in self.muted and self.dispatcher is not None:
            self.dispatcher.submit(msg)
