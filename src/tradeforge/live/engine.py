"""The event loop shared by dry-run and live: feed → strategy → sizing/guards → broker → state.

Per feed event, in this order (mirroring the backtest kernel's bar loop):

* **tick** — a simulated broker sees the quote first (pending market orders fill, resting
  limit/stop entries fill when the price path crosses their level, swap accrues on a new UTC
  date); then pending orders are synced (fills become managed positions, their stop is sent to
  the broker); positions due for a time stop or an opposite-signal exit close at market;
  entries *queued* behind those exits are sized (from the balance after them) and placed; in
  ``tick`` exit mode every position runs the shared exit rules on the tick.
* **closed bar** — the strategy runs on the last ``window`` bars; in ``bar`` exit mode every
  position runs the shared exit rules on the bar (exactly the backtest; a position filled
  inside this bar sees it from its fill on, like the kernel); break-even/trailing update from
  the bar (stop changes go to the broker); time stops fall due; limit/stop entries past their
  last live bar are cancelled (expired); equity, the daily counters and the peak are updated;
  the bar's signals, in row order, first apply ``exit_opposite`` (opposite positions close at
  the next open, opposite pending orders are cancelled) and then become entry orders through
  the guards and risk sizing — placed now, or queued until the next quote when exits are due
  at that open (so sizing sees the balance after them, as in the backtest, and a reversal
  takes the slot its opposite position frees).

Slippage is the execution model's value for the bar (`ExecutionModel.slippage_at`; ``atr``
uses the model's ATR over the engine's window, known at the previous bar's close — equal to
the backtest's once the window is long against the ATR period).

Each event's effects are computed against the last committed state and committed as one
journal record (see `tradeforge.live.state`) *after* the broker calls, which are idempotent by
client id. A crash anywhere therefore leaves a state from which re-running the same event makes
the same decisions, gets the same (deduplicated) broker answers and commits the same record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeforge.backtest.execution import ExecutionModel, Sizing, atr_with_warmup
from tradeforge.backtest.result import TRADE_COLUMNS
from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.instruments import Instrument, get_instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.live import guards as G
from tradeforge.live import manager as M
from tradeforge.live.brokers.base import (
    Broker,
    BrokerError,
    OrderRequest,
    PositionClosedError,
    client_order_id,
)
from tradeforge.live.feeds import Bar, Event, Feed, Tick
from tradeforge.live.persist import canonical_json
from tradeforge.live.sizing import RiskSizer
from tradeforge.live.state import LoadReport, StateRepository
from tradeforge.strategy.signals import ENTRY_TYPES, TARGET_KINDS, TRAIL_KINDS, Signals

DECISIONS_FILE = "decisions.jsonl"
NS_DAY = 86_400 * 1_000_000_000


@dataclass(frozen=True)
class EngineConfig:
    strategy_name: str
    symbol: str
    timeframe: str
    window: int = 300  # bars handed to the strategy on each closed candle
    sizing: Sizing = field(default_factory=lambda: Sizing("risk", 1.0))
    execution: ExecutionModel = field(default_factory=ExecutionModel)
    limits: G.RiskLimits = field(default_factory=G.RiskLimits)
    position_mode: str = "symbol"  # one position per symbol, or per tag
    exit_mode: str = "bar"  # "bar": exits on closed bars (= backtest); "tick": on every tick
    close_at_end: bool = False  # replay: close what is open at the last bar's close ("end")
    max_lots: float | None = None
    leverage: float = 100.0
    orphans: str = "close"  # broker positions nobody knows: "close" or "ignore"

    def __post_init__(self) -> None:
        if self.position_mode not in ("symbol", "tag"):
            raise ConfigError("position_mode must be 'symbol' or 'tag'")
        if self.exit_mode not in ("bar", "tick"):
            raise ConfigError("exit_mode must be 'bar' or 'tick'")
        if self.orphans not in ("close", "ignore"):
            raise ConfigError("orphans must be 'close' or 'ignore'")
        if self.window < 2:
            raise ConfigError("window must be >= 2 bars")
        Timeframe.parse(self.timeframe)

    def identity(self) -> dict[str, str]:
        return {
            "strategy": self.strategy_name,
            "symbol": self.symbol.upper(),
            "timeframe": self.timeframe,
        }


def signal_row(sig: Signals, j: int) -> dict[str, Any]:
    """One `Signals` row as plain JSON data (what a pending order remembers)."""

    def f(a: np.ndarray) -> float | None:
        v = float(a[j])
        return v if math.isfinite(v) else None

    return {
        "side": int(sig.side[j]),
        "tag": str(sig.tags[sig.tag[j]]),
        "entry_type": ENTRY_TYPES[int(sig.entry_type[j])],
        "entry_price": f(sig.entry_price),
        "stop_price": f(sig.stop_price),
        "stop_distance": f(sig.stop_distance),
        "target_kind": [int(k) for k in sig.target_kind[j]],
        "target_value": [None if not math.isfinite(v) else float(v) for v in sig.target_value[j]],
        "target_fraction": [float(v) for v in sig.target_fraction[j]],
        "target_names": [TARGET_KINDS[int(k)] for k in sig.target_kind[j]],
        "runner": int(sig.runner[j]),
        "be_trigger_r": f(sig.be_trigger_r),
        "be_offset": f(sig.be_offset),
        "trail_kind": int(sig.trail_kind[j]),
        "trail_name": TRAIL_KINDS[int(sig.trail_kind[j])],
        "trail_distance": f(sig.trail_distance),
        "trail_start_r": f(sig.trail_start_r),
        "time_stop": int(sig.time_stop[j]),
        "expiry": int(sig.expiry[j]),
        "exit_opposite": bool(sig.exit_opposite[j]),
    }


def strategy_signals(
    strategy: Any, window: pd.DataFrame, timeframe: str, inst: Instrument
) -> Signals:
    """Run a `tradeforge.strategy.Strategy` (features, then signals) on a window of bars."""
    frame = window.copy()
    frame.attrs["symbol"] = inst.symbol
    if hasattr(strategy, "compute_features"):
        frame = strategy.compute_features(frame, timeframe)
    return strategy.signals(frame, inst)


def _clone(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _iso(ns: int | None) -> str | None:
    return None if ns is None else pd.Timestamp(ns, tz="UTC").isoformat()


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
    ) -> None:
        self.cfg = config
        self.strategy = strategy
        self.feed = feed
        self.broker = broker
        self.dir = Path(state_dir)
        self.inst = instrument or get_instrument(config.symbol)
        self.symbol = self.inst.symbol
        self.tf = Timeframe.parse(config.timeframe)
        self.step_ns = self.tf.seconds * 1_000_000_000
        self.repo = StateRepository(self.dir)
        self.sizer = RiskSizer(config.sizing, config.max_lots, config.leverage)
        self.unit = float(f"{self.inst.lot_step * self.inst.contract_size:.12g}")
        self.comm_step = config.execution.commission * self.inst.lot_step
        # a replayed feed redelivers the in-flight event after a crash, so discrepancies
        # explained by our own client ids are left to that redo instead of being "corrected"
        self.replaying = bool(broker.simulated) if replaying is None else replaying
        self.echo = echo
        self.state: dict[str, Any] = {}
        self.load_report: LoadReport | None = None
        self.last_tick: Tick | None = None
        self.stopped = False

    # ------------------------------------------------------------------ state helpers
    def _initial_state(self) -> dict[str, Any]:
        balance = self.broker.account().balance
        return {
            "identity": self.cfg.identity(),
            "last_key": None,
            "positions": {},
            "pending": {},
            "queued": {},
            "atr": None,
            "signals": {},
            "daily": {"day": None, "start_balance": balance},
            "risk": {"peak_equity": balance, "halted": None},
            "stats": {"trades": 0, "realized": 0.0, "orders": 0, "next_trade_id": 0},
        }

    def _commit(self, new: dict[str, Any], kind: str, event: Any, decisions: list, trades: list):
        record = self.repo.commit(new, kind, event, decisions=decisions, trades=trades)
        self.state = _clone(self.repo.state)
        if decisions:
            with open(self.dir / DECISIONS_FILE, "a", encoding="utf-8") as fh:
                for d in decisions:
                    fh.write(json.dumps({"seq": record["seq"], **d}, sort_keys=True) + "\n")
        if self.echo:
            for d in decisions:
                self.echo(d)
        return record

    @staticmethod
    def _decision(now: int | None, kind: str, reason: str, **data: Any) -> dict[str, Any]:
        return {"time": _iso(now), "kind": kind, "reason": reason, **data}

    # ------------------------------------------------------------------ start-up
    def start(self) -> LoadReport:
        """Load (or create) the state, check it belongs to this configuration, reconcile."""
        if self.repo.exists():
            self.state, report = self.repo.load()
        else:
            self.state = self.repo.create(self._initial_state())
            report = LoadReport(source="new", seq=1)
        self.load_report = report
        if self.state.get("identity") != self.cfg.identity():
            raise StateError(
                f"state in {self.dir} belongs to {self.state.get('identity')}, not "
                f"{self.cfg.identity()}; use another --state directory"
            )
        decisions = [self._decision(None, "start", report.message(), load=report.to_dict())]
        new = _clone(self.state)
        halted = new["risk"]["halted"]
        if halted and not G.kill_requested(self.dir):
            new["risk"]["halted"] = None
            decisions.append(self._decision(None, "kill_cleared", f"KILL file gone; was: {halted}"))
        self._commit(new, "start", None, decisions, [])
        last = self.state["last_key"]
        if last is not None and hasattr(self.feed, "last_tick"):
            tick = self.feed.last_tick(tuple(last))
            if tick is not None:
                self.last_tick = tick
                if self.broker.simulated:
                    self._observe(self.state, tick)
        self.reconcile()
        return report

    # ------------------------------------------------------------------ reconciliation
    def _own_close_ids(self, pos: dict[str, Any]) -> set[str]:
        ids = {self._cid(pos, f"leg{pos['legs'] + k}") for k in range(1, 7)}
        ids |= {self._cid(pos, a) for a in ("time", "signal", "end", "kill")}
        return ids

    def reconcile(self) -> list[dict[str, Any]]:
        """Compare state and broker; fix and log every difference before any new order."""
        new = _clone(self.state)
        decisions: list[dict[str, Any]] = []
        trades: list[dict[str, Any]] = []
        now = self.state["last_key"][0] if self.state["last_key"] else None
        at_broker = {p.ticket: p for p in self.broker.positions(self.symbol)}
        known_tickets = set()
        for cid in sorted(new["positions"]):
            pos = new["positions"][cid]
            known_tickets.add(pos["ticket"])
            pf = M.pf_from_json(pos["pf"])
            bp = at_broker.get(pos["ticket"])
            state_lots = round(M.remaining(pf) * self.inst.lot_step, 8)
            if bp is not None and math.isclose(bp.lots, state_lots, abs_tol=1e-9):
                stop = M.stop_of(pf)
                if bp.stop is None or not math.isclose(bp.stop, stop, abs_tol=1e-12):
                    self.broker.modify(pos["ticket"], stop)
                    decisions.append(
                        self._decision(now, "reconcile", "stop at broker differs; reset to state",
                                       position=cid, broker_stop=bp.stop, state_stop=stop)
                    )  # fmt: skip
                continue
            unbooked = [
                d for d in self.broker.deals_for(pos["ticket"]) if d.client_id not in pos["booked"]
            ]
            own = self._own_close_ids(pos)
            if self.replaying and unbooked and all(d.client_id in own for d in unbooked):
                continue  # our own in-flight close: redoing the event books it
            for d in sorted(unbooked, key=lambda d: (d.time, d.client_id)):
                steps = int(round(d.lots / self.inst.lot_step))
                near_stop = abs(d.price - M.stop_of(pf)) <= 2 * self.inst.tick_size
                reason = "stop" if near_stop else "signal"
                pf[M.rules.F_REMAINING] = max(M.remaining(pf) - steps, 0)
                trade = self._book(
                    new,
                    pos,
                    pf,
                    M.Leg(d.price, steps, reason),
                    d.price,
                    self._bar_of(d.time),
                    d.client_id,
                    d.swap,
                )
                decisions.append(
                    self._decision(now, "reconcile", "position closed at the broker while away; booked",
                                   position=cid, deal=d.to_dict())
                )  # fmt: skip
                if trade:
                    trades.append(trade)
            if cid in new["positions"] and bp is None:
                decisions.append(
                    self._decision(now, "reconcile", "position gone at broker without a deal; dropped",
                                   position=cid)
                )  # fmt: skip
                del new["positions"][cid]
        pending_ids = set(new["pending"])
        for ticket, bp in sorted(at_broker.items()):
            if ticket in known_tickets or bp.client_id in pending_ids:
                continue  # pending fills are adopted by the normal sync on the next tick
            if self.cfg.orphans == "close":
                deal = self.broker.close(ticket, None, f"orphan-{ticket}", None, "orphan")
                decisions.append(
                    self._decision(now, "reconcile", "unknown position at broker; closed",
                                   ticket=ticket, deal=deal.to_dict())
                )  # fmt: skip
            else:
                decisions.append(
                    self._decision(
                        now, "reconcile", "unknown position at broker; ignored", ticket=ticket
                    )
                )
        for cid in sorted(new["pending"]):
            if self.broker.order_status(cid) is None:
                del new["pending"][cid]
                decisions.append(
                    self._decision(
                        now, "reconcile", "pending order unknown to broker; dropped", order=cid
                    )
                )
        if decisions:
            self._commit(new, "reconcile", None, decisions, trades)
        return decisions

    # ------------------------------------------------------------------ run loop
    def run(self, max_events: int | None = None) -> dict[str, Any]:
        """Process feed events until the feed ends, the kill switch fires or ``max_events``."""
        if self.load_report is None:
            self.start()
        if self.state["risk"]["halted"]:
            return self.state
        after = tuple(self.state["last_key"]) if self.state["last_key"] else None
        for count, event in enumerate(self.feed.events(after), start=1):
            self.handle(event)
            if self.stopped or (max_events is not None and count >= max_events):
                break
        return self.state

    def handle(self, event: Event) -> None:
        last = self.state["last_key"]
        if last is not None and tuple(event.key) <= tuple(last):
            return  # duplicate or out-of-order event: already reflected in the state
        new = _clone(self.state)
        new.setdefault("queued", {})  # state written before these keys existed
        new.setdefault("atr", None)
        decisions: list[dict[str, Any]] = []
        trades: list[dict[str, Any]] = []
        if isinstance(event, Tick):
            self._on_tick(new, event, decisions, trades)
            kind, now = "tick", event.time
        else:
            self._on_bar(new, event, decisions, trades)
            kind, now = "bar", event.close_time
        if G.kill_requested(self.dir) and not new["risk"]["halted"]:
            self._kill(new, now, decisions, trades)
        before = {k: v for k, v in self.state.items() if k not in ("last_key", "seq")}
        after = {k: v for k, v in new.items() if k not in ("last_key", "seq")}
        if canonical_json(before) != canonical_json(after) or decisions or trades:
            new["last_key"] = list(event.key)
            self._commit(new, kind, list(event.key), decisions, trades)
        if new["risk"]["halted"]:
            self.stopped = True

    # ------------------------------------------------------------------ ticks
    def _on_tick(self, new: dict, tick: Tick, decisions: list, trades: list) -> None:
        self.last_tick = tick
        if self.broker.simulated:
            self._observe(new, tick)
        self._sync_pending(new, tick.time, decisions, trades)
        for cid in sorted(new["positions"]):
            pos = new["positions"][cid]
            if pos["time_due"] or pos.get("signal_exit"):
                reason = "time" if pos["time_due"] else "signal"
                pf = M.pf_from_json(pos["pf"])
                leg = M.Leg(math.nan, M.remaining(pf), reason)
                pf[M.rules.F_REMAINING] = 0
                trade = self._execute(new, pos, pf, leg, tick.time, market=True)
                why = "time stop" if reason == "time" else "opposite signal"
                decisions.append(self._decision(tick.time, "exit", why, position=cid))
                if trade:
                    trades.append(trade)
        if new["queued"]:
            self._place_queued(new, tick, decisions, trades)
        if self.cfg.exit_mode == "tick":
            sp = self._spread(tick.spread)
            slip = self._slip_at(new, self._bar_of(tick.time))
            for cid in sorted(new["positions"]):
                pos = new["positions"][cid]
                pf = M.pf_from_json(pos["pf"])
                for leg in M.observe(pf, tick.bid, tick.bid, tick.bid, sp, slip):
                    trade = self._execute(new, pos, pf, leg, tick.time)
                    decisions.append(
                        self._decision(tick.time, "exit", leg.reason, position=cid, price=leg.price)
                    )
                    if trade:
                        trades.append(trade)
                if cid in new["positions"]:
                    pos["pf"] = M.pf_to_json(pf)

    def _observe(self, state: dict, tick: Tick) -> None:
        """Hand a quote to the simulated broker with its bar and the ATR for its slippage."""
        bar_time = self._bar_of(tick.time)
        self.broker.observe(
            tick.symbol, tick.time, tick.bid, tick.ask,
            bar_time=bar_time, atr=self._atr_for(state, bar_time),
        )  # fmt: skip

    @staticmethod
    def _atr_for(state: dict, bar_time: int) -> float | None:
        """The ATR known at the close of the bar before ``bar_time`` (``atr`` slippage)."""
        a = state.get("atr")
        if a is None:
            return None
        return a["value"] if bar_time > a["bar"] else a["prev"]

    def _slip_at(self, state: dict, bar_time: int) -> float:
        return self.cfg.execution.slippage_at(
            self.inst, self.symbol, bar_time, self._atr_for(state, bar_time)
        )

    def _sizing_balance(self, new: dict) -> float:
        """The backtest's balance: the broker's plus the entry-side commission it already took
        on open positions (the backtest books both sides with each exit leg)."""
        balance = self.broker.account().balance
        for pos in new["positions"].values():
            balance += self.comm_step * M.remaining(M.pf_from_json(pos["pf"]))
        return balance

    def _equity_margin(self, new: dict, close: float, sp: float) -> tuple[float, float]:
        """Open P&L (less the exit-side commission) and used margin of the positions."""
        pnl = margin = 0.0
        for pos in new["positions"].values():
            pf = M.pf_from_json(pos["pf"])
            rem = M.remaining(pf)
            pnl += pos["side"] * (M.mark(pf, close, sp) - pos["entry_price"]) * rem * self.unit
            pnl -= self.comm_step * rem
            margin += (
                rem
                * self.inst.lot_step
                * self.inst.contract_size
                * pos["entry_price"]
                / self.cfg.leverage
            )
        return pnl, margin

    def _spread(self, quoted: float) -> float:
        if self.cfg.execution.spread == "data":
            return quoted
        return float(self.cfg.execution.spread) * self.inst.pip_size

    def _bar_of(self, t: int) -> int:
        return t - t % self.step_ns

    def _cid(self, pos_or_pending: dict, action: str) -> str:
        return client_order_id(
            self.cfg.strategy_name,
            self.symbol,
            pos_or_pending["signal_time"],
            pos_or_pending["tag"],
            action,
        )

    def _sync_pending(self, new: dict, now: int, decisions: list, trades: list) -> None:
        for cid in sorted(new["pending"]):
            p = new["pending"][cid]
            res = self.broker.order_status(cid)
            if res is None or res.status in ("rejected", "cancelled"):
                del new["pending"][cid]
                why = "unknown to broker" if res is None else f"{res.status}: {res.reason}"
                decisions.append(self._decision(now, "order_dropped", why, order=cid))
                continue
            if res.status != "filled":
                continue
            del new["pending"][cid]
            sig = p["signal"]
            pf, stop = M.open_pf(sig, res.price, p["steps"])
            side = sig["side"]
            risk = side * (res.price - stop)
            tid = new["stats"]["next_trade_id"]
            new["stats"]["next_trade_id"] = tid + 1
            pos = {
                "cid": cid,
                "trade_id": tid,
                "ticket": res.ticket,
                "tag": p["tag"],
                "side": side,
                "signal_time": p["signal_time"],
                "entry_time": self._bar_of(res.time),
                "entry_price": res.price,
                "entry_type": sig["entry_type"],
                "fill_at_open": bool(res.at_open),
                "steps": p["steps"],
                "initial_stop": stop,
                "risk_money": risk * p["steps"] * self.unit,
                "pf": M.pf_to_json(pf),
                "bars": 0,
                "time_stop": sig["time_stop"],
                "time_due": False,
                "signal_exit": False,
                "legs": 0,
                "booked": [],
                "pnl": 0.0,
                "commission": 0.0,
                "exit_value": 0.0,
            }
            new["positions"][cid] = pos
            decisions.append(
                self._decision(now, "filled", "entry filled", order=cid, ticket=res.ticket,
                               price=res.price, stop=stop, lots=res.lots)
            )  # fmt: skip
            if not risk > 0:
                leg = M.Leg(math.nan, p["steps"], "stop")
                pf[M.rules.F_REMAINING] = 0
                decisions.append(
                    self._decision(now, "exit", "stop on the wrong side of the fill", position=cid)
                )
                trade = self._execute(new, pos, pf, leg, now, market=True)
                if trade:
                    trades.append(trade)
                continue
            self._send_stop(pos, stop, now, decisions)

    def _send_stop(self, pos: dict, stop: float, now: int, decisions: list) -> None:
        try:
            self.broker.modify(pos["ticket"], stop)
        except PositionClosedError:
            decisions.append(
                self._decision(
                    now, "warning", "stop update on a closed position", position=pos["cid"]
                )
            )

    # ------------------------------------------------------------------ exits
    def _execute(
        self, new, pos, pf, leg: M.Leg, now: int, market: bool = False, bar_time=None, action=None
    ):
        """Send one exit leg to the broker and book it; returns the trade when it completes.
        ``pf`` already has the leg's steps removed (the rules did it)."""
        if action is None:
            action = {"time": "time", "signal": "signal", "end": "end"}.get(
                leg.reason, f"leg{pos['legs'] + 1}"
            )
        cid = self._cid(pos, action)
        lots = round(leg.steps * self.inst.lot_step, 8)
        use_level = self.broker.simulated and not market
        try:
            deal = self.broker.close(
                pos["ticket"], lots, cid, leg.price if use_level else None, leg.reason
            )
            price, swap = deal.price, deal.swap
        except PositionClosedError:
            # closed at the broker meanwhile (e.g. its stop): book what the broker did
            deals = [
                d for d in self.broker.deals_for(pos["ticket"]) if d.client_id not in pos["booked"]
            ]
            if not deals:
                raise
            price, cid, swap = deals[-1].price, deals[-1].client_id, deals[-1].swap
        t = bar_time if bar_time is not None else self._bar_of(now)
        return self._book(new, pos, pf, leg, price, t, cid, swap)

    def _book(self, new, pos, pf, leg: M.Leg, price: float, t: int, cid: str, swap: float = 0.0):
        side = pos["side"]
        comm = 2.0 * self.comm_step * leg.steps
        pnl = side * (price - pos["entry_price"]) * leg.steps * self.unit - comm + swap
        pos["legs"] += 1
        pos["booked"].append(cid)
        pos["pnl"] += pnl
        pos["commission"] += comm
        pos["exit_value"] += price * leg.steps
        pos["exit_time"] = t
        pos["exit_reason"] = leg.reason
        pos["pf"] = M.pf_to_json(pf)
        new["stats"]["realized"] += pnl
        if M.remaining(pf) > 0:
            return None
        del new["positions"][pos["cid"]]
        new["stats"]["trades"] += 1
        return self._trade_record(pos)

    def _trade_record(self, pos: dict) -> dict[str, Any]:
        size = pos["steps"]
        risk = pos["risk_money"]
        rec = {
            "trade_id": pos["trade_id"],
            "symbol": self.symbol,
            "tag": pos["tag"],
            "side": "long" if pos["side"] > 0 else "short",
            "signal_time": _iso(pos["signal_time"]),
            "entry_time": _iso(pos["entry_time"]),
            "entry_price": pos["entry_price"],
            "exit_time": _iso(pos["exit_time"]),
            "exit_price": pos["exit_value"] / size,
            "size": round(size * self.inst.lot_step, 8),
            "initial_stop": pos["initial_stop"],
            "risk": risk,
            "pnl": pos["pnl"],
            "commission": pos["commission"],
            "r_multiple": pos["pnl"] / risk if risk else None,
            "exit_reason": pos["exit_reason"],
            "bars_held": int((pos["exit_time"] - pos["entry_time"]) // self.step_ns),
        }
        assert list(rec) == list(TRADE_COLUMNS)
        return rec

    # ------------------------------------------------------------------ bars
    def _on_bar(self, new: dict, bar: Bar, decisions: list, trades: list) -> None:
        now = bar.close_time
        if self.broker.simulated:
            self.broker.set_clock(now)
        window = self.feed.window(bar.time, self.cfg.window)
        sig = strategy_signals(self.strategy, window, self.tf.name, self.inst)
        last = len(window) - 1
        lv_long = lv_short = math.nan
        if sig.trail_level_long is not None:
            lv_long = float(sig.trail_level_long[last])
        if sig.trail_level_short is not None:
            lv_short = float(sig.trail_level_short[last])
        sp = self._spread(bar.spread)
        atr_series = None
        if self.cfg.execution.slippage == "atr":
            atr_series = atr_with_warmup(
                window["high"].to_numpy(np.float64),
                window["low"].to_numpy(np.float64),
                window["close"].to_numpy(np.float64),
                self.cfg.execution.atr_period,
            )
            if new["atr"] is None:  # first bar: the ATR known at the previous bar's close
                prev = float(atr_series[-2]) if last else float(bar.high - bar.low)
                new["atr"] = {"bar": bar.time - self.step_ns, "value": prev, "prev": prev}
        slip = self._slip_at(new, bar.time)
        # exits and stop management
        for cid in sorted(new["positions"]):
            pos = new["positions"][cid]
            pf = M.pf_from_json(pos["pf"])
            oi, hi, li = bar.open, bar.high, bar.low
            if pos["entry_time"] == bar.time and not pos.get("fill_at_open", True):
                # filled inside this bar: it sees the bar from the fill on (as the kernel)
                oi = pos["entry_price"] - sp if pos["side"] > 0 else pos["entry_price"]
                if pos.get("entry_type") == "limit":  # the favourable extreme may precede it
                    if pos["side"] > 0:
                        hi = max(oi, bar.close)
                    else:
                        li = min(oi, bar.close)
            if self.cfg.exit_mode == "bar":
                for leg in M.observe(pf, oi, hi, li, sp, slip):
                    trade = self._execute(new, pos, pf, leg, now, bar_time=bar.time)
                    decisions.append(
                        self._decision(
                            now,
                            "exit",
                            leg.reason,
                            position=cid,
                            price=leg.price,
                            lots=round(leg.steps * self.inst.lot_step, 8),
                        )
                    )
                    if trade:
                        trades.append(trade)
                if cid not in new["positions"]:
                    continue
            if M.update(pf, hi, li, bar.close, sp, lv_long, lv_short):
                src = int(pf[M.rules.F_STOP_SRC])
                why = {1: "break-even armed", 2: "trailing stop tightened"}.get(src, "stop moved")
                decisions.append(self._decision(now, "stop", why, position=cid, stop=M.stop_of(pf)))
                self._send_stop(pos, M.stop_of(pf), now, decisions)
            pos["pf"] = M.pf_to_json(pf)
            pos["bars"] += 1
            if pos["time_stop"] and pos["bars"] >= pos["time_stop"] and not pos["time_due"]:
                pos["time_due"] = True
        # limit / stop entries whose last live bar this was expire
        for cid in sorted(new["pending"]):
            p = new["pending"][cid]
            if p.get("bars_left") is None:
                continue
            p["bars_left"] -= 1
            if p["bars_left"] <= 0:
                self.broker.cancel(cid)
                res = self.broker.order_status(cid)
                if res is not None and res.status == "filled":
                    continue  # filled meanwhile: the next sync adopts it
                del new["pending"][cid]
                new["stats"]["expired"] = new["stats"].get("expired", 0) + 1
                decisions.append(self._decision(now, "expired", "entry order expired", order=cid))
        final = bool(getattr(bar, "final", False)) or (
            hasattr(self.feed, "__len__") and bar.index == len(self.feed) - 1
        )
        if final and self.cfg.close_at_end:
            for cid in sorted(new["positions"]):
                pos = new["positions"][cid]
                pf = M.pf_from_json(pos["pf"])
                price = M.mark(pf, bar.close, sp)
                leg = M.Leg(price, M.remaining(pf), "end")
                pf[M.rules.F_REMAINING] = 0
                trades.append(self._execute(new, pos, pf, leg, now, bar_time=bar.time))
                decisions.append(
                    self._decision(now, "exit", "end of replay", position=cid, price=price)
                )
        # account, daily counters, peak
        balance = self.broker.account().balance
        open_pnl, margin = self._equity_margin(new, bar.close, sp)
        equity = balance + open_pnl
        day = now // NS_DAY
        if new["daily"]["day"] != day:
            new["daily"] = {"day": day, "start_balance": balance}
        if equity > new["risk"]["peak_equity"]:
            new["risk"]["peak_equity"] = equity
        if atr_series is not None:
            new["atr"] = {
                "bar": bar.time,
                "value": float(atr_series[-1]),
                "prev": self._atr_for(new, bar.time),
            }
        # entries, in row order
        rows = np.flatnonzero(sig.bar == last)
        horizon = bar.time - self.cfg.window * self.step_ns
        new["signals"] = {k: v for k, v in new["signals"].items() if v >= horizon}
        sizing_balance = self._sizing_balance(new)
        for j in rows:
            row = signal_row(sig, int(j))
            sid = client_order_id(
                self.cfg.strategy_name, self.symbol, bar.time, row["tag"], "entry"
            )
            if sid in new["signals"]:
                continue
            new["signals"][sid] = bar.time
            if row["exit_opposite"]:
                self._exit_opposite(new, row, now, decisions)
            self._entry(new, bar, row, sid, sizing_balance, equity, margin, final, decisions)

    def _exit_opposite(self, new: dict, row: dict, now: int, decisions: list) -> None:
        """An ``exit_opposite`` signal: opposite positions close at the next open, opposite
        pending and queued entry orders are cancelled (counted as expired)."""
        side = row["side"]
        for cid in sorted(new["positions"]):
            pos = new["positions"][cid]
            if pos["side"] != side and not pos.get("signal_exit"):
                pos["signal_exit"] = True
                decisions.append(
                    self._decision(now, "exit_due", "opposite signal: closes at the next open",
                                   position=cid)
                )  # fmt: skip
        for book in ("pending", "queued"):
            for cid in sorted(new[book]):
                if new[book][cid]["signal"]["side"] == side:
                    continue
                if book == "pending":
                    self.broker.cancel(cid)
                    res = self.broker.order_status(cid)
                    if res is not None and res.status == "filled":
                        continue  # filled meanwhile: a position now, the next sync adopts it
                del new[book][cid]
                new["stats"]["expired"] = new["stats"].get("expired", 0) + 1
                decisions.append(self._decision(now, "cancel", "opposite signal", order=cid))

    def _entry(self, new, bar: Bar, row: dict, sid: str, balance, equity, margin, final, decisions):
        now = bar.close_time
        base = {"order": sid, "side": row["side"], "tag": row["tag"]}
        if row["entry_type"] != "market" and not self.broker.simulated:
            decisions.append(
                self._decision(
                    now, "skip", f"{row['entry_type']} entries need the paper broker", **base
                )
            )
            return
        if final and self.cfg.close_at_end:
            decisions.append(self._decision(now, "skip", "end of replay", **base))
            return
        in_slot = [
            p for p in (*new["positions"].values(), *new["pending"].values(),
                        *new["queued"].values())
            if self.cfg.position_mode == "symbol" or p["tag"] == row["tag"]
        ]  # fmt: skip
        # a slot whose only occupant is an opposite position leaving at the next open is free
        # for that open (a reversal)
        reversal = (
            len(in_slot) == 1
            and in_slot[0].get("signal_exit")
            and in_slot[0].get("side") != row["side"]
        )
        if in_slot and not reversal:
            decisions.append(
                self._decision(now, "skip", f"slot busy ({self.cfg.position_mode})", **base)
            )
            return
        if new["risk"]["halted"]:
            decisions.append(self._decision(now, "skip", "trading halted", **base))
            return
        tick = self.last_tick
        leaving = sum(1 for p in new["positions"].values() if p.get("signal_exit"))
        verdicts = G.check_entry(
            self.cfg.limits,
            now=now,
            last_tick_time=tick.time if tick else None,
            spread=tick.spread if tick else None,
            pip_size=self.inst.pip_size,
            equity=equity,
            day_start_balance=new["daily"]["start_balance"],
            peak_equity=new["risk"]["peak_equity"],
            open_count=len(new["positions"]) - leaving + len(new["pending"]) + len(new["queued"]),
        )
        blocked = [v for v in verdicts if not v.ok]
        if blocked:
            for v in blocked:
                decisions.append(self._decision(now, "guard", v.reason, guard=v.guard, **base))
            return
        if row["entry_type"] != "market":
            ref = row["entry_price"]
        else:
            ref = bar.close + (self._spread(bar.spread) if row["side"] > 0 else 0.0)
        exits_due = any(p["time_due"] or p.get("signal_exit") for p in new["positions"].values())
        if exits_due:
            # exits at the next open come first and the size uses the balance after them
            new["queued"][sid] = {
                "signal": row,
                "signal_time": bar.time,
                "tag": row["tag"],
                "ref": ref,
                "seq": len(new["queued"]),
            }
            why = "reversal" if reversal else "exits due at the next open"
            decisions.append(self._decision(now, "queued", why, **base))
            return
        self._place(new, row, sid, bar.time, ref, balance, equity - margin, now, decisions)

    def _place(self, new, row, sid, signal_time, ref, balance, free_margin, now, decisions) -> bool:
        """Size and send one entry order; True when the broker accepted it."""
        base = {"order": sid, "side": row["side"], "tag": row["tag"]}
        dist = (
            row["stop_distance"]
            if row["stop_distance"] is not None
            else abs(ref - row["stop_price"])
        )
        size = self.sizer.size(self.inst, balance, dist, ref, free_margin)
        if size.steps <= 0:
            decisions.append(self._decision(now, "skip", size.reason, **base))
            return False
        request = OrderRequest(
            sid, self.symbol, row["side"], size.lots, comment=sid,
            order_type=row["entry_type"], price=row["entry_price"],
        )  # fmt: skip
        try:
            result = self.broker.place(request)
        except BrokerError as exc:
            decisions.append(self._decision(now, "rejected", str(exc), **base))
            return False
        steps = int(round(result.lots / self.inst.lot_step))  # a redo gets the original size
        new["pending"][sid] = {
            "signal": row,
            "signal_time": signal_time,
            "tag": row["tag"],
            "steps": steps,
            "lots": result.lots,
            "bars_left": row["expiry"] if row["entry_type"] != "market" else None,
        }
        new["stats"]["orders"] += 1
        decisions.append(
            self._decision(now, "order", size.reason, lots=result.lots, status=result.status,
                           entry=row["entry_type"], **base)
        )  # fmt: skip
        return True

    def _place_queued(self, new: dict, tick: Tick, decisions: list, trades: list) -> None:
        """Entries queued behind this open's exits: sized now, filled at this quote."""
        queued = sorted(new["queued"].items(), key=lambda kv: kv[1]["seq"])
        new["queued"] = {}
        if new["risk"]["halted"]:
            for sid, _ in queued:
                decisions.append(self._decision(tick.time, "skip", "trading halted", order=sid))
            return
        balance = self._sizing_balance(new)
        sp = self._spread(tick.spread)
        open_pnl, margin = self._equity_margin(new, tick.bid, sp)
        free = self.broker.account().balance + open_pnl - margin
        placed = False
        for sid, q in queued:
            placed |= self._place(
                new, q["signal"], sid, q["signal_time"], q["ref"], balance, free, tick.time,
                decisions,
            )  # fmt: skip
        if placed and self.broker.simulated:
            self._observe(new, tick)  # the orders execute at this same quote
            self._sync_pending(new, tick.time, decisions, trades)

    # ------------------------------------------------------------------ kill switch
    def _kill(self, new: dict, now: int, decisions: list, trades: list) -> None:
        reason = (self.dir / G.KILL_FILE).read_text(encoding="utf-8").strip() or "kill switch"
        decisions.append(self._decision(now, "kill", f"kill switch: {reason}; closing everything"))
        for cid in sorted(new["pending"]):
            self.broker.cancel(cid)
            del new["pending"][cid]
            decisions.append(self._decision(now, "cancel", "kill switch", order=cid))
        for cid in sorted(new["queued"]):
            del new["queued"][cid]
            decisions.append(self._decision(now, "cancel", "kill switch", order=cid))
        for cid in sorted(new["positions"]):
            pos = new["positions"][cid]
            pf = M.pf_from_json(pos["pf"])
            leg = M.Leg(math.nan, M.remaining(pf), "signal")  # closest exit reason
            pf[M.rules.F_REMAINING] = 0
            trade = self._execute(new, pos, pf, leg, now, market=True, action="kill")
            decisions.append(self._decision(now, "exit", "kill switch", position=cid))
            if trade:
                trades.append(trade)
        new["risk"]["halted"] = f"kill: {reason}"


def engine_summary(state: dict[str, Any]) -> dict[str, Any]:
    """Positions, P&L and guard state for ``tradeforge status``."""
    return {
        "identity": state.get("identity"),
        "seq": state.get("seq"),
        "last_event": _iso(state["last_key"][0]) if state.get("last_key") else None,
        "positions": [
            {
                "id": cid,
                "ticket": p["ticket"],
                "side": "long" if p["side"] > 0 else "short",
                "tag": p["tag"],
                "entry_price": p["entry_price"],
                "stop": M.stop_of(M.pf_from_json(p["pf"])),
                "lots_open": M.remaining(M.pf_from_json(p["pf"])) * lot_step(state),
            }
            for cid, p in sorted(state.get("positions", {}).items())
        ],
        "pending": sorted(state.get("pending", {})),
        "stats": state.get("stats"),
        "risk": state.get("risk"),
        "daily": state.get("daily"),
    }


def lot_step(state: dict[str, Any]) -> float:
    return get_instrument(state["identity"]["symbol"]).lot_step
