"""``tradeforge data …``: synthesise, import, download, resample, list and show cached bars."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tradeforge.cli.common import (
    HomeOption,
    InstrumentsOption,
    LoginOption,
    PasswordEnvOption,
    PasswordFileOption,
    ServerOption,
    command_group,
    console,
    home_dir,
    iso_time,
    load_instruments,
    mt5_password,
    stages,
    symbol_names,
)
from tradeforge.cli.ctrader import (
    DEFAULT_HOST,
    AccountIdOption,
    CaFileOption,
    CTraderHostOption,
    TokenFileOption,
    ctrader_connection,
)
from tradeforge.cli.mt5 import (
    BrokerSymbolOption,
    ServerTimeOption,
    TerminalPathOption,
    mt5_terminal,
)
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.core.instruments import get_instrument
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.data.cache import ParquetStore

if TYPE_CHECKING:
    import pandas as pd

app = command_group("Get, store and inspect OHLCV bars.")

SymbolOption = Annotated[
    str,
    typer.Option("--symbol", "-s", help="Instrument symbol, e.g. EURUSD.", callback=symbol_names),
]
TimeframeOption = Annotated[
    str, typer.Option("--timeframe", "-t", help="M1, M5, M15, M30, H1, H4, D1, W1.")
]
StartOption = Annotated[
    str,
    typer.Option(
        "--start", help="First bar open time (ISO 8601, UTC), e.g. 2019-01-01.", callback=iso_time
    ),
]
EndOption = Annotated[
    str,
    typer.Option("--end", help="End (exclusive, UTC), e.g. 2025-12-31.", callback=iso_time),
]


def _store(home: Path | None) -> ParquetStore:
    return ParquetStore(home_dir(home))


@app.command("synth")
def synth(
    symbol: SymbolOption = "EURUSD",
    timeframe: TimeframeOption = "M5",
    start: StartOption = "2019-01-01",
    end: EndOption = "2026-01-01",
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 42,
    calendar: Annotated[
        str, typer.Option(help="'fx' (Sun 22:00–Fri 22:00 UTC) or 'continuous'.")
    ] = "fx",
    home: HomeOption = None,
    instruments: InstrumentsOption = None,
) -> None:
    """Generate seeded synthetic FX-like bars into the cache."""
    from tradeforge.data.sources.synthetic import SyntheticParams, generate_bars

    load_instruments(instruments)
    tf = Timeframe.parse(timeframe)
    with stages(f"synth {symbol} {tf} {start} → {end}") as stage:
        stage("generating bars")
        frame = generate_bars(
            symbol, tf, start, end, seed=seed, params=SyntheticParams(calendar=calendar)
        )
        stage(f"writing {len(frame):,} bars to the cache")
        _store(home).write(symbol, tf, frame, source=f"synthetic(seed={seed},calendar={calendar})")
    console.print(
        f"wrote {len(frame):,} {tf} bars of {symbol.upper()} ({frame.index[0]} → {frame.index[-1]})"
    )


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file.", exists=True, dir_okay=False)],
    symbol: SymbolOption,
    timeframe: TimeframeOption,
    fmt: Annotated[
        str, typer.Option("--format", help="auto, mt5, mt4, dukascopy, generic, parquet.")
    ] = "auto",
    tz: Annotated[
        str, typer.Option("--tz", help="Time zone of naive timestamps in the file.")
    ] = "UTC",
    point: Annotated[
        float | None,
        typer.Option(help="Price of one point (MT5 spreads), if not the instrument's."),
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option(
            help="strptime format of the file's dates, e.g. '%d.%m.%Y' (the date column, or "
            "the whole time column when the file has one); default: detected, ISO 8601."
        ),
    ] = None,
    home: HomeOption = None,
    instruments: InstrumentsOption = None,
) -> None:
    """Import bars from a file (MetaTrader, Dukascopy CSV, generic CSV, Parquet) into the cache.

    Finer bars than --timeframe are resampled; coarser ones are an error."""
    from tradeforge.data.sources.files import FileSource

    load_instruments(instruments)
    get_instrument(symbol)
    tf = Timeframe.parse(timeframe)
    with stages(f"import {file.name}") as stage:
        stage("reading and checking the bars")
        source = FileSource(file, format=fmt, tz=tz, point=point, date_format=date_format)
        frame = source.fetch(symbol, tf)
        stage(f"writing {len(frame):,} bars to the cache")
        _store(home).write(symbol, tf, frame, source=f"file:{file.name}")
    console.print(f"imported {len(frame):,} {tf} bars of {symbol.upper()} from {file}")


@app.command("mt5")
def mt5(
    symbol: SymbolOption,
    timeframe: TimeframeOption,
    start: StartOption,
    end: EndOption,
    login: LoginOption = None,
    password_env: PasswordEnvOption = "MT5_PASSWORD",
    password_file: PasswordFileOption = None,
    password: Annotated[
        str | None,
        typer.Option(help="Account password (visible in the process list: prefer the above)."),
    ] = None,
    server: ServerOption = None,
    terminal_path: TerminalPathOption = None,
    server_time: ServerTimeOption = "auto",
    broker_symbol: BrokerSymbolOption = None,
    home: HomeOption = None,
    instruments: InstrumentsOption = None,
) -> None:
    """Fetch bars from a MetaTrader 5 terminal (Windows; `pip install MetaTrader5`) into the cache."""
    from tradeforge.data.sources.mt5 import MT5Source

    load_instruments(instruments)
    get_instrument(symbol)
    tf = Timeframe.parse(timeframe)
    secret = mt5_password(password_env, password_file, password)
    terminal = mt5_terminal(
        symbol, login=login, password=secret, server=server, path=terminal_path,
        server_time=server_time, broker_symbol=broker_symbol,
    )  # fmt: skip
    source = MT5Source(terminal=terminal)
    with stages(f"fetching {symbol.upper()} {tf} from MetaTrader 5"):
        frame = source.fetch(symbol, tf, to_utc(start, "start"), to_utc(end, "end"))
        _store(home).write(symbol, tf, frame, source="mt5")
    console.print(f"cached {len(frame):,} {tf} bars of {symbol.upper()} from MetaTrader 5")


@app.command("download")
def download(
    symbol: SymbolOption,
    start: StartOption,
    end: EndOption,
    timeframe: TimeframeOption = "M1",
    mode: Annotated[
        str,
        typer.Option(
            help="'auto' (the JSON API's ticks, else the bi5 datafeed's; the mode used is "
            "recorded with the cached bars), 'ticks' / 'candles' (bi5 datafeed: hourly ticks / "
            "daily M1 candles) or 'json' / 'json-candles' (the same from the JSON API; "
            "--base-url then names its root). cTrader: 'auto' (trendbars) or 'ticks' (bid and "
            "ask ticks, kept in the tick cache, made into bars with a spread column)."
        ),
    ] = "auto",
    base_url: Annotated[
        str | None,
        typer.Option(help="Dukascopy bi5 datafeed base URL (alone in auto mode: bi5 only)."),
    ] = None,
    json_base_url: Annotated[
        str | None, typer.Option(help="Dukascopy JSON API base URL (auto mode).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Concurrent downloads.", min=1)] = 4,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds for the whole download: when they run out, stop, keep the complete "
            "files and name the range still missing (re-run to resume; cTrader: nothing is "
            "cached).",
            min=0.001,
        ),
    ] = None,
    home: HomeOption = None,
    instruments: InstrumentsOption = None,
    source: Annotated[
        str,
        typer.Option(help="'dukascopy' or 'ctrader' (an account's trendbars, M1 ... D1)."),
    ] = "dukascopy",
    host: CTraderHostOption = DEFAULT_HOST,
    account_id: AccountIdOption = None,
    ca_file: CaFileOption = None,
    token_file: TokenFileOption = None,
    broker_symbol: Annotated[
        str | None,
        typer.Option(
            envvar="CTRADER_BROKER_SYMBOL",
            help="The broker's name of the symbol (cTrader), if different (or "
            "CTRADER_BROKER_SYMBOL).",
        ),
    ] = None,
) -> None:
    """Download bars into the cache: Dukascopy (resumable; valid cached raw files are skipped;
    bid bars with a spread column) or a cTrader account's trendbars (bid, no spread)."""
    from tradeforge.cli.common import progress_bar
    from tradeforge.data.download import UNFINISHED, UnreachableError
    from tradeforge.data.sources.dukascopy import DukascopySource

    load_instruments(instruments)
    get_instrument(symbol)
    if source == "ctrader":
        if mode not in ("auto", "ticks") or base_url or json_base_url:
            raise ConfigError(
                "--source ctrader takes --mode auto (trendbars) or ticks; --base-url and "
                "the other modes are Dukascopy's"
            )
        connection = ctrader_connection(host, account_id, ca_file, token_file)
        _download_ctrader(
            symbol, timeframe, start, end, home, timeout, broker_symbol, connection, mode == "ticks"
        )
        return
    if source != "dukascopy":
        raise ConfigError(f"unknown --source {source!r}; use 'dukascopy' or 'ctrader'")
    root = home_dir(home)
    tf = Timeframe.parse(timeframe)
    start_ts, end_ts = to_utc(start, "start"), to_utc(end, "end")
    kwargs = {"cache_dir": root / "raw" / "dukascopy", "max_concurrency": workers, "mode": mode}
    if base_url:
        kwargs["base_url"] = base_url
    if json_base_url:
        kwargs["json_base_url"] = json_base_url
    with progress_bar(f"downloading {symbol.upper()}", None) as advance:
        source = DukascopySource(**kwargs, on_progress=lambda done, total: advance(1, total))
        try:
            report = source.download(symbol, start_ts, end_ts, time_limit=timeout)
        except UnreachableError as exc:
            raise DataError(f"{exc} — check the network or --base-url") from None
    console.print(f"{report.summary()} (mode {source.used_mode})", soft_wrap=True)
    problems = []
    if report.failed:
        problems.append(f"{report.failed} file(s) failed, first: {report.errors[0]}")
    if report.unfinished:
        files = source.files(symbol, start_ts, end_ts)
        late = [f for f, r in zip(files, report.results, strict=True) if r.status == UNFINISHED]
        problems.append(
            f"--timeout {timeout:g} s ran out with {report.unfinished} file(s) not fetched, "
            f"between {late[0].start} and {late[-1].end}"
        )
    if problems:
        raise DataError("; ".join(problems) + " (complete files are kept; re-run to resume)")
    used = source.used_mode or mode
    frame = DukascopySource(**{**kwargs, "mode": used}).fetch(symbol, tf, start_ts, end_ts)
    ParquetStore(root).write(symbol, tf, frame, source=f"dukascopy:{used}")
    console.print(f"cached {len(frame):,} {tf} bars of {symbol.upper()}")


