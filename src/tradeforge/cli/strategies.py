"""``tradeforge strategies``: the registered strategies and their typed parameters."""

from __future__ import annotations

import inspect

import typer
from rich.table import Table

from tradeforge.cli.common import console

_SYMBOLS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _constraint(meta: object) -> str:
    """``>= 1`` from annotated-types metadata such as ``Ge(ge=1)``."""
    for attr, symbol in _SYMBOLS.items():
        if hasattr(meta, attr):
            return f"{symbol} {getattr(meta, attr)}"
    return str(meta)


def strategies() -> None:
    """List registered strategies with their parameters, defaults and constraints."""
    from tradeforge.strategy import available_strategies, get_strategy

    for name in available_strategies():
        cls = get_strategy(name)
        doc = (inspect.getdoc(inspect.getmodule(cls)) or inspect.getdoc(cls) or "").replace(
            "``", ""
        )
        table = Table(
            title=f"[bold]{name}[/] — {doc.splitlines()[0] if doc else ''}", title_justify="left"
        )
        for col in ("parameter", "type", "default", "constraints", "description"):
            table.add_column(col)
        for pname, field in cls.Params.model_fields.items():
            limits = ", ".join(_constraint(m) for m in field.metadata)
            kind = getattr(field.annotation, "__name__", str(field.annotation))
            table.add_row(pname, kind, repr(field.default), limits, field.description or "")
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("strategies")(strategies)
