"""The one exception every refusal is raised as.

Every check of the endpoints (network, cross-site, method, lockout,
credentials, role, body, replay, strategy) raises
:class:`ShutdownRefused`. The views catch it in one place, write the
audit record, and answer with its JSON body; the in-flight middleware
answers the draining ``503`` with it too. Because it is a
:class:`~werkzeug.exceptions.HTTPException`, one that escapes to Flask is
still rendered as the same JSON, never as an HTML page or a 500.
"""

from __future__ import annotations

import collections.abc as cabc
import json
import math
import typing as t

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

#: The realm of the ``WWW-Authenticate`` challenges.
REALM = "flask-shutdown"

#: Every ``error`` code a client can receive, with its HTTP status and
#: what it means. ``docs/api.rst`` shows this table; a test checks that
#: every code raised in the package is listed here.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "bad_authorization": (
        400,
        "The Authorization header is longer than 4096 characters.",
    ),
    "bad_body": (
        400,
        "The body is not a JSON object with at most a reason.",
    ),
    "bad_framing": (
        400,
        "The Content-Length or Transfer-Encoding is malformed or conflicting,"
        " or the body is shorter than it says.",
    ),
    "bad_json": (
        400,
        "The body is not valid JSON.",
    ),
    "bad_reason": (
        400,
        "The reason is not a string of at most 500 characters.",
    ),
    "bad_query": (
        400,
        "A query parameter (follow, wait, since, fleet) is not valid.",
    ),
    "untrusted_host": (
        400,
        "The Host header names a host the endpoint is not served under"
        " (SHUTDOWN_TRUSTED_HOSTS).",
    ),
    "unauthorized": (
        401,
        "Missing or invalid credentials; the message says which.",
    ),
    "token_used": (
        401,
        "The signed token was already used; create a new one.",
    ),
    "forbidden_network": (
        403,
        "The client address is outside SHUTDOWN_ALLOWED_NETWORKS.",
    ),
    "cross_site": (
        403,
        "The request came from a web page of another site.",
    ),
    "bad_page_token": (
        403,
        "The heartbeat is not from a page this server rendered.",
    ),
    "forbidden": (
        403,
        "The credentials may not do this (SHUTDOWN_ROLES, token scope).",
    ),
    "not_found": (
        404,
        "The request path does not start with '/', so it names no endpoint.",
    ),
    "method_not_allowed": (
        405,
        "The endpoint does not take this method.",
    ),
    "body_too_large": (
        413,
        "The body is larger than SHUTDOWN_MAX_BODY.",
    ),
    "unsupported_media_type": (
        415,
        "The body is not application/json.",
    ),
    "too_many_attempts": (
        429,
        "Too many failed attempts; retry after Retry-After seconds.",
    ),
    "too_many_concurrent": (
        429,
        "Too many password checks at once (SHUTDOWN_MAX_CONCURRENT_HASHES);"
        " retry after Retry-After seconds.",
    ),
    "strategy_unavailable": (
        501,
        "SHUTDOWN_STRATEGY names a server that does not serve the app.",
    ),
    "fleet_status_off": (
        409,
        "GET /shutdown/status?fleet=1 needs SHUTDOWN_FLEET_STATUS = True.",
    ),
    "store_unavailable": (
        503,
        "SHUTDOWN_STORAGE_URI does not answer; no credential is checked.",
    ),
    "shutting_down": (
        503,
        "The server is draining and accepts no new requests.",
    ),
}

#: The reasons the audit record gives for a ``401 unauthorized``.
AUDIT_REASONS = frozenset(
    {
        "no_credentials",
        "bad_authorization",
        "bad_token",
        "token_expired",
        "token_from_future",
        "unknown_user",
        "bad_password",
        "callback_error",
    }
)


class ShutdownRefused(HTTPException):
    """A request to the shutdown or status endpoint was refused, or a new
    request arrived while the server drains.

    Rendered as ``{"error": code, "message": message}`` with :attr:`code`'s
    status and :attr:`headers`.

    :param error: A short code from :data:`ERROR_CODES`, such as
        ``"bad_json"``.
    :param message: A sentence for people; never a secret.
    :param reason: The reason in the audit record, when it says more than
        ``error``: every credential failure answers ``unauthorized``, so
        that a client cannot tell an unknown user from a wrong password,
        while the audit log records which it was.
    :param headers: Extra response headers (``Retry-After``,
        ``WWW-Authenticate``, ``Allow``).
    :param principal: Who the credentials named, when known, for the
        audit record. Never a secret.
    """

    def __init__(
        self,
        error: str,
        message: str,
        *,
        reason: str | None = None,
        headers: cabc.Mapping[str, str] | None = None,
        principal: str | None = None,
    ) -> None:
        super().__init__(message)
        #: Why, for the audit record.
        self.reason = reason or error
        #: The HTTP status, from :data:`ERROR_CODES`.
        self.code: int = ERROR_CODES[error][0]
        #: The short error code.
        self.error = error
        #: The sentence shown to the client.
        self.message = message
        #: Extra response headers.
        self.headers = dict(headers or {})
        #: Who the credentials named, for the audit record.
        self.principal = principal

    @property
    def body(self) -> bytes:
        """The JSON body, ending in a newline like Flask's ``jsonify``."""
        return (
            json.dumps({"error": self.error, "message": self.message}).encode() + b"\n"
        )

    def get_response(  # type: ignore[override]
        self,
        environ: WSGIEnvironment | None = None,
        scope: dict[str, t.Any] | None = None,
    ) -> Response:
        rv = Response(self.body, self.code, mimetype="application/json")
        rv.headers.update(self.headers)
        return rv

    # -- the refusals raised in more than one place --------------------------

    @classmethod
    def unauthorized(
        cls,
        reason: str,
        message: str,
        *,
        scheme: str = "Bearer",
        principal: str | None = None,
    ) -> ShutdownRefused:
        """A ``401 unauthorized`` with the ``WWW-Authenticate`` challenge of
        ``scheme``; ``reason`` (one of :data:`AUDIT_REASONS`) goes to the
        audit record only.
        """
        assert reason in AUDIT_REASONS, reason
        return cls(
            "unauthorized",
            message,
            reason=reason,
            headers={"WWW-Authenticate": f'{scheme} realm="{REALM}"'},
            principal=principal,
        )

    @classmethod
    def retry_after(cls, error: str, message: str, seconds: float) -> ShutdownRefused:
        """A refusal the client may retry after ``seconds`` (rounded up)."""
        return cls(
            error, message, headers={"Retry-After": str(max(1, math.ceil(seconds)))}
        )
