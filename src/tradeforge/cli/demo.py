"""``tradeforge demo``: the main job on embedded default data, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradeforge.cli.backtest import run_demo_backtest
from tradeforge.cli.common import HomeOption, console, home_dir
from tradeforge.data.demo import DEMO_SYMBOL, DEMO_TIMEFRAME, ensure_demo_data


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        home: HomeOption = None,
        out: Annotated[Path, typer.Option(help="Run folder for the demo backtest.")] = Path(
            "runs/demo"
        ),
    ) -> None:
        """Generate demo data, then backtest `sma_cross` on it and report."""
        from tradeforge.backtest import precompile

        precompile.start("symbol")  # a cold Numba cache: compiled while the data loads
        root = home_dir(home)
        with console.status("preparing demo data (seeded synthetic EURUSD H1, 2019–2025)"):
            store = ensure_demo_data(root)
        frame = store.load(DEMO_SYMBOL, DEMO_TIMEFRAME)
        console.print(
            f"[bold]data[/]: {len(frame):,} {DEMO_TIMEFRAME} bars of {DEMO_SYMBOL} "
            f"({frame.index[0]:%Y-%m-%d} → {frame.index[-1]:%Y-%m-%d}) in {store.root}"
        )
        run_demo_backtest(frames={DEMO_SYMBOL: frame}, out=out, timeframe=DEMO_TIMEFRAME.name)
