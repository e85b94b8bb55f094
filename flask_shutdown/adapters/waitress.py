"""waitress: close every socket from inside its main loop, once every
response has been written out.

waitress has no supported way to stop: ``serve()`` runs an asyncore-style
loop until interrupted, and SIGTERM simply kills it. Its loop, though,
returns by itself once its socket map is empty, and its *trigger* runs a
function inside the loop's thread. The stop uses both.

The catch is that the app's response is written by two threads: the
task thread passes the body to the channel and sends what the socket
takes at once, and the main loop sends the rest and closes the
connection. Stopping the loop (even with SIGINT, waitress's own way)
right after the app's iterator has ended cuts such a response short. So
the stop waits, bounded by ``SHUTDOWN_DRAIN_TIMEOUT``, until no channel
has a request queued or running and no byte is left to send, then asks
the main loop to close everything, where the same check is made again
without racing the loop. ``serve()`` returns normally, and the process
then ends with the shutdown's exit code (see :mod:`._exit`):
``waitress-serve`` itself would exit 0.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t

from ._exit import exit_with
from .base import ServerAdapter

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .base import StopContext

logger = logging.getLogger(__name__)

_POLL_INTERVAL = 0.02


class WaitressAdapter(ServerAdapter):
    """Stops the waitress server that served the shutdown request."""

    name = "waitress"
    carries_exit_code = True
    not_detected = "this request was not served by waitress."

    def __init__(self, server: t.Any) -> None:
        #: The waitress server object (``TcpWSGIServer`` or similar).
        self.server = server

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        # waitress puts a bound method of the request's channel here; the
        # channel knows its server.
        check = None if environ is None else environ.get("waitress.client_disconnected")
        channel = getattr(check, "__self__", None)
        server = getattr(channel, "server", None)

        if server is None or not hasattr(server, "trigger"):
            return None

        return cls(server)

    def stop(self, context: StopContext) -> None:
        deadline = context.deadline
        # Before the loop can return and let the process end.
        exit_with(int(context.record.exit_code), context.finished)

        while True:
            while not self.idle() and time.monotonic() < deadline:
                time.sleep(_POLL_INTERVAL)

            # Checked again in the loop's thread: a request may have
            # arrived in between.
            if self._close_in_loop(force=time.monotonic() >= deadline):
                return

            time.sleep(_POLL_INTERVAL)

    def idle(self) -> bool:
        """Whether no request is queued or running and every response has
        been sent in full.
        """
        server = self.server

        if server.task_dispatcher.queue:
            return False

        for channel in list(server._map.values()):
            if getattr(channel, "requests", None) or getattr(
                channel, "total_outbufs_len", 0
            ):
                return False

        return True

    def _close_in_loop(self, force: bool) -> bool:
        from waitress import wasyncore

        done = threading.Event()
        closed = []

        def close() -> None:
            try:
                if force or self.idle():
                    if not self.idle():
                        logger.warning(
                            "waitress still had responses to send after %s;"
                            " closing anyway.",
                            "SHUTDOWN_DRAIN_TIMEOUT",
                        )

                    wasyncore.close_all(self.server._map)
                    closed.append(True)
            finally:
                done.set()

        self.server.trigger.pull_trigger(close)

        # The loop is idle or busy only briefly; if it has already gone,
        # there is nothing left to close.
        if not done.wait(5):
            return True

        return bool(closed)