def _download_ctrader(
    symbol: str,
    timeframe: str,
    start: str,
    end: str,
    home: Path | None,
    timeout: float | None,
    broker_symbol: str | None,
    connection: tuple,
    ticks: bool,
) -> None:
    from tradeforge.data.sources.ctrader import CTraderSource

    credentials, account_id, settings, on_token = connection
    tf = Timeframe.parse(timeframe)
    names = {symbol: broker_symbol} if broker_symbol else None
    source = CTraderSource(
        credentials, account_id, settings, symbols=names, time_limit=timeout, on_token=on_token
    )
    lo, hi = to_utc(start, "start"), to_utc(end, "end")
    if ticks:
        _download_ctrader_ticks(source, symbol, tf, lo, hi, home)
        return
    with stages(f"downloading {symbol.upper()} {tf} from cTrader {settings.endpoint}"):
        frame = source.fetch(symbol, tf, lo, hi)
        _store(home).write(symbol, tf, frame, source="ctrader")
    console.print(f"cached {len(frame):,} {tf} bars of {symbol.upper()} from cTrader")


def _download_ctrader_ticks(
    source: Any, symbol: str, tf: Timeframe, lo: Any, hi: Any, home: Path | None
) -> None:
    """Ticks into the tick cache, and bars with a spread column built from them (M1, then
    ``tf``) into the bar cache."""
    from tradeforge.data.resample import resample_ohlcv
    from tradeforge.data.tick_cache import TickCache
    from tradeforge.data.ticks import paired_quotes, ticks_to_m1

    if lo is None or hi is None or hi <= lo:
        raise ConfigError("--start must be before --end")
    cache = TickCache(home_dir(home), "ctrader")
    with stages(f"downloading {symbol.upper()} ticks from cTrader {source.settings.endpoint}"):
        events = source.fetch_ticks(symbol, lo, hi)
        cache.write(symbol, events, lo, hi)
        # bars of the whole days touched, from every tick cached for them (a quote pairs with
        # the other side's last tick, which may precede this download)
        quotes = paired_quotes(cache.load(symbol, lo.floor("D"), hi.ceil("D")))
        bars = ticks_to_m1(quotes)
        if tf.name != "M1":
            bars = resample_ohlcv(bars, tf)
        _store(home).write(symbol, tf, bars, source="ctrader:ticks")
    console.print(
        f"cached {len(events):,} ticks of {symbol.upper()} from cTrader; {len(bars):,} {tf} "
        "bars made from the cached ticks (with spread)"
    )


