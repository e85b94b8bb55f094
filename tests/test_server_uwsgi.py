"""uWSGI with --master and several workers: POST /shutdown stops it
gracefully through the master FIFO (or, without one, once the other
workers are idle), every worker runs the hooks once, the master never
does, and the master exits 0.
"""

from __future__ import annotations

import concurrent.futures
import re
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

WORKERS = 3


@pytest.mark.parametrize(
    ("fifo", "extra", "client"),
    [(True, [], "curl"), (True, ["--lazy-apps"], "basic"), (False, [], "basic")],
    ids=["fifo", "fifo-lazy-apps", "no-fifo"],
)
def test_uwsgi(tmp_path: Path, fifo: bool, extra: list[str], client: str) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    args = [tool("uwsgi"), "--master", "--processes", str(WORKERS)]
    args += ["--http-socket", "127.0.0.1:0", "--module", f"{APP_MODULE}:app"]
    args += ["--need-app", "--enable-threads", *extra]

    if fifo:
        args += ["--master-fifo", str(tmp_path / "master.fifo")]

    env = {"HOOK_LOG": str(hook_log)}

    with Proc(args, tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        port = proc.wait_for_output(r"bound to TCP address 127\.0\.0\.1:(\d+)").group(1)
        url = f"http://127.0.0.1:{port}"
        proc.wait_for_output(
            rf"(?s)(spawned uWSGI worker \d+ \(pid: \d+.*){{{WORKERS}}}"
        )
        worker_pids = {
            int(pid)
            for pid in re.findall(
                r"spawned uWSGI worker \d+ \(pid: (\d+)", proc.output()
            )
        }
        # With --lazy-apps each worker loads the app after it is spawned.
        loaded = WORKERS if "--lazy-apps" in extra else 1
        proc.wait_for_output(rf"(?s)(WSGI app 0 \(mountpoint=''\) ready.*){{{loaded}}}")
        wait_ready(proc, f"{url}/pid")

        with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS + 1) as pool:
            # One worker stays free for the shutdown request.
            slow = start_slow(pool, url, WORKERS - 1, seconds=2.0)
            wait_for_lines(hook_log, "slow-start", WORKERS - 1)
            assert post_shutdown(url, client) == 202
            assert [f.result().text for f in slow] == ["slow done"] * (WORKERS - 1)

        assert proc.wait_exit(60) == 0
        assert proc.wait_group_gone(), "a uWSGI process is still running"

    output = proc.output()

    if fifo:
        assert "graceful shutdown triggered" in output
    else:
        assert "no --master-fifo" in output

    assert "goodbye to uWSGI" in output
    assert_hooks_once(hook_log, worker_pids)
    assert proc.pid not in count(hook_log, "hook close_db")
