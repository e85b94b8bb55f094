"""Werkzeug's development server on Werkzeug >= 2.1: ``flask run`` and
``app.run()``, with or without the reloader.

Werkzeug 2.1 removed the shutdown hook and has no replacement, so the
stop goes through the signals Werkzeug already handles gracefully:

- Under the reloader the app is served by a child process whose main
  thread runs the reloader loop, and Werkzeug installs a SIGTERM handler
  there that calls ``sys.exit(0)``. SIGTERM to the own process therefore
  ends the child with 0, and the parent, which waits for the child and
  exits with its code, exits 0 as well. Signalling the parent instead
  would make it SIGKILL the child while it still answers.
- Without the reloader, ``serve_forever`` runs in the main thread and
  returns cleanly on ``KeyboardInterrupt``, while SIGTERM has no handler
  and kills the process. So SIGINT is sent, if Python's default SIGINT
  handler is installed.
- A process started in the background by a shell ignores SIGINT. Then
  the server is found among the live objects and its ``shutdown()`` is
  called, which ends ``serve_forever`` at its next poll.

The drain and the hooks have already run when the stop starts, and the
request threads of the threaded server are daemon threads, so nothing
else waits for them.

Each of these ends the process with 0, so before it is set off, the
shutdown's exit code is registered to end the process with (see
:mod:`._exit`). Under the reloader the serving process exits with it,
and the reloader's parent, which exits with its child's code, passes it
on. (Exit code 3 would make the parent restart the child; that is
:attr:`~flask_shutdown.ExitCode.FORCED`, which only
:func:`~flask_shutdown.serve` produces.)
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import typing as t

from ..server import SERVER_THREAD_KEY
from ._exit import exit_with
from .base import ServerAdapter

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .base import StopContext

logger = logging.getLogger(__name__)


class WerkzeugAdapter(ServerAdapter):
    """Stops ``flask run`` / ``app.run()`` on Werkzeug >= 2.1."""

    name = "werkzeug"
    carries_exit_code = True
    not_detected = "this request was not served by 'flask run' or 'app.run()'."

    def __init__(self, address: t.Any = None) -> None:
        #: The local address of the connection that asked for the stop:
        #: the address the server listens on.
        self.address = address

    @classmethod
    def detect(cls, environ: WSGIEnvironment | None) -> ServerAdapter | None:
        if environ is None:
            return None

        software = str(environ.get("SERVER_SOFTWARE", ""))
        sock = environ.get("werkzeug.socket")

        # A ServerThread also serves with Werkzeug, but stops differently.
        if (
            not software.startswith("Werkzeug/")
            or sock is None
            or SERVER_THREAD_KEY in environ
        ):
            return None

        try:
            address = sock.getsockname()
        except OSError:
            address = None

        return cls(address)

    def stop(self, context: StopContext) -> None:
        pid = os.getpid()
        # Registered before the stop is set off: the main thread may reach
        # the end of the process before this thread runs again.
        code = int(context.record.exit_code)

        if os.environ.get("WERKZEUG_RUN_MAIN") == "true":
            logger.info("Sending SIGTERM to the reloader's serving process %d.", pid)
            exit_with(code, context.finished)
            os.kill(pid, signal.SIGTERM)
            return

        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            logger.info("Sending SIGINT to process %d.", pid)
            exit_with(code, context.finished)
            os.kill(pid, signal.SIGINT)
            return

        from werkzeug.serving import BaseWSGIServer

        # Only the server that listens where the shutdown request came in;
        # shutdown() on a server whose serve_forever never ran would block.
        found = [
            o
            for o in gc.get_objects()
            if isinstance(o, BaseWSGIServer) and _address(o) == self.address
        ]

        if not found:
            raise RuntimeError(
                "SIGINT is ignored in this process and no Werkzeug server was"
                " found to stop. Set SHUTDOWN_STRATEGY to 'signal' or to a"
                " callable that stops the server."
            )

        exit_with(code, context.finished)

        for server in found:
            # Blocks until that server's loop has returned; this runs in the
            # shutdown thread, never in the thread serving the loop.
            server.shutdown()


def _address(server: t.Any) -> t.Any:
    try:
        return server.socket.getsockname()
    except OSError:
        return None
