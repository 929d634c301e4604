"""write_report: files, determinism, self-contained HTML, console summary, compare, CLI."""

from __future__ import annotations

import re

import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from tests.analytics.helpers import make_result
from tradeforge.analytics import (
    build_report,
    compare_reports,
    print_summary,
    write_report,
)
from tradeforge.analytics.sample import sample_result
from tradeforge.backtest import write_result


@pytest.fixture(scope="module")
def run():
    return sample_result(80, 3000, seed=4)


def _files(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def written(run, tmp_path_factory):
    root = tmp_path_factory.mktemp("written")
    result, ohlc = run
    a = write_report(result, root / "a", ohlc, n_best=1, n_worst=1)
    b = write_report(result, root / "b", ohlc, n_best=1, n_worst=1)
    return a, b


def test_write_report_is_byte_identical(written):
    a, b = written
    names = {p.name for p in a.charts}
    assert names >= {"equity.png", "monthly_returns.png", "r_multiples.png", "tag_expectancy.png"}
    assert sum(n.startswith("trade_") for n in names) == 2
    assert _files(a.out_dir) == _files(b.out_dir)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in a.charts)


def test_html_is_self_contained(written):
    paths = written[0]
    page = paths.html.read_text(encoding="utf-8")
    # interactive (Bokeh inlined): no external script, stylesheet or URL to load
    assert "Bokeh" in page and 'name":"trade_table"' in page
    # (BokehJS's code names a MathJax CDN, fetched only to typeset $$…$$ text, which the page
    # has none of: the browser test checks the page requests nothing)
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", markup)
    assert not re.search(r"<script[^>]*\bsrc=", page) and "<link" not in markup
    # the PNG charts stay files, linked from the page
    for p in paths.charts:
        assert f'href="charts/{p.name}"' in page
    assert len(page.encode()) < 4_000_000


def test_html_ids_are_deterministic(run, tmp_path):
    from tradeforge.analytics.interactive import stable_ids

    pages = [
        write_report(run[0], tmp_path / str(i), run[1], charts=False).html.read_bytes()
        for i in range(2)
    ]
    assert pages[0] == pages[1]
    page = pages[0].decode()
    assert not re.search(r'"id":"p\d+"', page)
    assert stable_ids(page) == page


def test_no_charts_and_no_trades(tmp_path):
    res = make_result([], equity=[100.0, 100.0], initial=100.0)
    paths = write_report(res, tmp_path, charts=False)
    assert paths.charts == [] and paths.json.is_file() and paths.txt.is_file()
    assert "no trades" in paths.html.read_text(encoding="utf-8")
    with_charts = write_report(res, tmp_path / "c")
    assert [p.name for p in with_charts.charts] == ["equity.png", "monthly_returns.png"]


def test_print_summary_lists_metrics_and_paths(run, tmp_path):
    paths = write_report(run[0], tmp_path, charts=False)
    console = Console(record=True, width=120)
    print_summary(paths.report, console, paths)
    out = console.export_text()
    for needle in (
        "Net profit",
        "Sharpe",
        "Max drawdown",
        "By tag",
        "By exit reason",
        "report.json",
        "report.html",
    ):
        assert needle in out


def test_compare_deltas(run):
    a = build_report(run[0])
    b = build_report(sample_result(80, 3000, seed=9)[0])
    table = compare_reports(a, b).set_index("key")
    row = table.loc["net_profit"]
    assert row["delta"] == pytest.approx(row["b"] - row["a"])
    assert table.loc["trades", "delta"] == 0
    assert table.loc["peak_time", "delta"] is None or table.loc["peak_time", "delta"] != 0


def _app():
    from tradeforge.cli.report import register

    app = typer.Typer()
    register(app)
    return app


