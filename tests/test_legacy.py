"""The legacy environ["werkzeug.server.shutdown"] hook, on a real install
of Flask 2.0.3 and Werkzeug 2.0.3 (.venv-legacy, built by the test
command): hooks run first, then the hook stops the server.
"""

from __future__ import annotations

import concurrent.futures
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from ._proc import LEGACY_PYTHON
from ._proc import Proc
from ._proc import ROOT
from .conftest import PASSWORD
from .conftest import TOKEN
from .conftest import USER

APP = str(ROOT / "tests" / "apps" / "legacy_app.py")


@pytest.fixture(scope="module")
def legacy_python() -> str:
    assert LEGACY_PYTHON.exists(), (
        "The Flask 2.0 environment is missing; scripts/test.sh builds it"
        " (scripts/bootstrap.sh test)."
    )
    version = subprocess.run(
        [str(LEGACY_PYTHON), "-c", "import werkzeug; print(werkzeug.__version__)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert version == "2.0.3"
    return str(LEGACY_PYTHON)


def free_port() -> int:
    # app.run() on Werkzeug 2.0 does not report the port it bound for
    # port 0, so this one test picks a port first (a small, accepted race).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("mode", ["make_server", "app.run"])
def test_legacy_hook_stops_the_server_after_hooks(
    legacy_python: str, tmp_path: Path, mode: str
) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    args = [legacy_python, APP, mode]

    if mode == "app.run":
        args.append(str(free_port()))

    with Proc(args, tmp_path / "server.log", env={"HOOK_LOG": str(hook_log)}) as proc:
        url = proc.wait_for_output(r"Serving on (http://\S+)").group(1)
        proc.wait_url(f"{url}/version")
        assert requests.get(f"{url}/version", timeout=5).text == "2.0.3"

        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            slow = pool.submit(requests.get, f"{url}/slow", timeout=10)

            for _ in range(500):
                if "slow-start" in hook_log.read_text():
                    break

                time.sleep(0.01)

            rv = requests.post(
                f"{url}/shutdown",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=10,
            )
            assert rv.status_code == 202
            assert rv.json()["status"] == "accepted"
            assert slow.result().text == "slow done"

        assert proc.wait_exit(20) == 0

    lines = hook_log.read_text().splitlines()
    assert lines == [
        "slow-start",
        "slow-end",
        "hook close_db",
        "hook flush_cache",
        "server returned",
    ]
    # Without the reloader app.run() returns and the script decides the
    # exit code: the log line does not claim one.
    assert "werkzeug-legacy told to stop" in proc.output()


def test_legacy_basic_auth_and_refusals(legacy_python: str, tmp_path: Path) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()

    with Proc(
        [legacy_python, APP, "make_server"],
        tmp_path / "server.log",
        env={"HOOK_LOG": str(hook_log)},
    ) as proc:
        url = proc.wait_for_output(r"Serving on (http://\S+)").group(1)
        proc.wait_url(f"{url}/version")
        refused = requests.post(f"{url}/shutdown", auth=(USER, "wrong"), timeout=5)
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized"
        assert requests.get(f"{url}/shutdown", timeout=5).status_code == 405
        rv = requests.post(f"{url}/shutdown", auth=(USER, PASSWORD), timeout=10)
        assert rv.status_code == 202
        assert proc.wait_exit(20) == 0

    assert "hook close_db" in hook_log.read_text()
