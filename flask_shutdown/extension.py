"""The :class:`Shutdown` extension: what an app creates and registers.
The per-app state it keeps lives in :mod:`.state`.
"""

from __future__ import annotations

import collections.abc as cabc
import logging
import os
import typing as t

from flask import current_app
from flask import has_request_context
from flask import request
from flask import url_for

from . import metrics
from . import runtime
from .adapters.registry import prepare_process
from .auth import Callbacks
from .config import ALL_ROLES
from .config import ShutdownConfig
from .hooks import Hook
from .hooks import HookFunc
from .inflight import TrackingMiddleware
from .legacy_hook import LegacyHookMiddleware
from .server import ServerThread
from .state import AppState
from .state import find_state
from .state import get_state
from .views import check_routes
from .views import create_blueprint

if t.TYPE_CHECKING:
    from flask import Flask

    from .record import ShutdownRecord

logger = logging.getLogger(__name__)

_F = t.TypeVar("_F", bound=HookFunc)
_V = t.TypeVar("_V", bound=t.Callable[..., t.Any])


class Shutdown:
    """Adds an authenticated ``POST /shutdown`` endpoint that gracefully
    stops the server running the app: it drains in-flight requests, runs
    the teardown hooks, then stops the server.

    .. code-block:: python

        app.config["SHUTDOWN_TOKENS"] = ["a-long-random-secret"]
        shutdown = Shutdown(app)

        @shutdown.teardown
        def close_db():
            db.close()

    Arguments given here are defaults; the matching ``SHUTDOWN_*`` key in
    ``app.config`` wins over them. Credentials are only read from config.

    :param app: Call :meth:`init_app` with this app.
    :param path: Default for ``SHUTDOWN_PATH``.
    :param ready_path: Default for ``SHUTDOWN_READY_PATH``.
    :param status_path: Default for ``SHUTDOWN_STATUS_PATH``.
    :param drain_timeout: Default for ``SHUTDOWN_DRAIN_TIMEOUT``.
    :param drain_delay: Default for ``SHUTDOWN_DRAIN_DELAY``.
    :param hook_timeout: Default for ``SHUTDOWN_HOOK_TIMEOUT``.
    :param strategy: Default for ``SHUTDOWN_STRATEGY``: an adapter name or
        a callable that receives the
        :class:`~flask_shutdown.ShutdownRecord` and stops the server.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        path: str | None = None,
        ready_path: str | t.Literal[False] | None = None,
        status_path: str | None = None,
        drain_timeout: float | None = None,
        drain_delay: float | None = None,
        hook_timeout: float | None = None,
        strategy: str | cabc.Callable[..., t.Any] | None = None,
    ) -> None:
        self._options: dict[str, t.Any] = {
            "path": path,
            "ready_path": ready_path,
            "status_path": status_path,
            "drain_timeout": drain_timeout,
            "drain_delay": drain_delay,
            "hook_timeout": hook_timeout,
            "strategy": strategy,
        }
        self._hooks: list[Hook] = []
        self._callbacks = Callbacks()

        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the extension on ``app``: read its ``SHUTDOWN_*`` config
        (once; later changes are not seen), wrap ``app.wsgi_app`` to count
        requests in flight, and register the endpoints.

        With no credential configured (``SHUTDOWN_TOKENS``,
        ``SHUTDOWN_USERS`` or ``SHUTDOWN_SIGNED_TOKENS``) the shutdown
        endpoint is not exposed and a warning is logged.

        :param app: The app to register on.
        :raises RuntimeError: The extension is already registered on the
            app, or the config is unsafe or malformed.
        """
        if "shutdown" in app.extensions:
            raise RuntimeError(
                "A 'Shutdown' instance has already been registered on this Flask"
                " app. Import and use that instance instead."
            )

        config = ShutdownConfig.from_app(app, **self._options)
        state = AppState(self, app, config, self._callbacks)
        check_routes(state, app)
        prepare_process(state.worker_exiting, app, state.stop_signal)

        exempt = {
            config.path,
            config.status_path,
            config.heartbeat_path,
            *config.drain_exempt,
        }

        for probe in (config.ready_path, config.live_path):
            if probe is not None:
                exempt.add(probe)

        wsgi_app = app.wsgi_app

        if config.legacy_hook:
            # Inside the tracking, so that the hook's request has a ticket
            # and the sequence starts once its response has been sent.
            wsgi_app = LegacyHookMiddleware(
                wsgi_app,
                lambda environ: state.trigger(
                    environ,
                    reason="werkzeug.server.shutdown called",
                    requested_by="app",
                    source="code",
                ),
            )
            logger.warning(
                "SHUTDOWN_LEGACY_HOOK is on for app %r: any view that calls"
                " environ['werkzeug.server.shutdown'] stops the server."
                " Protect those views with authentication of their own.",
                app.name,
            )

        if (
            config.idle_timeout is not None
            or config.stop_with_parent
            or state.pages is not None
        ):
            wsgi_app = state.watch(wsgi_app)

        app.wsgi_app = TrackingMiddleware(  # type: ignore[method-assign]
            wsgi_app, state.in_flight, state.coordinator, exempt
        )
        app.register_blueprint(create_blueprint(state))

        if os.environ.get("FLASK_RUN_FROM_CLI") == "true" and config.runtime_file:
            # flask run: Werkzeug's own loop serves, which tells nobody
            # where it listens; look for it once it is there.
            runtime.watch_werkzeug_server(state.write_runtime_file)

        if state.pages is not None:
            pages = state.pages
            app.add_template_global(
                lambda: pages.script(url_for("shutdown.heartbeat")),
                "shutdown_heartbeat",
            )

        if config.metrics and metrics.available():
            state.metric_receivers = metrics.instrument(app, state.in_flight)
        app.extensions["shutdown"] = state

        if not state.exposed:
            logger.warning(
                "The shutdown endpoint of app %r is not exposed: no credential is"
                " configured. Set SHUTDOWN_TOKENS, SHUTDOWN_USERS or"
                " SHUTDOWN_SIGNED_TOKENS, or register a verify callback before"
                " init_app, to enable it.",
                app.name,
            )

    @t.overload
    def teardown(self, func: _F) -> _F: ...

    @t.overload
    def teardown(self, *, timeout: float | None = None) -> cabc.Callable[[_F], _F]: ...

    def teardown(
        self, func: _F | None = None, *, timeout: float | None = None
    ) -> _F | cabc.Callable[[_F], _F]:
        """Register a function to run before the server stops, after the
        drain, inside an app context. Hooks run once per shutdown, in the
        order they were registered; one that raises or runs past its
        timeout is reported and the others still run. Usable bare
        (``@shutdown.teardown``) or with arguments
        (``@shutdown.teardown(timeout=5)``).

        :param func: The hook.
        :param timeout: Seconds it may run; defaults to
            ``SHUTDOWN_HOOK_TIMEOUT``.
        """

        def decorator(f: _F) -> _F:
            self._hooks.append(Hook(f, timeout))
            return f

        if func is not None:
            return decorator(func)

        return decorator

    def verify_token(self, f: _V) -> _V:
        """Register a function that checks a bearer token with the app's
        own means (an API key table, a JWT), in Flask-HTTPAuth's style.
        It gets the token and returns the user, or ``None`` to refuse.
        Static tokens from ``SHUTDOWN_TOKENS`` are tried first, signed
        tokens last. The lockout, the audit log, roles and the network
        rules apply as for every credential; a callback that raises is a
        refusal (``401``), logged with its traceback. Register it before
        :meth:`init_app` when it is the only kind of credential, so that
        the endpoint is exposed.
        """
        self._callbacks.token = f
        return f

    def verify_password(self, f: _V) -> _V:
        """Register a function that checks HTTP Basic credentials against
        the app's own users, in Flask-HTTPAuth's style. It gets the user
        name and the password and returns the user, or ``None`` to refuse.
        Users in ``SHUTDOWN_USERS`` are checked first. Otherwise as
        :meth:`verify_token`.
        """
        self._callbacks.password = f
        return f

    def get_user_roles(self, f: _V) -> _V:
        """Register a function that gets a user returned by a verify
        callback and returns its roles: ``"shutdown"``, ``"status"``, or
        both. Without it such users may do both, unless ``SHUTDOWN_ROLES``
        names them (as ``"app:NAME"``, where ``NAME`` is the user's
        ``name`` or ``username`` attribute or key, or ``str(user)``).
        """
        self._callbacks.roles = f
        return f

    @property
    def hooks(self) -> tuple[Hook, ...]:
        """The registered teardown hooks, in the order they run."""
        return tuple(self._hooks)

    def create_token(
        self, expires_in: int | None = None, *, scope: cabc.Iterable[str] | None = None
    ) -> str:
        """Create a signed token for the current app. Call it in an app
        context. Each token stops the server at most once per process.

        :param expires_in: Seconds it is valid; defaults to
            ``SHUTDOWN_TOKEN_MAX_AGE``.
        :param scope: What it may do: ``"shutdown"``, ``"status"`` or both
            (the default).
        :raises RuntimeError: Signed tokens are off for the app.
        """
        state = self._state(None)

        if state.signer is None:
            raise RuntimeError(
                "Signed shutdown tokens are off for this app. Set"
                " SHUTDOWN_SIGNED_TOKENS = True (and a strong SECRET_KEY)"
                " before calling 'init_app'."
            )

        if expires_in is None:
            expires_in = state.config.token_max_age

        roles = ALL_ROLES if scope is None else frozenset(scope)

        if not roles <= ALL_ROLES:
            raise ValueError(f"'scope' may only hold {sorted(ALL_ROLES)}.")

        return state.signer.create(expires_in, roles)

    def trigger(
        self, reason: str = "", *, app: Flask | None = None, requested_by: str = "code"
    ) -> ShutdownRecord:
        """Start the shutdown sequence from code. Inside a request, it
        starts once that request's response has been sent. Idempotent: a
        shutdown already under way is returned as it is.

        :param reason: Recorded and logged.
        :param app: The app to stop; defaults to the current app.
        :param requested_by: Recorded as who asked.
        """
        environ = request.environ if has_request_context() else None
        record, _ = self._state(app).trigger(
            environ, reason=reason, requested_by=requested_by, source="code"
        )
        return record

    def status(self, app: Flask | None = None) -> dict[str, t.Any]:
        """The status report of ``app`` (default: the current app)."""
        return self._state(app).status()

    def reset(self, app: Flask | None = None) -> None:
        """Return ``app`` (default: the current app) to ``running`` after a
        finished shutdown, so that it serves again: for tests that stop it
        through the test client and go on using it.

        :raises RuntimeError: A shutdown is still under way.
        """
        self._state(app).coordinator.reset()

    def _state(self, app: Flask | None) -> AppState:
        if app is None:
            app = current_app._get_current_object()  # type: ignore[attr-defined]

        state = get_state(app)

        if state.extension is not self:
            raise RuntimeError(
                "The current Flask app is not registered with this 'Shutdown'"
                " instance. Did you create multiple 'Shutdown' instances?"
            )

        return state


# A ServerThread serving an app that uses the extension asks it for the
# graceful sequence; the server module itself never imports this one.
ServerThread.lifecycle_finders.append(find_state)
