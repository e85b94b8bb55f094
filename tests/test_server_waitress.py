"""waitress, from ``waitress-serve`` and from ``waitress.serve(app)``: the
stop waits until every response has been written out (waitress writes
part of each body from its main loop), the hooks run, and the process
exits 0.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import threading
import urllib.parse
from pathlib import Path

import pytest

from ._proc import Proc
from ._proc import PYTHON
from ._proc import ROOT
from ._servers import APP_MODULE
from ._servers import APPS
from ._servers import assert_hooks_once
from ._servers import count
from ._servers import post_shutdown
from ._servers import tool
from ._servers import wait_for_lines
from ._servers import wait_ready

#: Bodies far larger than a socket buffer, so that the main loop still
#: has bytes to send when the app is done with them.
SIZE = 4_000_000


def slow_get(url: str, sent: threading.Semaphore) -> str:
    """``GET /slow`` whose request is on the wire before ``sent`` is
    released: a shutdown requested after that is queued behind it.
    """
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    try:
        conn.request("GET", f"/slow?s=1.0&size={SIZE}")
        sent.release()
        return conn.getresponse().read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize("how", ["waitress-serve", "waitress.serve"])
def test_waitress(tmp_path: Path, how: str) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()

    if how == "waitress-serve":
        args = [tool("waitress-serve"), "--listen=127.0.0.1:0", "--threads=4"]
        args.append(f"{APP_MODULE}:app")
        client = "curl"
    else:
        args = [PYTHON, str(APPS / "waitress_app.py")]
        client = "basic"

    env = {"HOOK_LOG": str(hook_log), "PYTHONPATH": str(ROOT)}

    with Proc(args, tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        url = proc.wait_for_output(r"Serving on (http://127\.0\.0\.1:\d+)").group(1)
        wait_ready(proc, f"{url}/pid")

        with concurrent.futures.ThreadPoolExecutor(max_workers=7) as pool:
            # Four run in the 4 threads, two wait in the task queue; the
            # shutdown is requested once all six are on the wire, so that
            # none of them arrives after it (and rightly gets a 503).
            sent = threading.Semaphore(0)
            slow = [pool.submit(slow_get, url, sent) for _ in range(6)]

            for _ in range(6):
                assert sent.acquire(timeout=30)

            wait_for_lines(hook_log, "slow-start", 4)
            assert post_shutdown(url, client) == 202
            bodies = [f.result() for f in slow]

        assert bodies == ["slow done" + "." * SIZE] * 6
        assert proc.wait_exit(30) == 0
        assert proc.wait_group_gone(), "the waitress process is still running"

    assert_hooks_once(hook_log, {proc.pid})

    if how == "waitress.serve":
        # serve() returned normally and the script went on.
        assert count(hook_log, "serve returned") == {proc.pid: 1}
