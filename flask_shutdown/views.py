"""The blueprint: ``POST /shutdown``, ``GET /shutdown/status`` and the
unauthenticated readiness endpoint.
"""

from __future__ import annotations

import collections.abc as cabc
import json
import typing as t

from flask import Blueprint
from flask import g
from flask import jsonify
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import RequestEntityTooLarge

from .audit import ACCEPTED
from .audit import clean
from .audit import log_attempt
from .audit import REFUSED
from .auth import failure
from .auth import Principal
from .config import ROLE_SHUTDOWN
from .config import ROLE_STATUS
from .errors import json_error
from .security import Attempt
from .security import lockout_error

if t.TYPE_CHECKING:
    from flask import Response

    from .extension import AppState

#: The longest accepted shutdown reason, in characters.
MAX_REASON_LENGTH = 500

#: The longest accepted ``Authorization`` header, in characters. Real
#: credentials are far shorter; a longer value is refused before it is
#: parsed or hashed.
MAX_AUTHORIZATION_LENGTH = 4096

#: The methods routed to the views, which answer all but the right one
#: with a JSON 405. Others are caught before routing fails.
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


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

    login_required = state.auth.multi.login_required
    do_shutdown = login_required(role=ROLE_SHUTDOWN)(lambda: _shutdown(state))
    do_status = login_required(role=ROLE_STATUS)(lambda: _status(state))

    def shutdown_view() -> Response:
        return _guarded(state, "shutdown", ("POST",), do_shutdown)

    def status_view() -> Response:
        return _guarded(state, "status", ("GET", "HEAD"), do_status)

    views = {config.path: shutdown_view, config.status_path: status_view}

    # OPTIONS is routed to the views too, which refuse it: Flask's
    # automatic answer is not JSON, and Flask-HTTPAuth lets OPTIONS through
    # without credentials, so it must never reach the protected view.
    for path, view in views.items():
        bp.add_url_rule(
            path,
            view.__name__.removesuffix("_view"),
            view,
            methods=_ALL_METHODS,
            provide_automatic_options=False,
        )

    @bp.before_app_request
    def refuse_unrouted_methods() -> Response | None:
        # Methods that no rule lists (TRACE, made-up ones) never reach a
        # view: Werkzeug answers them with an HTML 405 and no audit record.
        view = views.get(request.path)

        if view is not None and isinstance(request.routing_exception, MethodNotAllowed):
            return view()

        return None

    return bp


def _guarded(
    state: AppState,
    endpoint: str,
    methods: tuple[str, ...],
    view: cabc.Callable[[], Response],
) -> Response:
    """Run the checks that come before credentials, then ``view``, and
    write the audit record whatever the outcome.
    """
    try:
        rv, reason = _answer(state, methods, view)
    except Exception:
        _audit(endpoint, 500, "error")
        raise

    _audit(endpoint, rv.status_code, reason)
    return rv


def _answer(
    state: AppState, methods: tuple[str, ...], view: cabc.Callable[[], Response]
) -> tuple[Response, str]:
    guard = state.guard
    refusal = guard.check_network(request)

    if refusal is not None:
        return refusal, "forbidden_network"

    refusal = guard.check_cross_site(request)

    if refusal is not None:
        return refusal, "cross_site"

    if request.method not in methods:
        return json_error(
            405,
            "method_not_allowed",
            f"Use {methods[0]} here; {_clean_method(request.method)} is not allowed.",
            {"Allow": ", ".join(methods)},
        ), "method_not_allowed"

    header = request.headers.get("Authorization")

    if header is not None and len(header) > MAX_AUTHORIZATION_LENGTH:
        return json_error(
            400,
            "bad_authorization",
            "The Authorization header is longer than"
            f" {MAX_AUTHORIZATION_LENGTH} characters.",
        ), "bad_authorization"

    # Counted before the credentials are checked, so that a burst of
    # concurrent guesses cannot get past the limit while the password hash
    # of the first ones runs.
    attempt = guard.lockout.reserve(guard.client_key(request))

    if not isinstance(attempt, Attempt):
        return lockout_error(attempt), "too_many_attempts"

    failed = True

    try:
        rv = state.auth.check_header() or view()
        failed = rv.status_code == 401
    finally:
        # A failure stays counted for the window; a success counts no more.
        guard.lockout.finish(attempt, failed=failed)

    result = g.get("_shutdown_result")

    if failed:
        reason = (
            result
            or failure()[0]
            or ("bad_authorization" if header else "no_credentials")
        )
        return rv, reason

    if result is None:
        result = "forbidden_role" if rv.status_code == 403 else "ok"

    return rv, result


