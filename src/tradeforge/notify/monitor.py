"""`DivergenceMonitor`: while a session runs, a shadow backtest on the same closed bars says
which trades the session should have; the comparison with the session's own trades raises
alerts when a limit is crossed.

* **Per instance.** A monitor follows one strategy instance of the session (its own symbol,
  timeframe, bars and trades); `tradeforge.notify.session.SessionNotifier` runs one per
  instance, so in a session of several each has its own shadow backtest and its alerts name
  the instance.
* **Shadow.** The instance's `RunSpec` (``dryrun.json``, or its entry in a session's
  ``session.json``; the execution model may be replaced
  by the costs the backtest was validated with, `MonitorSettings`) and a fresh instance of its
  strategy: `strategy_signals` (the engine's own step) on the bars closed so far, signals
  before the first traded bar dropped, then `backtest_signals`. It is re-run **periodically**
  — at most once every ``every_bars`` closed bars, on the last ``max_bars`` bars (plus the
  strategy's window) — so one comparison costs a bounded backtest whatever the session's
  length; it runs in the monitor's own thread, and bars that close while it runs are taken
  by the next one (`bench/monitor_bench.py` measures the cost per bar).
* **Session.** Its closed trades read from the journal as they are appended (`JournalTail`)
  and its open positions from the committed state.
* **Comparison.** Both sides restricted to trades entered by the last closed bar, matched
  and judged by `tradeforge.research.consistency.compare_trades` — the code of ``tradeforge
  analyze consistency``. A trade open on either side (the shadow "closes" what is open at its
  last bar with reason ``end``: that trade is still open) is matched on its entry; exits and
  metrics use closed trades. Below ``min_trades`` expected trades only the missing/extra
  counts are checked.
* **Kernels.** Before its first comparison the monitor has a child process compile the
  shadow's Numba kernels into the on-disk cache (`tradeforge.notify.warm`; a cold compile
  holds the GIL for long stretches), waiting for it on its own thread while the engine
  trades (the recorded bars are stored meanwhile, so a crash during the compile still
  resumes from them); ``monitor_warming`` and ``monitor_ready`` records tell when.
* **Alerts.** A check that starts failing is an alert (warning) through the notifier and a
  ``divergence`` record in ``decisions.jsonl``; one that passes again a
  ``divergence_cleared``; the session's end adds a last comparison (``monitor_summary``).

* **Bars.** A replay's bars are its frame. A live session's are the bars its strategies
  were handed (`tradeforge.live.feeds.RecordedFeed`: the window's history, then each bar
  closed since, bounded to the ``max_bars`` plus window and ``every_bars`` a comparison
  reads), since a broker connection is not read from the monitor's thread. That record is
  stored in the state directory as it grows (``recorded/<SYMBOL>.json``), so after a restart
  the shadow trades from the session's first bar again, not from the restart's; its spec is
  the one the runner hands the engine (``Engine.specs``).

Which intermediate points are compared depends on how fast bars arrive (a full-speed replay
outruns the monitor); the last comparison, at the end, covers every bar and is reproducible.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeforge.core.errors import TradeforgeError
from tradeforge.live.decisions import append_decisions, decision, iso
from tradeforge.live.feeds import ReplayFeed
from tradeforge.live.model import EngineState
from tradeforge.live.persist import read_document
from tradeforge.live.runner import SPEC_FILE
from tradeforge.live.state import JOURNAL_FILE
from tradeforge.notify.config import MonitorSettings
from tradeforge.notify.message import Level, Message
from tradeforge.notify.records import JournalTail
from tradeforge.trading.execution import ExecutionModel
from tradeforge.trading.result import TRADE_COLUMNS
from tradeforge.trading.spec import RunSpec

if TYPE_CHECKING:
    from tradeforge.core.compilechild import CompileChild
    from tradeforge.live.engine import Engine
    from tradeforge.research.consistency import Thresholds

COUNT_CHECKS = ("missing", "extra")  # checked from the first trade on
TIMES = ("signal_time", "entry_time", "exit_time")
EXIT_COLUMNS = ("exit_time", "exit_price", "pnl", "commission", "r_multiple", "exit_reason")


def shadow_spec(spec: RunSpec, settings: MonitorSettings) -> RunSpec:
    """``spec`` with the monitor's cost overrides (the backtest the session is held to)."""
    ex = spec.execution
    changes: dict[str, Any] = {}
    if settings.slippage is not None:
        changes.update(ExecutionModel.parse_slippage(settings.slippage))
    if settings.commission is not None:
        changes["commission"] = settings.commission
    if settings.spread is not None:
        changes["spread"] = settings.spread
    return replace(spec, execution=replace(ex, **changes)) if changes else spec


