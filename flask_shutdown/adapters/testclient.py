"""Werkzeug's test client (``app.test_client()``, pytest-flask's
``client``): the sequence runs in the test's own thread, inside the
shutdown request, and nothing is stopped, signalled or killed, because
no server is running.

The test client builds the environ itself: it sets no ``SERVER_SOFTWARE``
(every real server does) and gives the body as an in-memory
``io.BytesIO``. Only requests that no real server's adapter recognised
are looked at, so the worst a look-alike server can get is a shutdown
that stops nothing, never a signal to the wrong process.
"""

from __future__ import annotations

import io
import typing as t

from .base import ServerAdapter

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .base import StopContext


def is_test_client(environ: WSGIEnvironment) -> bool:
    """Whether ``environ`` was built by Werkzeug's test client."""
    return "SERVER_SOFTWARE" not in environ and isinstance(
        environ.get("wsgi.input"), io.BytesIO
    )


class TestClientAdapter(ServerAdapter):
    """Runs the sequence in process for a test-client request and stops
    nothing.
    """

    __test__ = False  # not a pytest test class, despite its name

    name = "test-client"
    inline = True
    before_response = True
    drain_delay = False
    #: The answer to the shutdown request holds the exit code.
    carries_exit_code = True
    not_detected = "this request was not made with Werkzeug's test client."

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        if environ is None or not is_test_client(environ):
            return None

        return cls()

    def stop(self, context: StopContext) -> None:
        pass  # No server runs; the record says what happened.
