"""gunicorn with several sync or gthread workers: one POST /shutdown to
any worker stops the whole server gracefully. Requests in flight in the
other workers complete, every worker runs the hooks once (the arbiter
never does, even with --preload), and the arbiter exits 0.
"""

from __future__ import annotations

import concurrent.futures
import re
import signal
from pathlib import Path

import pytest

from ._proc import Proc
from ._proc import ROOT
from ._servers import APP_MODULE
from ._servers import assert_hooks_once
from ._servers import count
from ._servers import post_shutdown
from ._servers import start_slow
from ._servers import tool
from ._servers import wait_for_lines
from ._servers import wait_ready


@pytest.mark.parametrize(
    ("options", "client"),
    [
        # The documented example configuration: three sync workers.
        (["-c", str(ROOT / "examples" / "gunicorn.conf.py"), "-w", "3"], "curl"),
        (["-k", "gthread", "-w", "2", "--threads", "2"], "basic"),
        (["-k", "sync", "-w", "2", "--preload"], "basic"),
    ],
    ids=["sync", "gthread", "sync-preload"],
)
def test_gunicorn(tmp_path: Path, options: list[str], client: str) -> None:
    workers = int(options[options.index("-w") + 1])
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    args = [tool("gunicorn"), "-b", "127.0.0.1:0", *options]
    # No control socket: it would live in the home directory, shared by
    # every gunicorn on the machine.
    args += ["--graceful-timeout", "30", "--no-control-socket", f"{APP_MODULE}:app"]

    env = {"HOOK_LOG": str(hook_log)}

    with Proc(args, tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        url = proc.wait_for_output(r"Listening at: (http://127\.0\.0\.1:\d+)").group(1)
        proc.wait_for_output(rf"(?s)(Booting worker with pid: \d+.*){{{workers}}}")
        worker_pids = {
            int(pid)
            for pid in re.findall(r"Booting worker with pid: (\d+)", proc.output())
        }
        wait_ready(proc, f"{url}/pid")

        with concurrent.futures.ThreadPoolExecutor(max_workers=workers + 2) as pool:
            # Keep one sync worker free for the shutdown request; the
            # others are in the middle of a request when it arrives.
            slow = start_slow(pool, url, workers - 1, seconds=2.0)
            wait_for_lines(hook_log, "slow-start", workers - 1)
            assert post_shutdown(url, client) == 202
            assert [f.result().text for f in slow] == ["slow done"] * (workers - 1)

        assert proc.wait_exit(60) == 0
        assert proc.wait_group_gone(), "a gunicorn process is still running"

    assert "Handling signal: term" in proc.output()

    if "-c" in options:
        assert "gunicorn arbiter exiting" in proc.output()
    assert_hooks_once(hook_log, worker_pids)
    assert proc.pid not in count(hook_log, "hook close_db")
    # Every slow request ended in a worker that was told to stop.
    assert sum(count(hook_log, "slow-end").values()) == workers - 1


def test_sigterm_with_the_example_config_is_graceful(tmp_path: Path) -> None:
    """SIGTERM to the arbiter, as Kubernetes or systemd send it, drains
    like POST /shutdown: requests running and queued all complete, and
    every worker runs the hooks once.
    """
    workers = 2
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    args = [tool("gunicorn"), "-c", str(ROOT / "examples" / "gunicorn.conf.py")]
    args += ["-b", "127.0.0.1:0", "-w", str(workers), "--no-control-socket"]
    args += [f"{APP_MODULE}:app"]

    with Proc(
        args, tmp_path / "server.log", env={"HOOK_LOG": str(hook_log)}, cwd=ROOT
    ) as proc:
        url = proc.wait_for_output(r"Listening at: (http://127\.0\.0\.1:\d+)").group(1)
        proc.wait_for_output(rf"(?s)(Booting worker with pid: \d+.*){{{workers}}}")
        worker_pids = {
            int(pid)
            for pid in re.findall(r"Booting worker with pid: (\d+)", proc.output())
        }
        wait_ready(proc, f"{url}/pid")

        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            # More requests than workers: some wait in the accept queue,
            # which a plain SIGTERM resets.
            slow = start_slow(pool, url, 6, seconds=0.5)
            wait_for_lines(hook_log, "slow-start", workers)
            proc.popen.send_signal(signal.SIGTERM)
            assert [f.result().text for f in slow] == ["slow done"] * 6

        assert proc.wait_exit(60) == 0

    assert "SIGTERM: asking a worker for the graceful shutdown" in proc.output()
    assert "requested by token:gunicorn-arbiter" in proc.output()
    assert_hooks_once(hook_log, worker_pids)
