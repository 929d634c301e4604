"""Assemble and run a dry-run (engine + replay feed + paper broker) or a live session.

`DryRunSpec` is everything a dry-run needs; it is written to ``<state>/dryrun.json`` on the
first start so a restart (``tradeforge dry-run --state DIR`` again, or after a crash) continues
with the same configuration — a restart with a different one is refused. A session holds the
state directory's writer lock (`tradeforge.live.lock`) from before its first write to its end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.paths import user_path
from tradeforge.core.timeframes import Timeframe
from tradeforge.core.timeutil import to_utc
from tradeforge.live.brokers.paper import PAPER_FILE, PaperBroker
from tradeforge.live.engine import Engine, EngineConfig
from tradeforge.live.feeds import ReplayFeed
from tradeforge.live.guards import RiskLimits
from tradeforge.live.lock import StateLock
from tradeforge.live.persist import ensure_dir, read_document, write_document
from tradeforge.live.state import JOURNAL_FILE, StateRepository
from tradeforge.trading.execution import ExecutionModel, Sizing

SPEC_FILE = "dryrun.json"


@dataclass(frozen=True)
class DryRunSpec:
    strategy: str
    symbol: str
    timeframe: str
    start: str  # first replayed bar (UTC)
    end: str  # end of the replay (exclusive)
    params: dict[str, Any] = field(default_factory=dict)
    bars_file: str | None = None  # parquet of bars; else the cache under ``home``
    home: str | None = None
    window: int = 300
    sizing: str = "risk:1"
    spread: str | float = "data"
    slippage: str | None = None
    commission: float = 0.0
    swap_long: float = 0.0  # money per lot per night
    swap_short: float = 0.0
    slippage_seed: int = 0  # seed of random slippage
    capital: float = 100_000.0
    leverage: float = 100.0
    position_mode: str = "symbol"
    exit_mode: str = "bar"
    close_at_end: bool = False
    max_lots: float | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    pace: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def execution(self) -> ExecutionModel:
        return ExecutionModel(
            spread=self.spread,
            commission=self.commission,
            swap_long=self.swap_long,
            swap_short=self.swap_short,
            seed=self.slippage_seed,
            **ExecutionModel.parse_slippage(self.slippage),
        )

    def validate(self) -> None:
        """Refuse bad settings before a state directory stores them (a stored spec is reused
        by every restart, so a bad one would block the corrected run)."""
        if not self.capital > 0:
            raise ConfigError(f"capital must be > 0, got {self.capital}")
        if self.window < 1:
            raise ConfigError(f"window must be >= 1 bar, got {self.window}")
        if self.max_lots is not None and not self.max_lots > 0:
            raise ConfigError(f"max_lots must be > 0, got {self.max_lots}")
        to_utc(self.start, "start"), to_utc(self.end, "end")
        self.engine_config()

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            strategy_name=self.strategy,
            symbol=self.symbol.upper(),
            timeframe=Timeframe.parse(self.timeframe).name,
            window=self.window,
            sizing=Sizing.parse(self.sizing),
            execution=self.execution(),
            limits=RiskLimits(**self.limits),
            position_mode=self.position_mode,
            exit_mode=self.exit_mode,
            close_at_end=self.close_at_end,
            max_lots=self.max_lots,
            leverage=self.leverage,
        )


def load_bars(spec: DryRunSpec) -> pd.DataFrame:
    """The replay's bars plus ``window`` bars of history before ``start``."""
    tf = Timeframe.parse(spec.timeframe)
    start, end = to_utc(spec.start, "start"), to_utc(spec.end, "end")
    if spec.bars_file:
        from tradeforge.data.validate import validate_ohlcv

        frame = validate_ohlcv(pd.read_parquet(user_path(spec.bars_file)), spec.bars_file)
    else:
        from tradeforge.core.paths import resolve_home
        from tradeforge.data.cache import ParquetStore

        frame = ParquetStore(resolve_home(spec.home)).load(spec.symbol, tf, None, end)
    frame = frame[frame.index < end]
    first = int(frame.index.searchsorted(start))
    return frame.iloc[max(0, first - spec.window) :]