def thresholds_of(settings: MonitorSettings, enough_trades: bool) -> Thresholds:
    """The consistency limits of ``settings``; only the counts below ``min_trades``."""
    from tradeforge.research.consistency import Thresholds

    names = Thresholds.__dataclass_fields__
    values = {k: getattr(settings, k) for k in names}
    if not enough_trades:
        values = {k: (v if k in ("max_missing", "max_extra") else None) for k, v in values.items()}
    return Thresholds(**values)


def trades_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Trade records (the journal's, or open positions) as a trade frame with UTC times."""
    frame = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
    for col in TIMES:
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def open_rows(
    state: EngineState, symbol: str, lot_step: float, instance: str | None = None
) -> list[dict[str, Any]]:
    """The state's open positions (of ``instance`` only, when given) as trade rows without
    an exit."""
    positions = state.positions if instance is None else state.strategies[instance].positions
    return [
        {
            "trade_id": p.trade_id,
            "symbol": symbol,
            "tag": p.tag,
            "side": "long" if p.side > 0 else "short",
            "signal_time": pd.Timestamp(p.signal_time, tz="UTC"),
            "entry_time": pd.Timestamp(p.entry_time, tz="UTC"),
            "entry_price": p.entry_price,
            "size": p.steps * lot_step,
            "initial_stop": p.initial_stop,
            "risk": p.risk_money,
        }
        for p in positions.values()
    ]


class DivergenceMonitor:
    """Shadow backtest vs one instance of a session (see the module doc; ``instance``: its
    name, None for the first). A `SessionObserver` by itself;
    `tradeforge.notify.session.SessionNotifier` runs one per instance when the config has
    ``[monitor]`` and passes ``alert`` (its dispatcher) so crossings reach the chats."""

    def __init__(
        self,
        settings: MonitorSettings,
        *,
        spec: RunSpec | None = None,
        alert: Callable[[Message], Any] | None = None,
        poll: float = 0.25,
        instance: str | None = None,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.instance = instance
        self.own = ""  # " (<instance>)" in texts when the session runs several
        self.alert = alert
        self.poll = poll
        self.engine: Engine | None = None
        self.failing: dict[str, dict[str, Any]] = {}  # check -> its last failing entry
        self.last: dict[str, Any] | None = None  # the latest comparison (`compare_trades`)
        self.evaluations = 0
        self.seconds = 0.0  # spent comparing (shadow backtest included)
        self._closed: dict[int, dict[str, Any]] = {}  # session trades by id
        self._done_close: int | None = None  # close time (ns) of the last bar compared
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._errors: set[str] = set()
        self._warmer: CompileChild | None = None  # compiling the shadow's kernels

    # -- the SessionObserver ---------------------------------------------------------------------
    def attach(self, engine: Engine) -> Callable[[dict[str, Any]], None]:
        """Prepare the shadow and start the monitor's thread (or log why it cannot run)."""
        self.engine = engine
        why = self.prepare(engine)
        if why is not None:
            text = f"no divergence monitor{self.own}: {why}"
            self._log([decision(None, "monitor_unavailable", text, **self._tag())])
            return self.on_decision
        self._warm_start()
        self._thread = threading.Thread(target=self._run, name="tradeforge-monitor", daemon=True)
        self._thread.start()
        return self.on_decision

    def _warm_start(self) -> None:
        """Compile the shadow's kernels in a child process (`tradeforge.notify.warm`)."""
        from tradeforge.notify.warm import start_warmer

        text = f"divergence monitor{self.own}: compiling its kernels in a child process"
        try:
            self._warmer = start_warmer(self.shadow)
        except OSError as exc:
            text = f"divergence monitor{self.own}: no child process to compile in ({exc})"
        self._log([decision(None, "monitor_warming", text, **self._tag())])

    def _warm_done(self, wait: bool) -> bool:
        """Whether the kernel compilation is over (``wait``: until it is); logs how it went
        once."""
        warmer = self._warmer
        if warmer is None:
            return True
        if wait:
            warmer.wait()
        elif not warmer.done():
            return False
        ok, error = warmer.outcome()
        text = (
            f"divergence monitor{self.own}: kernels compiled in {warmer.seconds} s"
            if ok
            else f"divergence monitor{self.own}: the child process failed ({error}); "
            "the first comparison compiles them"
        )
        self._log(
            [decision(None, "monitor_ready", text, compiled=ok, seconds=warmer.seconds,
                      **self._tag())]
        )  # fmt: skip
        warmer.close()
        self._warmer = None
        return True

    def on_decision(self, d: dict[str, Any]) -> None:
        """The engine's thread: a nudge, nothing else."""
        self._wake.set()

    def finish(self, engine: Engine, error: BaseException | None) -> dict[str, Any] | None:
        """Stop the thread, compare once more on every bar, log the summary."""
        if self._thread is None:
            return None
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._thread = None
        self._warm_done(wait=True)
        self._step(final=True)
        if self.last is not None:
            s = self.last["summary"]
            failing = sorted(self.failing)
            reason = (
                f"divergence monitor{self.own}: {s['matched']} matched, {s['missing']} missing, "
                f"{s['extra']} extra of {s['expected_trades']} expected trade(s); "
                + (f"failing: {', '.join(failing)}" if failing else "within limits")
            )
            self._log(
                [
                    decision(
                        self._as_of_ns(), "monitor_summary", reason, summary=s, failing=failing,
                        evaluations=self.evaluations, seconds=round(self.seconds, 3),
                        **self._tag(),
                    )
                ]
            )  # fmt: skip
        return self.last

    # -- preparation -----------------------------------------------------------------------------
    def prepare(self, engine: Engine) -> str | None:
        """Set up the shadow for ``engine``'s instance; why it cannot be monitored, or None."""
        name = self.instance or next(iter(engine.contexts))
        if name not in engine.contexts:
            return f"the session runs no strategy {name!r}"
        self.instance = name
        if len(engine.contexts) > 1:
            self.own = f" ({name})"
        self.ctx = ctx = engine.contexts[name]
        feed = self.feed = ctx.feed
        if not isinstance(feed, ReplayFeed) and not hasattr(feed, "seen"):
            return "its feed keeps no record of the bars it delivers"
        spec = self.spec or engine.specs.get(name)
        if spec is None:
            try:
                spec = _stored_spec(engine, name)
            except TradeforgeError as exc:
                return str(exc)
            if spec is None:
                return f"no session spec ({engine.dir / SPEC_FILE})"
        self.shadow = shadow_spec(spec, self.settings)
        self.strategy = spec.create_strategy()  # its own instance: it runs on another thread
        self.step_ns = feed.timeframe.seconds * 1_000_000_000
        if isinstance(feed, ReplayFeed):
            start = pd.Timestamp(spec.start) if spec.start else None
            if start is not None and start.tzinfo is None:
                start = start.tz_localize("UTC")
            self._use(feed.frame, 0 if start is None else int(feed.frame.index.searchsorted(start)))
        self.window = ctx.cfg.window
        self.close_at_end = ctx.cfg.close_at_end
        if hasattr(feed, "retain"):  # a live feed's record: as many bars as a comparison reads
            feed.retain(self.settings.max_bars + self.window + self.settings.every_bars)
        self.journal = JournalTail(engine.dir / JOURNAL_FILE)
        return None

    # -- the monitor's thread --------------------------------------------------------------------
    def _run(self) -> None:
        while not self._warm_done(wait=False):  # the engine trades meanwhile
            self._refresh()  # and its bars are stored meanwhile: a restart resumes from them
            if self._stop.wait(0.1):
                return
        while not self._stop.is_set():
            self._wake.wait(self.poll)
            self._wake.clear()
            if not self._stop.is_set():
                self._step(final=False)

    def _use(self, frame: pd.DataFrame, first: int) -> None:
        """Compare on ``frame``'s bars, trading from its bar ``first``."""
        self.frame = frame
        self.closes = frame.index.as_unit("ns").asi8 + self.step_ns
        self.first = first

    def _refresh(self) -> bool:
        """A live feed's bars as recorded so far; False before the first."""
        if isinstance(self.feed, ReplayFeed):
            return True
        frame, first = self.feed.seen()
        if frame is None or first is None:
            return False
        self._use(frame, int(frame.index.as_unit("ns").asi8.searchsorted(first)))
        return True

    def _last_bar(self, state: EngineState | None) -> int:
        """Index of the last bar closed by the state's last event (-1: none)."""
        last = None if state is None or state.last_key is None else state.last_key[0]
        return self._last_bar_at(last)

    def _last_bar_at(self, at: int | None) -> int:
        """Index of the last bar closed by ``at`` (ns; -1: none, or no time)."""
        if at is None:
            return -1
        return int(np.searchsorted(self.closes, at, side="right")) - 1

    def _as_of_ns(self) -> int | None:
        return self._done_close

    def _step(self, final: bool) -> None:
        engine = self.engine
        assert engine is not None
        state = engine.current  # replaced by the engine, never changed: a consistent view
        if not self._refresh():
            return
        bar = self._last_bar(state)
        done = self._last_bar_at(self._done_close)
        if bar < self.first or (not final and bar - done < self.settings.every_bars):
            return
        try:
            doc = self.compare(state, bar, final)
            self._done_close = int(self.closes[bar])
            self._judge(doc)
        except Exception as exc:  # noqa: BLE001 - the monitor must never stop the session
            text = f"{type(exc).__name__}: {exc}"
            if text not in self._errors:
                self._errors.add(text)
                self._log(
                    [decision(None, "monitor_error", f"divergence monitor{self.own}: {text}",
                              **self._tag())]
                )  # fmt: skip

    def compare(self, state: EngineState, bar: int, final: bool = False) -> dict[str, Any]:
        """The comparison as of the close of bar ``bar`` (`compare_trades`' document)."""
        import time

        from tradeforge.research.consistency import compare_trades

        started = time.perf_counter()
        end = bar + 1
        trade_from = max(self.first, end - self.settings.max_bars)
        since = self.frame.index[trade_from]
        last_open = self.frame.index[bar]
        expected = self.shadow_trades(trade_from, end, final)
        actual = self.session_trades(state)
        keep_e = (expected["entry_time"] >= since) & (expected["entry_time"] <= last_open)
        keep_a = (actual["entry_time"] >= since) & (actual["entry_time"] <= last_open)
        expected = expected[keep_e].reset_index(drop=True)
        actual = actual[keep_a].reset_index(drop=True)
        done = int(pd.DatetimeIndex(expected["exit_time"]).notna().sum())
        doc = compare_trades(
            expected,
            actual,
            tolerance=self.settings.tolerance,
            thresholds=thresholds_of(self.settings, done >= self.settings.min_trades),
            initial_capital=self.shadow.initial_capital,
        )
        doc["as_of"] = iso(int(self.closes[bar]))
        self.last = doc
        self.evaluations += 1
        self.seconds += time.perf_counter() - started
        return doc

    def shadow_trades(self, trade_from: int, end: int, final: bool) -> pd.DataFrame:
        """The backtest's trades on bars ``[trade_from, end)`` (with the window before them
        for the strategy's warm-up); a trade its end of data closed is still open."""
        from tradeforge.backtest.runner import backtest_signals
        from tradeforge.live.strategy_signals import strategy_signals

        ctx = self.ctx
        lo = max(0, trade_from - self.window)
        bars = self.frame.iloc[lo:end]
        sig = strategy_signals(self.strategy, bars, ctx.tf.name, ctx.inst)
        sig = sig.take(sig.bar >= trade_from - lo)
        trades = backtest_signals(bars, sig, ctx.symbol, self.shadow).trades.copy()
        trades["exit_reason"] = trades["exit_reason"].astype(str)
        if not (final and self.close_at_end):
            still_open = trades["exit_reason"] == "end"
            for col in EXIT_COLUMNS:
                trades.loc[still_open, col] = pd.NaT if col == "exit_time" else np.nan
        return trades

    def session_trades(self, state: EngineState) -> pd.DataFrame:
        """The instance's closed trades (journal) and open positions (``state``)."""
        ctx = self.ctx
        for t in self.journal.trades():
            if t.get("strategy", ctx.name) == ctx.name:
                self._closed[int(t["trade_id"])] = t
        rows = [
            r
            for r in open_rows(state, ctx.symbol, ctx.inst.lot_step, ctx.name)
            if r["trade_id"] not in self._closed
        ]
        closed = sorted(self._closed.values(), key=lambda t: t["trade_id"])
        return trades_table(closed + rows)

    # -- alerts ----------------------------------------------------------------------------------
    def _judge(self, doc: dict[str, Any]) -> None:
        """Alerts for checks that started failing, notes for those that pass again."""
        s = doc["summary"]
        counts = {k: s[k] for k in ("expected_trades", "matched", "missing", "extra")}
        as_of = self._as_of_ns()
        out, messages = [], []
        for check in doc["checks"]:
            c = {**check, "limit_kind": check["kind"]}
            del c["kind"]  # "kind" names the decision
            name = c["check"]
            if not c["passed"] and name not in self.failing:
                self.failing[name] = c
                text = (
                    f"divergence from the backtest{self.own}: {name} = {_num(c['value'])} "
                    f"({c['limit_kind']} {_num(c['limit'])}); {s['matched']} matched, "
                    f"{s['missing']} missing, {s['extra']} extra"
                )
                out.append(decision(as_of, "divergence", text, **c, **counts, **self._tag()))
                messages.append(Message(Level.WARNING, "divergence", text, iso(as_of), c))
            elif c["passed"] and name in self.failing:
                del self.failing[name]
                text = (
                    f"divergence cleared{self.own}: {name} = {_num(c['value'])} "
                    f"({c['limit_kind']} {_num(c['limit'])})"
                )
                out.append(
                    decision(as_of, "divergence_cleared", text, **c, **counts, **self._tag())
                )
                messages.append(Message(Level.INFO, "divergence", text, iso(as_of), c))
        if out:
            self._log(out)
        if self.alert is not None:
            for m in messages:
                self.alert(m)

    def _tag(self) -> dict[str, str]:
        """``strategy=<instance>`` for the records of a monitor of a session of several."""
        return {"strategy": str(self.instance)} if self.own else {}

    def _log(self, decisions: list[dict[str, Any]]) -> None:
        engine = self.engine
        assert engine is not None
        seq = engine.state.get("seq", 0) if engine.state else 0
        append_decisions(engine.dir, seq, decisions)


def _stored_spec(engine: Engine, name: str) -> RunSpec | None:
    """Instance ``name``'s spec as the state directory stores it: a session's entry in
    ``session.json``, else ``dryrun.json``; None when neither is there."""
    from tradeforge.live.session import SESSION_FILE, Session

    path = engine.dir / SESSION_FILE
    if path.exists():
        return Session.from_dict(read_document(path)).specs[name]
    path = engine.dir / SPEC_FILE
    return RunSpec.from_dict(read_document(path)) if path.exists() else None


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
