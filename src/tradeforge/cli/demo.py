"""``tradeforge demo``: the main job on embedded default data, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradeforge.cli.backtest import run_demo_backtest
from tradeforge.cli.common import HomeOption, console, home_dir
from tradeforge.core.timeframes import Timeframe
from tradeforge.data.cache import ParquetStore

DEMO_SYMBOL = "EURUSD"
DEMO_TIMEFRAME = Timeframe.parse("H1")
DEMO_START, DEMO_END = "2019-01-01", "2026-01-01"


def ensure_demo_data(home: Path, seed: int = 42) -> ParquetStore:
    """Generate the embedded default data set (seeded synthetic H1 bars) if absent."""
    from tradeforge.data.sources.synthetic import generate_bars

    store = ParquetStore(home)
    if not store.has(DEMO_SYMBOL, DEMO_TIMEFRAME):
        frame = generate_bars(DEMO_SYMBOL, DEMO_TIMEFRAME, DEMO_START, DEMO_END, seed=seed)
        store.write(DEMO_SYMBOL, DEMO_TIMEFRAME, frame, source=f"synthetic(seed={seed})")
    return store


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        home: HomeOption = None,
        out: Annotated[Path, typer.Option(help="Run folder for the demo backtest.")] = Path(
            "runs/demo"
        ),
    ) -> None:
        """Generate demo data, then backtest `sma_cross` on it and report."""
        root = home_dir(home)
        with console.status("preparing demo data (seeded synthetic EURUSD H1, 2019–2025)"):
            store = ensure_demo_data(root)
        frame = store.load(DEMO_SYMBOL, DEMO_TIMEFRAME)
        console.print(
            f"[bold]data[/]: {len(frame):,} {DEMO_TIMEFRAME} bars of {DEMO_SYMBOL} "
            f"({frame.index[0]:%Y-%m-%d} → {frame.index[-1]:%Y-%m-%d}) in {store.root}"
        )
        run_demo_backtest(frames={DEMO_SYMBOL: frame}, out=out, timeframe=DEMO_TIMEFRAME.name)
