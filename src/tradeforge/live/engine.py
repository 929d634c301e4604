"""The event loop shared by dry-run and live: feed → strategy → sizing/guards → broker → state.

`Engine` runs a session: one or several strategy instances (`Instance`: a configuration, a
strategy and the feed of its symbol) on one broker account, with one state directory, one
journal, one lock and one control channel. It loads (or creates) the state, reconciles it with
the broker, then hands each new feed event to `tradeforge.live.events` for every instance
trading the event's symbol (in name order) and commits what it changed. Events of several
feeds are merged in the order ``(time, priority, symbol)`` (`MergedFeed`), so a replay, a
resume and an uninterrupted run see the same sequence. The steps live in small
modules: `events` (the per-tick / per-bar sequence), `entries` and `orders` (signals to
orders), `pending` (fills), `exits` and `booking` (positions and trades), `reconcile`,
`kill`, `decisions` (the log) and `summary`; operator commands in `control`.

Each event's effects are computed on a working copy of the last committed state (a typed
`EngineState`, `tradeforge.live.model`) and committed, in its JSON form, as one journal record
(see `tradeforge.live.state`) *after* the broker calls, which are idempotent by client id. A
crash anywhere therefore leaves a state from which re-running the same event makes the same
decisions, gets the same (deduplicated) broker answers and commits the same record.

Operator commands (`tradeforge.live.control`) arrive on another thread, which journals each
one (`acknowledge`) into the state's inbox under the engine's commit lock — the only thing
the two threads share, held for one journal append and snapshot. The engine applies the inbox
at the next event boundary, before the event's own effects, and keeps commands acknowledged
meanwhile for the boundary after. When the feed is over (a replay's end) or trading halted,
`finish` closes the inbox and applies what is left at the last event's instant, so an
acknowledged command always gets an outcome; commands sent later are refused.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.instruments import Instrument
from tradeforge.live import guards as G
from tradeforge.live.account import sizing_balance
from tradeforge.live.brokers.base import Broker
from tradeforge.live.config import EngineConfig
from tradeforge.live.context import Desk, EngineContext
from tradeforge.live.control.apply import apply_at_end, apply_commands
from tradeforge.live.decisions import append_decisions, decision
from tradeforge.live.events import on_bar, on_tick
from tradeforge.live.feeds import Event, Feed, SessionKey, Tick, resume_after
from tradeforge.live.guards import RiskLimits
from tradeforge.live.history import HistoryLost
from tradeforge.live.kill import kill
from tradeforge.live.market import observe
from tradeforge.live.model import Command, EngineState, Json, StrategyState
from tradeforge.live.persist import canonical_json
from tradeforge.live.reconcile import reconcile, settle_in_doubt
from tradeforge.live.schema import check_engine_state, load_engine_state
from tradeforge.live.state import LoadReport, StateRepository
from tradeforge.live.strategy_signals import strategy_signals
from tradeforge.live.summary import engine_summary
from tradeforge.strategy.code import CodeVersion, archived_class
from tradeforge.strategy.registry import create_strategy
from tradeforge.trading.spec import RunSpec

__all__ = ["Engine", "EngineConfig", "Instance", "MergedFeed", "engine_summary", "strategy_signals"]


@dataclass(frozen=True)
class Instance:
    """One strategy instance of a session: its configuration (``cfg.strategy_name`` is the
    instance's name, carried by its client ids), the strategy and the feed of its symbol
    (instances on one symbol share one feed). ``window``: the window as configured (None:
    derived from the warm-up; a ``reload`` derives it again)."""

    cfg: EngineConfig
    strategy: Any
    feed: Feed
    instrument: Instrument | None = None
    window: int | None = None


class MergedFeed:
    """The feeds of a session's symbols as one stream in ``(time, priority, symbol)`` order
    (each feed yields its own events in key order). Blocking live feeds cannot be merged
    this way: a live connection merges its own (`Engine.session`'s ``stream``, e.g.
    `tradeforge.live.brokers.ctrader_feed.CTraderSessionFeed`)."""

    def __init__(self, feeds: Mapping[str, Feed]) -> None:
        self.feeds = dict(sorted(feeds.items()))

    def events(self, after: SessionKey | None = None) -> Iterator[Event]:
        def keyed(symbol: str, feed: Feed) -> Iterator[tuple[SessionKey, Event]]:
            for ev in feed.events(resume_after(after, symbol)):
                yield (ev.key[0], ev.key[1], symbol), ev

        merged = heapq.merge(*(keyed(s, f) for s, f in self.feeds.items()), key=lambda x: x[0])
        for skey, ev in merged:
            if after is None or skey > after:
                yield ev

    def last_tick(self, key: SessionKey, symbol: str) -> Tick | None:
        """The last quote of ``symbol`` the merged stream had delivered at ``key``."""
        feed = self.feeds[symbol]
        after = resume_after(key, symbol)
        if after is None or not hasattr(feed, "last_tick"):
            return None
        return feed.last_tick(after)


def _trades_note(state: Json, records: list[Json]) -> str:
    """How many closed trades the journal no longer holds (for a history-loss message)."""
    kept = sum(len(r.get("trades") or []) for r in records)
    counted = load_engine_state(state).stats.trades
    return f"; the state counts {counted} closed trade(s), the journal still holds {kept}"


def _compared(state: EngineState) -> str:
    """What decides whether an event changed the state: all of it but the event key."""
    body = state.to_json()
    del body["last_key"], body["last_symbol"]
    return canonical_json(body)


class Engine:
    """A session of strategy instances against one broker, with crash-safe state in
    ``state_dir``. ``Engine(config, strategy, feed, broker, state_dir)`` is a session of one
    (``config.limits`` are then the account's guards); `Engine.session` builds one of several.

    ``ctx``, ``strategy``, ``inst``, ``symbol`` and ``tf`` are the first instance's (by name),
    ``cfg`` its configuration with the account's guards (for a session of one: the config it
    was built with); ``feed`` is the session's event stream (the one feed, or a
    `MergedFeed`)."""

    def __init__(
        self,
        config: EngineConfig,
        strategy: Any,
        feed: Feed,
        broker: Broker,
        state_dir: str | Path,
        *,
        instrument: Instrument | None = None,
        replaying: bool | None = None,
        echo: Callable[[dict[str, Any]], None] | None = None,
        accept_state_loss: bool = False,
    ) -> None:
        one = Instance(
            replace(config, limits=RiskLimits()), strategy, feed, instrument, config.window
        )
        self._setup([one], broker, state_dir, config.limits, replaying, echo, accept_state_loss)

    @classmethod
    def session(
        cls,
        instances: Sequence[Instance],
        broker: Broker,
        state_dir: str | Path,
        *,
        limits: RiskLimits | None = None,
        replaying: bool | None = None,
        echo: Callable[[dict[str, Any]], None] | None = None,
        accept_state_loss: bool = False,
        stream: Any = None,
    ) -> Engine:
        """A session of ``instances`` (unique names; instances on one symbol share its feed and
        timeframe) with the account's guards ``limits``. ``stream``: the session's events
        when a live connection merges its symbols' feeds itself (the `MergedFeed` interface:
        ``events(after)`` and ``last_tick(key, symbol)`` with `SessionKey` s); default: the
        one feed, or a `MergedFeed` of several."""
        engine = cls.__new__(cls)
        engine._setup(
            instances, broker, state_dir, limits or RiskLimits(), replaying, echo,
            accept_state_loss, stream,
        )  # fmt: skip
        return engine

    def _setup(
        self,
        instances: Sequence[Instance],
        broker: Broker,
        state_dir: str | Path,
        limits: RiskLimits,
        replaying: bool | None,
        echo: Callable[[dict[str, Any]], None] | None,
        accept_state_loss: bool,
        stream: Any = None,
    ) -> None:
        if not instances:
            raise StateError("a session needs at least one strategy instance")
        self.desk = Desk(limits=limits)
        feeds: dict[str, Feed] = {}
        for one in sorted(instances, key=lambda i: i.cfg.strategy_name):
            name = one.cfg.strategy_name
            if name in self.desk.contexts:
                raise StateError(f"two strategy instances are named {name!r}")
            ctx = EngineContext.build(
                one.cfg, one.strategy, one.feed, broker, state_dir, one.instrument, self.desk
            )
            known = feeds.setdefault(ctx.symbol, one.feed)
            if known is not one.feed:
                raise StateError(f"instances on {ctx.symbol} must share one feed")
            self.desk.contexts[name] = ctx
            self.desk.windows[name] = one.window
        self.routes = {
            symbol: [n for n, c in self.desk.contexts.items() if c.symbol == symbol]
            for symbol in feeds
        }
        self.ctx = next(iter(self.desk.contexts.values()))
        self.cfg = replace(self.ctx.cfg, limits=limits)  # with the account's guards
        self.strategy = self.ctx.strategy
        self.merged = len(feeds) > 1  # events and resume keys carry their symbol
        if stream is None:
            stream = MergedFeed(feeds) if self.merged else next(iter(feeds.values()))
        self.feed: Any = stream
        # the instances' RunSpecs where the runner hands them over (a live session stores
        # none in its state directory): the divergence monitor's shadow backtests
        self.specs: dict[str, RunSpec] = {}
        self.broker = broker
        self.dir = self.ctx.dir
        self.inst = self.ctx.inst
        self.symbol = self.inst.symbol
        self.tf = self.ctx.tf
        self.repo = StateRepository(self.dir, validate=check_engine_state)
        self.accept_state_loss = accept_state_loss  # start even if journal history was lost
        # a replayed feed redelivers the in-flight event after a crash, so discrepancies
        # explained by our own client ids are left to that redo instead of being "corrected"
        self.replaying = bool(broker.simulated) if replaying is None else replaying
        self.echo = echo
        self.current: EngineState | None = None  # the committed state, typed (read only)
        self.state: Json = {}  # the committed state as stored (JSON, with seq and version)
        self._compared = ""  # `_compared(self.current)`
        self.load_report: LoadReport | None = None
        self.stopped = False
        self.closing = False  # set by `finish`: no more commands
        self._handled: tuple[tuple[int, int], str, int] | None = None  # key, symbol, time
        self.lock = threading.Lock()  # one committer at a time: this thread or the control's
        # told the outcomes of applied commands after their commit (the control channel)
        self.on_applied: Callable[[list[Json]], None] | None = None

    @property
    def contexts(self) -> dict[str, EngineContext]:
        """The instances' contexts by name (a ``reload`` replaces one)."""
        return self.desk.contexts

    @property
    def last_tick(self) -> Tick | None:
        """The last quote of the first instance's symbol."""
        return self.desk.quotes.get(self.symbol)

    # ------------------------------------------------------------------ state
    def _adopt(self, state: Json) -> None:
        """Make ``state`` (committed, JSON-normalised) the engine's current state."""
        self.state = state
        self.current = EngineState.from_json(state)
        self._compared = _compared(self.current)

    def working_copy(self) -> EngineState:
        """A copy of the committed state for an event to change (the committed one stays)."""
        return EngineState.from_json(self.state)

    def _commit(
        self, new: EngineState, kind: str, event: Any, decisions: list, trades: list
    ) -> Json:
        with self.lock:
            record = self._store(new, kind, event, decisions, trades)
        self._publish(record, decisions)
        return record

    def _store(
        self, new: EngineState, kind: str, event: Any, decisions: list, trades: list
    ) -> Json:
        """Commit ``new`` (the caller holds ``lock``)."""
        record = self.repo.commit(new.to_json(), kind, event, decisions=decisions, trades=trades)
        self._adopt(self.repo.state)
        return record

    def _publish(self, record: Json, decisions: list) -> None:
        """A commit's decisions to the log and the echo (outside the lock)."""
        if decisions:
            append_decisions(self.dir, record["seq"], decisions)
        if self.echo:
            for d in decisions:
                self.echo(d)

    def acknowledge(
        self, name: str, check: Callable[[EngineState], Json], who: Json, received: str
    ) -> Command:
        """Journal an operator command into the inbox, its arguments as ``check`` gives them
        from the committed state (its `ConfigError` refuses the command: nothing is written);
        it applies at the next event boundary. Runs on the control thread."""
        with self.lock:
            assert self.current is not None
            if self.closing:
                raise ConfigError(
                    "the session is ending (its feed is over or trading halted): no more commands"
                )
            args = check(self.current)
            new = self.working_copy()
            cmd = Command(self.state["seq"] + 1, name, args, who, received)
            new.commands[str(cmd.id)] = cmd
            self._store(new, "command", None, [], [])
        return cmd

    # ------------------------------------------------------------------ start-up
    def _books(self, balance: float) -> dict[str, StrategyState]:
        return {
            name: StrategyState.initial(
                ctx.cfg.identity(), ctx.strategy.describe()["params"], ctx.cfg.window, balance
            )
            for name, ctx in self.desk.contexts.items()
        }

    def _identities(self, state: EngineState) -> dict[str, Json]:
        return {name: book.identity.to_json() for name, book in state.strategies.items()}

    def start(self) -> LoadReport:
        """Load (or create) the state, check it belongs to this session, adopt the parameters
        a ``reload`` recorded, reconcile."""
        if self.repo.exists():
            try:
                _, report = self.repo.load(accept_loss=self.accept_state_loss)
            except HistoryLost as exc:
                note = _trades_note(exc.state, self.repo.records())
                raise HistoryLost(exc.loss, exc.state, note) from None
        else:
            balance = self.broker.account().balance
            self.repo.create(EngineState.initial(self._books(balance), balance).to_json())
            report = LoadReport(source="new", seq=1)
        self._adopt(self.repo.state)
        self.load_report = report
        new = self.working_copy()
        wanted = {n: c.cfg.identity().to_json() for n, c in self.desk.contexts.items()}
        if self._identities(new) != wanted:
            raise StateError(
                f"state in {self.dir} belongs to {_described(self._identities(new))}, not "
                f"{_described(wanted)}; use another --state directory"
            )
        decisions = [decision(None, "start", report.message(), load=report.to_dict())]
        decisions += self._adopt_parameters(new)
        halted = new.risk.halted
        if halted and not G.kill_requested(self.dir):
            new.risk.halted = None
            decisions.append(decision(None, "kill_cleared", f"KILL file gone; was: {halted}"))
        self._commit(new, "start", None, decisions, [])
        self._restore_quotes(new)
        self.reconcile()
        return report

    def _adopt_parameters(self, new: EngineState) -> list[Json]:
        """Each instance trades with the parameters, window and code its state records (a
        reload's survive a restart; reloaded code is rebuilt from the state's archive); a
        state that records none (migrated from one strategy) records the configuration's,
        and the capital its own guards count from."""
        notes = []
        for name, ctx in list(self.desk.contexts.items()):
            book = new.strategies[name]
            if book.risk.capital is None:  # the account's starting balance, to the cent
                capital = round(sizing_balance(ctx, new) - book.stats.realized, 2)
                book.risk.capital = book.risk.day_start = book.risk.peak = capital
            configured = ctx.strategy.describe()["params"]
            if book.params is None:
                book.params, book.window = configured, ctx.cfg.window
                continue
            if book.params == configured and book.window == ctx.cfg.window and not book.code:
                continue
            if book.code is None:
                strategy = create_strategy(book.identity.strategy, book.params)
            else:  # the code version of its last reload, from the state's archive
                code = CodeVersion.from_json(book.code)
                strategy = archived_class(self.dir, code, book.identity.strategy)(book.params)
            window = book.window if book.window is not None else ctx.cfg.window
            self.desk.contexts[name] = replace(
                ctx, strategy=strategy, cfg=replace(ctx.cfg, window=window)
            )
            notes.append(
                decision(None, "reloaded", f"strategy {name} trades with the parameters"
                         + (" and code" if book.code else "") + " of its last reload "
                         "(recorded in the state)", strategy=name, params=book.params,
                         window=window, code=book.code)
            )  # fmt: skip
        return notes

    def _restore_quotes(self, state: EngineState) -> None:
        """The last quote of each symbol before the restart (guards, the path of tick exits),
        handed to a simulated broker again."""
        last = state.last_key
        if last is None or state.last_symbol is None:
            return
        key = (last[0], last[1], state.last_symbol)
        for symbol in self.routes:
            if self.merged:
                tick = self.feed.last_tick(key, symbol)
            elif hasattr(self.feed, "last_tick"):
                tick = self.feed.last_tick(last)
            else:
                tick = None
            if tick is None:
                continue
            self.desk.quotes[symbol] = tick
            if self.broker.simulated:
                observe(self.desk.first_on(symbol), self.working_copy(), tick)

    def reconcile(self) -> list[Json]:
        """Compare state and broker; fix and log every difference before any new order."""
        new = self.working_copy()
        now = new.last_key[0] if new.last_key else None
        decisions, trades = reconcile(self.ctx, new, now, self.replaying)
        if decisions:
            self._commit(new, "reconcile", None, decisions, trades)
        return decisions

    # ------------------------------------------------------------------ run loop
    def resume_key(self) -> Any:
        """Where `feed` continues: after the last event committed (with its symbol when
        several feeds are merged); None before the first."""
        assert self.current is not None
        last = self.current.last_key
        if last is None:
            return None
        if self.merged:
            return (last[0], last[1], self.current.last_symbol or "")
        return last

    def run(self, max_events: int | None = None) -> Json:
        """Process feed events until the feed ends, the kill switch fires or ``max_events``;
        returns the committed state as stored."""
        if self.load_report is None:
            self.start()
        assert self.current is not None
        if not self.current.risk.halted:
            for count, event in enumerate(self.feed.events(self.resume_key()), start=1):
                self.handle(event)
                if self.stopped:
                    break
                if max_events is not None and count >= max_events:
                    return self.state
        self.finish()
        return self.state

    def finish(self) -> list[Json]:
        """The feed is over (or trading halted): accept no more commands, and apply the ones
        acknowledged after the last event at that event's instant (`apply_at_end`), committed
        as an ``end`` record that also records that event as the last one played (a restart
        plays nothing again) — no later event would ever apply them. Their outcomes."""
        with self.lock:
            self.closing = True  # `acknowledge` refuses from now on
        assert self.current is not None
        if not self.current.commands:
            return []
        new = self.working_copy()
        decisions: list[Json] = []
        trades: list[Json] = []
        now = new.last_key[0] if new.last_key else None
        if self._handled is not None:  # events after the last commit changed nothing
            key, new.last_symbol, now = self._handled
            new.last_key = key
        applied = apply_at_end(self.ctx, new, now, decisions, trades)
        self._commit(new, "end", None, decisions, trades)
        if self.on_applied is not None:
            self.on_applied(applied)
        return applied

    def _instances(self, symbol: str) -> list[EngineContext]:
        names = self.routes.get(symbol)
        if names is None and len(self.routes) == 1:  # one feed: its events are everyone's
            names = next(iter(self.routes.values()))
        return [self.desk.contexts[n] for n in names or ()]

    def handle(self, event: Event) -> None:
        """Apply one feed event and commit its effects (a no-op for one already applied)."""
        assert self.current is not None
        symbol = self._symbol_of(event)
        last = self.current.last_key
        if last is not None:
            seen = (*last, self.current.last_symbol or "")
            if (*event.key, symbol) <= seen:
                return  # duplicate or out-of-order event: already reflected in the state
        self._handled = ((event.key[0], event.key[1]), symbol, _time_of(event))
        new = self.working_copy()
        decisions: list[Json] = []
        trades: list[Json] = []
        taken = set(new.commands)
        applied = apply_commands(self.ctx, new, _time_of(event), decisions, trades)
        instances = self._instances(symbol)
        if isinstance(event, Tick):
            prev = self.desk.quotes.get(symbol)
            self.desk.quotes[symbol] = event
            if self.broker.simulated and instances:
                observe(instances[0], new, event)  # once, whatever trades the symbol
            for ctx in instances:
                on_tick(ctx, new, event, decisions, trades, prev)
            kind, now = "tick", event.time
        else:
            for ctx in instances:
                on_bar(ctx, new, event, self.desk.quotes.get(symbol), decisions, trades)
            if self.desk.in_doubt and instances:
                settle_in_doubt(instances[0], symbol, event.close_time, decisions)
            kind, now = "bar", event.close_time
        if G.kill_requested(self.dir) and not new.risk.halted:
            kill(self.ctx, new, now, decisions, trades)
        record = None
        with self.lock:
            assert self.current is not None
            for key, cmd in self.current.commands.items():  # acknowledged meanwhile: next time
                if key not in taken:
                    new.commands[key] = cmd
            if decisions or trades or _compared(new) != self._compared:
                new.last_key = (event.key[0], event.key[1])
                new.last_symbol = symbol
                record = self._store(new, kind, list(event.key), decisions, trades)
        if record is not None:
            self._publish(record, decisions)
        if applied and self.on_applied is not None:
            self.on_applied(applied)
        if new.risk.halted:
            self.stopped = True

    def _symbol_of(self, event: Event) -> str:
        """The session's name of the event's symbol (a single feed's events are its own)."""
        symbol = event.symbol.upper()
        if symbol not in self.routes and len(self.routes) == 1:
            return next(iter(self.routes))
        return symbol


def _described(identities: dict[str, Json]) -> str:
    """``sma_cross EURUSD M5`` for a session of one, else ``name=strategy SYMBOL TF, …``."""
    parts = [f"{v['strategy']} {v['symbol']} {v['timeframe']}" for v in identities.values()]
    if len(identities) == 1:
        return parts[0]
    return "{" + ", ".join(f"{n}={p}" for n, p in zip(identities, parts, strict=True)) + "}"


def _time_of(event: Event) -> int:
    return event.time if isinstance(event, Tick) else event.close_time