def _audit(endpoint: str, status: int, reason: str) -> None:
    user = g.get("flask_httpauth_user")

    if isinstance(user, Principal):
        principal: str | None = user.name
    else:
        principal = failure()[1]

    log_attempt(
        remote_addr=request.remote_addr,
        method=request.method,
        path=request.path,
        endpoint=endpoint,
        principal=principal,
        outcome=ACCEPTED if status < 400 else REFUSED,
        reason=reason,
        status=status,
        shutdown_reason=g.get("_shutdown_request_reason"),
        shutdown_id=g.get("_shutdown_id"),
    )


def _clean_method(method: str) -> str:
    # The method is echoed in the message: keep it short and printable.
    return clean(method, 20) or ""


def _current_principal() -> Principal:
    return g.flask_httpauth_user  # type: ignore[no-any-return]


def _shutdown(state: AppState) -> Response:
    principal = _current_principal()
    reason = _read_reason(state.config.max_body)

    if not isinstance(reason, str):
        g._shutdown_result = reason.get_json()["error"]
        return reason

    g._shutdown_request_reason = reason

    if principal.signed is not None:
        assert state.signer is not None

        if not state.signer.consume(principal.signed):
            g._shutdown_result = "token_used"
            return json_error(
                401,
                "token_used",
                "This signed token was already used; create a new one.",
                {"WWW-Authenticate": 'Bearer realm="flask-shutdown"'},
            )

    try:
        adapter = state.adapter_for(request.environ)
    except RuntimeError as e:
        g._shutdown_result = "strategy_unavailable"
        return json_error(501, "strategy_unavailable", str(e))

    record, created = state.begin(
        request.environ,
        reason=reason,
        requested_by=principal.name,
        source="http",
        adapter=adapter,
    )
    g._shutdown_result = "shutdown_requested" if created else "shutdown_in_progress"
    g._shutdown_id = record.id

    body = {
        "status": "accepted",
        "shutdown_id": record.id,
        "phase": state.coordinator.phase.value,
        "reason": record.reason,
        "requested_by": record.requested_by,
        "status_url": state.config.status_path,
    }
    rv = jsonify(body)
    rv.status_code = 202
    rv.headers["Location"] = state.config.status_path
    return rv


def _status(state: AppState) -> Response:
    g._shutdown_result = "status_read"
    # The status request is in flight itself; report the others.
    return jsonify(state.status(exclude=1))


def _ready(state: AppState) -> Response:
    coordinator = state.coordinator

    if coordinator.accepting:
        return jsonify({"status": "ready", "phase": coordinator.phase.value})

    rv = jsonify({"status": "shutting_down", "phase": coordinator.phase.value})
    rv.status_code = 503
    rv.headers["Retry-After"] = "1"
    return rv


def _read_reason(max_body: int) -> str | Response:
    """Read the optional ``{"reason": "..."}`` body."""
    length = request.content_length

    if length is not None and length > max_body:
        return _too_large(max_body)

    try:
        data = _read_at_most(max_body + 1)
    except RequestEntityTooLarge:
        # MAX_CONTENT_LENGTH of the app is lower than SHUTDOWN_MAX_BODY.
        return _too_large(max_body)
    except (HTTPException, OSError, ValueError):
        # The client went away mid-body, or sent a broken chunked body.
        return _incomplete()

    if len(data) > max_body:
        return _too_large(max_body)

    if length is not None and len(data) < length:
        # A body cut short is not executed, even if what arrived parses.
        return _incomplete()

    if not data.strip():
        return ""

    if request.mimetype != "application/json":
        return json_error(
            415,
            "unsupported_media_type",
            'Send the optional body as application/json, such as {"reason": "deploy"}.',
        )

    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays fit in a small body.
        return json_error(400, "bad_json", "The body is not valid JSON.")

    if not isinstance(obj, dict) or set(obj) - {"reason"}:
        return json_error(
            400,
            "bad_body",
            'The body must be a JSON object with at most a "reason" field.',
        )

    reason = obj.get("reason", "")

    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        return json_error(
            400,
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


def _incomplete() -> Response:
    return json_error(400, "bad_body", "The body could not be read in full.")


def _too_large(max_body: int) -> Response:
    return json_error(
        413,
        "body_too_large",
        f"The body may be at most {max_body} bytes (SHUTDOWN_MAX_BODY).",
    )