def test_cli_report_and_compare(run, tmp_path):
    write_result(run[0], tmp_path / "a")
    write_result(sample_result(50, 3000, seed=8)[0], tmp_path / "b")
    runner = CliRunner()
    res = runner.invoke(_app(), ["report", str(tmp_path / "a"), "--no-charts"])
    assert res.exit_code == 0, res.output
    assert "Net profit" in res.output and (tmp_path / "a" / "report.json").is_file()
    res = runner.invoke(_app(), ["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "Δ (B − A)" in res.output and "Profit factor" in res.output


def test_cli_report_missing_run_is_a_tradeforge_error(tmp_path):
    from tradeforge.analytics import RunFolderError

    res = CliRunner().invoke(_app(), ["report", str(tmp_path / "none"), "--no-charts"])
    assert isinstance(res.exception, RunFolderError)


def test_html_has_one_price_pane_per_symbol(tmp_path):
    import pandas as pd

    from tradeforge.trading.result import BacktestResult

    a, bars_a = sample_result(30, 2000, seed=1)
    b, bars_b = sample_result(30, 2000, seed=2, symbol="GBPUSD")
    trades = pd.concat([a.trades, b.trades.assign(trade_id=b.trades["trade_id"] + 30)])
    legs = pd.concat([a.legs, b.legs.assign(trade_id=b.legs["trade_id"] + 30)])
    both = BacktestResult(trades, legs, a.equity, a.initial_capital)
    page = write_report(both, tmp_path, {**bars_a, **bars_b}, charts=False).html.read_text()
    for name in ("price_EURUSD", "price_GBPUSD", "candles_GBPUSD", "equity", "drawdown"):
        assert f'"name":"{name}"' in page
    # without bars (a run folder whose bars are gone) the page still has equity and trades
    page = write_report(both, tmp_path / "nobars", charts=False).html.read_text()
    assert '"name":"price_' not in page and '"name":"trade_table"' in page


@pytest.mark.parametrize("n_trades", [40, 3_001])
def test_trade_markers_are_drawn_at_once_only_for_a_few_trades(n_trades):
    """Up to PATH_VIEW trades their entry and exit markers show before any zoom; beyond, the
    callback copies them from the trade source once the view holds at most PATH_VIEW."""
    from bokeh.document import Document

    from tradeforge.analytics.interactive import PATH_VIEW, decoded, labels_of, report_models

    result, ohlc = sample_result(n_trades, 8_000, seed=5)
    doc = Document()
    for root in report_models(build_report(result), result, ohlc).values():
        doc.add_root(root)

    def data(name: str):
        return doc.get_model_by_name(name).data

    t = result.trades
    source = data("trades")  # what the callback searches: in entry order
    assert list(source["entry_time"]) == sorted(source["entry_time"])
    trades = doc.get_model_by_name("trades")  # text columns as codes into sorted labels
    for column in ("symbol", "side", "tag", "exit_reason"):
        assert labels_of(trades)[column] == sorted(set(t[column].astype(str)))
        assert decoded(trades, column).tolist() == t[column].astype(str).tolist()
    assert labels_of(trades)["verified"] == ["no"]  # no paths given: none verified
    long = (t["side"] == "long").to_numpy()
    shown = [len(data(f"{k}_EURUSD")["x0"]) for k in ("entries_long", "entries_short", "exits")]
    if n_trades <= PATH_VIEW:
        assert shown == [long.sum(), (~long).sum(), n_trades]
        exits = data("exits_EURUSD")
        expected = t.sort_values("exit_time", kind="stable")["exit_price"]
        np.testing.assert_array_equal(exits["y"], expected.to_numpy(np.float32))
        assert list(exits["x0"]) == sorted(exits["x0"])
    else:
        assert shown == [0, 0, 0]


@pytest.mark.parametrize(
    ("instruments", "fmt"),
    [({"XAUUSD": {"digits": 2}}, "0.00"), ({"XAUUSD": {"digits": 2}, "USDJPY": {"digits": 3}},
     "0.000"), ({}, "0.00000")],
)  # fmt: skip
def test_trade_table_prices_have_the_instruments_digits(instruments, fmt):
    """The table's prices show as many decimals as the run's instruments quote (a gold
    price as 2345.12, not 2345.12000), 5 when the run records no instruments."""
    from dataclasses import replace

    from bokeh.document import Document

    from tradeforge.analytics.interactive import report_models

    result, ohlc = sample_result(20, 1_000, seed=5)
    result = replace(result, config={**result.config, "instruments": instruments})
    doc = Document()
    for root in report_models(build_report(result), result, ohlc).values():
        doc.add_root(root)
    columns = {c.field: c for c in doc.get_model_by_name("trade_table").columns}
    for field in ("entry_price", "exit_price", "stop"):
        assert columns[field].formatter.format == fmt
