"""The blueprint: ``POST /shutdown``, ``GET /shutdown/status`` and the
unauthenticated readiness endpoint.

Every check raises :class:`~flask_shutdown.ShutdownRefused`; :func:`_answer`
is the one place that catches it, writes the audit record and answers.

The views read the per-app state of :mod:`.state`, which the extension
creates; they never import the extension itself.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import json
import logging
import re
import typing as t

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import Rule

from .audit import ACCEPTED
from .audit import clean
from .audit import log_attempt
from .audit import REFUSED
from .config import ROLE_SHUTDOWN
from .config import ROLE_STATUS
from .record import Phase
from .refusals import REALM
from .refusals import ShutdownRefused
from .signals import attempt_answered

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment
    from flask import Flask
    from flask import Response

    from .auth import Principal
    from .state import AppState

logger = logging.getLogger(__name__)

#: The longest accepted shutdown reason, in characters.
MAX_REASON_LENGTH = 500

#: The longest accepted ``Authorization`` header, in characters. Real
#: credentials are far shorter; a longer value is refused before it is
#: parsed or hashed.
MAX_AUTHORIZATION_LENGTH = 4096

#: The longest a status read may wait for the shutdown to move on
#: (``GET /shutdown/status?wait=SECONDS``).
MAX_STATUS_WAIT = 10.0

_PHASES = frozenset(p.value for p in Phase)


@dataclasses.dataclass
class _Outcome:
    """What a request that passed every check did, for the audit record."""

    response: Response
    reason: str
    principal: str
    shutdown_reason: str | None = None
    shutdown_id: str | None = None


def check_routes(state: AppState, app: Flask) -> None:
    """Refuse to register over a route the app already has at one of the
    endpoints' paths: one of the two would silently shadow the other.

    :raises RuntimeError: Naming the app's route and the endpoint.
    """
    config = state.config
    ours: dict[str, tuple[str, str]] = {}

    # Not exposed without credentials: the app may then have its own view
    # there (one written for the old werkzeug.server.shutdown hook, say).
    if state.exposed:
        ours[config.path] = ("shutdown", "SHUTDOWN_PATH")
        ours[config.status_path] = ("status", "SHUTDOWN_STATUS_PATH")

    if config.ready_path is not None:
        ours[config.ready_path] = ("readiness", "SHUTDOWN_READY_PATH")

    if config.live_path is not None:
        ours[config.live_path] = ("liveness", "SHUTDOWN_LIVE_PATH")

    if state.pages is not None:
        ours[config.heartbeat_path] = ("heartbeat", "SHUTDOWN_PATH")

    for rule in app.url_map.iter_rules():
        taken = ours.get(rule.rule.rstrip("/"))

        if taken is not None:
            name, key = taken
            raise RuntimeError(
                f"The app's route {rule.rule!r} (endpoint {rule.endpoint!r}) is"
                f" at the path of Flask-Shutdown's {name} endpoint ({key})."
                f" Move the route, or set {key} to another path."
            )


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

    if config.live_path is not None:
        bp.add_url_rule(config.live_path, "live", lambda: _live(state), methods=["GET"])

    if state.pages is not None:
        bp.add_url_rule(
            config.heartbeat_path,
            "heartbeat",
            lambda: _heartbeat(state),
            methods=["POST"],
        )

    if not state.exposed:
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
    _check_path()
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


def _check_path() -> None:
    # gunicorn with SCRIPT_NAME=/app strips "/app" from "/appshutdown" as
    # well, leaving "shutdown", which Werkzeug's router matches as
    # "/shutdown": such a path names no endpoint.
    if not request.environ.get("PATH_INFO", "").startswith("/"):
        raise ShutdownRefused("not_found", "Nothing is served at this path.")


def _audit(
    endpoint: str,
    status: int,
    reason: str,
    principal: str | None,
    shutdown_reason: str | None = None,
    shutdown_id: str | None = None,
) -> None:
    event = log_attempt(
        remote_addr=request.remote_addr,
        method=request.method,
        path=request.script_root + request.path,
        endpoint=endpoint,
        principal=principal,
        outcome=ACCEPTED if status < 400 else REFUSED,
        reason=reason,
        status=status,
        shutdown_reason=shutdown_reason,
        shutdown_id=shutdown_id,
    )

    try:
        attempt_answered.send(current_app._get_current_object(), event=event)  # type: ignore[attr-defined]
    except Exception:
        # An observer must not turn an answer into a server error.
        logger.exception("A receiver of the attempt_answered signal failed.")


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
    follow = _read_follow()
    reason = _read_reason(state.config.max_body)

    if principal.signed is not None:
        # Once per server: the record of used tokens is shared by its
        # worker processes.
        signed = principal.signed

        if not state.use_token_once(signed.jti, signed.expires_at):
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

    if follow:
        state.coordinator.expect_follower()

    # Under a prefix (DispatcherMiddleware, ProxyFix's X-Forwarded-Prefix,
    # gunicorn's SCRIPT_NAME) the client needs the prefix in the URL.
    status_url = request.script_root + state.config.status_path
    body: dict[str, t.Any] = {
        "status": "accepted",
        "shutdown_id": record.id,
        "phase": state.coordinator.phase.value,
        "reason": record.reason,
        "requested_by": record.requested_by,
        "status_url": status_url,
    }

    if record.stopped:
        # The sequence ran inside this request (the test client): say
        # what it did.
        body.update(
            hooks=[r.to_dict() for r in record.hooks], exit_code=int(record.exit_code)
        )

    rv = jsonify(body)
    rv.status_code = 202
    rv.headers["Location"] = status_url
    return _Outcome(
        rv,
        "shutdown_requested" if created else "shutdown_in_progress",
        principal.name,
        shutdown_reason=reason,
        shutdown_id=record.id,
    )


def _status(state: AppState) -> _Outcome:
    principal = _authorized(state, ROLE_STATUS)

    if _read_fleet():
        return _Outcome(jsonify(state.fleet_status()), "status_read", principal.name)

    wait = _read_wait(state)

    if wait is None:
        # The status request is in flight itself; report the others.
        report = state.status(exclude=1)
    else:
        report = state.follow(request.environ, *wait)

    return _Outcome(jsonify(report), "status_read", principal.name)


def _read_follow() -> bool:
    """``?follow=1``: the client will follow the shutdown with status
    reads, so the stop lets it read the last report first.
    """
    value = request.args.get("follow", "0")

    if value not in ("0", "1"):
        raise ShutdownRefused("bad_query", "'follow' must be 0 or 1.")

    return value == "1"


def _read_fleet() -> bool:
    """``?fleet=1``: every instance's last shutdown, from the store."""
    value = request.args.get("fleet", "0")

    if value not in ("0", "1"):
        raise ShutdownRefused("bad_query", "'fleet' must be 0 or 1.")

    return value == "1"


