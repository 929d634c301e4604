"""Run a session of several strategy instances (`tradeforge.live.session.Session`) as one
engine: one state directory, one journal, one lock, one control channel, one paper account
(dry-run) or broker connection (live).

A dry-run plays one `ReplayFeed` per symbol (its bars from the session's ``bars`` file or the
cache, with the longest window of the symbol's instances as history); the engine merges them
in ``(time, priority, symbol)`` order. The session is stored in ``<state>/session.json`` on
the first start, so ``tradeforge dry-run --state DIR`` continues it after a stop or crash; a
restart with a different session file is refused.

A live session connects as `tradeforge.live.runner.run_live` does and trades any number of
symbols, their feeds merged on the one connection (`tradeforge.live.brokers.ctrader_feed.
CTraderSessionFeed` for the cTrader Open API, `tradeforge.live.brokers.mt5_session.
MT5SessionFeed` for MetaTrader 5: a live feed blocks until its next quote, so `MergedFeed`
cannot merge them). A live session stores its ``session.json`` too, once connected: a restart with a
different session file is refused as a dry-run's is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.paths import user_path
from tradeforge.live.brokers.paper import PAPER_FILE, PaperBroker
from tradeforge.live.engine import Engine, Instance
from tradeforge.live.feeds import Feed, RecordedFeed, ReplayFeed
from tradeforge.live.guards import RiskLimits
from tradeforge.live.health import DEFAULT_RULES, HealthMonitor, HealthRule
from tradeforge.live.lock import StateLock
from tradeforge.live.persist import ensure_dir, read_document, write_document
from tradeforge.live.runner import (
    SessionObserver,
    _differences,
    check_connection,
    connect_broker,
    engine_config,
    journal_trades,
    load_bars,
    observed,
    run_engine,
    run_monitored,
)
from tradeforge.live.session import SESSION_FILE, Session


def resolve_session(state_dir: Path, session: Session | None) -> tuple[Session, bool]:
    """The session stored in ``state_dir`` (restart) or ``session`` (first start), and whether
    it is new; a different ``session`` for a stored one is refused."""
    path = Path(state_dir) / SESSION_FILE
    if path.exists():
        try:
            stored = Session.from_dict(read_document(path))
        except StateError as exc:
            raise StateError(f"{path}: {exc}") from None
        if session is not None and session.to_dict() != stored.to_dict():
            diff = sorted(_differences(session.to_dict(), stored.to_dict()))
            raise ConfigError(
                f"{state_dir} holds a session with other settings ({', '.join(diff)}); "
                "restart it with only --state or use a new --state directory"
            )
        return stored, False
    if session is None:
        raise ConfigError(f"{state_dir} holds no session; give --session FILE")
    return session, True


def instances(
    session: Session, feeds: dict[str, Feed], exit_mode: str | None = None
) -> list[Instance]:
    """The engine's instances of ``session`` on ``feeds`` (by symbol)."""
    out = []
    for name, spec in session.specs.items():
        if exit_mode is not None:
            spec = replace(spec, live=replace(spec.live, exit_mode=exit_mode))
        strategy = spec.create_strategy()
        cfg = replace(engine_config(spec, strategy), strategy_name=name, strategy=spec.strategy)
        window = spec.live.window if spec.live is not None else None
        out.append(
            Instance(cfg, strategy, feeds[spec.symbol], spec.instrument(spec.symbol), window)
        )
    return out


def session_paper_broker(state_dir: Path, session: Session) -> PaperBroker:
    """The paper account of a dry-run session: one account for all its instances, with the
    first instance's capital, execution and leverage."""
    first = session.first
    assert first.live is not None
    return PaperBroker(
        state_dir / PAPER_FILE,
        initial_balance=first.initial_capital,
        execution=first.execution,
        leverage=first.live.leverage,
    )


