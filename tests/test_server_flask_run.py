"""``flask run`` and ``app.run()`` on current Werkzeug, with and without
the reloader: POST /shutdown drains, runs the hooks, and both the serving
process and the reloader's parent exit 0.
"""

from __future__ import annotations

import concurrent.futures
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
from ._servers import read_log
from ._servers import start_slow
from ._servers import tool
from ._servers import wait_for_lines
from ._servers import wait_ready


@pytest.fixture(autouse=True)
def _not_from_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set by Flask's CLI when a test invokes it in this process; inherited,
    # it makes app.run() return at once without serving.
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)


def run_and_shut_down(args: list[str], tmp_path: Path, client: str) -> Proc:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    env = {"HOOK_LOG": str(hook_log), "PYTHONPATH": str(ROOT)}

    with Proc(args, tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        url = proc.wait_for_output(r"Running on (http://127\.0\.0\.1:\d+)").group(1)
        wait_ready(proc, f"{url}/pid")

        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            slow = start_slow(pool, url, 2)
            wait_for_lines(hook_log, "slow-start", 2)
            assert post_shutdown(url, client) == 202
            assert [f.result().text for f in slow] == ["slow done"] * 2

        assert proc.wait_exit(30) == 0
        assert proc.wait_group_gone(), "a process of the server is still running"

    events = read_log(hook_log)
    serving = {pid for e, pid in events if e == "slow-start"}
    assert len(serving) == 1
    assert_hooks_once(hook_log, serving)
    names = [e for e, _ in events]
    # The drain comes first: both slow requests ended before any hook ran.
    assert names.index("hook close_db") > max(
        i for i, e in enumerate(names) if e == "slow-end"
    )
    return proc


@pytest.mark.parametrize(
    ("reload", "client"), [(False, "curl"), (True, "basic"), (True, "curl")]
)
def test_flask_run(tmp_path: Path, reload: bool, client: str) -> None:
    args = [tool("flask"), "--app", APP_MODULE, "run", "--host", "127.0.0.1"]
    args += ["--port", "0", "--debug" if reload else "--no-reload"]
    proc = run_and_shut_down(args, tmp_path, client)

    if reload:
        assert "Restarting with" in proc.output()


def test_flask_run_with_sigint_ignored(tmp_path: Path) -> None:
    # A server started in the background by a shell script ignores
    # SIGINT; the adapter then stops the server loop itself.
    flask = tool("flask")
    command = f'trap "" INT; exec {flask} --app {APP_MODULE} run --port 0 --no-reload'
    run_and_shut_down(["sh", "-c", command], tmp_path, "basic")


@pytest.mark.parametrize("reload", [False, True])
def test_app_run(tmp_path: Path, reload: bool) -> None:
    args = [PYTHON, str(APPS / "app_run.py")] + (["--reload"] if reload else [])
    run_and_shut_down(args, tmp_path, "curl")
    # Without the reloader app.run() returns and the script goes on; with
    # it, Werkzeug ends both processes with sys.exit(0) instead.
    returned = sum(count(tmp_path / "hooks.log", "app.run returned").values())
    assert returned == (0 if reload else 1)
