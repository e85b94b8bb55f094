"""SIGTERM to the uWSGI master, with the options the docs recommend
(``examples/uwsgi.ini``): the master routes it to a worker, which runs
the same sequence as ``POST /shutdown``. Requests running and queued all
complete, every worker runs the hooks once, the master exits 0; a second
SIGTERM stops at once.
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
from ._servers import start_slow
from ._servers import tool
from ._servers import wait_for_lines
from ._servers import wait_ready

WORKERS = 2
INI = ROOT / "examples" / "uwsgi.ini"


def _start(tmp_path: Path, extra: list[str], env: dict[str, str]) -> Proc:
    # The example configuration, with a FIFO of the test's own (a second
    # --master-fifo would not replace the first), its app and port.
    ini = tmp_path / "uwsgi.ini"
    text = INI.read_text()
    assert "master-fifo = master.fifo\n" in text
    text = text.replace("master.fifo", str(tmp_path / "master.fifo"))
    ini.write_text(text.replace("http-socket = 127.0.0.1:8000\n", ""))
    args = [tool("uwsgi"), "--ini", str(ini), "--processes", str(WORKERS)]
    args += ["--http-socket", "127.0.0.1:0", "--module", f"{APP_MODULE}:app"]
    return Proc([*args, *extra], tmp_path / "server.log", env=env, cwd=ROOT)


def _wait_up(proc: Proc, lazy: bool) -> tuple[str, set[int]]:
    port = proc.wait_for_output(r"bound to TCP address 127\.0\.0\.1:(\d+)").group(1)
    url = f"http://127.0.0.1:{port}"
    proc.wait_for_output(rf"(?s)(spawned uWSGI worker \d+ \(pid: \d+.*){{{WORKERS}}}")
    pids = {
        int(pid)
        for pid in re.findall(r"spawned uWSGI worker \d+ \(pid: (\d+)", proc.output())
    }
    loaded = WORKERS if lazy else 1
    proc.wait_for_output(rf"(?s)(WSGI app 0 \(mountpoint=''\) ready.*){{{loaded}}}")
    wait_ready(proc, f"{url}/pid")
    return url, pids


@pytest.mark.parametrize("extra", [[], ["--lazy-apps"]], ids=["default", "lazy-apps"])
def test_sigterm_is_graceful(tmp_path: Path, extra: list[str]) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()

    with _start(tmp_path, extra, {"HOOK_LOG": str(hook_log)}) as proc:
        url, worker_pids = _wait_up(proc, "--lazy-apps" in extra)

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            # Two run, six wait in the accept queue, which a plain SIGTERM
            # (or uWSGI's own graceful stop) would reset.
            slow = start_slow(pool, url, 8, seconds=0.3)
            wait_for_lines(hook_log, "slow-start", WORKERS)
            proc.popen.send_signal(signal.SIGTERM)
            assert [f.result().text for f in slow] == ["slow done"] * 8

        assert proc.wait_exit(60) == 0
        assert proc.wait_group_gone(), "a uWSGI process is still running"

    output = proc.output()
    assert "requested by signal:SIGTERM via signal" in output
    assert "graceful shutdown triggered" in output
    assert_hooks_once(hook_log, worker_pids)
    assert proc.pid not in count(hook_log, "hook close_db")


def test_second_sigterm_stops_at_once(tmp_path: Path) -> None:
    """The second SIGTERM goes to a free worker, which sees the shutdown
    under way and stops the master at once, as uWSGI's SIGINT does.
    """
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    # The worker that takes the first signal waits out the delay.
    env = {"HOOK_LOG": str(hook_log), "SHUTDOWN_DRAIN_DELAY": "60"}

    with _start(tmp_path, [], env) as proc:
        _wait_up(proc, False)
        proc.popen.send_signal(signal.SIGTERM)
        proc.wait_for_output(r"Shutdown \w+ accepted")
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.wait_exit(30) == 0
        assert proc.wait_group_gone(), "a uWSGI process is still running"

    output = proc.output()
    assert "SIGTERM again during the shutdown" in output
    assert "SIGINT/SIGTERM received...killing workers" in output
