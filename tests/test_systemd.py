"""serve() under systemd: the sd_notify messages, received on a real
datagram socket, in order."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import requests

from ._proc import Proc
from ._proc import ROOT
from .conftest import TOKEN

SERVE_APP = ROOT / "tests" / "apps" / "serve_app.py"


def test_notify_messages_in_order(tmp_path: Path) -> None:
    address = tmp_path / "notify.sock"
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.settimeout(20)
        env = {"NOTIFY_SOCKET": str(address), "HOOK_LOG": str(hook_log)}

        with Proc(
            [sys.executable, str(SERVE_APP)], tmp_path / "out.log", env=env
        ) as proc:
            url = proc.wait_for_output(r"Serving on (http://127\.0\.0\.1:\d+)").group(1)
            ready = sock.recv(4096).decode().splitlines()
            assert ready[0] == "READY=1"
            assert ready[1] == f"STATUS=Serving on {url}"
            assert ready[2] == f"MAINPID={proc.pid}"

            rv = requests.post(
                f"{url}/shutdown",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=10,
            )
            assert rv.status_code == 202
            messages = [sock.recv(4096).decode() for _ in range(3)]
            assert proc.wait_exit(30) == 0

    shutdown_id = rv.json()["shutdown_id"]
    assert messages == [
        f"STOPPING=1\nSTATUS=Draining: shutdown {shutdown_id} requested by token:0",
        "STATUS=Hooks done: 2 ran, 0 failed",
        "STATUS=Stopped with exit code 0",
    ]


def test_no_socket_no_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    from flask_shutdown import systemd

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False


def test_unreachable_socket_is_logged_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from flask_shutdown import systemd

    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    assert systemd.notify("READY=1") is False
    assert "Could not notify systemd" in caplog.text
