"""Broken body framing with a valid token, on every real server: a
malformed or conflicting Content-Length, or a body shorter or longer than
it says, is refused with 400 and starts nothing.

Werkzeug's server and uWSGI pass a malformed Content-Length on to the app,
and Werkzeug reads it as 0: ``Content-Length: abc`` used to start a
shutdown there, while gunicorn and waitress refused it. Now the app
refuses what the server passes on, and every server gives the same
answer.
"""

from __future__ import annotations

import json
import socket
import typing as t
from pathlib import Path

import pytest
import requests

from ._proc import Proc
from ._proc import ROOT
from ._servers import APP_MODULE
from ._servers import tool
from ._servers import wait_ready
from .conftest import AppFactory
from .conftest import TOKEN

HEAD = (
    b"POST /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    + f"Authorization: Bearer {TOKEN}\r\n".encode()
    + b"Content-Type: application/json\r\nConnection: close\r\n"
)

#: Each with a valid token and a body that would be a valid request.
FRAMINGS = {
    "length-abc": b"Content-Length: abc\r\n\r\n{}   ",
    "length-negative": b"Content-Length: -1\r\n\r\n{}   ",
    "length-exponent": b"Content-Length: 1e3\r\n\r\n{}   ",
    "length-hex": b"Content-Length: 0x10\r\n\r\n{}   ",
    "length-list": b"Content-Length: 5, 5\r\n\r\n{}   ",
    "length-and-chunked": (
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    ),
    "two-lengths-last-longer": (
        b"Content-Length: 5\r\nContent-Length: 40\r\n\r\n{}   "
    ),
    "body-shorter": b"Content-Length: 40\r\n\r\n{}   ",
    "chunk-longer": b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}  \r\n0\r\n\r\n",
    "chunk-shorter": b"Transfer-Encoding: chunked\r\n\r\n9\r\n{}\r\n0\r\n\r\n",
}

#: What a server does on its own before the app sees the request, where
#: it differs; see docs/security.rst, "Hostile input".
SERVER_OWN = {
    # waitress decodes a chunked body and drops the Content-Length before
    # the app sees the request (RFC 9112: Transfer-Encoding wins), so no
    # conflict is left to refuse.
    ("waitress", "length-and-chunked"): "not sent",
}


def _send(port: int, data: bytes) -> tuple[int | None, bytes]:
    """Send, half-close, and return the status (``None`` when the server
    closed without answering) and the body.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""

        try:
            while len(received) < 100_000 and (chunk := sock.recv(65536)):
                received += chunk
        except ConnectionResetError:
            pass

    if not received.startswith(b"HTTP/"):
        return None, b""

    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _start(kind: str, tmp_path: Path) -> tuple[Proc, int]:
    env = {"HOOK_LOG": str(tmp_path / "hooks.log")}
    app = f"{APP_MODULE}:app"

    if kind == "flask run":
        args = [tool("flask"), "--app", APP_MODULE, "run", "--host", "127.0.0.1"]
        args += ["--port", "0", "--no-reload"]
        pattern = r"Running on http://127\.0\.0\.1:(\d+)"
    elif kind == "gunicorn":
        args = [tool("gunicorn"), "-b", "127.0.0.1:0", "-w", "2"]
        args += ["--no-control-socket", app]
        pattern = r"Listening at: http://127\.0\.0\.1:(\d+)"
    elif kind == "waitress":
        args = [tool("waitress-serve"), "--listen=127.0.0.1:0", app]
        pattern = r"Serving on http://127\.0\.0\.1:(\d+)"
    else:
        args = [tool("uwsgi"), "--master", "--processes", "2"]
        args += ["--http-socket", "127.0.0.1:0", "--module", app]
        args += ["--need-app", "--enable-threads"]
        pattern = r"bound to TCP address 127\.0\.0\.1:(\d+)"

    proc = Proc(args, tmp_path / "server.log", env=env, cwd=ROOT)
    port = int(proc.wait_for_output(pattern).group(1))
    wait_ready(proc, f"http://127.0.0.1:{port}/shutdown/ready")
    return proc, port


@pytest.mark.parametrize(
    "kind", ["ServerThread", "flask run", "gunicorn", "waitress", "uWSGI"]
)
def test_broken_framing_on_every_server(
    kind: str, tmp_path: Path, make_app: AppFactory, serve: t.Any
) -> None:
    proc: Proc | None = None

    if kind == "ServerThread":
        stops: list[t.Any] = []
        app, _ = make_app(SHUTDOWN_STRATEGY=stops.append)
        port = serve(app).port
    else:
        proc, port = _start(kind, tmp_path)

    answers: dict[str, tuple[int | None, bytes]] = {}

    try:
        for name, framing in FRAMINGS.items():
            if (kind, name) in SERVER_OWN:
                continue

            status, body = _send(port, HEAD + framing)
            answers[name] = status, body
            # Refused by the app (JSON) or by the server itself; waitress
            # waits for a body that never comes and closes when the client
            # does, without an answer.
            assert status in (400, None), (name, status, body[:200])

            if status == 400 and body.startswith(b"{"):
                assert json.loads(body)["error"] == "bad_framing", name

            # Nothing started: the server still serves and is ready.
            ready = requests.get(f"http://127.0.0.1:{port}/shutdown/ready", timeout=10)
            assert ready.status_code == 200, name

        if kind == "ServerThread":
            assert stops == []
            assert app.extensions["shutdown"].coordinator.record is None
        else:
            assert proc is not None and proc.returncode is None
    finally:
        if proc is not None:
            proc.kill()

    # Where the server passes a malformed length on, the app refuses it.
    if kind in ("ServerThread", "flask run", "uWSGI"):
        status, body = answers["length-abc"]
        assert status == 400
        assert json.loads(body)["error"] == "bad_framing"
