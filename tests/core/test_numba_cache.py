import os
import subprocess
import sys

from tradeforge._numba_cache import source_digest


def test_digest_changes_when_any_module_changes(tmp_path):
    (tmp_path / "kernel.py").write_text("def f():\n    return g()\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "rules.py").write_text("def g():\n    return 1\n")
    before = source_digest(tmp_path)
    assert source_digest(tmp_path) == before
    (tmp_path / "sub" / "rules.py").write_text("def g():\n    return 2\n")  # only the callee
    assert source_digest(tmp_path) != before


def _cache_dir(env):
    code = "import tradeforge, os; print(os.environ['NUMBA_CACHE_DIR'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.strip()


def test_cache_dir_is_keyed_by_source_and_explicit_setting_wins(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    assert _cache_dir(env) == str(tmp_path / "tradeforge" / "numba" / source_digest())
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    assert _cache_dir(env) == str(tmp_path / "mine")
