"""The blueprint: ``POST /shutdown``, ``GET /shutdown/status`` and the
unauthenticated readiness endpoint.
"""

from __future__ import annotations

import json
import typing as t

from flask import Blueprint
from flask import g
from flask import jsonify
from flask import request

from .config import ROLE_SHUTDOWN
from .config import ROLE_STATUS
from .errors import json_error
from .inflight import ON_FINISH_KEY

if t.TYPE_CHECKING:
    from flask import Response

    from .auth import Principal
    from .extension import AppState

#: The longest accepted shutdown reason, in characters.
MAX_REASON_LENGTH = 500

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


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
        refusal = state.guard.check(request)

        if refusal is not None:
            return refusal

        if request.method != "POST":
            return json_error(
                405,
                "method_not_allowed",
                f"Use POST to request a shutdown; {request.method} is not allowed.",
                {"Allow": "POST"},
            )

        return do_shutdown()  # type: ignore[no-any-return]

    def status_view() -> Response:
        refusal = state.guard.check(request)

        if refusal is not None:
            return refusal

        if request.method not in ("GET", "HEAD"):
            return json_error(
                405,
                "method_not_allowed",
                f"Use GET to read the shutdown status; {request.method} is not"
                " allowed.",
                {"Allow": "GET"},
            )

        return do_status()  # type: ignore[no-any-return]

    bp.add_url_rule(config.path, "shutdown", shutdown_view, methods=_ALL_METHODS)
    bp.add_url_rule(config.status_path, "status", status_view, methods=_ALL_METHODS)
    return bp


def _current_principal() -> Principal:
    return g.flask_httpauth_user  # type: ignore[no-any-return]


def _shutdown(state: AppState) -> Response:
    principal = _current_principal()
    reason = _read_reason(state.config.max_body)

    if not isinstance(reason, str):
        return reason

    if principal.signed is not None:
        assert state.signer is not None

        if not state.signer.consume(principal.signed):
            return json_error(
                401,
                "token_used",
                "This signed token was already used; create a new one.",
                {"WWW-Authenticate": 'Bearer realm="flask-shutdown"'},
            )

    try:
        adapter = state.adapter_for(request.environ)
    except RuntimeError as e:
        return json_error(501, "strategy_unavailable", str(e))

    record, created = state.coordinator.request(
        reason=reason, requested_by=principal.name, source="http"
    )

    if created:
        callbacks = request.environ.get(ON_FINISH_KEY)

        # Start once this response has been sent in full: from the end of
        # the response, not after a fixed sleep.
        if callbacks is not None:
            callbacks.append(lambda: state.coordinator.start(adapter))
        else:
            state.coordinator.start(adapter)

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
    return jsonify(state.status())


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

    data = request.stream.read(max_body + 1)

    if len(data) > max_body:
        return _too_large(max_body)

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


def _too_large(max_body: int) -> Response:
    return json_error(
        413,
        "body_too_large",
        f"The body may be at most {max_body} bytes (SHUTDOWN_MAX_BODY).",
    )
