"""pytest fixtures that serve a Flask app on a real socket, in a thread of
the test process, and stop it gracefully at teardown.

The plugin is registered through the ``pytest11`` entry point, so the
fixtures are available once Flask-Shutdown is installed:

``shutdown_server``
    Serves the ``app`` fixture that the test suite defines (the same
    convention as pytest-flask) and yields the running
    :class:`~flask_shutdown.ServerThread`; ``shutdown_server.url`` is its
    base URL.
``shutdown_server_factory``
    A function ``start(app, **kwargs)`` that serves any app, for tests that
    need several servers or a non-default ``ServerThread`` argument.

At teardown each server still running gets
:meth:`ServerThread.shutdown() <flask_shutdown.ServerThread.shutdown>`:
requests in flight complete and teardown hooks run before the socket
closes.
"""

from __future__ import annotations

import collections.abc as cabc
import typing as t

import pytest

# Importing Flask-Shutdown (and so Flask) is left to the fixtures: pytest
# loads this plugin in every test run of every project that has the package
# installed, and most of those runs never use it.
if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from .server import ServerThread

#: How long teardown waits for the serving thread once the server stopped.
JOIN_TIMEOUT = 10.0


class ServerFactory(t.Protocol):
    """The type of the ``shutdown_server_factory`` fixture."""

    def __call__(self, app: WSGIApplication, **kwargs: t.Any) -> ServerThread: ...


def _stop(server: ServerThread) -> None:
    if not server.stopped:
        server.shutdown("pytest fixture teardown")

    server.join(JOIN_TIMEOUT)

    if server.is_alive():
        raise RuntimeError(
            f"The server at {server.url} did not stop within {JOIN_TIMEOUT} s."
        )


@pytest.fixture
def shutdown_server_factory() -> cabc.Iterator[ServerFactory]:
    """Start servers with ``shutdown_server_factory(app, **kwargs)``; the
    keyword arguments go to :class:`~flask_shutdown.ServerThread` (the
    default host is ``127.0.0.1`` and the port is picked free). Each one
    is running and listening when the call returns, and is stopped
    gracefully at teardown, the last one started first.
    """
    from .server import ServerThread

    started: list[ServerThread] = []

    def start(app: WSGIApplication, **kwargs: t.Any) -> ServerThread:
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("port", 0)
        server = ServerThread(app, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start

    errors = []

    for server in reversed(started):
        try:
            _stop(server)
        except Exception as e:
            errors.append(e)

    if errors:
        raise errors[0]


@pytest.fixture
def shutdown_server(
    app: WSGIApplication, shutdown_server_factory: ServerFactory
) -> ServerThread:
    """The ``app`` fixture served on ``127.0.0.1`` at a free port. Use
    ``shutdown_server.url`` as the base URL.
    """
    return shutdown_server_factory(app)
