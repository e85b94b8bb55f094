"""flask_shutdown.serve(): signals run the graceful sequence in a real
process, and the exit code says how it went.
"""

from __future__ import annotations

import concurrent.futures
import signal
import sys
import time
from pathlib import Path

import requests

from flask_shutdown import ExitCode

from ._proc import Proc
from ._proc import ROOT
from .conftest import TOKEN


def start(tmp_path: Path, **env: str) -> tuple[Proc, str, Path]:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    proc = Proc(
        [sys.executable, str(ROOT / "tests" / "apps" / "serve_app.py")],
        tmp_path / "server.log",
        env={"HOOK_LOG": str(hook_log), **env},
    )
    url = proc.wait_for_output(r"Serving on (http://\S+)").group(1)
    return proc, url, hook_log


def wait_for_line(path: Path, text: str, count: int = 1, timeout: float = 10) -> None:
    """Wait until ``text`` appears ``count`` times in the file."""
    deadline = time.monotonic() + timeout

    while time.monotonic() < deadline:
        if path.read_text().count(text) >= count:
            return

        time.sleep(0.01)

    raise AssertionError(f"{text!r} not {count} times in {path.read_text()!r}")


def test_sigterm_is_graceful_and_exits_0(tmp_path: Path) -> None:
    proc, url, hook_log = start(tmp_path)

    with proc, concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        slow = [
            pool.submit(requests.get, f"{url}/slow?s=0.5", timeout=10) for _ in range(4)
        ]

        wait_for_line(hook_log, "slow-start", count=4)

        proc.popen.send_signal(signal.SIGTERM)
        assert proc.wait_exit(20) == ExitCode.OK
        assert [f.result().text for f in slow] == ["slow done"] * 4

    lines = hook_log.read_text().splitlines()
    assert lines.count("slow-end") == 4
    hooks = [line for line in lines if line.startswith("hook")]
    assert [h.split()[1] for h in hooks] == ["close_db", "maybe_fail"]
    # The hooks ran after every request had finished.
    assert lines.index(hooks[0]) > max(
        i for i, x in enumerate(lines) if x == "slow-end"
    )
    assert "accepted: requested by signal:SIGTERM" in proc.output()


def test_sigint_is_graceful_too(tmp_path: Path) -> None:
    proc, url, hook_log = start(tmp_path)

    with proc:
        assert requests.get(f"{url}/slow?s=0", timeout=5).text == "slow done"
        proc.popen.send_signal(signal.SIGINT)
        assert proc.wait_exit(20) == ExitCode.OK

    assert "hook close_db" in hook_log.read_text()


def test_failing_hook_gives_exit_code_1(tmp_path: Path) -> None:
    proc, url, hook_log = start(tmp_path, FAIL_HOOK="1")

    with proc:
        rv = requests.post(
            f"{url}/shutdown", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert rv.status_code == 202
        assert proc.wait_exit(20) == ExitCode.HOOK_FAILED

    assert "hook close_db" in hook_log.read_text()
    assert "cache server is gone" in proc.output()


def test_drain_timeout_gives_exit_code_2(tmp_path: Path) -> None:
    proc, url, hook_log = start(tmp_path, DRAIN_TIMEOUT="0.2")

    with proc, concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(requests.get, f"{url}/slow?s=5", timeout=10)
        wait_for_line(hook_log, "slow-start")
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.wait_exit(20) == ExitCode.DRAIN_TIMEOUT

    assert "GET /slow" in proc.output()


def test_second_sigint_forces_a_fast_stop(tmp_path: Path) -> None:
    proc, url, hook_log = start(tmp_path)

    with proc, concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(requests.get, f"{url}/slow?s=10", timeout=15)
        wait_for_line(hook_log, "slow-start")
        proc.popen.send_signal(signal.SIGINT)
        # Bounded wait until the first interrupt has begun the drain.
        for _ in range(500):
            if "accepted" in proc.output():
                break

            time.sleep(0.01)

        proc.popen.send_signal(signal.SIGINT)
        assert proc.wait_exit(20) == ExitCode.FORCED

    # Forced: the drain was cut short, so the hooks never ran.
    assert "hook" not in hook_log.read_text()
    assert "slow-end" not in hook_log.read_text()
