"""A small HTTP client for the ``flask shutdown`` commands, on
:mod:`urllib.request` so that the commands need nothing beyond the
package's own dependencies. It never follows a redirect (that would send
the credentials elsewhere), decodes JSON bodies, and tells a closed port
apart from other failures: a closed port is how a stopped server looks.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import typing as t
import urllib.error
import urllib.parse
import urllib.request

#: How long one HTTP request may take at most.
_REQUEST_TIMEOUT = 10.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Following a redirect would send the credentials to another URL, and
    # turn the POST into a GET. Report the redirect instead.
    def redirect_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


@dataclasses.dataclass
class Response:
    """An answer: its status, its JSON object body (``None`` if the body
    is not one), the body as text, and its headers.
    """

    status: int
    body: dict[str, t.Any] | None
    text: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


class Unreachable(Exception):
    """Nothing answered. ``refused`` means the port is closed."""

    def __init__(self, message: str, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


def _open(
    req: urllib.request.Request, timeout: float
) -> tuple[int, bytes, dict[str, str]]:
    try:
        with _opener.open(req, timeout=timeout) as rv:
            return rv.status, rv.read(), dict(rv.headers.items())
    except urllib.error.HTTPError as e:
        # An error status is an answer too; its body says why.
        with e:
            return e.code, e.read(), dict(e.headers.items())


def request(
    method: str,
    url: str,
    auth: str,
    data: dict[str, t.Any] | None = None,
    timeout: float = _REQUEST_TIMEOUT,
) -> Response:
    """Send one request with the ``Authorization`` header ``auth`` and an
    optional JSON body.

    :raises Unreachable: Nothing answered, or the answer was cut short.
    """
    headers = {"Accept": "application/json", "Authorization": auth}
    payload = None

    if data is not None:
        payload = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"

    req = urllib.request.Request(url, data=payload, headers=headers, method=method)

    try:
        status, raw, response_headers = _open(req, timeout)
    except urllib.error.URLError as e:
        reason = e.reason
        refused = isinstance(reason, ConnectionRefusedError)
        raise Unreachable(str(reason), refused) from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        # A timeout, or the server closing the connection mid-request (a
        # server that is exiting may cut a response short).
        raise Unreachable(str(e) or type(e).__name__, False) from None

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
