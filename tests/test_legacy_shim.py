"""SHUTDOWN_LEGACY_HOOK: the seeds' ``werkzeug.server.shutdown`` view,
verbatim, stops a Werkzeug 3 app gracefully on ServerThread, ``flask
run`` and gunicorn, with the hooks run and the response delivered."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import requests

from flask_shutdown import ServerThread

from ._proc import BIN
from ._proc import Proc
from ._proc import ROOT
from ._servers import tool

SEED_MODULE = "tests.apps.seed_app"


def test_werkzeug_is_new_enough_to_lack_the_hook() -> None:
    # The point of the shim: Werkzeug removed the hook in 2.1.
    major, minor = importlib.metadata.version("werkzeug").split(".")[:2]
    assert (int(major), int(minor)) >= (2, 1)


def test_seed_view_on_server_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_LOG", str(tmp_path / "hooks.log"))
    from .apps import seed_app

    server = ServerThread(seed_app.app, port=0)
    server.start()
    rv = requests.get(f"{server.url}/shutdown", timeout=10)
    assert rv.text == "Server shutting down..."
    assert server.wait_stopped(10)
    server.join(10)
    record = seed_app.app.extensions["shutdown"].coordinator.record
    assert record.requested_by == "app"
    assert record.server == "thread"
    assert (tmp_path / "hooks.log").read_text().startswith("hook close_db")


@pytest.mark.parametrize("server", ["flask run", "gunicorn"])
def test_seed_view_on_real_servers(tmp_path: Path, server: str) -> None:
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    env = {"HOOK_LOG": str(hook_log)}

    if server == "flask run":
        args = [str(BIN / "flask"), "--app", SEED_MODULE, "run", "--port", "0"]
        pattern = r"Running on (http://127\.0\.0\.1:\d+)"
    else:
        args = [tool("gunicorn"), "-b", "127.0.0.1:0", "-w", "2"]
        args += ["--no-control-socket", f"{SEED_MODULE}:app"]
        pattern = r"Listening at: (http://127\.0\.0\.1:\d+)"

    with Proc(args, tmp_path / "server.log", env=env, cwd=ROOT) as proc:
        url = proc.wait_for_output(pattern).group(1)
        rv = requests.get(f"{url}/shutdown", timeout=20)
        assert rv.text == "Server shutting down..."
        assert proc.wait_exit(60) == 0

    lines = hook_log.read_text().splitlines()
    assert lines and all(line.startswith("hook close_db") for line in lines)
    assert "werkzeug.server.shutdown called" in proc.output()
    assert "Protect those views" in proc.output()
