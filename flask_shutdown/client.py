"""A small HTTP client for the ``flask shutdown`` commands, on
:mod:`http.client` so that the commands need nothing beyond the
package's own dependencies. It never follows a redirect (that would send
the credentials elsewhere), decodes JSON bodies, and tells a closed port
apart from other failures: a closed port is how a stopped server looks.

A :class:`Connection` keeps its connection open between requests, so
that the status reads that follow a shutdown reach the worker process
that accepted it: on a server with several workers (gunicorn's gthread
workers), the one that runs the shutdown stops accepting new
connections, and only it knows how the shutdown went.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import ssl
import typing as t
import urllib.parse

#: How long one HTTP request may take at most.
_REQUEST_TIMEOUT = 10.0


@dataclasses.dataclass
class Response:
    """An answer: its status, its JSON object body (``None`` if the body
    is not one), the body as text, and its headers.
    """

    status: int
    body: dict[str, t.Any] | None
    text: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        name = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == name), None)

    @property
    def content_type(self) -> str:
        return self.header("Content-Type") or ""


class Unreachable(Exception):
    """Nothing answered. ``refused`` means the port is closed."""

    def __init__(self, message: str, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


class Connection:
    """One server's connection, kept open between requests and opened
    again when the server closed it.
    """

    def __init__(self) -> None:
        self._conn: http.client.HTTPConnection | None = None
        self._origin: tuple[str, str, int] | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(
        self, parts: urllib.parse.SplitResult, timeout: float
    ) -> tuple[http.client.HTTPConnection, bool]:
        """The open connection to the URL's server, and whether it was
        used before.
        """
        https = parts.scheme == "https"
        origin = (
            parts.scheme,
            parts.hostname or "",
            parts.port or (443 if https else 80),
        )

        if self._conn is not None and origin == self._origin:
            self._conn.timeout = timeout

            if self._conn.sock is not None:
                self._conn.sock.settimeout(timeout)
                return self._conn, True

        self.close()
        _, host, port = origin
        conn: http.client.HTTPConnection

        if https:
            context = ssl.create_default_context()
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=context
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)

        self._conn, self._origin = conn, origin
        return conn, False

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        payload: bytes | None,
        timeout: float,
    ) -> tuple[int, bytes, dict[str, str]]:
        parts = urllib.parse.urlsplit(url)
        target = parts.path or "/"

        if parts.query:
            target += "?" + parts.query

        while True:
            conn, reused = self._connection(parts, timeout)

            try:
                if conn.sock is None:
                    conn.connect()

                conn.request(method, target, body=payload, headers=headers)
                rv = conn.getresponse()
                raw = rv.read()
            except (
                http.client.RemoteDisconnected,
                BrokenPipeError,
                ConnectionResetError,
            ):
                self.close()

                # The server closed the connection kept from the previous
                # request (keep-alive timeout, or it is stopping): a read
                # is safe to send again, on a new connection.
                if reused and method == "GET":
                    continue

                raise
            except BaseException:
                self.close()
                raise

            if rv.will_close:
                self.close()

            return rv.status, raw, dict(rv.getheaders())


def request(
    method: str,
    url: str,
    auth: str,
    data: dict[str, t.Any] | None = None,
    timeout: float = _REQUEST_TIMEOUT,
    connection: Connection | None = None,
) -> Response:
    """Send one request with the ``Authorization`` header ``auth`` and an
    optional JSON body, over ``connection`` (kept open afterwards) or a
    connection of its own.

    :raises Unreachable: Nothing answered, or the answer was cut short.
    """
    headers = {"Accept": "application/json", "Authorization": auth}
    payload = None

    if data is not None:
        payload = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"

    own = connection is None
    conn = Connection() if connection is None else connection

    try:
        status, raw, response_headers = conn.request(
            method, url, headers, payload, timeout
        )
    except ConnectionRefusedError as e:
        raise Unreachable(str(e) or "connection refused", True) from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        # A timeout, an unknown host, or the server closing the connection
        # mid-request (a server that is exiting may cut a response short).
        raise Unreachable(str(e) or type(e).__name__, False) from None
    finally:
        if own:
            conn.close()

    text = raw.decode("utf-8", "replace")

    try:
        body = json.loads(text)
    except ValueError:
        body = None

    return Response(
        status, body if isinstance(body, dict) else None, text, response_headers
    )


def port_open(url: str, timeout: float = 1.0) -> bool:
    """Whether something still accepts connections on the URL's port."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)

    try:
        with socket.create_connection((parts.hostname or "", port), timeout):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        # Not refused (a timeout, a reset): something may still hold it.
        return True
