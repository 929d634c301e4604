"""A finished run folder into the database: its report (headline metrics as columns, the
breakdowns as rows) and its trades. Idempotent: a second import replaces the first."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from django.db import transaction

from tradeforge.analytics.runio import load_run
from tradeforge.analytics.schema import BREAKDOWN_NAMES
from tradeforge.web.models import Backtest, BreakdownRow, Report, Trade


def _num(value: Any) -> float | None:
    if value is None:
        return None
    out = float(value)
    return None if math.isnan(out) else out


def _report_row(backtest: Backtest, doc: dict) -> Report:
    summary = doc["summary"]
    returns, drawdown, trades = summary["returns"], summary["drawdown"], summary["trades"]
    return Report(
        backtest=backtest,
        status=doc["status"],
        summary=summary,
        breakdowns=doc["breakdowns"],
        periods=doc["periods"],
        stability=doc["stability"],
        net_profit=_num(returns.get("net_profit")),
        return_pct=_num(returns.get("return_pct")),
        sharpe=_num(returns.get("sharpe")),
        max_drawdown_pct=_num(drawdown.get("max_drawdown_pct")),
        profit_factor=_num(trades.get("profit_factor")),
        win_rate_pct=_num(trades.get("win_rate_pct")),
        expectancy_r=_num(trades.get("expectancy_r")),
        trades=int(trades.get("trades") or 0),
    )


def _breakdown_rows(report: Report, breakdowns: dict) -> list[BreakdownRow]:
    rows = []
    for name in BREAKDOWN_NAMES:
        for row in breakdowns.get(name) or []:
            rows.append(
                BreakdownRow(
                    report=report,
                    name=name,
                    group=str(row.get(name)),
                    trades=int(row.get("trades") or 0),
                    win_rate_pct=_num(row.get("win_rate_pct")),
                    net_profit=_num(row.get("net_profit")),
                    profit_factor=_num(row.get("profit_factor")),
                    expectancy=_num(row.get("expectancy")),
                    expectancy_r=_num(row.get("expectancy_r")),
                )
            )
    return rows


def _trade_rows(backtest: Backtest, trades: pd.DataFrame) -> list[Trade]:
    return [
        Trade(
            backtest=backtest,
            trade_id=int(t.trade_id),
            symbol=t.symbol,
            tag=t.tag,
            side=t.side,
            entry_time=t.entry_time.to_pydatetime(),
            entry_price=float(t.entry_price),
            exit_time=t.exit_time.to_pydatetime(),
            exit_price=float(t.exit_price),
            size=float(t.size),
            pnl=float(t.pnl),
            commission=float(t.commission),
            r_multiple=_num(t.r_multiple),
            exit_reason=t.exit_reason,
            bars_held=int(t.bars_held),
        )
        for t in trades.itertuples(index=False)
    ]


def import_run(backtest: Backtest, run_dir: Path) -> Report:
    """Replace ``backtest``'s report and trades by those of ``run_dir``."""
    doc = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    result = load_run(run_dir)
    with transaction.atomic():
        Report.objects.filter(backtest=backtest).delete()
        Trade.objects.filter(backtest=backtest).delete()
        report = _report_row(backtest, doc)
        report.save()
        BreakdownRow.objects.bulk_create(_breakdown_rows(report, doc["breakdowns"]))
        Trade.objects.bulk_create(_trade_rows(backtest, result.trades), batch_size=2000)
    return report
