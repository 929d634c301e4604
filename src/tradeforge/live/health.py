"""Execution health of a live (or live-fed paper) session, its fail-safes, and the health file.

A `HealthMonitor` runs a thread beside the engine. Once a second it measures six conditions —

* ``feed``: seconds since the feed delivered an event;
* ``link``: seconds the broker connection has been down, or silent (no message, heartbeats
  included), whichever is longer — for brokers that report their link (`CTraderBroker.link`);
* ``latency``: the slowest order round trip (place, close, modify, cancel) of the last
  ``WINDOW`` seconds;
* ``rejects``: orders the broker rejected in the last ``WINDOW`` seconds;
* ``skew``: the broker's clock against the local one (spot timestamps), absolute seconds;
* ``loop``: seconds the engine has been handling one event (the stuck-loop watchdog) —

and compares each with its `HealthRule` s. A rule becomes active when its condition has been
past the threshold for ``after`` checks in a row, and clears after ``clear`` checks in a row
back within it (hysteresis: one odd reading neither fires nor lifts a rule). Its action
applies when it becomes active, once, and is logged as a decision:

* ``warn``: a ``warning`` decision (the notifier sends it) and the status ``degraded``;
* ``halt``: no new entries — the monitor journals a ``pause`` command through the control
  inbox (`Engine.acknowledge`, as ``tradeforge ctl pause`` would, user ``health``) and a
  ``resume`` when every halting rule has cleared; it never resumes a pause it did not make;
* ``flatten``: a ``kill`` command — at the next feed event the engine closes everything and
  halts (after a lost connection: when it returns); status ``down``;
* ``exit``: (for ``loop``) the process ends with status 75 so a supervisor restarts it; the
  state is crash-safe, so a restart is the cure for a wedged call.

When a condition's last active rule clears, one ``health`` decision with ``recovered`` set
records the recovery (the notifier sends it, level info); a condition easing below one of
its rules while another stays active is logged without it.

The measurements, the rules' states and what the monitor holds are written atomically to
``<state>/health.json`` every ``interval`` seconds (not fsync'd: it is rewritten constantly and
worthless after a crash). `read_health` judges a file from outside the process: missing,
older than a few intervals, or written by a process that is gone means ``down``. This is what
``tradeforge health`` and the Docker HEALTHCHECK read: a file needs no port, no extra thread
answering requests, and works from ``docker exec`` and from the host through the state volume.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeforge.core.atomic import atomic_write_bytes
from tradeforge.core.errors import ConfigError
from tradeforge.core.process import pid_alive
from tradeforge.live.brokers.base import BrokerError, OrderRejected
from tradeforge.live.decisions import append_decisions, decision, iso

log = logging.getLogger(__name__)

HEALTH_FILE = "health.json"
WINDOW = 600.0  # seconds of order history the latency and reject conditions look at
ACTIONS = ("warn", "halt", "flatten", "exit")
_SEVERITY = {"warn": "degraded", "halt": "degraded", "flatten": "down", "exit": "down"}
#: condition -> (what it measures, unit)
CONDITIONS = {
    "feed": ("seconds since the last feed event", "s"),
    "link": ("seconds the broker connection has been down or silent", "s"),
    "latency": ("slowest order round trip in the window", "s"),
    "rejects": ("orders rejected in the window", "orders"),
    "skew": ("broker clock minus local clock, absolute", "s"),
    "loop": ("seconds the engine has spent on the current event", "s"),
}
STATUS_CODES = {"healthy": 0, "degraded": 1, "down": 2}


@dataclass(frozen=True)
class HealthRule:
    """``condition`` above ``threshold`` for ``after`` checks in a row → ``action``; cleared
    after ``clear`` checks in a row at or below it."""

    condition: str
    threshold: float
    action: str
    after: int = 1
    clear: int = 1

    def __post_init__(self) -> None:
        for name in ("after", "clear"):
            n = getattr(self, name)
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"health rule checks ({name}) must be a whole number >= 1")
        if self.condition not in CONDITIONS:
            raise ConfigError(
                f"unknown health condition {self.condition!r}; known: {', '.join(CONDITIONS)}"
            )
        if self.action not in ACTIONS:
            raise ConfigError(f"unknown health action {self.action!r}; known: {', '.join(ACTIONS)}")
        if self.action == "exit" and self.condition != "loop":
            raise ConfigError("the exit action is for the loop watchdog only (loop=SECONDS:exit)")
        if not self.threshold >= 0:
            raise ConfigError(f"health threshold of {self.condition} must be >= 0")

    @property
    def key(self) -> str:
        checks = f"@{self.after}/{self.clear}" if (self.after, self.clear) != (1, 1) else ""
        return f"{self.condition}>{self.threshold:g}:{self.action}{checks}"

    @classmethod
    def parse(cls, text: str) -> HealthRule:
        """``CONDITION=THRESHOLD[:ACTION][@N[/M]]``: action ``warn`` by default; active after
        N checks in a row past the threshold, cleared after M within it (M: N; both 1)."""
        name, sep, rest = text.partition("=")
        rest, at, checks = rest.partition("@")
        value, _, action = rest.partition(":")
        try:
            threshold = float(value)
            after, _, clear = checks.partition("/")
            counts = (int(after), int(clear or after)) if at else (1, 1)
        except ValueError:
            threshold, counts = float("nan"), (1, 1)
        if not sep or threshold != threshold:
            raise ConfigError(
                f"health rule must be CONDITION=NUMBER[:ACTION], optionally followed by @N or "
                f"@N/M; got {text!r}"
            )
        return cls(name.strip(), threshold, action.strip() or "warn", *counts)


#: A live session's rules unless told otherwise: a silent feed or a lost link stops new entries
#: (a weekend's quiet feed only halts entries, which a closed market has none of anyway) until
#: 5 checks in a row are healthy again; a link down for 5 minutes flattens when it returns;
#: slow fills, rejects and clock skew (seen on 3 checks in a row) warn; a loop stuck for 5
#: minutes restarts the process.
DEFAULT_RULES = (
    HealthRule("feed", 300, "halt", clear=5),
    HealthRule("link", 30, "halt", clear=5),
    HealthRule("link", 300, "flatten"),
    HealthRule("latency", 5, "warn"),
    HealthRule("rejects", 3, "halt"),
    HealthRule("skew", 10, "warn", after=3, clear=3),
    HealthRule("loop", 300, "exit"),
)


def health_rules(texts: list[str] | None) -> tuple[HealthRule, ...]:
    """The defaults with the given rules replacing every default rule of their condition;
    ``CONDITION=off`` removes a condition's rules."""
    if not texts:
        return DEFAULT_RULES
    given: list[HealthRule] = []
    off: set[str] = set()
    for text in texts:
        name, _, value = text.partition("=")
        if value.strip().lower() == "off":
            if name.strip() not in CONDITIONS:
                raise ConfigError(f"unknown health condition {name.strip()!r}")
            off.add(name.strip())
        else:
            given.append(HealthRule.parse(text))
    replaced = off | {r.condition for r in given}
    return tuple(r for r in DEFAULT_RULES if r.condition not in replaced) + tuple(given)


