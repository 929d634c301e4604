"""``tradeforge dry-run | live | status | health | kill``: run the live engine, inspect and stop
it."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from tradeforge.cli.common import (
    BrokerSymbolAnyOption,
    HomeOption,
    InstrumentsOption,
    LoginOption,
    PasswordEnvOption,
    PasswordFileOption,
    ServerOption,
    broker_symbol,
    console,
    console_err,
    expand_user,
    load_instruments,
    mt5_password,
    option,
    positive,
    progress_bar,
    run_options,
    run_spec,
    symbol_names,
    with_options,
)
from tradeforge.cli.ctrader import (
    DEFAULT_HOST,
    AccountIdOption,
    CaFileOption,
    CTraderHostOption,
    TokenFileOption,
    ctrader_login,
)
from tradeforge.cli.mt5 import (
    ServerTimeOption,
    TerminalPathOption,
    mt5_terminal,
)
from tradeforge.cli.notify import NotifyOption, session_notifier
from tradeforge.core.errors import ConfigError
from tradeforge.core.timeutil import parse_time

StateOption = Annotated[
    Path, typer.Option("--state", help="State directory of this session.", callback=expand_user)
]
StrategyOpt = Annotated[str | None, typer.Option("--strategy", help="Registered strategy name.")]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="Strategy parameter k=v (repeatable).")
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Strategy config file.")]
SymbolOpt = Annotated[str | None, typer.Option("--symbol", "-s", callback=symbol_names)]
WindowOpt = Annotated[
    int | None,
    typer.Option(
        help="Bars handed to the strategy per candle (default: the strategy's warm-up plus "
        "50, at least 300).",
        min=1,
    ),
]
TimeframeOpt = Annotated[str | None, typer.Option("--timeframe", "-t")]
HealthOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--health",
        help="Health rule CONDITION=THRESHOLD[:ACTION], optionally followed by @N or @N/M "
        "(repeatable; replaces that condition's defaults; CONDITION=off drops it): acts after N "
        "checks in a row past the threshold, clears after M within it (M defaults to N; both "
        "to 1). Conditions: feed, "
        "link, latency, rejects, skew, loop; actions: warn, halt, flatten, exit (loop only).",
    ),
]
HealthIntervalOpt = Annotated[
    float, typer.Option(help="Seconds between health checks (and health.json writes).", min=0.05)
]
SessionOpt = Annotated[
    Path | None,
    typer.Option(
        "--session",
        help="Session file (TOML/YAML) of several strategy instances on one account; replaces "
        "--strategy/--symbol/--timeframe/--replay and the run options.",
        callback=expand_user,
    ),
]
AcceptLossOpt = Annotated[
    bool,
    typer.Option(
        "--accept-state-loss",
        help="Start although journal history (trades, decisions) was lost; the loss is "
        "recorded in the journal. Without it such a start is refused.",
    ),
]


def _echo(decision: dict[str, Any]) -> None:
    if decision["kind"] in ("order", "filled", "exit", "guard", "kill", "reconcile", "start"):
        console.print(
            f"[dim]{decision.get('time') or ''}[/] [bold]{decision['kind']}[/] {decision['reason']}",
            highlight=False,
        )


#: Risk-guard options of dry-run and live (``stale_seconds`` has a per-command default).
@contextmanager
def replay_progress() -> Iterator[Callable[[int, int], None]]:
    """A progress bar of a dry-run's replay (stderr; see `progress_bar`); yields the
    ``progress(done, total)`` callback of the replay feeds."""
    with progress_bar("dry-run: replay", None) as advance:
        yield lambda done, total: advance(completed=done, total=total)


def _limit_options(stale_seconds: float | None) -> list[inspect.Parameter]:
    return [
        option("max_lots", float | None, None),
        option(
            "max_daily_loss",
            Annotated[float | None, typer.Option(help="Percent of day start.")],
            None,
        ),
        option(
            "max_drawdown",
            Annotated[float | None, typer.Option(help="Percent from the peak.")],
            None,
        ),
        option("max_positions", int | None, None),
        option("stale_seconds", Annotated[float | None, typer.Option()], stale_seconds),
        option("max_spread", Annotated[float | None, typer.Option(help="Pips.")], None),
        option(
            "max_symbol_lots",
            Annotated[
                float | None,
                typer.Option(help="Lots open and pending on one symbol, the new order included."),
            ],
            None,
        ),
        option(
            "max_total_lots",
            Annotated[float | None, typer.Option(help="The same over every symbol.")],
            None,
        ),
        option(
            "max_orders_per_minute",
            Annotated[int | None, typer.Option(help="Entry orders sent in any 60 s.")],
            None,
        ),
        option(
            "max_deviation",
            Annotated[
                float | None, typer.Option(help="Pips between an order's price and the last quote.")
            ],
            None,
        ),
        option(
            "max_slippage",
            Annotated[
                float | None,
                typer.Option(help="Pips an entry fill may slip; more pauses the symbol's entries."),
            ],
            None,
        ),
        option(
            "slippage_pause",
            Annotated[
                float | None, typer.Option(help="Minutes of that pause (default 60).", min=0.001)
            ],
            None,
        ),
        option(
            "trading_hours",
            Annotated[
                list[str] | None,
                typer.Option(
                    help="[SYMBOL=]HH:MM-HH:MM[,…] UTC: new entries only then (repeatable; "
                    "without SYMBOL: every symbol).",
                ),
            ],
            None,
        ),
    ]


def _limits(kw: dict[str, Any]) -> dict[str, Any]:
    """`RiskLimits` keywords of the given `_limit_options`."""
    from tradeforge.live.guards import hours_table

    raw = {
        "max_daily_loss_pct": kw["max_daily_loss"],
        "max_drawdown_pct": kw["max_drawdown"],
        "max_positions": kw["max_positions"],
        "stale_seconds": kw["stale_seconds"],
        "max_spread_pips": kw["max_spread"],
        "max_symbol_lots": kw["max_symbol_lots"],
        "max_total_lots": kw["max_total_lots"],
        "max_orders_per_minute": kw["max_orders_per_minute"],
        "max_deviation_pips": kw["max_deviation"],
        "max_slippage_pips": kw["max_slippage"],
        "slippage_pause_minutes": kw["slippage_pause"],
        "trading_hours": hours_table(kw["trading_hours"]) if kw["trading_hours"] else None,
    }
    return {k: v for k, v in raw.items() if v is not None}


def _mt5_login(login: int | None, server: str | None, password: str | None) -> dict[str, Any]:
    """``initialize()`` keywords of the given credentials (none: the terminal's own login)."""
    given = {"login": login, "server": server, "password": password}
    return {k: v for k, v in given.items() if v is not None}


def _replay_range(replay: str) -> tuple[str, str]:
    """``START:END`` (or ``START..END`` when the times carry colons) as two ISO strings."""
    start, sep, end = replay.partition("..") if ".." in replay else replay.partition(":")
    if not sep or not start or not end:
        raise ConfigError(f"--replay must be START:END (or START..END), got {replay!r}")
    parse_time(start, "--replay start")
    parse_time(end, "--replay end")
    return start, end


def _print_summary(state_dir: Path) -> None:
    from tradeforge.live.engine import engine_summary
    from tradeforge.live.schema import check_engine_state
    from tradeforge.live.state import StateRepository

    repo = StateRepository(state_dir, validate=check_engine_state)
    from tradeforge.live.health import read_health

    state, report = repo.load(heal=False)  # read-only observer: no lock, no writes
    summary = engine_summary(state)
    if (state_dir / "health.json").exists():  # live sessions: the monitor's last verdict
        verdict, doc = read_health(state_dir)
        summary["health"] = {"status": verdict, **{k: doc.get(k) for k in _HEALTH_KEYS}}
    console.print(f"[bold]state[/]: {report.message()}", highlight=False, soft_wrap=True)
    console.print_json(json.dumps(summary, default=str))


_HEALTH_KEYS = ("reason", "updated", "last_event", "link", "guards", "holds", "last_error")


def _paper_live(
    state: Path, feed: str, strategy: str | None, param: list[str] | None,
    config: Path | None, symbol: str | None, timeframe: str | None, window: int | None,
    exit_mode: str, leverage: float, kw: dict[str, Any], endpoint: tuple[Any, ...],
    terminal: dict[str, Any], given_symbol: str | None, health: list[str] | None,
    health_interval: float, accept_state_loss: bool, notify: Any,
) -> None:  # fmt: skip
    """``dry-run --feed ctrader|mt5``: the paper broker on a live feed (``terminal``: the MT5
    options — ``login``/``server``/``password_env``/``password_file``/``path``/
    ``server_time``)."""
    from tradeforge.live.health import health_rules
    from tradeforge.live.runner import run_paper, trades_frame
    from tradeforge.strategy.registry import resolve_strategy
    from tradeforge.trading.spec import LiveSettings

    if feed not in ("ctrader", "mt5"):
        raise ConfigError(f"unknown --feed {feed!r}; use replay, ctrader or mt5")
    if not (symbol and timeframe):
        raise ConfigError(f"dry-run --feed {feed} needs --symbol and --timeframe")
    live = LiveSettings(
        window=window, exit_mode=exit_mode, max_lots=kw["max_lots"], leverage=leverage,
        limits=_limits(kw),
    )  # fmt: skip
    strat = resolve_strategy(strategy, param or [], config)
    spec = run_spec(kw, strat, symbols=[symbol], timeframe=timeframe, live=live)
    engine = run_paper(
        state, spec, feed=feed, echo=_echo, accept_state_loss=accept_state_loss,
        observer=session_notifier(notify), health=health_rules(health),
        health_interval=health_interval,
        **_feed_connection(feed, endpoint, terminal, symbol, given_symbol),
    )  # fmt: skip
    trades = trades_frame(state)
    console.print(
        f"[bold]paper[/] {engine.cfg.strategy_name} {engine.symbol} {engine.tf} on the {feed} "
        f"feed: {len(trades)} closed trade(s), P&L {trades['pnl'].sum():,.2f}, "
        f"balance {engine.broker.account().balance:,.2f}; state in {state}"
    )


def _feed_connection(
    feed: str, endpoint: tuple[Any, ...], terminal: dict[str, Any], symbol: str,
    given_symbol: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The connection keywords of a paper session's live ``feed`` (``symbol``: the one the
    broker-symbol option names)."""
    name = broker_symbol(feed, given_symbol)
    if feed == "ctrader":
        return {"ctrader": ctrader_login(*endpoint, symbol, name)}
    password = mt5_password(terminal["password_env"], terminal["password_file"])
    return {
        "login": _mt5_login(terminal["login"], terminal["server"], password),
        "mt5": mt5_terminal(
            symbol, login=None, password=None, server=None, path=terminal["path"],
            server_time=terminal["server_time"], broker_symbol=name,
        ),
    }  # fmt: skip


def _paper_session(
    state: Path, session_file: Path | None, feed: str, endpoint: tuple[Any, ...],
    terminal: dict[str, Any], given_symbol: str | None, health: list[str] | None,
    health_interval: float, accept_state_loss: bool, notify: Any,
) -> None:  # fmt: skip
    """``dry-run --feed ctrader|mt5 --session FILE`` (or a restart of one): every instance on
    one paper account, fed by the live connection."""
    from tradeforge.live.health import health_rules
    from tradeforge.live.runner import trades_frame
    from tradeforge.live.session import load_session
    from tradeforge.live.session_runner import resolve_session, run_paper_session

    if feed not in ("ctrader", "mt5"):
        raise ConfigError(f"unknown --feed {feed!r}; use replay, ctrader or mt5")
    given = load_session(session_file) if session_file is not None else None
    spec, _ = resolve_session(Path(state), given)
    if given_symbol and len(spec.symbols) > 1:
        raise ConfigError(
            "--broker-symbol names the broker's symbol of a one-symbol session; this one "
            f"trades {', '.join(spec.symbols)}"
        )
    connection = _feed_connection(feed, endpoint, terminal, spec.symbols[0], given_symbol)
    engine = run_paper_session(
        state, spec, feed=feed, echo=_echo, accept_state_loss=accept_state_loss,
        observer=session_notifier(notify), health=health_rules(health),
        health_interval=health_interval, **connection,
    )  # fmt: skip
    trades = trades_frame(state)
    _print_instances(engine)
    console.print(
        f"[bold]paper[/] session of {len(engine.contexts)} strategies on the {feed} feed: "
        f"{len(trades)} closed trade(s), P&L {trades['pnl'].sum():,.2f}, balance "
        f"{engine.broker.account().balance:,.2f}; state in {state}"
    )


def _print_instances(engine: Any) -> None:
    """One line per instance of a session: its closed trades and realised P&L."""
    for name, book in engine.current.strategies.items():
        ident = book.identity
        console.print(
            f"  {name} ({ident.strategy} {ident.symbol} {ident.timeframe}): "
            f"{book.stats.trades} closed trade(s), P&L {book.stats.realized:,.2f}",
            highlight=False,
        )


def _session_only(given: dict[str, Any], kw: dict[str, Any], options: list[Any]) -> None:
    """Refuse single-strategy options beside ``--session`` (the file holds the settings)."""
    named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v]
    named += [
        f"--{p.name.replace('_', '-')}" for p in options if kw.get(p.name, p.default) != p.default
    ]
    if named:
        raise ConfigError(
            f"--session takes its settings from the file; drop {', '.join(sorted(named))}"
        )


def _dry_run_session(
    state: Path, session_file: Path | None, accept_state_loss: bool, notify: Any
) -> None:
    """``dry-run --session FILE`` (or a restart of one): every instance in one engine."""
    from tradeforge.backtest.io import write_trades_csv
    from tradeforge.live.runner import trades_frame
    from tradeforge.live.session import load_session
    from tradeforge.live.session_runner import session_dry_run, strategy_trades

    session = load_session(session_file) if session_file is not None else None
    with (
        replay_progress() as progress,
        session_dry_run(
            state,
            session,
            echo=_echo,
            accept_state_loss=accept_state_loss,
            observer=session_notifier(notify),
            progress=progress,
        ) as engine,
    ):  # the trade files are written under the session's lock
        trades = trades_frame(state)
        csv_path = write_trades_csv(trades, Path(state) / "trades.csv")
        own = strategy_trades(state)
        for name, frame in own.items():
            write_trades_csv(frame, Path(state) / f"trades-{name}.csv")
    _print_instances(engine)
    console.print(
        f"[bold]dry-run[/] session of {len(engine.contexts)} strategies: {len(trades)} closed "
        f"trade(s), P&L {trades['pnl'].sum():,.2f}, balance "
        f"{engine.broker.account().balance:,.2f}; state in {state}; closed trades in {csv_path} "
        "(per strategy: trades-<name>.csv)"
    )


def register(app: typer.Typer) -> None:
    """Add ``dry-run``, ``live``, ``status`` and ``kill`` to the root app."""

    @app.command("dry-run")
    @with_options(
        [], [*run_options(sizing="risk:1", account=False, portfolio=False), *_limit_options(None)]
    )
    def dry_run(
        state: StateOption,
        strategy: StrategyOpt = None,
        param: ParamOpt = None,
        config: ConfigOpt = None,
        symbol: SymbolOpt = None,
        timeframe: TimeframeOpt = None,
        replay: Annotated[
            str | None,
            typer.Option(
                help="START:END of the replay, e.g. 2024-01-01:2024-03-31 (START..END with times)."
            ),
        ] = None,
        bars: Annotated[
            Path | None, typer.Option(help="Parquet file of bars (else the cache).")
        ] = None,
        window: WindowOpt = None,
        leverage: Annotated[float, typer.Option(callback=positive)] = 100.0,
        close_at_end: Annotated[bool, typer.Option(help="Close open trades at the end.")] = False,
        exit_mode: Annotated[
            str,
            typer.Option(
                help="'bar': exits on closed bars, as the backtest; 'tick': on every synthetic "
                "quote of the bar, as live trading does."
            ),
        ] = "bar",
        pace: Annotated[float, typer.Option(help="Seconds per bar (0: full speed).", min=0)] = 0.0,
        feed: Annotated[
            str,
            typer.Option(
                help="'replay' (history, --replay) or a live feed: 'ctrader' (--host, "
                "--account-id, credentials as for live) or 'mt5' (the running terminal; "
                "--login, --server, --terminal-path, --server-time as for live)."
            ),
        ] = "replay",
        host: CTraderHostOption = DEFAULT_HOST,
        account_id: AccountIdOption = None,
        ca_file: CaFileOption = None,
        token_file: TokenFileOption = None,
        given_symbol: BrokerSymbolAnyOption = None,
        login: LoginOption = None,
        server: ServerOption = None,
        password_env: PasswordEnvOption = "MT5_PASSWORD",
        password_file: PasswordFileOption = None,
        terminal_path: TerminalPathOption = None,
        server_time: ServerTimeOption = "auto",
        health: HealthOpt = None,
        health_interval: HealthIntervalOpt = 1.0,
        accept_state_loss: AcceptLossOpt = False,
        notify: NotifyOption = None,
        home: HomeOption = None,
        instruments: InstrumentsOption = None,
        session: SessionOpt = None,
        **kw: Any,
    ) -> None:
        """Replay history through the live engine with a paper broker (resumable: run it again
        with only --state to continue after a stop or crash), or paper-trade a live feed
        (--feed ctrader|mt5: real-time quotes, paper fills; stop with `tradeforge kill`).
        --session FILE runs several strategy instances on one paper account, on a replay or
        a live feed."""
        from tradeforge.backtest.io import write_trades_csv
        from tradeforge.live.runner import dry_run_session, trades_frame
        from tradeforge.strategy.registry import resolve_strategy
        from tradeforge.trading.spec import LiveSettings

        load_instruments(instruments)
        from tradeforge.live.session import SESSION_FILE

        terminal = {"login": login, "server": server, "password_env": password_env,
                    "password_file": password_file, "path": terminal_path,
                    "server_time": server_time}  # fmt: skip
        if session is not None or (Path(state) / SESSION_FILE).exists():
            given = {"strategy": strategy, "param": param, "config": config, "symbol": symbol,
                     "timeframe": timeframe, "replay": replay, "bars": bars, "window": window,
                     "home": home}  # fmt: skip
            options = [*run_options(sizing="risk:1", account=False, portfolio=False),
                       *_limit_options(None)]  # fmt: skip
            _session_only(given, kw, options)
            if feed != "replay":
                _paper_session(state, session, feed, (host, account_id, ca_file, token_file),
                               terminal, given_symbol, health, health_interval,
                               accept_state_loss, notify)  # fmt: skip
                return
            _dry_run_session(state, session, accept_state_loss, notify)
            return
        if feed != "replay":
            _paper_live(state, feed, strategy, param, config, symbol, timeframe, window,
                        exit_mode, leverage, kw, (host, account_id, ca_file, token_file),
                        terminal, given_symbol, health, health_interval, accept_state_loss,
                        notify)  # fmt: skip
            return
        spec = None
        if strategy or config or symbol or replay:
            if not (symbol and timeframe and replay):
                raise ConfigError("dry-run needs --symbol, --timeframe and --replay START:END")
            start, end = _replay_range(replay)
            live = LiveSettings(
                window=window,
                exit_mode=exit_mode,
                close_at_end=close_at_end,
                max_lots=kw["max_lots"],
                leverage=leverage,
                limits=_limits(kw),
                pace=pace,
                bars_file=str(bars) if bars else None,
                home=str(home) if home else None,
            )
            strat = resolve_strategy(strategy, param or [], config)
            spec = run_spec(
                kw, strat, symbols=[symbol], timeframe=timeframe, start=start, end=end, live=live
            )
        observer = session_notifier(notify)
        with (
            replay_progress() as progress,
            dry_run_session(
                state,
                spec,
                echo=_echo,
                accept_state_loss=accept_state_loss,
                observer=observer,
                progress=progress,
            ) as engine,
        ):  # trades.csv is written under the session's lock
            trades = trades_frame(state)
            csv_path = write_trades_csv(trades, Path(state) / "trades.csv")
        console.print(
            f"[bold]dry-run[/] {engine.cfg.strategy_name} {engine.symbol} {engine.tf}: "
            f"{len(trades)} closed trade(s), P&L {trades['pnl'].sum():,.2f}, "
            f"balance {engine.broker.account().balance:,.2f}; state in {state}; "
            f"closed trades in {csv_path}"
        )
        if engine.state["stats"]["trades"] != len(trades):  # only after --accept-state-loss
            console_err.print(
                f"[bold yellow]warning:[/] history incomplete: the session closed "
                f"{engine.state['stats']['trades']} trade(s), the journal (trades.csv and the "
                f"P&L above) holds {len(trades)}; see the start decision in decisions.jsonl"
            )

    @app.command("live")
    @with_options([], _limit_options(30.0))
    def live(
        state: StateOption,
        broker: Annotated[
            str, typer.Option(help="Broker adapter: mt5 (Windows) or ctrader (Open API).")
        ] = "mt5",
        strategy: StrategyOpt = None,
        param: ParamOpt = None,
        config: ConfigOpt = None,
        symbol: SymbolOpt = None,
        timeframe: TimeframeOpt = None,
        window: WindowOpt = None,
        sizing: Annotated[str, typer.Option(help="risk:PCT or fixed:LOTS.")] = "risk:1",
        magic: Annotated[int, typer.Option(help="MT5 magic number of this session.")] = 240_601,
        accept_state_loss: AcceptLossOpt = False,
        login: LoginOption = None,
        server: ServerOption = None,
        password_env: PasswordEnvOption = "MT5_PASSWORD",
        password_file: PasswordFileOption = None,
        terminal_path: TerminalPathOption = None,
        server_time: ServerTimeOption = "auto",
        given_symbol: BrokerSymbolAnyOption = None,
        host: CTraderHostOption = DEFAULT_HOST,
        account_id: AccountIdOption = None,
        ca_file: CaFileOption = None,
        token_file: TokenFileOption = None,
        health: HealthOpt = None,
        health_interval: HealthIntervalOpt = 1.0,
        notify: NotifyOption = None,
        instruments: InstrumentsOption = None,
        session: SessionOpt = None,
        **kw: Any,
    ) -> None:
        """Trade through a real broker: a MetaTrader 5 terminal (Windows only) or a cTrader
        account over the Open API (--host, --account-id; CTRADER_CLIENT_ID,
        CTRADER_CLIENT_SECRET and CTRADER_ACCESS_TOKEN or --token-file). --session FILE runs
        several strategy instances on one account, on any number of symbols."""
        from tradeforge.live.health import health_rules
        from tradeforge.live.runner import run_live
        from tradeforge.strategy.registry import resolve_strategy
        from tradeforge.trading.execution import Sizing
        from tradeforge.trading.spec import LiveSettings, RunSpec

        load_instruments(instruments)
        if broker not in ("mt5", "ctrader"):
            raise ConfigError(f"unknown broker {broker!r}; available: mt5, ctrader")
        rules = health_rules(health)
        from tradeforge.live.session import SESSION_FILE

        if session is not None or (Path(state) / SESSION_FILE).exists():
            from tradeforge.live.session import load_session
            from tradeforge.live.session_runner import resolve_session, run_live_session

            given = {"strategy": strategy, "param": param, "config": config, "symbol": symbol,
                     "timeframe": timeframe, "window": window}  # fmt: skip
            _session_only(given, kw, _limit_options(30.0))
            spec, _ = resolve_session(
                Path(state), load_session(session) if session is not None else None
            )
            if given_symbol and len(spec.symbols) > 1:
                raise ConfigError(
                    "--broker-symbol names the broker's symbol of a one-symbol session; this "
                    f"one trades {', '.join(spec.symbols)}"
                )
            connection: dict[str, Any] = {}
            if broker == "ctrader":
                connection["ctrader"] = ctrader_login(
                    host,
                    account_id,
                    ca_file,
                    token_file,
                    spec.symbols[0],
                    broker_symbol(broker, given_symbol),
                )
            else:
                connection["login"] = _mt5_login(
                    login, server, mt5_password(password_env, password_file)
                )
                connection["mt5"] = mt5_terminal(
                    spec.symbols[0], login=None, password=None, server=None,
                    path=terminal_path, server_time=server_time,
                    broker_symbol=broker_symbol("mt5", given_symbol),
                )  # fmt: skip
            run_live_session(
                state, spec, broker=broker, magic=magic, echo=_echo,
                accept_state_loss=accept_state_loss, observer=session_notifier(notify),
                health=rules, health_interval=health_interval, **connection,
            )  # fmt: skip
            return
        if not (symbol and timeframe):
            raise ConfigError("live needs --symbol and --timeframe")
        live = LiveSettings(
            window=window, exit_mode="tick", max_lots=kw["max_lots"], limits=_limits(kw)
        )
        spec = RunSpec.for_strategy(
            resolve_strategy(strategy, param or [], config),
            symbols=[symbol],
            timeframe=timeframe,
            sizing=Sizing.parse(sizing),
            live=live,
        )
        session: dict[str, Any] = {}
        name = broker_symbol(broker, given_symbol)
        if broker == "ctrader":
            session["ctrader"] = ctrader_login(host, account_id, ca_file, token_file, symbol, name)
        else:
            session["login"] = _mt5_login(login, server, mt5_password(password_env, password_file))
            session["mt5"] = mt5_terminal(
                symbol, login=None, password=None, server=None, path=terminal_path,
                server_time=server_time, broker_symbol=name,
            )  # fmt: skip
        run_live(
            state,
            spec,
            broker=broker,
            magic=magic,
            echo=_echo,
            accept_state_loss=accept_state_loss,
            observer=session_notifier(notify),
            health=rules,
            health_interval=health_interval,
            **session,
        )

    @app.command("status")
    def status(state: StateOption) -> None:
        """Positions, P&L and guard state of a session."""
        _print_summary(state)

    @app.command("health")
    def health_cmd(state: StateOption) -> None:
        """Health of a running live session as JSON (feed, broker link, latency, rejects,
        clock skew, loop, guards, last error); exit 0 healthy, 1 degraded, 2 down."""
        from tradeforge.live.health import STATUS_CODES, read_health

        verdict, doc = read_health(state)
        typer.echo(json.dumps({"status": verdict, **doc}, sort_keys=True, default=str))
        raise typer.Exit(STATUS_CODES[verdict])

    @app.command("kill")
    def kill(
        state: StateOption,
        reason: Annotated[str, typer.Option(help="Recorded in the journal.")] = "operator",
    ) -> None:
        """Kill switch: the running session closes everything and stops trading."""
        from tradeforge.live.guards import request_kill

        path = request_kill(state, reason)
        console.print(f"kill switch set ({path}); the engine closes everything on its next event")
