"""Shared by the session tests: a session file of three strategy instances on two symbols
(two share EURUSD and its feed), written with its bar files into a test directory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.conftest import make_bars
from tradeforge.live.session import Session, load_session

SEEDS = {"EURUSD": 5, "GBPUSD": 7}
# fixed sizing: each instance's trades do not depend on the others' (shared balance)
INSTANCES = {
    "fast": ("EURUSD", "sizing = \"fixed:0.5\"\nparams = { fast = 3, slow = 12, stop_pips = 6, "
             "target_pips = 8 }"),
    "slow": ("EURUSD", "sizing = \"fixed:0.2\"\nparams = { fast = 5, slow = 20, stop_pips = 10, "
             "target_pips = 15, exit_on_opposite = true }"),
    "gbp": ("GBPUSD", "sizing = \"fixed:0.3\"\nparams = { fast = 4, slow = 15, stop_pips = 8, "
            "target_pips = 10 }"),
}  # fmt: skip


def bars_file(tmp: Path, symbol: str, n_bars: int) -> Path:
    path = tmp / f"{symbol.lower()}_{n_bars}.parquet"
    if not path.exists():
        make_bars(n_bars, seed=SEEDS[symbol]).to_parquet(path)
    return path


def session_text(
    tmp: Path,
    n_bars: int = 160,
    names: tuple[str, ...] = ("fast", "slow", "gbp"),
    extra: str = "",
    pace: float = 0.0,
    instance_extra: dict[str, str] | None = None,
) -> str:
    symbols = sorted({INSTANCES[n][0] for n in names})
    bars = "\n".join(f'{s} = "{bars_file(tmp, s, n_bars).name}"' for s in symbols)
    text = (
        f'capital = 100000\nstart = "2024-01-01"\nend = "2025-01-01"\nclose_at_end = true\n'
        f'pace = {pace}\n{extra}\n[execution]\ncommission = 3.0\nslippage = "0.2"\n'
        f"[bars]\n{bars}\n"
    )
    for name in names:
        symbol, body = INSTANCES[name]
        more = (instance_extra or {}).get(name, "")
        text += (
            f'\n[[strategies]]\nname = "{name}"\nstrategy = "sma_cross"\nsymbol = "{symbol}"\n'
            f'timeframe = "M5"\nwindow = 36\n{body}\n{more}\n'
        )
    return text


def write_session(tmp: Path, file: str = "session.toml", **kw) -> Path:
    path = tmp / file
    path.write_text(session_text(tmp, **kw))
    return path


def make_session(tmp: Path, file: str = "session.toml", **kw) -> Session:
    return load_session(write_session(tmp, file, **kw))


def bars_of(tmp: Path, symbol: str, n_bars: int = 160) -> pd.DataFrame:
    return pd.read_parquet(bars_file(tmp, symbol, n_bars))
