"""The blueprint: ``POST /shutdown``, ``GET /shutdown/status`` and the
unauthenticated readiness endpoint.

Every check raises :class:`~flask_shutdown.ShutdownRefused`; :func:`_answer`
is the one place that catches it, writes the audit record and answers.

This module and :mod:`.extension` refer to each other, as Flask-SQLAlchemy's
extension and its model and session modules do: the extension builds the
blueprint from its per-app state, and the views read that state. The
views import it only for type checking.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import json
import re
import typing as t

from flask import Blueprint
from flask import jsonify
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import Rule

from .audit import ACCEPTED
from .audit import clean
from .audit import log_attempt
from .audit import REFUSED
from .config import ROLE_SHUTDOWN
from .config import ROLE_STATUS
from .refusals import REALM
from .refusals import ShutdownRefused

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment
    from flask import Flask
    from flask import Response

    from .auth import Principal
    from .extension import AppState

#: The longest accepted shutdown reason, in characters.
MAX_REASON_LENGTH = 500

#: The longest accepted ``Authorization`` header, in characters. Real
#: credentials are far shorter; a longer value is refused before it is
#: parsed or hashed.
MAX_AUTHORIZATION_LENGTH = 4096


@dataclasses.dataclass
class _Outcome:
    """What a request that passed every check did, for the audit record."""

    response: Response
    reason: str
    principal: str
    shutdown_reason: str | None = None
    shutdown_id: str | None = None


def create_blueprint(state: AppState) -> Blueprint:
    """Build the blueprint for one app. Only the readiness endpoint is
    registered when no credential is configured.
    """
    config = state.config
    bp = Blueprint("shutdown", __name__)

    if config.ready_path is not None:
        bp.add_url_rule(
            config.ready_path, "ready", lambda: _ready(state), methods=["GET"]
        )

    if not config.has_credentials:
        return bp

    protect = state.auth.protect
    do_shutdown = protect(lambda: _shutdown(state))
    do_status = protect(lambda: _status(state))

    def shutdown_view() -> Response:
        return _answer(state, "shutdown", ("POST",), do_shutdown)

    def status_view() -> Response:
        return _answer(state, "status", ("GET", "HEAD"), do_status)

    views = {
        "shutdown.shutdown": (config.path, shutdown_view),
        "shutdown.status": (config.status_path, status_view),
    }

    @bp.record_once
    def register(setup: t.Any) -> None:
        app: Flask = setup.app

        # A rule with no methods matches every method, so that TRACE, made-up
        # methods and OPTIONS reach the view and get its JSON 405 and an
        # audit record, with no app-wide hook paying for it on every other
        # request. Flask's add_url_rule cannot make such a rule.
        for endpoint, (path, view) in views.items():
            app.url_map.add(Rule(path, endpoint=endpoint))
            app.view_functions[endpoint] = view

    return bp


def _answer(
    state: AppState,
    endpoint: str,
    methods: tuple[str, ...],
    view: cabc.Callable[[], _Outcome],
) -> Response:
    """Run every check, then ``view``; catch any refusal, and write the
    audit record whatever the outcome.
    """
    try:
        outcome = _checked(state, methods, view)
    except ShutdownRefused as e:
        # A refusal after authentication (the body, the replay check)
        # names who was refused.
        principal = e.principal or _authenticated_name(state)
        _audit(endpoint, e.code, e.reason, principal)
        return e.get_response()  # type: ignore[return-value]
    except Exception:
        _audit(endpoint, 500, "error", None)
        raise

    _audit(
        endpoint,
        outcome.response.status_code,
        outcome.reason,
        outcome.principal,
        outcome.shutdown_reason,
        outcome.shutdown_id,
    )
    return outcome.response


def _checked(
    state: AppState, methods: tuple[str, ...], view: cabc.Callable[[], _Outcome]
) -> _Outcome:
    guard = state.guard
    guard.check_network(request)
    # Before anything is counted: a page under a rebinding name must not
    # be able to lock anyone out.
    guard.check_host(request)
    guard.check_cross_site(request)

    if request.method not in methods:
        raise ShutdownRefused(
            "method_not_allowed",
            f"Use {methods[0]} here; {clean(request.method, 20)} is not allowed.",
            headers={"Allow": ", ".join(methods)},
        )

    _check_framing(request.environ)
    header = request.headers.get("Authorization")

    if header is not None and len(header) > MAX_AUTHORIZATION_LENGTH:
        raise ShutdownRefused(
            "bad_authorization",
            "The Authorization header is longer than"
            f" {MAX_AUTHORIZATION_LENGTH} characters.",
        )

    # The lockout is consulted inside the authentication, which knows the
    # kind of credential: see the auth module.
    state.auth.check_header()
    return view()


def _check_framing(environ: WSGIEnvironment) -> None:
    """Refuse a malformed or conflicting ``Content-Length`` or
    ``Transfer-Encoding``, before anything else is read.

    gunicorn and waitress refuse these themselves; Werkzeug's server and
    uWSGI pass them on, and Werkzeug reads a ``Content-Length`` it cannot
    parse as ``0``: a body of any length would then be ignored and the
    request executed. The body itself is checked against its length when
    it is read.

    :raises ShutdownRefused: ``400 bad_framing``.
    """
    length = environ.get("CONTENT_LENGTH")
    encoding = environ.get("HTTP_TRANSFER_ENCODING")

    if length is not None and length.strip(" \t") != "":
        if not _DIGITS.fullmatch(length.strip(" \t")):
            raise _bad_framing("The Content-Length header is not a number of bytes.")

        if encoding is not None:
            raise _bad_framing(
                "Send either Content-Length or Transfer-Encoding, not both."
            )

    if encoding is not None and not environ.get("wsgi.input_terminated"):
        # The server passed a chunked body on undecoded (uWSGI's
        # --http-socket): Werkzeug would read it as empty.
        raise _bad_framing(
            "This server does not decode Transfer-Encoding; send Content-Length."
        )


_DIGITS = re.compile(r"[0-9]+")


def _bad_framing(message: str) -> ShutdownRefused:
    return ShutdownRefused("bad_framing", message)


def _audit(
    endpoint: str,
    status: int,
    reason: str,
    principal: str | None,
    shutdown_reason: str | None = None,
    shutdown_id: str | None = None,
) -> None:
    log_attempt(
        remote_addr=request.remote_addr,
        method=request.method,
        path=request.path,
        endpoint=endpoint,
        principal=principal,
        outcome=ACCEPTED if status < 400 else REFUSED,
        reason=reason,
        status=status,
        shutdown_reason=shutdown_reason,
        shutdown_id=shutdown_id,
    )


def _authenticated_name(state: AppState) -> str | None:
    principal = state.auth.current_principal()
    return None if principal is None else principal.name


def _authorized(state: AppState, role: str) -> Principal:
    """The current principal, if it may do ``role``."""
    principal = state.auth.current_principal()
    assert principal is not None, "only called in a protected view"

    if role not in principal.roles:
        raise ShutdownRefused(
            "forbidden",
            "These credentials may not do this. See SHUTDOWN_ROLES.",
            reason="forbidden_role",
            principal=principal.name,
        )

    return principal


def _shutdown(state: AppState) -> _Outcome:
    principal = _authorized(state, ROLE_SHUTDOWN)
    reason = _read_reason(state.config.max_body)

    if principal.signed is not None:
        assert state.signer is not None

        if not state.signer.consume(principal.signed):
            raise ShutdownRefused(
                "token_used",
                "This signed token was already used; create a new one.",
                headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
                principal=principal.name,
            )

    try:
        adapter = state.adapter_for(request.environ)
    except RuntimeError as e:
        raise ShutdownRefused(
            "strategy_unavailable", str(e), principal=principal.name
        ) from None

    record, created = state.trigger(
        request.environ,
        reason=reason,
        requested_by=principal.name,
        source="http",
        adapter=adapter,
    )
    body: dict[str, t.Any] = {
        "status": "accepted",
        "shutdown_id": record.id,
        "phase": state.coordinator.phase.value,
        "reason": record.reason,
        "requested_by": record.requested_by,
        "status_url": state.config.status_path,
    }

    if record.stopped:
        # The sequence ran inside this request (the test client): say
        # what it did.
        body.update(
            hooks=[r.to_dict() for r in record.hooks], exit_code=int(record.exit_code)
        )

    rv = jsonify(body)
    rv.status_code = 202
    rv.headers["Location"] = state.config.status_path
    return _Outcome(
        rv,
        "shutdown_requested" if created else "shutdown_in_progress",
        principal.name,
        shutdown_reason=reason,
        shutdown_id=record.id,
    )


def _status(state: AppState) -> _Outcome:
    principal = _authorized(state, ROLE_STATUS)
    # The status request is in flight itself; report the others.
    return _Outcome(jsonify(state.status(exclude=1)), "status_read", principal.name)


def _ready(state: AppState) -> Response:
    coordinator = state.coordinator

    if coordinator.ready:
        return jsonify({"status": "ready", "phase": coordinator.phase.value})

    rv = jsonify({"status": "shutting_down", "phase": coordinator.phase.value})
    rv.status_code = 503
    rv.headers["Retry-After"] = "1"
    return rv


def _read_reason(max_body: int) -> str:
    """Read the optional ``{"reason": "..."}`` body.

    :raises ShutdownRefused: The body is too large, cut short, not JSON,
        or not of the expected shape.
    """
    length = request.content_length

    if length is not None and length > max_body:
        raise _too_large(max_body)

    try:
        data = _read_at_most(max_body + 1)
    except RequestEntityTooLarge:
        # MAX_CONTENT_LENGTH of the app is lower than SHUTDOWN_MAX_BODY.
        raise _too_large(max_body) from None
    except Exception:
        # The client went away mid-body, or sent a broken chunked body:
        # each server raises its own exception (gunicorn's do not derive
        # from OSError or ValueError).
        raise _incomplete() from None

    if len(data) > max_body:
        raise _too_large(max_body)

    if length is not None and len(data) < length:
        # A body cut short is not executed, even if what arrived parses.
        raise _incomplete()

    if not data.strip():
        return ""

    if request.mimetype != "application/json":
        raise ShutdownRefused(
            "unsupported_media_type",
            'Send the optional body as application/json, such as {"reason": "deploy"}.',
        )

    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays fit in a small body.
        raise ShutdownRefused("bad_json", "The body is not valid JSON.") from None

    if not isinstance(obj, dict) or set(obj) - {"reason"}:
        raise ShutdownRefused(
            "bad_body",
            'The body must be a JSON object with at most a "reason" field.',
        )

    reason = obj.get("reason", "")

    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise ShutdownRefused(
            "bad_reason",
            f'"reason" must be a string of at most {MAX_REASON_LENGTH} characters.',
        )

    # Keep log lines whole: no control characters from the client.
    return "".join(ch if ch.isprintable() else " " for ch in reason)


def _read_at_most(size: int) -> bytes:
    """Read up to ``size`` bytes of the body: a single read may return
    less than is coming.
    """
    chunks = []

    while size > 0:
        chunk = request.stream.read(size)

        if not chunk:
            break

        chunks.append(chunk)
        size -= len(chunk)

    return b"".join(chunks)


def _incomplete() -> ShutdownRefused:
    return _bad_framing(
        "The body could not be read in full: it is shorter than its"
        " Content-Length, or its chunked encoding is broken."
    )


def _too_large(max_body: int) -> ShutdownRefused:
    return ShutdownRefused(
        "body_too_large",
        f"The body may be at most {max_body} bytes (SHUTDOWN_MAX_BODY).",
    )
