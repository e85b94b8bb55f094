"""A Werkzeug ``make_server`` server held by a thread, that stops at once.

``socketserver.BaseServer.serve_forever`` notices ``shutdown()`` only at
its next poll (0.5 s by default), and deadlocks when ``shutdown()`` is
called from the thread that serves. :class:`ServerThread` runs its own
loop instead: a selector over the listening socket and one end of a
socket pair, so that a stop wakes it immediately, from any thread.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import typing as t

from werkzeug.serving import make_server

from .base import ServerAdapter

if t.TYPE_CHECKING:
    import collections.abc as cabc
    import ssl

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment
    from werkzeug.serving import BaseWSGIServer

    from ..extension import AppState
    from ..sequence import Coordinator

logger = logging.getLogger("flask_shutdown")

#: The environ key that tells the shutdown endpoint which
#: :class:`ServerThread` served the request.
SERVER_THREAD_KEY = "flask_shutdown.server_thread"

#: How long a stop waits for the thread that served the shutdown request
#: to finish closing its connection, so that the response is never cut.
_TRIGGER_JOIN_TIMEOUT = 2.0


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
        state = _state(self.app)

        if state is not None:
            # A finished shutdown leaves the app refusing requests; serving
            # it again starts a new life cycle. The previous server's loop
            # may have ended a moment before its sequence recorded the stop.
            if state.coordinator.record is not None:
                state.coordinator.wait(_TRIGGER_JOIN_TIMEOUT)

            state.coordinator.reset()
            state.server_thread = self

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
                self._stopped.set()

    def shutdown(self, reason: str = "ServerThread.shutdown()") -> None:
        """Stop gracefully: if the app uses :class:`~flask_shutdown.Shutdown`,
        run its whole sequence (drain, hooks, stop); otherwise just stop.
        Blocks until the server has stopped, except when called from the
        thread that serves (a request on a non-threaded server), where
        blocking would deadlock.

        :param reason: Recorded as the shutdown's reason.
        """
        state = _state(self.app)

        if state is None:
            self.stop_serving()
            return

        state.begin(
            None,
            reason=reason,
            requested_by="code",
            source="code",
            adapter=ThreadAdapter(self),
        )

        if threading.current_thread() is not self:
            state.coordinator.wait()
            self._stopped.wait()

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


class ThreadAdapter(ServerAdapter):
    """Stops a :class:`ServerThread`: waits for the thread that served the
    shutdown request to close its connection, then wakes the serving
    loop and waits for it to close the socket.
    """

    name = "thread"
    not_detected = "this request was not served by a flask_shutdown.ServerThread."

    def __init__(
        self, server: ServerThread, trigger_thread: threading.Thread | None = None
    ) -> None:
        self.server = server
        #: The request thread that asked for the stop: its response must be
        #: finished before the socket closes.
        self.trigger_thread = trigger_thread

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        server = None if environ is None else environ.get(SERVER_THREAD_KEY)

        if server is None:
            return None

        # Detection runs in the view, so this is the thread serving the
        # shutdown request.
        return cls(server, threading.current_thread())

    def stop(self, coordinator: Coordinator) -> None:
        trigger = self.trigger_thread

        # On a non-threaded server the request ran on the serving thread
        # itself, which finishes the response before it sees the stop.
        if trigger is not None and trigger not in (
            self.server,
            threading.current_thread(),
        ):
            trigger.join(_TRIGGER_JOIN_TIMEOUT)

        self.server.stop_serving()


def _state(app: object) -> AppState | None:
    extensions = getattr(app, "extensions", None)

    if not isinstance(extensions, dict):
        return None

    return extensions.get("shutdown")
