"""Stops a :class:`~flask_shutdown.ServerThread`."""

from __future__ import annotations

import threading
import typing as t

from ..server import SERVER_THREAD_KEY
from .base import ServerAdapter

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from ..server import ServerThread
    from .base import StopContext

#: How long a stop waits for the thread that served the shutdown request
#: to finish closing its connection, so that the response is never cut.
TRIGGER_JOIN_TIMEOUT = 2.0


class ThreadAdapter(ServerAdapter):
    """Waits for the thread that served the shutdown request to close its
    connection, then wakes the serving loop and waits for it to close the
    socket.

    :param server: The server to stop.
    :param trigger_thread: The request thread that asked for the stop: its
        response must be finished before the socket closes.
    """

    name = "thread"
    #: :func:`~flask_shutdown.serve` returns the code and
    #: :meth:`ServerThread.shutdown() <flask_shutdown.ServerThread.shutdown>`
    #: returns the record holding it.
    carries_exit_code = True
    not_detected = "this request was not served by a flask_shutdown.ServerThread."

    def __init__(
        self, server: ServerThread, trigger_thread: threading.Thread | None = None
    ) -> None:
        self.server = server
        self.trigger_thread = trigger_thread

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        server = None if environ is None else environ.get(SERVER_THREAD_KEY)

        if server is None:
            return None

        # Detection runs in the view, so this is the thread serving the
        # shutdown request.
        return cls(server, threading.current_thread())

    def stop(self, context: StopContext) -> None:
        trigger = self.trigger_thread

        # On a non-threaded server the request ran on the serving thread
        # itself, which finishes the response before it sees the stop.
        if trigger is not None and trigger not in (
            self.server,
            threading.current_thread(),
        ):
            trigger.join(TRIGGER_JOIN_TIMEOUT)

        self.server.stop_serving()