@app.command("resample")
def resample(
    symbol: SymbolOption,
    source_tf: Annotated[str, typer.Option("--from", help="Source timeframe in the cache.")],
    target_tf: Annotated[str, typer.Option("--to", help="Target (coarser) timeframe.")],
    week_start: Annotated[
        str, typer.Option(help="Weekday weekly bars open on (MON … SUN).")
    ] = "MON",
    home: HomeOption = None,
) -> None:
    """Resample cached bars to a coarser timeframe and cache the result."""
    from tradeforge.data.resample import resample_ohlcv

    store = _store(home)
    src, dst = Timeframe.parse(source_tf), Timeframe.parse(target_tf)
    frame = resample_ohlcv(store.load(symbol, src), dst, week_start=week_start)
    store.write(symbol, dst, frame, source=f"resample:{src}")
    console.print(f"wrote {len(frame):,} {dst} bars of {symbol.upper()} from {src}")


@app.command("list")
def list_cache(home: HomeOption = None) -> None:
    """List cached symbols, timeframes, ranges, rows and sizes."""
    unreadable: list[DataError] = []
    store = _store(home)
    _print_summary(store.summary(unreadable), store.root)
    if unreadable:  # listed what still reads; the damage is an error all the same
        raise DataError("; ".join(str(e) for e in unreadable))


