"""SIGTERM to waitress with :func:`~flask_shutdown.adapters.waitress.graceful_sigterm`,
as Kubernetes, systemd and ``docker stop`` send it: the same sequence as
``POST /shutdown``, requests running and queued all complete, the hooks
run once and the process exits 0; a second SIGTERM forces (exit code 3).
"""

from __future__ import annotations

import concurrent.futures
import signal
from pathlib import Path

import pytest
import requests

from ._proc import Proc
from ._proc import PYTHON
from ._proc import ROOT
from ._servers import APPS
from ._servers import assert_hooks_once
from ._servers import count
from ._servers import start_slow
from ._servers import tool
from ._servers import wait_for_lines
from ._servers import wait_ready

MODULE = "tests.apps.waitress_sigterm_app"


def _command(how: str) -> list[str]:
    if how == "waitress-serve":
        return [
            tool("waitress-serve"),
            "--listen=127.0.0.1:0",
            "--threads=4",
            f"{MODULE}:app",
        ]

    return [PYTHON, str(APPS / "waitress_sigterm_app.py")]


@pytest.mark.parametrize("how", ["waitress-serve", "waitress.serve"])
def test_sigterm_is_graceful(tmp_path: Path, how: str) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    env = {"HOOK_LOG": str(hook_log), "PYTHONPATH": str(ROOT)}

    with Proc(_command(how), tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        url = proc.wait_for_output(r"Serving on (http://127\.0\.0\.1:\d+)").group(1)
        wait_ready(proc, f"{url}/pid")

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            # Four run in the four threads, four wait in the task queue:
            # the signal must not turn those into 503s.
            slow = start_slow(pool, url, 8, seconds=0.5)
            wait_for_lines(hook_log, "slow-start", 4)
            # waitress's own warning once all eight have been received.
            proc.wait_for_output(r"Task queue depth is 4")
            proc.popen.send_signal(signal.SIGTERM)
            assert [f.result().text for f in slow] == ["slow done"] * 8

        assert proc.wait_exit(30) == 0
        assert proc.wait_group_gone(), "the waitress process is still running"

    output = proc.output()
    assert "SIGTERM: running the graceful shutdown" in output
    assert "requested by signal:SIGTERM via signal" in output
    assert_hooks_once(hook_log, {proc.pid})

    if how == "waitress.serve":
        assert count(hook_log, "serve returned") == {proc.pid: 1}


def test_second_sigterm_forces(tmp_path: Path) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    # The drain would wait 60 s for the slow request.
    env = {
        "HOOK_LOG": str(hook_log),
        "PYTHONPATH": str(ROOT),
        "SHUTDOWN_DRAIN_TIMEOUT": "60",
    }

    with Proc(
        _command("waitress-serve"), tmp_path / "server.log", env=env, cwd=ROOT
    ) as proc:
        url = proc.wait_for_output(r"Serving on (http://127\.0\.0\.1:\d+)").group(1)
        wait_ready(proc, f"{url}/pid")

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            slow = start_slow(pool, url, 1, seconds=60)
            wait_for_lines(hook_log, "slow-start", 1)
            proc.popen.send_signal(signal.SIGTERM)
            proc.wait_for_output(r"Shutdown \w+ accepted")
            proc.popen.send_signal(signal.SIGTERM)
            assert proc.wait_exit(30) == 3

            with pytest.raises(requests.RequestException):
                slow[0].result(timeout=30).raise_for_status()

    output = proc.output()
    assert "SIGTERM: forcing the stop" in output
    assert "forced" in output
