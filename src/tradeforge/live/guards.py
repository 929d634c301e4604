"""Risk guards on new entries, and the kill switch.

Guards only ever *block new entries*; exits keep being managed. Each check returns a verdict
with a reason, and the engine logs every verdict that blocks (and the kill switch).
The kill switch is a file ``KILL`` in the state directory (``tradeforge kill`` creates it): the
engine closes every position, cancels pending orders and stops.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tradeforge.core.errors import ConfigError, StateError
from tradeforge.core.paths import user_path
from tradeforge.live.lock import LOCK_FILE
from tradeforge.live.persist import state_io
from tradeforge.live.state import StateRepository

KILL_FILE = "KILL"
NS = 1_000_000_000


@dataclass(frozen=True)
class RiskLimits:
    max_daily_loss_pct: float | None = None  # of the day's starting balance (UTC days)
    max_drawdown_pct: float | None = None  # from the equity peak
    max_positions: int | None = None  # open positions + pending entries
    stale_seconds: float | None = None  # no tick for this long: no new entries
    max_spread_pips: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_daily_loss_pct", "max_drawdown_pct", "stale_seconds", "max_spread_pips"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ConfigError(f"{name} must be > 0, got {v}")
        if self.max_positions is not None and self.max_positions < 1:
            raise ConfigError("max_positions must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    guard: str
    ok: bool
    reason: str


def check_entry(
    limits: RiskLimits,
    *,
    now: int,
    last_tick_time: int | None,
    spread: float | None,
    pip_size: float,
    equity: float,
    day_start_balance: float,
    peak_equity: float,
    open_count: int,
) -> list[Verdict]:
    """Every guard's verdict on opening one more position now."""
    out: list[Verdict] = []
    if limits.max_daily_loss_pct is not None:
        loss = day_start_balance - equity
        cap = day_start_balance * limits.max_daily_loss_pct / 100.0
        out.append(Verdict("daily_loss", loss < cap, f"today's loss {loss:.2f} vs limit {cap:.2f}"))
    if limits.max_drawdown_pct is not None and peak_equity > 0:
        dd = (peak_equity - equity) / peak_equity * 100.0
        out.append(
            Verdict(
                "drawdown",
                dd < limits.max_drawdown_pct,
                f"drawdown {dd:.2f}% vs limit {limits.max_drawdown_pct}%",
            )
        )
    if limits.max_positions is not None:
        out.append(
            Verdict(
                "max_positions",
                open_count < limits.max_positions,
                f"{open_count} open/pending vs limit {limits.max_positions}",
            )
        )
    if limits.stale_seconds is not None:
        if last_tick_time is None:
            out.append(Verdict("stale_data", False, "no tick received yet"))
        else:
            age = (now - last_tick_time) / NS
            out.append(
                Verdict(
                    "stale_data",
                    age <= limits.stale_seconds,
                    f"last tick {age:.0f}s old vs limit {limits.stale_seconds:g}s",
                )
            )
    if limits.max_spread_pips is not None and spread is not None:
        pips = spread / pip_size
        out.append(
            Verdict(
                "spread",
                pips <= limits.max_spread_pips + 1e-9,
                f"spread {pips:.2f} pips vs limit {limits.max_spread_pips:g}",
            )
        )
    return out


def kill_requested(state_dir: Path) -> bool:
    return (Path(state_dir) / KILL_FILE).exists()


def request_kill(state_dir: str | Path, reason: str = "operator") -> Path:
    """Create the kill file (what ``tradeforge kill`` does) in a directory that holds a
    session; `StateError` for any other path (a typo must not look like a kill that worked)."""
    state_dir = user_path(state_dir)
    if not (StateRepository(state_dir).exists() or (state_dir / LOCK_FILE).exists()):
        raise StateError(f"{state_dir} holds no dry-run/live session; nothing to kill")
    path = state_dir / KILL_FILE
    with state_io(path, "write"):
        path.write_text(reason + "\n", encoding="utf-8")
    return path
