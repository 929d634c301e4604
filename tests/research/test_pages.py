"""Research pages and charts: every grid cell, deterministic bytes, and the commands that
write them (through the installed console script)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.research.pages_data import (
    FAST,
    SLOW,
    consistency_inputs,
    optimize_result,
    walkforward_result,
)
from tradeforge.research.charts import heatmap_cells, optimize_charts
from tradeforge.research.pages import consistency_page, optimize_page, walkforward_page

TRADEFORGE = Path(sys.executable).with_name("tradeforge")


def test_heatmap_cells_keep_every_cell():
    res = optimize_result()
    cells = heatmap_cells(res.trials, "fast", "slow", res.objective.sign)
    assert len(cells) == len(FAST) * len(SLOW) == 18
    by_cell = {(r.fast, r.slow): r for r in cells.itertuples()}
    assert by_cell[(20, 20)].status == "invalid"
    assert by_cell[(15, 60)].status == "undefined"
    assert by_cell[(25, 40)].status == "rejected"
    assert by_cell[(25, 40)].objective == pytest.approx(0.25 - 0.04)
    assert by_cell[(5, 20)].status == "ok"
    assert sorted(cells["status"].value_counts().items()) == [
        ("invalid", 3), ("ok", 9), ("rejected", 5), ("undefined", 1)]  # fmt: skip


def test_heatmap_cell_prefers_ok_trials_over_better_rejected_ones():
    """Several trials per cell (a third parameter): the best ok one stands for the cell."""
    res = optimize_result()
    t = res.trials
    extra = t[(t["fast"] == 5) & (t["slow"] == 20)].assign(trial_id=100, status="rejected",
                                                           objective=9.0)  # fmt: skip
    extra2 = extra.assign(trial_id=101, status="ok", objective=0.5)
    trials = pd.concat([t, extra, extra2], ignore_index=True)
    cells = heatmap_cells(trials, "fast", "slow", 1.0)
    cell = cells[(cells["fast"] == 5) & (cells["slow"] == 20)].iloc[0]
    assert (cell["trial_id"], cell["n"], cell["n_ok"]) == (101, 3, 2)
    # minimising: the smallest ok objective
    cells = heatmap_cells(trials, "fast", "slow", -1.0)
    assert cells[(cells["fast"] == 5) & (cells["slow"] == 20)].iloc[0]["trial_id"] == 0


def test_heatmap_png_draws_all_cells(tmp_path):
    paths = optimize_charts(optimize_result(), tmp_path)
    png = next(p for p in paths if p.name == "heatmap.png")
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    # the grey of rejected and invalid cells is drawn (the old chart left those cells empty)
    for grey in ("#c7c7c7", "#8c8c8c"):
        rgb = np.array([int(grey[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(img - rgb).sum(axis=2) == 0).sum() > 500


def test_pages_are_self_contained_and_deterministic(tmp_path):
    doc, exp, act = consistency_inputs()
    for name, write in (
        ("optimize.html", lambda out: optimize_page(optimize_result(), out)),
        ("walkforward.html", lambda out: walkforward_page(walkforward_result(), out)),
        ("consistency.html", lambda out: consistency_page(doc, exp, act, out)),
    ):
        a, b = tmp_path / "a", tmp_path / "b"
        a.mkdir(exist_ok=True)
        b.mkdir(exist_ok=True)
        pa, pb = write(a), write(b)
        assert pa.name == name
        text = pa.read_text()
        assert pa.read_bytes() == pb.read_bytes()
        assert "Bokeh" in text and not re.search(r"<script[^>]+src=", text)
        assert "cdn.bokeh.org" not in text


def _run(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([str(TRADEFORGE), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from tradeforge.data.cache import ParquetStore
    from tradeforge.data.sources.synthetic import generate_bars

    home = tmp_path_factory.mktemp("home")
    frame = generate_bars("EURUSD", "H1", "2022-01-01", "2022-03-01", seed=2)
    ParquetStore(home).write("EURUSD", "H1", frame, source="synthetic")
    return home


def test_optimize_command_writes_the_page(home, tmp_path):
    out = tmp_path / "opt"
    res = _run("optimize", "--strategy", "sma_cross", "--space", "fast=10,20,30",
               "--space", "slow=20,40", "--min-trades", "25", "--home", home, "--out", out)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "optimize.html" in res.stdout
    page = (out / "optimize.html").read_text()
    # the 6 cells are all in the heatmap's source, the invalid ones (fast >= slow) too
    cells = re.search(r'"name":"cells".*?"status",\["(.*?)"\]', page)
    assert cells is not None and "invalid" in page


def test_consistency_command_writes_the_page(tmp_path):
    _, expected, actual = consistency_inputs()
    expected.to_csv(tmp_path / "expected.csv", index=False)
    actual.to_csv(tmp_path / "actual.csv", index=False)
    res = _run("analyze", "consistency", "--expected", tmp_path / "expected.csv",
               "--actual", tmp_path / "actual.csv", "--tolerance", "1min",
               "--out", tmp_path / "cons")  # fmt: skip
    assert res.returncode == 1  # 5 of 60 trades missing: the match-rate check fails
    assert "consistency.html" in res.stdout
    page = (tmp_path / "cons" / "consistency.html").read_text()
    assert '"name":"pnl_actual"' in page and '"name":"entry_slippage"' in page
