"""``tradeforge web`` through the installed console script: it migrates, serves /healthz,
asks for a login everywhere else (the API answers 401 JSON), and stops with its worker on
SIGTERM; bad settings and a token for an unknown user are one line and exit 2."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.error
import urllib.request

from tests.web.support import TRADEFORGE, web_env, web_server


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str) -> tuple[int, str, str]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=30) as resp:
            return resp.status, resp.read().decode(), resp.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers.get("Location", "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead too
        return fh.read().split(") ")[1][0] != "Z"


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    with open(path) as fh:
        return [int(p) for p in fh.read().split()]


def test_serves_healthz_and_stops_on_sigterm(tmp_path):
    env = web_env(tmp_path)
    with web_server(env) as (url, proc):
        assert _get(f"{url}/healthz") == (200, "ok\n", "")
        status, _, location = _get(f"{url}/")
        assert status == 302 and location.startswith("/login/")
        status, body, _ = _get(f"{url}/api/backtests/")  # the API answers scripts in JSON
        assert status == 401 and "authentication required" in body
        assert (tmp_path / "web" / "db.sqlite3").is_file()  # the embedded default
        workers = _children(proc.pid)
        assert len(workers) == 1 and _alive(workers[0])  # the local worker
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "stopped" in proc.stdout.read()
        assert not _alive(workers[0])


def _refusal(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [str(TRADEFORGE), "web", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr
    return out.stderr.strip()


def test_bad_settings_are_one_line_and_exit_2(tmp_path):
    env = web_env(
        tmp_path, TRADEFORGE_WEB_DATABASE_URL="mysql://db/x", TRADEFORGE_WEB_SECRET_KEY="k"
    )
    assert "must be postgresql://" in _refusal(env)
    env = web_env(tmp_path, TRADEFORGE_WEB_DATABASE_URL="postgresql://127.0.0.1/x")
    assert "TRADEFORGE_WEB_SECRET_KEY must be set" in _refusal(env)
    assert "role must be one of" in _refusal(web_env(tmp_path), "user", "bob", "--role", "boss")
    assert "no user 'nobody'" in _refusal(web_env(tmp_path), "token", "nobody")
