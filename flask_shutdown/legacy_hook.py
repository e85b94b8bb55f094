"""``environ["werkzeug.server.shutdown"]`` on every server, for code
written before Werkzeug 2.1 removed it.

With ``SHUTDOWN_LEGACY_HOOK = True`` every request's environ holds a
callable under that key, as Werkzeug's development server once put
there, on any server: :class:`~flask_shutdown.ServerThread`, ``flask
run``, gunicorn, waitress, uWSGI. Calling it starts the graceful
sequence once the current response has been sent (drain, hooks, stop),
so a view written for the old hook keeps working unchanged, and gains
the drain and the hooks. On Werkzeug < 2.1, whose server still has the
hook, the real one is kept aside and called to stop that server.

The view that calls the hook decides who may stop the server: the
extension's authentication guards only its own endpoint.
"""

from __future__ import annotations

import typing as t

from .adapters.werkzeug_legacy import HOOK_KEY
from .adapters.werkzeug_legacy import REAL_HOOK_KEY

if t.TYPE_CHECKING:
    import collections.abc as cabc

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

#: Starts the graceful sequence for the request in the environ it gets.
Trigger = t.Callable[["WSGIEnvironment"], object]


class LegacyHook:
    """The callable put in the environ: starts the graceful sequence."""

    #: Tells the legacy adapter this is not Werkzeug's own hook.
    flask_shutdown_shim = True

    def __init__(self, trigger: Trigger, environ: WSGIEnvironment) -> None:
        self._trigger = trigger
        self._environ = environ

    def __call__(self) -> None:
        self._trigger(self._environ)


class LegacyHookMiddleware:
    """Puts a :class:`LegacyHook` in every request's environ.

    :param wsgi_app: The app's ``wsgi_app`` it wraps.
    :param trigger: Starts the graceful sequence for a request.
    """

    def __init__(self, wsgi_app: WSGIApplication, trigger: Trigger) -> None:
        self.wsgi_app = wsgi_app
        self.trigger = trigger

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        real = environ.get(HOOK_KEY)

        if real is not None:
            # Werkzeug < 2.1: keep the server's own hook for the adapter.
            environ[REAL_HOOK_KEY] = real

        environ[HOOK_KEY] = LegacyHook(self.trigger, environ)
        return self.wsgi_app(environ, start_response)
