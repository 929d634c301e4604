"""The event loop shared by dry-run and live: feed → strategy → sizing/guards → broker → state.

`Engine` loads (or creates) the state, reconciles it with the broker, then hands each new
feed event to `tradeforge.live.events` and commits what it changed. The steps live in small
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
meanwhile for the boundary after.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tradeforge.core.errors import StateError
from tradeforge.core.instruments import Instrument
from tradeforge.live import guards as G
from tradeforge.live.brokers.base import Broker
from tradeforge.live.config import EngineConfig
from tradeforge.live.context import EngineContext
from tradeforge.live.control.apply import apply_commands
from tradeforge.live.decisions import append_decisions, decision
from tradeforge.live.events import on_bar, on_tick
from tradeforge.live.feeds import Event, Feed, Tick
from tradeforge.live.history import HistoryLost
from tradeforge.live.kill import kill
from tradeforge.live.market import observe
from tradeforge.live.model import Command, EngineState, Json
from tradeforge.live.persist import canonical_json
from tradeforge.live.reconcile import reconcile
from tradeforge.live.schema import check_engine_state, load_engine_state
from tradeforge.live.state import LoadReport, StateRepository
from tradeforge.live.strategy_signals import strategy_signals
from tradeforge.live.summary import engine_summary

__all__ = ["Engine", "EngineConfig", "engine_summary", "strategy_signals"]


def _trades_note(state: Json, records: list[Json]) -> str:
    """How many closed trades the journal no longer holds (for a history-loss message)."""
    kept = sum(len(r.get("trades") or []) for r in records)
    counted = load_engine_state(state).stats.trades
    return f"; the state counts {counted} closed trade(s), the journal still holds {kept}"


def _compared(state: EngineState) -> str:
    """What decides whether an event changed the state: all of it but the event key."""
    body = state.to_json()
    del body["last_key"]
    return canonical_json(body)


class Engine:
    """One strategy on one symbol against one broker, with crash-safe state in ``state_dir``."""

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
        self.ctx = EngineContext.build(config, strategy, feed, broker, state_dir, instrument)
        self.cfg = config
        self.strategy = strategy
        self.feed = feed
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
        self.last_tick: Tick | None = None
        self.stopped = False
        self.lock = threading.Lock()  # one committer at a time: this thread or the control's
        # told the outcomes of applied commands after their commit (the control channel)
        self.on_applied: Callable[[list[Json]], None] | None = None

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
            args = check(self.current)
            new = self.working_copy()
            cmd = Command(self.state["seq"] + 1, name, args, who, received)
            new.commands[str(cmd.id)] = cmd
            self._store(new, "command", None, [], [])
        return cmd

    # ------------------------------------------------------------------ start-up
    def start(self) -> LoadReport:
        """Load (or create) the state, check it belongs to this configuration, reconcile."""
        if self.repo.exists():
            try:
                _, report = self.repo.load(accept_loss=self.accept_state_loss)
            except HistoryLost as exc:
                note = _trades_note(exc.state, self.repo.records())
                raise HistoryLost(exc.loss, exc.state, note) from None
        else:
            initial = EngineState.initial(self.cfg.identity(), self.broker.account().balance)
            self.repo.create(initial.to_json())
            report = LoadReport(source="new", seq=1)
        self._adopt(self.repo.state)
        self.load_report = report
        new = self.working_copy()
        if new.identity != self.cfg.identity():
            raise StateError(
                f"state in {self.dir} belongs to {new.identity.to_json()}, not "
                f"{self.cfg.identity().to_json()}; use another --state directory"
            )
        decisions = [decision(None, "start", report.message(), load=report.to_dict())]
        halted = new.risk.halted
        if halted and not G.kill_requested(self.dir):
            new.risk.halted = None
            decisions.append(decision(None, "kill_cleared", f"KILL file gone; was: {halted}"))
        self._commit(new, "start", None, decisions, [])
        last = new.last_key
        if last is not None and hasattr(self.feed, "last_tick"):
            tick = self.feed.last_tick(last)
            if tick is not None:
                self.last_tick = tick
                if self.broker.simulated:
                    observe(self.ctx, self.working_copy(), tick)
        self.reconcile()
        return report

    def reconcile(self) -> list[Json]:
        """Compare state and broker; fix and log every difference before any new order."""
        new = self.working_copy()
        now = new.last_key[0] if new.last_key else None
        decisions, trades = reconcile(self.ctx, new, now, self.replaying)
        if decisions:
            self._commit(new, "reconcile", None, decisions, trades)
        return decisions

    # ------------------------------------------------------------------ run loop
    def run(self, max_events: int | None = None) -> Json:
        """Process feed events until the feed ends, the kill switch fires or ``max_events``;
        returns the committed state as stored."""
        if self.load_report is None:
            self.start()
        assert self.current is not None
        if self.current.risk.halted:
            return self.state
        for count, event in enumerate(self.feed.events(self.current.last_key), start=1):
            self.handle(event)
            if self.stopped or (max_events is not None and count >= max_events):
                break
        return self.state

    def handle(self, event: Event) -> None:
        """Apply one feed event and commit its effects (a no-op for one already applied)."""
        assert self.current is not None
        last = self.current.last_key
        if last is not None and tuple(event.key) <= last:
            return  # duplicate or out-of-order event: already reflected in the state
        new = self.working_copy()
        decisions: list[Json] = []
        trades: list[Json] = []
        taken = set(new.commands)
        applied = apply_commands(self.ctx, new, _time_of(event), decisions, trades)
        if isinstance(event, Tick):
            prev, self.last_tick = self.last_tick, event
            on_tick(self.ctx, new, event, decisions, trades, prev)
            kind, now = "tick", event.time
        else:
            on_bar(self.ctx, new, event, self.last_tick, decisions, trades)
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
                record = self._store(new, kind, list(event.key), decisions, trades)
        if record is not None:
            self._publish(record, decisions)
        if applied and self.on_applied is not None:
            self.on_applied(applied)
        if new.risk.halted:
            self.stopped = True


def _time_of(event: Event) -> int:
    return event.time if isinstance(event, Tick) else event.close_time
