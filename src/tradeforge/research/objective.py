"""Objective of a search: one report metric, a direction and constraints.

A trial's status is ``ok`` (ranked), ``rejected`` (a constraint failed, e.g. too few trades),
``undefined`` (the objective metric has no value, e.g. a profit factor without losses) or
``invalid`` (the strategy refused the parameter combination).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tradeforge.core.errors import ConfigError
from tradeforge.research.evaluate import check_metric

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*(-?[0-9.eE+-]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """``"profit_factor>=1.1"``, ``"max_drawdown_pct>-20"`` …"""
        m = _CONSTRAINT.match(text)
        if not m:
            raise ConfigError(f"constraint {text!r} must look like metric>=number")
        try:
            value = float(m.group(3))
        except ValueError:
            raise ConfigError(f"constraint {text!r}: {m.group(3)!r} is not a number") from None
        return cls(check_metric(m.group(1)), m.group(2), value)

    def holds(self, metrics: Mapping[str, Any]) -> bool:
        v = metrics.get(self.metric, math.nan)
        return v is not None and not math.isnan(v) and _OPS[self.op](v, self.value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


@dataclass(frozen=True)
class Objective:
    metric: str = "expectancy_r"
    direction: str = "maximize"
    min_trades: int = 0
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        check_metric(self.metric)
        if self.direction not in ("maximize", "minimize"):
            raise ConfigError("direction must be 'maximize' or 'minimize'")
        if self.min_trades < 0:
            raise ConfigError("min_trades must be >= 0")

    @classmethod
    def build(
        cls,
        metric: str = "expectancy_r",
        *,
        minimize: bool = False,
        min_trades: int = 0,
        constraints: Iterable[str] = (),
    ) -> Objective:
        return cls(
            metric,
            "minimize" if minimize else "maximize",
            int(min_trades),
            tuple(Constraint.parse(c) for c in constraints),
        )

    @property
    def sign(self) -> float:
        """+1 when larger is better."""
        return 1.0 if self.direction == "maximize" else -1.0

    def judge(self, outcome: Mapping[str, Any]) -> tuple[str, float, list[str]]:
        """(status, objective value or NaN, failed constraint texts) of a trial outcome."""
        if outcome.get("status") == "invalid":
            return "invalid", math.nan, []
        value = float(outcome.get(self.metric, math.nan))
        failed = []
        trades = outcome.get("trades", 0)
        if trades < self.min_trades:
            failed.append(f"trades>={self.min_trades}")
        failed.extend(str(c) for c in self.constraints if not c.holds(outcome))
        if failed:
            return "rejected", value, failed
        if math.isnan(value):
            return "undefined", value, []
        return "ok", value, []

    def describe(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "direction": self.direction,
            "min_trades": self.min_trades,
            "constraints": [str(c) for c in self.constraints],
        }
