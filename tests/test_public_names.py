"""Public names: every package's ``__all__`` resolves, ``import tradeforge`` stays light,
the "Quick use" examples of docstrings run, and names quoted in the docs exist."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "tradeforge"
PACKAGES = [
    "tradeforge",
    *(f"tradeforge.{p}" for p in ("core", "data", "features", "strategy", "trading")),
    *(f"tradeforge.{p}" for p in ("backtest", "analytics", "plotting", "live", "research")),
    "tradeforge.api",
    "tradeforge.cli",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package):
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names)) and names
    for name in names:
        assert getattr(module, name) is not None, f"{package}.{name}"
        assert name in dir(module)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(out.stdout.split())


def test_import_tradeforge_loads_no_library():
    loaded = _loaded_after("import tradeforge")
    assert not loaded & {"tradeforge.api", "pandas", "numpy", "numba"}
    loaded = _loaded_after("import tradeforge.live, tradeforge.data")
    assert "pandas" not in loaded and "pyarrow" not in loaded
    assert "tradeforge.api" in _loaded_after("from tradeforge import Backtest")


def _quick_use_examples() -> list[tuple[str, str]]:
    """(module file, code) of every ``Quick use::`` block in a module docstring."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        for block in re.findall(r"Quick use[^\n]*::\n\n((?:    .*\n|\n)+)", doc + "\n"):
            found.append((str(path.relative_to(SRC)), textwrap.dedent(block)))
    return found


def test_the_package_docstrings_have_examples():
    files = {f for f, _ in _quick_use_examples()}
    assert {"__init__.py", "api/__init__.py", "backtest/__init__.py", "data/__init__.py"} <= files
    assert {"live/__init__.py", "research/__init__.py", "analytics/__init__.py"} <= files


@pytest.mark.parametrize(
    ("where", "code"), [pytest.param(w, c, id=w) for w, c in _quick_use_examples()]
)
def test_quick_use_example_runs(where, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, where, "exec"), {})


_DOTTED = re.compile(r"\btradeforge(?:\.[A-Za-z_]\w*)+")
_FROM = re.compile(r"from (tradeforge[\w.]*) import ([\w, ]+)")


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _texts() -> list[tuple[str, str]]:
    texts = [(str(p.relative_to(ROOT)), p.read_text()) for p in [ROOT / "README.md"]]
    texts += [(str(p.relative_to(ROOT)), p.read_text()) for p in (ROOT / "docs").glob("*.md")]
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    texts.append((f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}", doc))
    return texts


def test_names_quoted_in_docs_and_docstrings_exist():
    missing = set()
    for where, text in _texts():
        missing |= {(where, ref) for ref in _DOTTED.findall(text) if not _resolves(ref)}
        for module, names in _FROM.findall(text):
            refs = (f"{module}.{n}" for n in names.replace(" ", "").split(",") if n)
            missing |= {(where, ref) for ref in refs if not _resolves(ref)}
    assert not missing, sorted(missing)
