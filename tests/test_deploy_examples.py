"""The Dockerfile and the systemd unit in examples/deploy: their settings,
and their commands run for real outside a container and outside systemd
(no container runtime or init system is needed)."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

from ._proc import Proc
from ._proc import ROOT

DEPLOY = ROOT / "examples" / "deploy"
TOKEN = "deploy-example-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dockerfile() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    rv = {}

    for line in text.splitlines():
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rv[word] = rest.strip()

    return rv


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env={**os.environ, **env},
        cwd=DEPLOY,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_dockerfile_commands(tmp_path: Path) -> None:
    spec = dockerfile()
    assert spec["USER"] == "app"
    assert spec["STOPSIGNAL"] == "SIGTERM"
    entrypoint = json.loads(spec["ENTRYPOINT"])
    assert entrypoint == ["python", "app.py"]
    health = json.loads(re.search(r"CMD (\[.*\])", spec["HEALTHCHECK"]).group(1))
    pre_stop = re.search(
        r"#   (python -m flask_shutdown send .*)", (DEPLOY / "Dockerfile").read_text()
    ).group(1)

    port = free_port()
    env = {
        "PORT": str(port),
        "SHUTDOWN_TOKEN": TOKEN,
        "SHUTDOWNCTL_TOKEN": TOKEN,
        "DRAIN_DELAY": "3",
    }
    args = [sys.executable if a == "python" else a for a in entrypoint]

    with Proc(args, tmp_path / "app.log", env=env, cwd=DEPLOY) as proc:
        proc.wait_for_output(r"Serving on http://")
        python_health = [sys.executable, *health[1:]]
        assert run(python_health, env).returncode == 0

        stop = [sys.executable, *shlex.split(pre_stop)[1:]]
        stop = [a.replace(":8000", f":{port}") for a in stop] + ["--no-wait"]
        assert run(stop, env).returncode == 0
        # Draining: the health check now fails, so Docker marks it unhealthy.
        assert run(python_health, env).returncode != 0
        assert proc.wait_exit(30) == 0

    assert "closing the database" in proc.output()


def test_systemd_unit_commands(tmp_path: Path) -> None:
    unit = dict(
        line.split("=", 1)
        for line in (DEPLOY / "flask-shutdown.service").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert unit["Type"] == "notify"
    assert unit["NotifyAccess"] == "main"
    # Above the default drain delay, drain timeout and hook timeout.
    assert int(unit["TimeoutStopSec"]) > 0 + 30 + 10

    port = free_port()
    address = tmp_path / "notify.sock"
    start = [sys.executable, *shlex.split(unit["ExecStart"])[1:]]
    stop = [sys.executable, *shlex.split(unit["ExecStop"])[1:]]
    stop = [a.replace(":8000", f":{port}") for a in stop]

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.settimeout(20)
        env = {
            "PORT": str(port),
            "SHUTDOWN_TOKEN": TOKEN,
            "SHUTDOWNCTL_TOKEN": TOKEN,
            "NOTIFY_SOCKET": str(address),
        }

        with Proc(start, tmp_path / "app.log", env=env, cwd=DEPLOY) as proc:
            assert sock.recv(4096).decode().startswith("READY=1\n")
            rv = run(stop, env)
            assert rv.returncode == 0, rv.stdout + rv.stderr
            assert sock.recv(4096).decode().startswith("STOPPING=1\n")
            assert proc.wait_exit(30) == 0

    assert "exit code 0" in rv.stdout + rv.stderr
