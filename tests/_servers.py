"""Helpers for the tests that run the app on real servers: slow requests
in flight, the two ways of asking for the shutdown, and reading what the
views and hooks wrote.
"""

from __future__ import annotations

import collections
import concurrent.futures
import shutil
import subprocess
import time
import typing as t
from pathlib import Path

import requests

from ._proc import BIN
from ._proc import Proc
from ._proc import ROOT
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER

#: Importable as "tests.apps.server_app:app" from the project root.
APP_MODULE = "tests.apps.server_app"
APPS = ROOT / "tests" / "apps"


def tool(name: str) -> str:
    """The path of a server binary; fails the test if it is missing."""
    path = BIN / name

    if path.exists():
        return str(path)

    found = shutil.which(name)
    assert found is not None, (
        f"{name!r} is not installed; the README's test command installs it"
        " (scripts/bootstrap.sh test)."
    )
    return found


def read_log(hook_log: Path) -> list[tuple[str, int]]:
    """The lines written by the app, as ``(event, pid)``."""
    rv = []

    for line in hook_log.read_text().splitlines():
        event, _, pid = line.rpartition(" ")
        rv.append((event, int(pid)))

    return rv


def count(hook_log: Path, event: str) -> collections.Counter[int]:
    """How many times ``event`` was written, per process id."""
    return collections.Counter(pid for e, pid in read_log(hook_log) if e == event)


def wait_for_lines(hook_log: Path, event: str, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout

    while time.monotonic() < deadline:
        if sum(count(hook_log, event).values()) >= n:
            return

        time.sleep(0.02)

    raise AssertionError(
        f"{n} x {event!r} not written in {timeout} s:\n{hook_log.read_text()}"
    )


def start_slow(
    pool: concurrent.futures.Executor,
    url: str,
    n: int,
    seconds: float = 1.0,
    size: int = 0,
) -> list[concurrent.futures.Future[requests.Response]]:
    return [
        pool.submit(requests.get, f"{url}/slow?s={seconds}&size={size}", timeout=60)
        for _ in range(n)
    ]


def start_draining(
    pool: concurrent.futures.Executor, app: t.Any, url: str, seconds: float
) -> concurrent.futures.Future[requests.Response]:
    """Start a ``/slow`` request of ``seconds`` on the in-process server of
    ``app``, then shut it down with the test token, and return once new
    requests are refused: the drain is held open by the slow request,
    whose future is returned. Waits are bounded (5 s each).
    """
    state = app.extensions["shutdown"]
    slow = pool.submit(requests.get, f"{url}/slow?s={seconds}", timeout=30)

    for _ in range(500):
        if len(state.in_flight):
            break

        time.sleep(0.01)

    rv = requests.post(
        f"{url}/shutdown", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert rv.status_code == 202

    for _ in range(500):
        if not state.coordinator.admitting:
            break

        time.sleep(0.01)

    return slow


def post_shutdown(url: str, client: str) -> int:
    """``POST /shutdown`` with curl and a bearer token, or with requests
    and Basic auth. Returns the status code.
    """
    if client == "curl":
        out = subprocess.run(
            [
                tool("curl"),
                "-sS",
                "-w",
                "\n%{http_code}",
                "-X",
                "POST",
                "-H",
                f"Authorization: Bearer {TOKEN}",
                f"{url}/shutdown",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        body, _, code = out.stdout.rpartition("\n")
        assert '"accepted"' in body, body
        return int(code)

    rv = requests.post(f"{url}/shutdown", auth=(USER, PASSWORD), timeout=60)
    assert rv.json()["status"] == "accepted"
    return rv.status_code


def assert_hooks_once(hook_log: Path, pids: set[int]) -> None:
    """Each hook ran exactly once in each of ``pids``, and nowhere else."""
    for hook in ("hook close_db", "hook flush_cache"):
        ran = count(hook_log, hook)
        assert dict(ran) == {pid: 1 for pid in pids}, hook_log.read_text()


def wait_ready(proc: Proc, url: str, timeout: float = 60) -> None:
    """Wait until ``GET url`` is answered with 200. Unlike
    :meth:`Proc.wait_url`, a slow answer (a worker still importing the
    app) is waited for too.
    """
    deadline = time.monotonic() + timeout

    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass

        if proc.returncode is not None:
            break

        time.sleep(0.05)

    raise AssertionError(f"{url} did not answer within {timeout} s:\n{proc.output()}")
