"""Assemble and run a dry-run (engine + replay feed + paper broker) or a live session.

A session runs one `RunSpec` with `LiveSettings` (one symbol). A dry-run's is written to
``<state>/dryrun.json`` (`RunSpec.to_dict`, window resolved) on the first start so a restart
(``tradeforge dry-run --state DIR`` again, or after a crash) continues with the same
configuration — a restart with a different one is refused. A session holds the
state directory's writer lock (`tradeforge.live.lock`) from before its first write to its end.

While the engine runs, its control channel (`tradeforge.live.control.server`: ``<state>/
control.sock`` and ``control.token``) takes operator commands from ``tradeforge ctl``; it
closes when the run ends. Where it cannot open (no Unix sockets, a state path too long for
one) the session runs without it and says so in ``decisions.jsonl``.

A `SessionObserver` (the notifier, `tradeforge.notify.session.SessionNotifier`) follows a
session without touching its trading: it sees each decision after its commit, through the
engine's ``echo`` callback (refused control commands reach it from the control thread),
and is told when the session ends and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.paths import user_path
from tradeforge.core.timeutil import to_utc
from tradeforge.live.brokers.paper import PAPER_FILE, PaperBroker
from tradeforge.live.control.server import ControlServer
from tradeforge.live.decisions import append_decisions, decision
from tradeforge.live.engine import Engine, EngineConfig
from tradeforge.live.feeds import RecordedFeed, ReplayFeed
from tradeforge.live.guards import RiskLimits
from tradeforge.live.health import DEFAULT_RULES, HealthMonitor, HealthRule
from tradeforge.live.lock import StateLock
from tradeforge.live.persist import ensure_dir, read_document, write_document
from tradeforge.live.state import JOURNAL_FILE, StateRepository
from tradeforge.strategy.base import Strategy
from tradeforge.trading.spec import LiveSettings, RunSpec

SPEC_FILE = "dryrun.json"


class SessionObserver(Protocol):
    """Follows a session: ``attach`` (before the engine starts) returns the callback that
    gets every decision after its commit, on the engine's thread — it must return at once;
    ``finish`` runs when the session ends, with the exception that ended it, if any."""

    def attach(self, engine: Engine) -> Callable[[dict[str, Any]], None]: ...

    def finish(self, engine: Engine, error: BaseException | None) -> Any: ...


@contextmanager
def observed(engine: Engine, observer: SessionObserver | None) -> Iterator[Engine]:
    """Run the body with ``observer`` following ``engine`` (after the engine's own echo)."""
    if observer is None:
        yield engine
        return
    echo, watch = engine.echo, observer.attach(engine)

    def both(d: dict[str, Any]) -> None:
        if echo is not None:
            echo(d)
        watch(d)

    engine.echo = both
    try:
        yield engine
    except BaseException as exc:
        observer.finish(engine, exc)
        raise
    observer.finish(engine, None)


@contextmanager
def control_channel(engine: Engine) -> Iterator[ControlServer | None]:
    """Serve ``engine``'s control channel for the body (it must have started)."""
    try:
        server = ControlServer(engine).start()
    except StateError as exc:
        note = decision(None, "control_unavailable", f"no runtime control: {exc}")
        append_decisions(engine.dir, engine.state["seq"], [note])
        if engine.echo is not None:
            engine.echo(note)
        yield None
        return
    try:
        yield server
    finally:
        server.close()


def run_engine(engine: Engine) -> None:
    """Start ``engine`` and run it to the end of its feed with its control channel open."""
    engine.start()
    with control_channel(engine):
        engine.run()


def engine_config(spec: RunSpec, strategy: Strategy | None = None) -> EngineConfig:
    """The engine's settings of a dry-run/live ``spec`` (``spec.live`` set; one symbol); the
    window resolved against ``strategy``'s warm-up (`RunSpec.resolve_window`)."""
    live = spec.live or LiveSettings()
    try:
        limits = RiskLimits(**live.limits)
    except TypeError as exc:
        raise ConfigError(f"unknown risk limit ({exc})") from None
    return EngineConfig(
        strategy_name=str(spec.strategy),
        symbol=spec.symbol,
        timeframe=str(spec.timeframe),
        window=spec.resolve_window(strategy or spec.create_strategy()),
        sizing=spec.sizing,
        execution=spec.execution,
        limits=limits,
        position_mode=spec.position_mode,
        exit_mode=live.exit_mode,
        close_at_end=live.close_at_end,
        max_lots=live.max_lots,
        leverage=live.leverage,
    )


def prepare_session(spec: RunSpec) -> RunSpec:
    """``spec`` checked for a session (one symbol, a timeframe, a strategy, valid limits) with
    its window resolved, so that what a state directory stores is what runs on every
    restart — a bad spec stored there would block the corrected run."""
    if spec.live is None:
        raise ConfigError("a dry-run/live session needs live settings (RunSpec.live)")
    cfg = engine_config(spec)
    return replace(spec, live=replace(spec.live, window=cfg.window))


def load_bars(spec: RunSpec) -> pd.DataFrame:
    """The replay's bars plus ``window`` bars of history before ``start``."""
    live = spec.live or LiveSettings()
    if spec.start is None or spec.end is None or spec.timeframe is None:
        raise ConfigError("a replay needs a timeframe, a start and an end")
    start, end = to_utc(spec.start, "start"), to_utc(spec.end, "end")
    if live.bars_file:
        from tradeforge.data.validate import validate_ohlcv

        frame = validate_ohlcv(pd.read_parquet(user_path(live.bars_file)), live.bars_file)
    else:
        from tradeforge.core.paths import resolve_home
        from tradeforge.data.cache import ParquetStore

        store = ParquetStore(resolve_home(live.home))
        frame = store.load(spec.symbol, spec.timeframe, None, end)
    frame = frame[frame.index < end]
    first = int(frame.index.searchsorted(start))
    window = live.window if live.window is not None else engine_config(spec).window
    return frame.iloc[max(0, first - window) :]


def resolve_spec(state_dir: Path, spec: RunSpec | None) -> tuple[RunSpec, bool]:
    """The spec stored in ``state_dir`` (restart) or the checked ``spec`` (first start), and
    whether it is new (not stored yet: `build_dry_run` stores it once its bars have loaded)."""
    path = Path(state_dir) / SPEC_FILE
    if path.exists():
        try:
            stored = RunSpec.from_dict(read_document(path))
        except StateError as exc:
            raise StateError(f"{path}: {exc}") from None
        if spec is not None:
            given, kept = prepare_session(spec).to_dict(), stored.to_dict()
            if given != kept:
                diff = sorted(_differences(given, kept))
                raise ConfigError(
                    f"{state_dir} holds a dry-run with other settings ({', '.join(diff)}); "
                    "restart it without options or use a new --state directory"
                )
        return stored, False
    if spec is None:
        raise ConfigError(f"{state_dir} holds no dry-run; give --strategy/--symbol/--replay")
    return prepare_session(spec), True


def _differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the entries that differ (``live.window``, ``execution.commission``)."""
    out = []
    for key in dict.fromkeys([*a, *b]):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict) and key != "params":
            out += _differences(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key}")
    return out


def build_dry_run(
    state_dir: str | Path,
    spec: RunSpec | None = None,
    echo=None,
    *,
    accept_state_loss: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Engine:
    """The dry-run engine of ``spec`` (or of the one stored in ``state_dir``); ``progress``
    follows the replay (`ReplayFeed`)."""
    state_dir = Path(state_dir)
    spec, new = resolve_spec(state_dir, spec)
    frame = load_bars(spec)
    strategy = spec.create_strategy()
    if new:  # stored only once it is known to run: a restart reuses it as it is
        ensure_dir(state_dir)
        write_document(state_dir / SPEC_FILE, spec.to_dict())
    cfg = engine_config(spec, strategy)
    live = spec.live or LiveSettings()
    feed = ReplayFeed(
        frame, cfg.symbol, cfg.timeframe, pace=live.pace, play_from=spec.start, progress=progress
    )
    broker = PaperBroker(
        state_dir / PAPER_FILE,
        initial_balance=spec.initial_capital,
        execution=cfg.execution,
        leverage=live.leverage,
    )
    return Engine(
        cfg, strategy, feed, broker, state_dir, echo=echo, accept_state_loss=accept_state_loss
    )


@contextmanager
def dry_run_session(
    state_dir: str | Path,
    spec: RunSpec | None = None,
    echo=None,
    *,
    accept_state_loss: bool = False,
    observer: SessionObserver | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Engine]:
    """Run (or resume) a dry-run under the state directory's lock and yield the finished
    engine with the lock still held, so the caller exports its results before another writer
    may start. ``progress(done, total)`` follows the replay's bars."""
    state_dir = user_path(state_dir)
    if spec is not None:  # refused before the lock creates the directory (as `run_live` does)
        spec = prepare_session(spec)
    with StateLock(state_dir):
        engine = build_dry_run(
            state_dir, spec, echo, accept_state_loss=accept_state_loss, progress=progress
        )
        with observed(engine, observer), sigterm_interrupts():  # a stop from the web: Ctrl-C
            run_engine(engine)
        yield engine


def run_dry(
    state_dir: str | Path,
    spec: RunSpec | None = None,
    echo=None,
    *,
    accept_state_loss: bool = False,
    observer: SessionObserver | None = None,
) -> Engine:
    with dry_run_session(
        state_dir, spec, echo, accept_state_loss=accept_state_loss, observer=observer
    ) as engine:
        return engine


def run_live(
    state_dir: str | Path,
    spec: RunSpec,
    *,
    broker: str = "mt5",
    magic: int = 240_601,
    mt5: Any = None,
    ctrader: Any = None,
    feed: Any = None,
    echo=None,
    accept_state_loss: bool = False,
    login: dict[str, Any] | None = None,
    observer: SessionObserver | None = None,
    health: tuple[HealthRule, ...] | None = None,
    health_interval: float = 1.0,
) -> Engine:
    """Live trading through MetaTrader 5 (``broker="mt5"``: ``login`` — ``login``/``password``/
    ``server`` — goes to the terminal's ``initialize()``) or the cTrader Open API
    (``broker="ctrader"``: ``ctrader`` is a `CTraderLogin`; the adapter journals its closes in
    ``<state>/ctrader_broker.json``): exits on every tick (``exit_mode="tick"``), stops sent
    to the server, reconciliation with the broker before the first order and after every
    reconnection, a `HealthMonitor` with ``health`` rules (default `DEFAULT_RULES`)."""
    check_connection(broker, ctrader, trading=True)
    live = replace(spec.live or LiveSettings(), exit_mode="tick")
    spec = prepare_session(replace(spec, live=live))
    strategy = spec.create_strategy()
    state_dir = user_path(state_dir)
    monitor = HealthMonitor(state_dir, health or DEFAULT_RULES, interval=health_interval)
    with StateLock(state_dir):  # before connecting: a refused second session touches nothing
        cfg = engine_config(spec, strategy)
        adapter, feed, shutdown = connect_broker(
            broker, state_dir, {cfg.symbol: cfg.timeframe}, magic, mt5, ctrader, login, feed,
            trading=True,
        )  # fmt: skip
        try:
            engine = Engine(
                cfg,
                strategy,
                monitor.watch_feed(RecordedFeed(feed, state_dir)),
                monitor.watch_broker(adapter),
                state_dir,
                replaying=False,
                echo=echo,
                accept_state_loss=accept_state_loss,
            )
            engine.specs = {cfg.strategy_name: spec}
            if getattr(feed, "on_reconnect", False) is None:
                feed.on_reconnect = engine.reconcile  # after a reconnection, before new events
            run_monitored(engine, monitor, observer)
        finally:
            shutdown()
    return engine


def run_paper(
    state_dir: str | Path,
    spec: RunSpec,
    *,
    feed: str = "ctrader",
    mt5: Any = None,
    ctrader: Any = None,
    login: dict[str, Any] | None = None,
    echo=None,
    accept_state_loss: bool = False,
    observer: SessionObserver | None = None,
    health: tuple[HealthRule, ...] | None = None,
    health_interval: float = 1.0,
) -> Engine:
    """Paper trading on a live feed: `PaperBroker` (the backtest's fills, ``paper_broker.json``)
    fed by a broker's real-time quotes and bars (``feed``: ``ctrader`` or ``mt5``, connected
    as `run_live` connects, but never sent an order). Runs until the kill switch or Ctrl-C;
    a restart continues the same paper account."""
    check_connection(feed, ctrader, trading=False)
    spec = prepare_session(spec)
    strategy = spec.create_strategy()
    live = spec.live or LiveSettings()
    state_dir = user_path(state_dir)
    monitor = HealthMonitor(state_dir, health or DEFAULT_RULES, interval=health_interval)
    with StateLock(state_dir):
        cfg = engine_config(spec, strategy)
        source, events, shutdown = connect_broker(
            feed, state_dir, {cfg.symbol: cfg.timeframe}, 240_601, mt5, ctrader, login, None,
            trading=False,
        )  # fmt: skip
        try:
            paper = PaperBroker(
                state_dir / PAPER_FILE,
                initial_balance=spec.initial_capital,
                execution=cfg.execution,
                leverage=live.leverage,
            )
            watched = monitor.watch_broker(paper)
            monitor.link_source = getattr(source, "link", None)  # the feed's connection
            engine = Engine(
                cfg, strategy, monitor.watch_feed(RecordedFeed(events, state_dir)), watched, state_dir,
                replaying=False, echo=echo, accept_state_loss=accept_state_loss,
            )  # fmt: skip
            engine.specs = {cfg.strategy_name: spec}
            run_monitored(engine, monitor, observer)
        finally:
            shutdown()
    return engine


def run_monitored(engine: Engine, monitor: HealthMonitor, observer: Any) -> None:
    """Start and run ``engine`` with its observer, health monitor and control channel."""
    with observed(engine, observer), sigterm_interrupts():
        engine.start()
        with monitor.running(engine), control_channel(engine):
            engine.run()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (``docker stop``, a service manager) ends the body as Ctrl-C does: the
    observer and the health file learn the session stopped, the broker link closes."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: Brokers `run_live` trades through.
LIVE_BROKERS = ("mt5", "ctrader")


def check_connection(name: str, ctrader: Any, trading: bool) -> None:
    """``name`` is a broker (``trading``) or a live feed the runners connect to, with the
    login a cTrader connection needs; `ConfigError` otherwise."""
    what, needs = ("broker", "session") if trading else ("live feed", "feed")
    if name not in LIVE_BROKERS:
        raise ConfigError(f"unknown {what} {name!r}; available: {', '.join(LIVE_BROKERS)}")
    if name == "ctrader" and ctrader is None:
        raise ConfigError(f"a cTrader {needs} needs its login (account, credentials, endpoint)")


def connect_broker(
    broker: str,
    state_dir: Path,
    timeframes: dict[str, str],
    magic: int,
    mt5: Any,
    ctrader: Any,
    login: dict[str, Any] | None,
    feed: Any,
    *,
    trading: bool,
) -> tuple[Any, Any, Callable[[], None]]:
    """The broker adapter, its live feed of the symbols of ``timeframes`` (symbol →
    timeframe; unless ``feed`` is given) and how to close them: one symbol's feed, or for
    several a merged stream (`CTraderSessionFeed` or `MT5SessionFeed`, its ``feeds`` by
    symbol).
    A connection that will not trade (``trading=False``: a paper session's feed) keeps no
    close journal."""
    if broker == "ctrader":
        from tradeforge.live.brokers.ctrader import STATE_FILE
        from tradeforge.live.brokers.ctrader_feed import CTraderFeed, CTraderSessionFeed

        adapter = ctrader.broker(state_dir / STATE_FILE if trading else None)
        try:
            if feed is None and len(timeframes) > 1:
                feed = CTraderSessionFeed(adapter, timeframes)
            elif feed is None:
                ((symbol, timeframe),) = timeframes.items()
                feed = CTraderFeed(adapter, symbol, timeframe)
        except BaseException:
            adapter.shutdown()
            raise
        return adapter, feed, adapter.shutdown
    from tradeforge.live.brokers.mt5 import MT5Broker, MT5Feed
    from tradeforge.live.brokers.mt5_session import MT5SessionFeed

    adapter = MT5Broker(mt5, magic=magic, **(login or {}))
    if feed is None and len(timeframes) > 1:
        feed = MT5SessionFeed(adapter.mt5, timeframes)
    elif feed is None:
        ((symbol, timeframe),) = timeframes.items()
        feed = MT5Feed(adapter.mt5, symbol, timeframe)
    return adapter, feed, adapter.mt5.shutdown


def journal_trades(state_dir: str | Path) -> list[dict[str, Any]]:
    """Every closed trade recorded in the journal, in order."""
    repo = StateRepository(state_dir)
    return [t for rec in repo.records() for t in rec.get("trades", []) if t]


def trades_frame(state_dir: str | Path) -> pd.DataFrame:
    from tradeforge.trading.result import TRADE_COLUMNS

    rows = sorted(journal_trades(state_dir), key=lambda t: t["trade_id"])  # entry order
    frame = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
    for col in ("signal_time", "entry_time", "exit_time"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def main(argv: list[str] | None = None) -> int:
    """``python -m tradeforge.live STATE_DIR [SPEC_JSON]`` — run (or resume) a dry-run."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m tradeforge.live STATE_DIR [SPEC_JSON]", file=sys.stderr)
        return 2
    spec = RunSpec.from_dict(json.loads(Path(args[1]).read_text())) if len(args) > 1 else None
    engine = run_dry(args[0], spec)
    print(json.dumps({"seq": engine.state["seq"], "journal": str(Path(args[0]) / JOURNAL_FILE)}))
    return 0
