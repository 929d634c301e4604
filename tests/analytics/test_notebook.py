"""The notebook views without a notebook server: `BacktestRun.plot` inside and outside an
IPython shell, and the ``_repr_html_`` of runs and reports (the HTML a notebook would show)."""

from __future__ import annotations

import html
import re
import sys
import types

import pytest

import tradeforge as tf
from tradeforge.analytics.sample import sample_bars


@pytest.fixture(scope="module")
def run():
    bars = sample_bars(3_000, freq="1h", seed=4)
    return tf.Backtest(bars, "sma_cross", symbol="EURUSD", stop_pips=20, target_pips=40).run()


def _inner(page: str) -> str:
    """The page inside the ``<iframe srcdoc>``."""
    return html.unescape(re.search(r'<iframe srcdoc="([^"]*)"', page).group(1))


def test_run_repr_html_is_summary_plus_the_figure(run):
    page = run._repr_html_()
    assert page.index("<table>") < page.index("<iframe")
    inner = _inner(page)
    assert inner.startswith("<!DOCTYPE html>")
    assert "https://" not in inner.split("<body>")[0]  # BokehJS inlined, nothing fetched
    for name in ("price_EURUSD", "trade_table", "pnl_by_tag", "stops_all_EURUSD"):
        assert f'"name":"{name}"' in inner
    assert run._repr_html_() == page  # deterministic


def test_report_repr_html_is_summary_plus_daily_equity(run):
    page = run.report()._repr_html_()
    assert "Sharpe" in page and "<iframe srcdoc=" in page
    inner = _inner(page)
    assert '"name":"daily_equity"' in inner and '"name":"daily_drawdown"' in inner


def test_plot_shows_inline_under_ipython(run, monkeypatch):
    shown = []
    shell = types.ModuleType("IPython")
    shell.get_ipython = lambda: object()  # a running shell
    monkeypatch.setitem(sys.modules, "IPython", shell)
    import bokeh.io

    monkeypatch.setattr(bokeh.io, "output_notebook", lambda **kw: shown.append(("setup", kw)))
    monkeypatch.setattr(bokeh.io, "show", lambda fig: shown.append(("show", fig)))
    fig = run.plot()
    assert shown == [("setup", {"hide_banner": True}), ("show", fig)]


def test_plot_outside_ipython_returns_the_figure(run, monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    from bokeh.models import LayoutDOM

    fig = run.plot()
    assert isinstance(fig, LayoutDOM) and fig.select_one({"name": "equity"}) is not None