def _replay_feeds(
    session: Session, progress: Callable[[int, int], None] | None = None
) -> dict[str, Feed]:
    """One replay per symbol, with the history its longest window needs; ``progress(done,
    total)`` counts the bars of all of them."""
    feeds: dict[str, ReplayFeed] = {}
    for symbol in session.symbols:
        on = [s for s in session.specs.values() if s.symbol == symbol]
        longest = max(on, key=lambda s: s.resolve_window(s.create_strategy()))
        window = longest.resolve_window(longest.create_strategy())
        frame = load_bars(replace(longest, live=replace(longest.live, window=window)))
        live = longest.live
        assert live is not None
        feeds[symbol] = ReplayFeed(
            frame, symbol, str(longest.timeframe), pace=live.pace, play_from=longest.start
        )
    if progress is not None:
        total = sum(f.total for f in feeds.values())
        done = dict.fromkeys(feeds, 0)
        for symbol, feed in feeds.items():

            def played(n: int, _total: int, symbol: str = symbol) -> None:
                done[symbol] = n
                progress(sum(done.values()), total)

            feed.progress = played
    return dict(feeds)


def build_session_dry_run(
    state_dir: str | Path,
    session: Session | None = None,
    echo: Any = None,
    *,
    accept_state_loss: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Engine:
    """The dry-run engine of ``session`` (or of the one stored in ``state_dir``);
    ``progress(done, total)`` follows the replays' bars."""
    state_dir = Path(state_dir)
    session, new = resolve_session(state_dir, session)
    feeds = _replay_feeds(session, progress)
    if new:  # stored only once it is known to run: a restart reuses it as it is
        ensure_dir(state_dir)
        write_document(state_dir / SESSION_FILE, session.to_dict())
    broker = session_paper_broker(state_dir, session)
    return Engine.session(
        instances(session, feeds),
        broker,
        state_dir,
        limits=RiskLimits(**session.limits),
        echo=echo,
        accept_state_loss=accept_state_loss,
    )


@contextmanager
def session_dry_run(
    state_dir: str | Path,
    session: Session | None = None,
    echo: Any = None,
    *,
    accept_state_loss: bool = False,
    observer: SessionObserver | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Engine]:
    """Run (or resume) a session's dry-run under the state directory's lock and yield the
    finished engine with the lock still held (the caller exports its trades under it);
    ``progress(done, total)`` follows the replays' bars."""
    state_dir = user_path(state_dir)
    with StateLock(state_dir):
        engine = build_session_dry_run(
            state_dir, session, echo, accept_state_loss=accept_state_loss, progress=progress
        )
        with observed(engine, observer):
            run_engine(engine)
        yield engine


def run_live_session(
    state_dir: str | Path,
    session: Session | None,
    *,
    broker: str = "mt5",
    magic: int = 240_601,
    mt5: Any = None,
    ctrader: Any = None,
    feed: Any = None,
    echo: Any = None,
    accept_state_loss: bool = False,
    login: dict[str, Any] | None = None,
    observer: SessionObserver | None = None,
    health: tuple[HealthRule, ...] | None = None,
    health_interval: float = 1.0,
) -> Engine:
    """A live session (exits on every tick) through MetaTrader 5 or the cTrader Open API (any
    number of symbols on one connection, merged by `MT5SessionFeed` / `CTraderSessionFeed`),
    connected and watched as `run_live` does (its ``broker``, ``ctrader``, ``login``,
    ``health`` arguments). ``session`` None: the one stored in ``state_dir`` (a restart)."""
    check_connection(broker, ctrader, trading=True)
    state_dir = user_path(state_dir)
    session, new = resolve_session(state_dir, session)
    timeframes = _timeframes(session)
    monitor = HealthMonitor(state_dir, health or DEFAULT_RULES, interval=health_interval)
    with StateLock(state_dir):  # before connecting: a refused second session touches nothing
        adapter, stream, shutdown = connect_broker(
            broker, state_dir, timeframes, magic, mt5, ctrader, login, feed, trading=True
        )
        try:
            if new:  # stored once connected: a restart reuses it as it is
                write_document(state_dir / SESSION_FILE, session.to_dict())
            engine = _live_fed(
                session, stream, monitor, monitor.watch_broker(adapter), state_dir, echo,
                accept_state_loss, exit_mode="tick",
            )  # fmt: skip
            if getattr(stream, "on_reconnect", False) is None:
                stream.on_reconnect = engine.reconcile  # after a reconnection, before new events
            run_monitored(engine, monitor, observer)
        finally:
            shutdown()
    return engine


def _live_fed(
    session: Session, stream: Any, monitor: HealthMonitor, broker: Any, state_dir: Path,
    echo: Any, accept_state_loss: bool, exit_mode: str | None = None,
) -> Engine:  # fmt: skip
    """The engine of ``session`` on a live connection's ``stream`` (one symbol's feed, or the
    merged stream of several with its ``feeds``), the bars handed out recorded for the
    divergence monitor and the stream watched by the health ``monitor``."""
    feeds = getattr(stream, "feeds", None)  # several symbols: the merged stream's
    watched = monitor.watch_feed(stream if feeds else RecordedFeed(stream, state_dir))
    recorded = (
        {s: RecordedFeed(f, state_dir) for s, f in feeds.items()}
        if feeds
        else {session.symbols[0]: watched}
    )
    engine = Engine.session(
        instances(session, recorded, exit_mode=exit_mode),
        broker,
        state_dir,
        limits=RiskLimits(**session.limits),
        replaying=False,
        echo=echo,
        accept_state_loss=accept_state_loss,
        stream=watched if feeds else None,
    )
    engine.specs = dict(session.specs)
    return engine


def run_paper_session(
    state_dir: str | Path,
    session: Session | None,
    *,
    feed: str = "ctrader",
    mt5: Any = None,
    ctrader: Any = None,
    login: dict[str, Any] | None = None,
    echo: Any = None,
    accept_state_loss: bool = False,
    observer: SessionObserver | None = None,
    health: tuple[HealthRule, ...] | None = None,
    health_interval: float = 1.0,
) -> Engine:
    """Paper trading a session on a live feed (``dry-run --feed ctrader|mt5 --session``): the
    session's symbols merged on one connection as `run_live_session` merges them, the fills
    the `PaperBroker`'s (one paper account; the broker is never sent an order), as
    `tradeforge.live.runner.run_paper` does for one strategy. ``session`` None: the one
    stored in ``state_dir``; a different one for a stored session is refused."""
    check_connection(feed, ctrader, trading=False)
    state_dir = user_path(state_dir)
    session, new = resolve_session(state_dir, session)
    monitor = HealthMonitor(state_dir, health or DEFAULT_RULES, interval=health_interval)
    with StateLock(state_dir):
        source, stream, shutdown = connect_broker(
            feed, state_dir, _timeframes(session), 240_601, mt5, ctrader, login, None,
            trading=False,
        )  # fmt: skip
        try:
            if new:
                write_document(state_dir / SESSION_FILE, session.to_dict())
            paper = session_paper_broker(state_dir, session)
            watched = monitor.watch_broker(paper)
            monitor.link_source = getattr(source, "link", None)  # the feed's connection
            engine = _live_fed(
                session, stream, monitor, watched, state_dir, echo, accept_state_loss
            )
            run_monitored(engine, monitor, observer)
        finally:
            shutdown()
    return engine


def _timeframes(session: Session) -> dict[str, str]:
    """Each symbol's timeframe (the instances on one symbol share it)."""
    return {
        symbol: str(next(s.timeframe for s in session.specs.values() if s.symbol == symbol))
        for symbol in session.symbols
    }


def strategy_trades(state_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Each instance's closed trades from the journal (the columns of ``trades.csv``)."""
    from tradeforge.live.runner import trades_frame

    frame = trades_frame(state_dir)
    owners = {t["trade_id"]: t.get("strategy") for t in journal_trades(state_dir)}
    names = frame["trade_id"].map(owners)
    return {
        str(name): frame[names == name].reset_index(drop=True)
        for name in sorted(set(names.dropna()))
    }
