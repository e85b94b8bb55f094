"""Outcomes tell the truth, on real servers, through the real ``flask``
executable: a failing hook or a drain timeout ends the process with the
shutdown's exit code where the server allows it, ``flask shutdown send``
prints each hook, the drain and the exit code and exits 6, and where the
server's master process picks its own exit code (gunicorn) the log line
does not claim one.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from flask_shutdown import ExitCode
from flask_shutdown.cli import CliExit

from ._proc import Proc
from ._proc import PYTHON
from ._proc import ROOT
from ._servers import tool
from ._servers import wait_ready
from .conftest import TOKEN

APP = "tests.apps.serve_app"

#: How each server is started, and the line that gives its URL.
SERVERS: dict[str, tuple[list[str], str]] = {
    "serve": (
        [PYTHON, str(ROOT / "tests" / "apps" / "serve_app.py")],
        r"Serving on (http://\S+)",
    ),
    "flask-run": (
        ["flask", "--app", APP, "run", "--port", "0", "--no-reload"],
        r"Running on (http://127\.0\.0\.1:\d+)",
    ),
    "flask-run-reload": (
        ["flask", "--app", APP, "run", "--port", "0", "--reload"],
        r"Running on (http://127\.0\.0\.1:\d+)",
    ),
    "waitress": (
        ["waitress-serve", "--listen=127.0.0.1:0", f"{APP}:app"],
        r"Serving on (http://127\.0\.0\.1:\d+)",
    ),
    # send keeps its connection open, so its status reads reach the worker
    # that accepted the shutdown; the arbiter exits 0 anyway.
    "gunicorn-gthread-2": (
        ["gunicorn", "-k", "gthread", "-w", "2", "--threads", "4"]
        + ["-b", "127.0.0.1:0", "--no-control-socket", f"{APP}:app"],
        r"Listening at: (http://127\.0\.0\.1:\d+)",
    ),
    # One worker, so that the slow request and the shutdown meet in it.
    "gunicorn-gthread-1": (
        ["gunicorn", "-k", "gthread", "-w", "1", "--threads", "4"]
        + ["-b", "127.0.0.1:0", "--no-control-socket", f"{APP}:app"],
        r"Listening at: (http://127\.0\.0\.1:\d+)",
    ),
}


def wait_for_text(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout

    while text not in path.read_text():
        assert time.monotonic() < deadline, f"{text!r} not in {path.read_text()!r}"
        time.sleep(0.02)


def flask_send(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "WERKZEUG_"))
    }
    env["SHUTDOWNCTL_TOKEN"] = TOKEN
    return subprocess.run(
        [tool("flask"), "shutdown", "send", url, "--timeout", "30", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def start(name: str, tmp_path: Path, **env: str) -> tuple[Proc, str, Path]:
    args, pattern = SERVERS[name]
    args = [tool(args[0]) if args[0] != PYTHON else PYTHON, *args[1:]]
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    proc = Proc(
        args,
        tmp_path / "server.log",
        env={"HOOK_LOG": str(hook_log), "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
    )
    url = proc.wait_for_output(pattern).group(1)
    wait_ready(proc, f"{url}/shutdown/ready")
    return proc, url, hook_log


@pytest.mark.parametrize("name", list(SERVERS))
def test_failing_hook(tmp_path: Path, name: str) -> None:
    proc, url, _ = start(name, tmp_path, FAIL_HOOK="1")

    with proc:
        rv = flask_send(url)
        code = proc.wait_exit(30)
        assert proc.wait_group_gone()

    lines = rv.stdout.splitlines()
    assert rv.returncode == CliExit.UNCLEAN, rv.stdout + rv.stderr
    assert f"{url}: drained: every request finished" in lines
    assert re.search(rf"^{url}: hook close_db: ok \([\d.]+ ms\)$", rv.stdout, re.M)
    assert re.search(
        rf"^{url}: hook maybe_fail: error \([\d.]+ ms\): RuntimeError: cache server"
        " is gone$",
        rv.stdout,
        re.M,
    )
    output = proc.output()

    if name.startswith("gunicorn"):
        # The arbiter exits 0 whatever happened; send and the status
        # report carry the code, and the log does not claim it.
        assert code == 0
        assert lines[-1] == (
            f"{url}: stopped, exit code 1 (HOOK_FAILED); gunicorn does not pass"
            " it on as its process exit code"
        )
        assert "gunicorn told to stop. The shutdown's exit code is 1" in output
        assert "(exit code" not in output
    else:
        assert code == ExitCode.HOOK_FAILED == 1, output
        assert lines[-1] == f"{url}: stopped, exit code 1 (HOOK_FAILED)"
        assert "stopped (exit code 1, HOOK_FAILED)" in output


@pytest.mark.parametrize("name", [n for n in SERVERS if n != "gunicorn-gthread-2"])
def test_drain_timeout(tmp_path: Path, name: str) -> None:
    proc, url, hook_log = start(name, tmp_path, DRAIN_TIMEOUT="0.5")

    with proc, concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(requests.get, f"{url}/slow?s=3", timeout=30)
        wait_for_text(hook_log, "slow-start")
        rv = flask_send(url, "--json")
        code = proc.wait_exit(30)
        assert proc.wait_group_gone()
        # Cut by the stop, or finished: either way, not waited for.
        try:
            slow.result()
        except requests.RequestException:
            pass

    assert rv.returncode == CliExit.UNCLEAN, rv.stdout + rv.stderr
    # --json: one document, nothing else on standard output.
    (doc,) = [json.loads(line) for line in rv.stdout.splitlines()]
    assert doc["result"] == "stopped"
    assert doc["exit"] == CliExit.UNCLEAN
    assert doc["exit_code"] == ExitCode.DRAIN_TIMEOUT == 2
    assert doc["report"]["drain_timed_out"] is True
    assert re.fullmatch(r"GET /slow \([\d.]+ s\)", doc["report"]["still_running"][0])
    assert [h["status"] for h in doc["report"]["hooks"]] == ["ok", "ok"]
    assert code == (0 if name.startswith("gunicorn") else 2), proc.output()


@pytest.mark.parametrize("name", ["serve", "flask-run", "waitress"])
def test_clean_stop(tmp_path: Path, name: str) -> None:
    proc, url, _ = start(name, tmp_path)

    with proc:
        rv = flask_send(url)
        assert proc.wait_exit(30) == 0

    assert rv.returncode == CliExit.OK, rv.stdout + rv.stderr
    assert rv.stdout.splitlines()[-1] == f"{url}: stopped, exit code 0 (OK)"


def test_gunicorn_two_sync_workers(tmp_path: Path) -> None:
    """Two sync workers: the worker that runs the shutdown cannot answer
    status reads while it does, the other one has not heard of it. send
    never takes the other worker's answer for this shutdown's, and never
    reports a failed shutdown as a clean one.
    """
    args = [tool("gunicorn"), "-w", "2", "-b", "127.0.0.1:0", "--no-control-socket"]
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    env = {"HOOK_LOG": str(hook_log), "FAIL_HOOK": "1"}

    with Proc(
        [*args, f"{APP}:app"], tmp_path / "server.log", env=env, cwd=ROOT
    ) as proc:
        url = proc.wait_for_output(r"Listening at: (http://127\.0\.0\.1:\d+)").group(1)
        proc.wait_for_output(r"(?s)(Booting worker with pid: \d+.*){2}")
        wait_ready(proc, f"{url}/shutdown/ready")
        rv = flask_send(url, "--interval", "0.05")
        assert proc.wait_exit(60) == 0
        assert proc.wait_group_gone()

    out = rv.stdout
    assert "gunicorn told to stop. The shutdown's exit code is 1" in proc.output()
    # What send printed is one of two truths, never "exit code 0".
    last = out.splitlines()[-1]

    if "outcome unknown" in last:
        assert rv.returncode == CliExit.OK, out
    else:
        assert rv.returncode == CliExit.UNCLEAN, out
        assert "exit code 1 (HOOK_FAILED); gunicorn does not pass it on" in last

    assert "exit code 0" not in out
    # The phase shown never goes back once a later one was seen.
    phases = re.findall(r": (running|draining|hooks|stopping|stopped), ", out)
    order = ["running", "draining", "hooks", "stopping", "stopped"]
    ranks = [order.index(p) for p in phases]
    assert ranks == sorted(ranks), out
    assert "running" not in phases


def test_status_of_a_draining_server(tmp_path: Path) -> None:
    """While draining, nothing has stopped: no exit code yet, and the
    human report leads with the phase, the requests in flight and the
    hooks.
    """
    proc, url, hook_log = start("flask-run", tmp_path, DRAIN_TIMEOUT="10")

    with proc, concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(requests.get, f"{url}/slow?s=2", timeout=30)
        wait_for_text(hook_log, "slow-start")
        accepted = flask_send(url, "--no-wait")
        assert accepted.returncode == 0, accepted.stderr
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("FLASK_", "WERKZEUG_"))
        }
        env["SHUTDOWNCTL_TOKEN"] = TOKEN
        status = subprocess.run(
            [tool("flask"), "shutdown", "status", url],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert slow.result().text == "slow done"
        assert proc.wait_exit(30) == 0

    lines = status.stdout.splitlines()
    assert lines[:3] == ["phase: draining", "in_flight: 1", "hooks: 0"]
    assert lines[3] == f"pid: {proc.pid}"
    assert "exit_code: - (not stopped)" in lines