def _read_wait(state: AppState) -> tuple[str, float] | None:
    """``?wait=SECONDS[&since=PHASE]``: answer once the phase is no longer
    ``since`` (default: the phase now), or after ``SECONDS``.
    """
    args = request.args

    if "wait" not in args:
        return None

    try:
        wait = float(args["wait"])
    except ValueError:
        wait = -1.0

    since = args.get("since", state.coordinator.phase.value)

    if not 0 <= wait <= MAX_STATUS_WAIT or since not in _PHASES:
        raise ShutdownRefused(
            "bad_query",
            f"'wait' must be a number of seconds from 0 to {MAX_STATUS_WAIT:g},"
            f" and 'since' one of {', '.join(sorted(_PHASES))}.",
        )

    return since, wait


def _ready(state: AppState) -> Response:
    try:
        _check_path()
    except ShutdownRefused as e:
        return e.get_response()  # type: ignore[return-value]

    coordinator = state.coordinator

    if coordinator.ready:
        return jsonify({"status": "ready", "phase": coordinator.phase.value})

    rv = jsonify({"status": "shutting_down", "phase": coordinator.phase.value})
    rv.status_code = 503
    rv.headers["Retry-After"] = "1"
    return rv


def _heartbeat(state: AppState) -> Response:
    """A browser page says it is open, or closing."""
    assert state.pages is not None

    try:
        state.guard.check_network(request)
        state.guard.check_cross_site(request)
        data = json.loads(_read_at_most(MAX_HEARTBEAT_BODY + 1) or b"null")
    except ShutdownRefused as e:
        return e.get_response()  # type: ignore[return-value]
    except (ValueError, RecursionError, OSError, HTTPException):
        data = None

    if not isinstance(data, dict) or not state.pages.beat(
        data.get("page"), data.get("token"), bool(data.get("closing"))
    ):
        return ShutdownRefused(  # type: ignore[return-value]
            "bad_page_token",
            "This heartbeat is not from a page this server rendered.",
        ).get_response()

    return current_app.response_class(status=204)


#: The longest accepted heartbeat body.
MAX_HEARTBEAT_BODY = 1024


def _live(state: AppState) -> Response:
    # Alive for as long as it can answer: a draining server is healthy,
    # and a liveness probe must not restart it mid-drain.
    return jsonify({"status": "alive", "phase": state.status()["phase"]})


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
