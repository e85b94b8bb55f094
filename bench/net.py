"""The orchestrator's loopback HTTP: one request per connection, waiting
for a server to answer, and naming the ways a request can fail.
"""

from __future__ import annotations

import collections.abc as cabc
import http.client
import re
import socket
import time
from pathlib import Path

from .common import HOST
from .common import perf


def http_request(
    port: int,
    path: str = "/",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 2.0,
) -> tuple[int, bytes]:
    """Send one request on a new connection and return the status and the
    body.
    """
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    try:
        conn.request(method, path, headers={"Connection": "close", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def free_port() -> int:
    """A port that was free a moment ago."""
    # Only for servers that cannot bind port 0 themselves; the short
    # bind-then-release race is acceptable on a quiet loopback.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_ready(
    port: int,
    t0: float,
    timeout: float = 15.0,
    alive: cabc.Callable[[], bool] | None = None,
) -> float:
    """Poll ``GET /`` about every millisecond until it answers 200; return
    the seconds since ``t0``.
    """
    deadline = t0 + timeout

    while True:
        now = perf()

        if now > deadline:
            raise TimeoutError(f"The server was not ready after {timeout:.0f} s.")

        if alive is not None and not alive():
            raise RuntimeError("The server process exited before it was ready.")

        try:
            status, _ = http_request(port, timeout=max(0.05, min(5.0, deadline - now)))

            if status == 200:
                return perf() - t0
        except (OSError, http.client.HTTPException):
            pass

        time.sleep(0.001)


def wait_for_port(
    log_path: Path, deadline: float, alive: cabc.Callable[[], bool]
) -> int:
    """Read the port a server picked from the URL it prints on start-up
    (gunicorn, waitress and Werkzeug print ``http://HOST:PORT``; uWSGI
    prints ``bound to TCP address HOST:PORT``).
    """
    pattern = re.compile(rf"(?:http://|TCP address ){re.escape(HOST)}:(\d+)")

    while perf() < deadline:
        match = pattern.search(log_path.read_text(errors="replace"))

        if match:
            return int(match.group(1))

        if not alive():
            raise RuntimeError("The server process exited before it printed its URL.")

        time.sleep(0.001)

    raise TimeoutError("The server printed no URL in time.")


def classify(exc: BaseException) -> str:
    """A short name for the way a request failed."""
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed-no-response"
    if isinstance(exc, http.client.IncompleteRead):
        return "truncated"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, BrokenPipeError):
        return "broken-pipe"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    return type(exc).__name__