def _print_summary(summary: pd.DataFrame, root: Path) -> None:
    if summary.empty:
        console.print("the cache is empty; try `tradeforge data synth`")
        return
    table = Table(title=f"cached bars in {root}")
    for col in ("symbol", "timeframe", "first", "last", "rows", "size", "source"):
        table.add_column(col, justify="right" if col in ("rows", "size") else "left")
    for row in summary.itertuples(index=False):
        table.add_row(
            row.symbol,
            row.timeframe,
            f"{row.first:%Y-%m-%d %H:%M}",
            f"{row.last:%Y-%m-%d %H:%M}",
            f"{row.rows:,}",
            f"{row.bytes / 1e6:.1f} MB",
            row.source,
        )
    console.print(table)


@app.command("repair")
def repair(
    symbol: SymbolOption,
    timeframe: TimeframeOption,
    year: Annotated[int | None, typer.Option(help="Only this year's partition.")] = None,
    home: HomeOption = None,
) -> None:
    """Move unreadable cached partitions aside (to <YEAR>.parquet.corrupt-<time>) so the
    range can be imported or downloaded again."""
    from tradeforge.data.cache_repair import repair_partitions

    tf = Timeframe.parse(timeframe)
    report = repair_partitions(_store(home), symbol, tf, year)
    for q in report.quarantined:
        console.print(f"moved unreadable {q.path} to {q.moved_to} ({q.reason})", soft_wrap=True)
    if report.stale_temp_files:
        console.print(f"removed {report.stale_temp_files} temporary file(s) of killed writers")
    if not report.quarantined:
        console.print(f"all {report.checked} {tf} partition(s) of {symbol.upper()} are readable")
        return
    years = ", ".join(str(q.year) for q in report.quarantined)
    console.print(
        f"re-import or re-download {symbol.upper()} {tf} for {years}, e.g. `tradeforge data "
        f"download -s {symbol.upper()} -t {tf} --start {report.quarantined[0].year}-01-01 "
        f"--end {report.quarantined[0].year + 1}-01-01`",
        soft_wrap=True,
    )


@app.command("show")
def show(
    symbol: SymbolOption,
    timeframe: TimeframeOption,
    start: Annotated[str | None, typer.Option(help="From (UTC).", callback=iso_time)] = None,
    end: Annotated[str | None, typer.Option(help="To, exclusive (UTC).", callback=iso_time)] = None,
    rows: Annotated[
        int, typer.Option("--rows", "-n", min=1, help="Rows to show from each end.")
    ] = 5,
    home: HomeOption = None,
) -> None:
    """Show the first and last cached bars of a symbol and timeframe."""
    digits = get_instrument(symbol).digits
    frame = _store(home).load(symbol, timeframe, start, end)
    table = Table(title=f"{symbol.upper()} {Timeframe.parse(timeframe)} — {len(frame):,} bars")
    table.add_column("time (UTC)")
    for col in frame.columns:
        table.add_column(col, justify="right")
    shown = (
        frame if len(frame) <= 2 * rows else frame.iloc[list(range(rows)) + list(range(-rows, 0))]
    )
    for i, (ts, values) in enumerate(shown.iterrows()):
        if len(frame) > 2 * rows and i == rows:
            table.add_row("…", *["…"] * len(frame.columns))
        cells = [
            f"{v:.{digits + (1 if c == 'spread' else 0)}f}" if c != "volume" else f"{v:,.0f}"
            for c, v in values.items()
        ]
        table.add_row(f"{ts:%Y-%m-%d %H:%M}", *cells)
    console.print(table)


def register(root: typer.Typer) -> None:
    """Add the ``data`` group to the root app."""
    root.add_typer(app, name="data")