def resolve_spec(state_dir: Path, spec: DryRunSpec | None) -> tuple[DryRunSpec, bool]:
    """The spec stored in ``state_dir`` (restart) or the validated ``spec`` (first start), and
    whether it is new (not stored yet: `build_dry_run` stores it once its bars have loaded)."""
    path = Path(state_dir) / SPEC_FILE
    if path.exists():
        body = read_document(path)
        try:
            stored = DryRunSpec(**body)
        except TypeError as exc:
            raise StateError(f"{path}: malformed dry-run settings ({exc})") from None
        if spec is not None and spec.to_dict() != stored.to_dict():
            diff = sorted(k for k, v in spec.to_dict().items() if stored.to_dict()[k] != v)
            raise ConfigError(
                f"{state_dir} holds a dry-run with other settings ({', '.join(diff)}); "
                "restart it without options or use a new --state directory"
            )
        return stored, False
    if spec is None:
        raise ConfigError(f"{state_dir} holds no dry-run; give --strategy/--symbol/--replay")
    spec.validate()
    return spec, True


def build_dry_run(
    state_dir: str | Path,
    spec: DryRunSpec | None = None,
    echo=None,
    *,
    accept_state_loss: bool = False,
) -> Engine:
    from tradeforge.strategy.registry import create_strategy

    state_dir = Path(state_dir)
    spec, new = resolve_spec(state_dir, spec)
    frame = load_bars(spec)
    strategy = create_strategy(spec.strategy, spec.params)
    if new:  # stored only once it is known to run: a restart reuses it as it is
        ensure_dir(state_dir)
        write_document(state_dir / SPEC_FILE, spec.to_dict())
    cfg = spec.engine_config()
    feed = ReplayFeed(frame, cfg.symbol, cfg.timeframe, pace=spec.pace, play_from=spec.start)
    broker = PaperBroker(
        state_dir / PAPER_FILE,
        initial_balance=spec.capital,
        execution=cfg.execution,
        leverage=spec.leverage,
    )
    return Engine(
        cfg, strategy, feed, broker, state_dir, echo=echo, accept_state_loss=accept_state_loss
    )


@contextmanager
def dry_run_session(
    state_dir: str | Path,
    spec: DryRunSpec | None = None,
    echo=None,
    *,
    accept_state_loss: bool = False,
) -> Iterator[Engine]:
    """Run (or resume) a dry-run under the state directory's lock and yield the finished
    engine with the lock still held, so the caller exports its results before another writer
    may start."""
    state_dir = user_path(state_dir)
    with StateLock(state_dir):
        engine = build_dry_run(state_dir, spec, echo, accept_state_loss=accept_state_loss)
        engine.start()
        engine.run()
        yield engine


def run_dry(
    state_dir: str | Path,
    spec: DryRunSpec | None = None,
    echo=None,
    *,
    accept_state_loss: bool = False,
) -> Engine:
    with dry_run_session(state_dir, spec, echo, accept_state_loss=accept_state_loss) as engine:
        return engine


def run_live(
    state_dir: str | Path,
    *,
    strategy: str,
    params: dict[str, Any],
    symbol: str,
    timeframe: str,
    window: int = 300,
    sizing: str = "risk:1",
    max_lots: float | None = None,
    limits: dict[str, Any] | None = None,
    magic: int = 240_601,
    mt5: Any = None,
    feed: Any = None,
    echo=None,
    accept_state_loss: bool = False,
    login: dict[str, Any] | None = None,
) -> Engine:
    """Live trading through MetaTrader 5: exits on every tick (``exit_mode="tick"``), stops
    sent to the server, reconciliation with the terminal before the first order. ``login``
    (``login``/``password``/``server``) goes to the terminal's ``initialize()``."""
    from tradeforge.live.brokers.mt5 import MT5Broker, MT5Feed
    from tradeforge.strategy.registry import create_strategy

    state_dir = user_path(state_dir)
    with StateLock(state_dir):  # before connecting: a refused second session touches nothing
        broker = MT5Broker(mt5, magic=magic, **(login or {}))
        cfg = EngineConfig(
            strategy_name=strategy,
            symbol=symbol.upper(),
            timeframe=Timeframe.parse(timeframe).name,
            window=window,
            sizing=Sizing.parse(sizing),
            limits=RiskLimits(**(limits or {})),
            exit_mode="tick",
            max_lots=max_lots,
        )
        feed = feed or MT5Feed(broker.mt5, cfg.symbol, cfg.timeframe)
        engine = Engine(
            cfg,
            create_strategy(strategy, params),
            feed,
            broker,
            state_dir,
            replaying=False,
            echo=echo,
            accept_state_loss=accept_state_loss,
        )
        engine.start()
        engine.run()
    return engine


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
    spec = DryRunSpec(**json.loads(Path(args[1]).read_text())) if len(args) > 1 else None
    engine = run_dry(args[0], spec)
    print(json.dumps({"seq": engine.state["seq"], "journal": str(Path(args[0]) / JOURNAL_FILE)}))
    return 0
