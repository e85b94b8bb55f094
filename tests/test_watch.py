"""Stopping by itself: after SHUTDOWN_IDLE_TIMEOUT without activity, and
when the parent process has gone (SHUTDOWN_STOP_WITH_PARENT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import typing as t
from pathlib import Path

import pytest
import requests
from flask import Response
from flask import stream_with_context

from .conftest import AppFactory


def test_idle_timeout_stops_gracefully(make_app: AppFactory, serve: t.Any) -> None:
    app, shutdown = make_app(SHUTDOWN_IDLE_TIMEOUT=0.5)
    ran: list[str] = []
    shutdown.teardown(lambda: ran.append("hook"))
    server = serve(app)
    assert requests.get(f"{server.url}/", timeout=10).text == "ok"

    # Readiness probes are not activity: the server stops all the same.
    for _ in range(300):
        if server.stopped:
            break

        try:
            requests.get(f"{server.url}/shutdown/ready", timeout=10)
        except requests.ConnectionError:
            break  # it stopped between the look and the probe

        time.sleep(0.05)

    assert server.wait_stopped(10)
    record = app.extensions["shutdown"].coordinator.record
    assert record.source == "idle"
    assert record.requested_by == "idle"
    assert record.reason == "no request for 0.5 s"
    assert ran == ["hook"]


def test_streaming_response_is_activity(make_app: AppFactory, serve: t.Any) -> None:
    app, _ = make_app(SHUTDOWN_IDLE_TIMEOUT=0.3)
    finished: list[float] = []

    @app.get("/stream")
    def stream() -> Response:
        def generate() -> t.Iterator[str]:
            for i in range(6):
                time.sleep(0.2)
                yield f"chunk {i}\n"

            finished.append(time.time())

        return Response(stream_with_context(generate()))

    server = serve(app)
    rv = requests.get(f"{server.url}/stream", timeout=30)
    assert rv.text.count("chunk") == 6
    assert server.wait_stopped(10)
    record = app.extensions["shutdown"].coordinator.record
    assert record.source == "idle"
    # The 1.2 s stream outlasted the 0.3 s timeout: the idle stop can only
    # have been accepted after its last chunk.
    assert record.requested_at >= finished[0]


@pytest.mark.parametrize("value", [0, -1, True, "5"])
def test_bad_idle_timeout_is_refused(make_app: AppFactory, value: object) -> None:
    with pytest.raises(RuntimeError, match="SHUTDOWN_IDLE_TIMEOUT"):
        make_app(SHUTDOWN_IDLE_TIMEOUT=value)


CHILD = """
import sys
from flask import Flask
from flask_shutdown import Shutdown, serve

app = Flask("child")
app.config.update(
    SHUTDOWN_TOKENS=["a-long-enough-test-token"], SHUTDOWN_STOP_WITH_PARENT=True
)
shutdown = Shutdown(app)
shutdown.teardown(lambda: open(sys.argv[1] + "/hooks", "a").write("hook ran\\n"))
# The watcher knows its parent from here on.
open(sys.argv[1] + "/ready", "w").close()
code = serve(app, "127.0.0.1", 0)
open(sys.argv[1] + "/exit", "w").write(str(code))
"""

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, sys.argv[1] + "/child.py", sys.argv[1]])
open(sys.argv[1] + "/child.pid", "w").write(str(child.pid))
time.sleep(120)
"""


def test_stops_when_the_parent_is_killed(tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(textwrap.dedent(CHILD))
    (tmp_path / "parent.py").write_text(textwrap.dedent(PARENT))
    parent = subprocess.Popen(
        [sys.executable, str(tmp_path / "parent.py"), str(tmp_path)],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )

    try:
        for _ in range(1000):
            if (tmp_path / "ready").exists():
                break

            time.sleep(0.02)

        child = int((tmp_path / "child.pid").read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)

        for _ in range(500):
            if (tmp_path / "exit").exists():
                break

            time.sleep(0.02)

        assert (tmp_path / "exit").read_text() == "0"
        assert (tmp_path / "hooks").read_text() == "hook ran\n"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)

        # The child was started by this test; end it if it is still there.
        if (tmp_path / "child.pid").exists() and not (tmp_path / "exit").exists():
            os.kill(int((tmp_path / "child.pid").read_text()), signal.SIGKILL)

    assert child > 0
