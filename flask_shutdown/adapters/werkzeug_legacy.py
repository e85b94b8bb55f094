"""Werkzeug < 2.1: the ``environ["werkzeug.server.shutdown"]`` hook of the
development server (``app.run()``).

The hook only sets a flag that the server reads after the current request
ends, and under the reloader it then SIGKILLs the process, so nothing runs
after it. So the whole sequence runs inline, in the thread serving the
shutdown request, once its response body has been sent: drain, hooks,
then the hook. The request ends right after, and the server stops.
"""

from __future__ import annotations

import collections.abc as cabc
import typing as t
import warnings

from .base import ServerAdapter

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .base import StopContext

HOOK_KEY = "werkzeug.server.shutdown"

#: Where the server's own hook is kept when ``SHUTDOWN_LEGACY_HOOK`` puts
#: the extension's in its place.
REAL_HOOK_KEY = "flask_shutdown.werkzeug_server_shutdown"


class LegacyHookAdapter(ServerAdapter):
    """Calls Werkzeug's legacy shutdown hook."""

    name = "werkzeug-legacy"
    not_detected = (
        f"the request has no {HOOK_KEY!r} hook. It exists only on Werkzeug's"
        " development server before Werkzeug 2.1."
    )
    inline = True

    def __init__(self, hook: cabc.Callable[[], None]) -> None:
        self.hook = hook

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        if environ is None:
            return None

        hook = environ.get(REAL_HOOK_KEY) or environ.get(HOOK_KEY)

        # The extension's own stand-in (SHUTDOWN_LEGACY_HOOK) stops nothing.
        if hook is None or getattr(hook, "flask_shutdown_shim", False):
            return None

        return cls(hook)

    def stop(self, context: StopContext) -> None:
        with warnings.catch_warnings():
            # Werkzeug 2.0 warns that the hook is deprecated; the user did
            # not call it, so the warning would only confuse.
            warnings.simplefilter("ignore")
            self.hook()
