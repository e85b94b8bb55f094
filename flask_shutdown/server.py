"""A Werkzeug ``make_server`` server held by a thread, that stops at once.

``socketserver.BaseServer.serve_forever`` notices ``shutdown()`` only at
its next poll (0.5 s by default), and deadlocks when ``shutdown()`` is
called from the thread that serves. :class:`ServerThread` runs its own
loop instead: a selector over the listening socket and one end of a
socket pair, so that a stop wakes it immediately, from any thread.

This module knows only WSGI. The graceful part of a stop (drain, hooks)
belongs to whoever manages the app's life: a :class:`Lifecycle`, found
for the app by the functions in :attr:`ServerThread.lifecycle_finders`.
The extension registers one there when it is imported, so that
``ServerThread(app)`` stops an app that uses it gracefully, while this
module never imports the extension.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import typing as t

from werkzeug.serving import make_server

if t.TYPE_CHECKING:
    import collections.abc as cabc
    import ssl

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment
    from werkzeug.serving import BaseWSGIServer

logger = logging.getLogger(__name__)

#: The environ key that tells the shutdown endpoint which
#: :class:`ServerThread` served the request.
SERVER_THREAD_KEY = "flask_shutdown.server_thread"


class Lifecycle(t.Protocol):
    """Manages the life of an app served by a :class:`ServerThread`."""

    def server_starting(self, server: ServerThread) -> None:
        """The server is about to serve the app."""

    def shutdown_server(self, server: ServerThread, reason: str) -> t.Any:
        """Stop ``server`` gracefully; returns what the stop amounted to."""

    def server_stopped(self, server: ServerThread) -> None:
        """The server has closed its socket, however it was stopped."""


#: Returns the :class:`Lifecycle` of a WSGI app, or ``None``.
LifecycleFinder = t.Callable[[t.Any], "Lifecycle | None"]


class ServerThread(threading.Thread):
    """Serve a WSGI app with :func:`werkzeug.serving.make_server` in a
    thread, and stop it gracefully from a request or from code.

    The socket is bound and listening when the constructor returns, so
    ``port=0`` picks a free port with no bind-then-release race, and
    :attr:`port` and :attr:`url` are known before :meth:`start`.

    .. code-block:: python

        server = ServerThread(app, port=0)
        server.start()
        print(server.url)
        server.join()  # returns once a POST /shutdown stopped it

    :param app: The app to serve (a Flask app, or any WSGI app).
    :param host: The address to bind.
    :param port: The port to bind; ``0`` picks a free one.
    :param threaded: Handle each request in its own thread.
    :param ssl_context: Passed to ``make_server``.
    :param name: The thread's name.
    :param daemon: Whether the thread is a daemon thread.
    :raises OSError: The address could not be bound.
    """

    #: Functions that find the :class:`Lifecycle` managing an app; the
    #: first one that returns one wins. Flask-Shutdown adds its own.
    lifecycle_finders: t.ClassVar[list[LifecycleFinder]] = []

    def __init__(
        self,
        app: WSGIApplication,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        threaded: bool = True,
        ssl_context: ssl.SSLContext | tuple[str, str] | None = None,
        name: str | None = None,
        daemon: bool = True,
    ) -> None:
        super().__init__(name=name or "flask-shutdown-server", daemon=daemon)
        #: The app being served.
        self.app = app

        try:
            self.server: BaseWSGIServer = make_server(
                host, port, self._dispatch, threaded=threaded, ssl_context=ssl_context
            )
        except SystemExit:
            # Werkzeug prints the error and exits when the bind fails; a
            # library must raise instead and let the caller decide.
            raise OSError(
                f"Could not bind {host}:{port}. Either stop the program that uses"
                " that port or pass port=0 to pick a free one."
            ) from None

        self._wake_r, self._wake_w = socket.socketpair()
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()

    # -- addresses ---------------------------------------------------------

    @property
    def host(self) -> str:
        """The bound address."""
        return t.cast(str, self.server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (the real one when ``0`` was asked for)."""
        return self.server.port

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:41234``."""
        scheme = "https" if self.server.ssl_context is not None else "http"
        host = self.host

        if ":" in host:
            host = f"[{host}]"

        return f"{scheme}://{host}:{self.port}"

    @property
    def stopped(self) -> bool:
        """Whether the server has stopped and closed its socket."""
        return self._stopped.is_set()

    # -- life cycle --------------------------------------------------------

    def start(self) -> None:
        """Start serving. The socket already listens; this returns once the
        serving thread runs.

        :raises RuntimeError: A shutdown of the app is still under way.
        """
        lifecycle = _find_lifecycle(self.app)

        if lifecycle is not None:
            lifecycle.server_starting(self)

        super().start()

    def run(self) -> None:
        server = self.server
        # Werkzeug 2.0's request handler reads this flag after each request.
        server.shutdown_signal = False  # type: ignore[attr-defined]

        with selectors.DefaultSelector() as selector:
            selector.register(server.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)

            try:
                while not self._stop_requested.is_set():
                    for key, _ in selector.select():
                        if (
                            key.fileobj is server.socket
                            and not self._stop_requested.is_set()
                        ):
                            # The same call serve_forever makes once the
                            # socket is readable.
                            server._handle_request_noblock()  # type: ignore[attr-defined]

                    server.service_actions()
            finally:
                server.server_close()
                self._wake_r.close()
                self._wake_w.close()
                lifecycle = _find_lifecycle(self.app)

                try:
                    # Before anyone waiting for the stop wakes up.
                    if lifecycle is not None:
                        lifecycle.server_stopped(self)
                finally:
                    self._stopped.set()

    def shutdown(self, reason: str = "ServerThread.shutdown()") -> t.Any:
        """Stop gracefully: if the app uses :class:`~flask_shutdown.Shutdown`,
        run its whole sequence (drain, hooks, stop) and return its
        :class:`~flask_shutdown.ShutdownRecord`; otherwise just stop and
        return ``None``. Blocks until the server has stopped, except when
        called from the thread that serves (a request on a non-threaded
        server), where blocking would deadlock.

        :param reason: Recorded as the shutdown's reason.
        """
        lifecycle = _find_lifecycle(self.app)

        if lifecycle is None:
            self.stop_serving()
            return None

        return lifecycle.shutdown_server(self, reason)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the socket is closed. Returns whether it is."""
        return self._stopped.wait(timeout)

    def stop_serving(self) -> None:
        """Stop the loop now, without draining or running hooks: requests
        being handled in other threads are not waited for. Blocks until the
        socket is closed, unless called from the serving thread.
        """
        if self._stopped.is_set():
            return

        self._stop_requested.set()

        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass  # The loop has just closed the pair: it is stopping anyway.

        if threading.current_thread() is not self and self.is_alive():
            self._stopped.wait()
        elif not self.is_alive() and not self._stopped.is_set():
            # Never started: there is no loop to close the socket.
            self.server.server_close()
            self._wake_r.close()
            self._wake_w.close()
            self._stopped.set()

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._stopped.is_set():
            self.shutdown()

        self.join()

    def _dispatch(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        environ[SERVER_THREAD_KEY] = self
        return self.app(environ, start_response)


def _find_lifecycle(app: object) -> Lifecycle | None:
    for finder in ServerThread.lifecycle_finders:
        lifecycle = finder(app)

        if lifecycle is not None:
            return lifecycle

    return None
