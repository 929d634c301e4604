"""``tradeforge features …``: list the feature library and compute features on cached bars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tradeforge.cli.common import (
    HomeOption,
    command_group,
    console,
    expand_user,
    home_dir,
    iso_time,
    stages,
    symbol_names,
)

app = command_group("Inspect the feature library and compute features.")


@app.command("list")
def list_features() -> None:
    """List every registered feature with its parameters and outputs."""
    from tradeforge.features import available_features

    table = Table(title="feature library")
    for col in ("name", "parameters", "outputs", "description"):
        table.add_column(col)
    for name, feature in available_features().items():
        params = ", ".join(f"{p.name}={p.default!r}" for p in feature.params)
        doc = (feature.doc or "").strip().splitlines()
        table.add_row(name, params, ", ".join(feature.outputs), doc[0] if doc else "")
    console.print(table)


@app.command("compute")
def compute(
    symbol: Annotated[
        str, typer.Option("--symbol", "-s", help="Cached symbol.", callback=symbol_names)
    ],
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="Base timeframe.")],
    requests: Annotated[
        list[str], typer.Argument(help='Feature requests, e.g. "atr(14)" "ema(50)@M30".')
    ],
    start: Annotated[str | None, typer.Option(help="From (UTC).", callback=iso_time)] = None,
    end: Annotated[str | None, typer.Option(help="To, exclusive (UTC).", callback=iso_time)] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the result to this Parquet file.", callback=expand_user),
    ] = None,
    cache: Annotated[bool, typer.Option(help="Use the on-disk feature cache under --home.")] = True,
    home: HomeOption = None,
) -> None:
    """Compute features on cached bars; print the last rows or write Parquet."""
    from tradeforge.data.cache import ParquetStore
    from tradeforge.features import compute_features

    root = home_dir(home)
    bars = ParquetStore(root).load(symbol, timeframe, start, end)
    with stages(f"computing {len(requests)} feature(s) on {len(bars):,} bars"):
        frame = compute_features(
            bars,
            requests,
            timeframe,
            keep_input=False,
            cache_dir=root / "features" if cache else None,
        )
    if out is not None:
        frame.to_parquet(out)
        console.print(f"wrote {frame.shape[1]} columns x {len(frame):,} rows to {out}")
        return
    tail = frame.tail(3)
    table = Table(title=f"{symbol.upper()} {timeframe} — last {len(tail)} bars")
    table.add_column("column")
    for ts in tail.index:
        table.add_column(f"{ts:%Y-%m-%d %H:%M}", justify="right")
    for col in tail.columns:
        table.add_row(str(col), *(f"{v:.6g}" for v in tail[col]))
    console.print(table)


def register(root: typer.Typer) -> None:
    """Add the ``features`` group to the root app."""
    root.add_typer(app, name="features")