class WatchedFeed:
    """A feed that tells the monitor when an event arrives and when the engine is done with it
    (it asks for the next); everything else passes through."""

    def __init__(self, feed: Any, monitor: HealthMonitor) -> None:
        self._feed = feed
        self._monitor = monitor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._feed, name)

    def events(self, after: tuple[int, int] | None = None) -> Iterator[Any]:
        for event in self._feed.events(after):
            self._monitor.event_started(event)
            try:
                yield event
            finally:
                self._monitor.event_done()


class WatchedBroker:
    """A broker whose order calls are timed and whose rejections are counted."""

    _TIMED = ("place", "close", "modify", "cancel")

    def __init__(self, broker: Any, monitor: HealthMonitor) -> None:
        self._broker = broker
        self._monitor = monitor

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._broker, name)
        if name not in self._TIMED:
            return target

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.monotonic()
            try:
                result = target(*args, **kwargs)
            except OrderRejected as exc:
                self._monitor.order_done(name, time.monotonic() - t0, rejected=str(exc))
                raise
            except BrokerError as exc:
                self._monitor.order_done(name, None, error=str(exc))
                raise
            self._monitor.order_done(name, time.monotonic() - t0)
            return result

        return timed


class HealthMonitor:
    """See the module docstring. ``clock`` (monotonic seconds) and ``wall`` (epoch seconds)
    are injectable for tests; `check` runs one evaluation (the thread calls it every
    ``interval`` seconds)."""

    def __init__(
        self,
        state_dir: str | Path,
        rules: tuple[HealthRule, ...] = DEFAULT_RULES,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        exit_process: Callable[[int], None] = os._exit,
    ) -> None:
        if not interval > 0:
            raise ConfigError("health interval must be > 0 seconds")
        self.dir = Path(state_dir)
        self.path = self.dir / HEALTH_FILE
        self.rules = tuple(rules)
        self.interval = float(interval)
        self.clock, self.wall, self.exit_process = clock, wall, exit_process
        self.engine: Any = None
        self.feed: Any = None
        self.broker: Any = None
        self.link_source: Callable[[], dict[str, Any]] | None = None  # default: broker.link
        self._lock = threading.Lock()
        self._started = clock()
        self._last_event: float | None = None
        self._last_key: tuple[int, int] | None = None
        self._done_key: tuple[int, int] | None = None  # the last event the engine finished
        self._busy_since: float | None = None
        self._orders: deque[tuple[float, float | None, bool]] = deque()  # (t, seconds, rejected)
        self._link_down_since: float | None = None
        self.last_error: str | None = None
        self.active: dict[str, float] = {}  # rule key -> since (wall)
        self.streaks: dict[str, int] = {}  # rule key -> checks in a row against its state
        self.holds: dict[str, int | None] = {"pause": None, "kill": None}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._adopt_previous()

    # ------------------------------------------------------------------ wiring
    def watch_feed(self, feed: Any) -> WatchedFeed:
        self.feed = feed
        return WatchedFeed(feed, self)

    def watch_broker(self, broker: Any) -> WatchedBroker:
        self.broker = broker
        self.link_source = getattr(broker, "link", None)
        return WatchedBroker(broker, self)

    @contextmanager
    def running(self, engine: Any) -> Iterator[HealthMonitor]:
        """Watch ``engine`` (started) for the body; the file says ``stopped`` afterwards."""
        self.engine = engine
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)
        self._thread.start()
        try:
            yield self
        except BaseException as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._stop.set()
            self._thread.join(self.interval * 5 + 5)
            self.write(self.snapshot(status="down", stopped=True))

    def _adopt_previous(self) -> None:
        """A pause this monitor's predecessor made stays this monitor's to lift."""
        try:
            old = json.loads(self.path.read_text(encoding="utf-8"))
            self.holds["pause"] = old.get("holds", {}).get("pause")
        except (OSError, ValueError, AttributeError):
            pass

    # ------------------------------------------------------------------ observations
    def event_started(self, event: Any) -> None:
        with self._lock:
            self._last_event = self._busy_since = self.clock()
            self._last_key = tuple(event.key)

    def event_done(self) -> None:
        with self._lock:
            self._busy_since = None
            self._done_key = self._last_key

    def order_done(
        self, call: str, seconds: float | None, rejected: str = "", error: str = ""
    ) -> None:
        with self._lock:
            self._orders.append((self.clock(), seconds, bool(rejected)))
            if rejected or error:
                self.last_error = f"{call}: {rejected or error}"

    # ------------------------------------------------------------------ measurements
    def measure(self) -> dict[str, float | None]:
        """Each condition's current value (None: not measurable for this broker/feed)."""
        now = self.clock()
        with self._lock:
            while self._orders and self._orders[0][0] < now - WINDOW:
                self._orders.popleft()
            seconds = [s for _, s, _ in self._orders if s is not None]
            rejects = sum(1 for *_, r in self._orders if r)
            last_event, busy = self._last_event, self._busy_since
        values: dict[str, float | None] = {
            "feed": round(now - (last_event if last_event is not None else self._started), 3),
            "link": self._link(now),
            "latency": round(max(seconds), 3) if seconds else None,
            "rejects": float(rejects),
            "skew": None,
            "loop": round(now - busy, 3) if busy is not None else 0.0,
        }
        skew = getattr(self.feed, "clock_skew", None)
        if skew is not None:
            values["skew"] = abs(float(skew))
        return values

    def _link(self, now: float) -> float | None:
        link = self.link_source
        if link is None:
            return None
        try:
            state = link()
        except Exception as exc:  # a broken probe is a broken link
            state = {"connected": False, "failure": str(exc)}
        if state.get("connected"):
            self._link_down_since = None
            return float(state.get("silent_seconds") or 0.0)
        if state.get("failure"):
            self.last_error = f"broker link: {state['failure']}"
        if self._link_down_since is None:
            self._link_down_since = now
        return round(now - self._link_down_since, 3)

    # ------------------------------------------------------------------ evaluation
    def check(self) -> dict[str, Any]:
        """Measure, act on rules that became active or cleared, write the file; the snapshot."""
        values = self.measure()
        now = self.wall()
        notes: list[dict[str, Any]] = []
        cleared: dict[str, list[str]] = {}  # condition -> its rules that cleared now
        for rule in self.rules:
            value = values[rule.condition]
            on = value is not None and value > rule.threshold
            was = rule.key in self.active
            streak = self.streaks[rule.key] = self.streaks.get(rule.key, 0) + 1 if on != was else 0
            if on and not was and streak >= rule.after:
                self.active[rule.key] = now
                self.streaks[rule.key] = 0
                notes += self._fire(rule, value)
            elif was and not on and streak >= rule.clear:
                del self.active[rule.key]
                self.streaks[rule.key] = 0
                cleared.setdefault(rule.condition, []).append(rule.key)
        for condition, keys in cleared.items():
            notes.append(self._cleared(condition, values[condition], keys))
        if self.holds["pause"] is not None and not self._halting():
            notes += self._command("resume", {}, "every halting health condition cleared")
        self._log(notes)
        snap = self.snapshot(values)
        self.write(snap)
        return snap

    def _cleared(self, condition: str, value: float | None, keys: list[str]) -> dict[str, Any]:
        """The decision of ``condition``'s rules ``keys`` clearing: a recovery (``recovered``
        set: the notifier tells it) once no rule of the condition is active any more."""
        unit = CONDITIONS[condition][1]
        still = [r.key for r in self.rules if r.condition == condition and r.key in self.active]
        if still:
            text = f"{condition} eased ({value} {unit}) but still past {', '.join(still)}"
            return decision(None, "health", text, health=condition, rules=keys)
        text = f"{condition} recovered ({value} {unit})"
        return decision(None, "health", text, health=condition, rules=keys, recovered=True)

    def _halting(self) -> bool:
        return any(r.key in self.active and r.action == "halt" for r in self.rules)

    def _fire(self, rule: HealthRule, value: float | None) -> list[dict[str, Any]]:
        what, unit = CONDITIONS[rule.condition]
        text = (
            f"health: {rule.condition} {value} {unit} > {rule.threshold:g} ({what}) → {rule.action}"
        )
        notes = [decision(None, "warning", text, health=rule.condition, rule=rule.key)]
        if rule.action == "halt" and self.holds["pause"] is None:
            notes += self._command("pause", {}, text)
        elif rule.action == "flatten" and self.holds["kill"] is None:
            notes += self._command("kill", {"confirm": True, "reason": text}, text)
        elif rule.action == "exit":
            self._log(notes)
            self.write(self.snapshot(self.measure(), status="down"))
            log.critical("%s: exiting for a restart", text)
            self.exit_process(75)
        return notes

    def _command(self, name: str, args: dict[str, Any], why: str) -> list[dict[str, Any]]:
        """Journal ``name`` through the engine's control inbox; what happened, as decisions."""
        engine = self.engine
        if engine is None:
            return []
        from tradeforge.live.control.commands import check

        def checked(state: Any) -> dict[str, Any]:
            if state.risk.halted:
                raise ConfigError(f"trading halted ({state.risk.halted})")
            if name == "pause" and state.control.paused:
                raise ConfigError("already paused (by the operator)")
            return check(name, args, state, engine.ctx)

        try:
            cmd = engine.acknowledge(name, checked, {"user": "health"}, iso(time.time_ns()))
        except ConfigError as exc:
            if name == "resume":
                self.holds["pause"] = None
            return [decision(None, "health", f"health {name} not needed: {exc}", command=name)]
        if name == "pause":
            self.holds["pause"] = cmd.id
        elif name == "resume":
            self.holds["pause"] = None
        else:
            self.holds["kill"] = cmd.id
        return [
            decision(None, "health", f"health → {name} (command {cmd.id}): {why}",
                     command=name, id=cmd.id)
        ]  # fmt: skip

    def _log(self, notes: list[dict[str, Any]]) -> None:
        if not notes or self.engine is None:
            return
        append_decisions(self.dir, self.engine.state.get("seq", 0), notes)
        echo = self.engine.echo
        for d in notes:
            if echo is not None:
                echo(d)

    # ------------------------------------------------------------------ the file
    def status(self) -> str:
        levels = [_SEVERITY[r.action] for r in self.rules if r.key in self.active]
        if "down" in levels:
            return "down"
        return "degraded" if levels else "healthy"

    def snapshot(
        self,
        values: dict[str, float | None] | None = None,
        *,
        status: str | None = None,
        stopped: bool = False,
    ) -> dict[str, Any]:
        values = values if values is not None else self.measure()
        engine = self.engine
        state = getattr(engine, "current", None)
        conditions = {
            name: {
                "value": values[name],
                "unit": unit,
                "rules": [
                    {
                        "threshold": r.threshold,
                        "action": r.action,
                        "after": r.after,
                        "clear": r.clear,
                        "active_since": self.active.get(r.key),
                        "streak": self.streaks.get(r.key, 0),  # checks in a row toward a change
                    }
                    for r in self.rules
                    if r.condition == name
                ],  # fmt: skip
            }
            for name, (_, unit) in CONDITIONS.items()
        }
        last_key = self._last_key
        committed = state.last_key if state is not None else None
        link = self.link_source
        return {
            "status": status or self.status(),
            "stopped": stopped,
            "updated": round(self.wall(), 3),
            "interval": self.interval,
            "pid": os.getpid(),
            "host": os.uname().nodename,
            "broker": getattr(self.broker, "name", None),
            "link": link() if link is not None and not stopped else None,
            "last_event": iso(last_key[0]) if last_key else None,
            "handled": list(self._done_key) if self._done_key else None,
            "journal_lag_seconds": (
                round((last_key[0] - committed[0]) / 1e9, 3) if last_key and committed else None
            ),
            "guards": {
                "halted": state.risk.halted if state is not None else None,
                "paused": state.control.paused if state is not None else None,
            },
            "conditions": conditions,
            "holds": dict(self.holds),
            "last_error": self.last_error,
        }

    def write(self, snap: dict[str, Any]) -> None:
        body = json.dumps(snap, sort_keys=True, default=str).encode() + b"\n"
        try:
            atomic_write_bytes(self.path, body, durable=False)
        except OSError as exc:
            log.warning("health file %s not written: %s", self.path, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the monitor must never take the session down
                log.exception("health check failed")


def read_health(state_dir: str | Path, *, now: float | None = None) -> tuple[str, dict[str, Any]]:
    """``(status, document)`` of a session's health file as judged from outside: ``down``
    when it is missing, unreadable, says the session stopped, was written by a process that
    is gone (same host), or is older than three intervals plus 10 s (a stuck or dead engine)."""
    path = Path(state_dir) / HEALTH_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("status") not in STATUS_CODES:
            raise ValueError("not a health document")
    except FileNotFoundError:
        return "down", {"reason": f"no {HEALTH_FILE} in {state_dir}: no session has run here"}
    except (OSError, ValueError) as exc:
        return "down", {"reason": f"{path}: unreadable ({exc})"}
    now = time.time() if now is None else now
    age = now - float(doc.get("updated", 0))
    limit = 3 * float(doc.get("interval", 1.0)) + 10
    if doc.get("stopped"):
        return "down", {**doc, "reason": "the session has stopped"}
    if doc.get("host") == os.uname().nodename and not pid_alive(int(doc.get("pid", 0))):
        return "down", {**doc, "reason": f"process {doc.get('pid')} is gone"}
    if age > limit:
        return "down", {**doc, "reason": f"not updated for {age:.0f} s: engine stuck or gone"}
    return doc["status"], doc


__all__ = [
    "DEFAULT_RULES",
    "HEALTH_FILE",
    "HealthMonitor",
    "HealthRule",
    "WatchedBroker",
    "WatchedFeed",
    "health_rules",
    "read_health",
]
